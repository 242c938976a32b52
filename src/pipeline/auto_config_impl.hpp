// The auto configuration's search, used by the Pipeline constructor that opens a model file.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "tiledet/batching/backend.hpp"
#include "tiledet/pipeline/auto_config.hpp"
#include "tiledet/pipeline/pipeline.hpp"

namespace tiledet::pipeline_detail {

// Opens the model's sessions. With options.auto_config enabled, first picks instances, threads
// per instance and max batch (from the cache, or by measuring on the sessions it then keeps),
// and writes the pick into options.batching / options.model; `choice` says what and why.
// `validate` is called with the model's signature once the first sessions are open, before
// anything runs: what it throws ends the call.
std::vector<std::unique_ptr<Backend>> open_configured(std::span<const std::byte> bytes, const std::string& name,
                                                      PipelineOptions& options, AutoConfigChoice& choice,
                                                      const std::function<void(const ModelSignature&)>& validate);

// Whether `cell` replaces `incumbent` as the pick among instance counts: within 5 % (the noise
// of a cell measured this briefly) more instances of fewer threads win. The bare cell overstates
// a session with an intra-op pool, whose threads wait for each other whenever image decoding
// runs beside them in the pipeline: on 2 cores `--instances 1` (1 x 2 threads) reached 0.38-0.89
// of the bare ceiling where 2 x 1 thread reached 0.95-0.97 (BENCHMARKS.md, issue 17), while
// their bare cells differ by 0-5 %. Same instance count: the faster one.
bool cell_beats(const AutoConfigCell& cell, const AutoConfigCell& incumbent);

// Whether a batch twice the size is taken over the smaller one on the same sessions: only when it
// pays 5 % or more tiles/s (README). A larger batch costs latency, and a gain inside the noise of
// a cell measured this briefly is not one.
bool larger_batch_pays(double tiles_per_s, double smaller_tiles_per_s);

// The share (0 to 1) of `cpus` (ids; empty: every CPU listed) that processes other than this one
// used between two readings of /proc/stat (`before`, `after`: its text, per-CPU lines
// "cpuN user nice system idle iowait irq softirq steal ...", in ticks of `ticks_per_s`, proc(5)),
// during which this process used `self_s` seconds of CPU. Busy: user, nice, system, irq, softirq
// and steal (guest time is inside user); all: busy, idle and iowait. nullopt when no listed CPU
// is in both readings or no tick passed.
std::optional<double> other_cpu_share(const std::string& before, const std::string& after, double self_s,
                                      const std::vector<int>& cpus, double ticks_per_s);

// The cache entry's key text for these options on this machine (exposed for tests).
std::string auto_config_key(std::span<const std::byte> bytes, const PipelineOptions& options, int cores);

}  // namespace tiledet::pipeline_detail
