// The "auto" configuration: how many model instances, how many intra-op threads each, and the
// largest batch, picked for this model on this machine by a short measurement when a Pipeline
// opens a model file, and cached so the next run starts at once. Triton's model_analyzer does the
// same search offline over instance groups and batch sizes (batching-anchors §1.9); here it is
// bounded to a start-up budget and runs on the same sessions the pipeline then keeps.
//
// Which configuration wins depends on the machine and model: on a 2-core CPU two 1-thread
// sessions of yolov8n beat one 2-thread session by ~1.3x and batching does not pay; on a GPU
// batching pays. A value the caller gives (option "instances", "threads" or "batch", or a field
// changed from its default) is kept, and only the others are searched.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tiledet {

struct AutoConfigOptions {
    // false ("config" = "manual"): instances, threads and max batch as given, nothing measured.
    // The environment variable TILEDET_AUTO_CONFIG=off (or 0, manual, false, no) has the same
    // effect for every Pipeline of the process (the test suite uses it so tests see fixed
    // settings); any other value leaves it on.
    bool enabled = true;
    // Set by set_option("instances" / "threads" / "batch"): that value is kept. A library caller
    // who assigns PipelineOptions fields directly gets the same when the value differs from the
    // default; to keep a default value as given, set the flag.
    bool instances_given = false;
    bool threads_given = false;
    bool batch_given = false;
    // Wall time the measurement should take, a soft limit: session opening counts, the first
    // two instance counts (1, and one per core) are measured at the smallest batch whatever it
    // says, and a cell that has started finishes; other cells that would overrun it are skipped
    // and the best measured wins (see AutoConfigChoice::complete for what is cached). Part of
    // the key: a larger budget measures again. Option "auto_budget_ms" (100 to 60000).
    std::chrono::milliseconds budget{2000};
    // A measured answer is cached only when other processes took at most this share (0 to 1) of
    // the CPUs this process may use while it was measured: on a busy machine the cells read the
    // load, not the configuration (on 2 cores, with another tiledet running, the pick was 1
    // instance x 2 threads, at 0.36 of the quiet machine's best later), and a cached pick would
    // keep that for good. The pick is still used for this run; the next run measures again.
    // 1: cache whatever the load. Option "auto_max_other_load". Not part of the key.
    double max_other_load = 0.25;
    // Where choices are kept, one file per key (model content, providers, CPU model, cores,
    // given values, budget, tiledet and ONNX Runtime versions) under <folder>/auto/. Unset: as
    // BatchPolicy::probe_cache_dir ($TILEDET_CACHE_DIR, else $XDG_CACHE_HOME/tiledet, else
    // ~/.cache/tiledet); "" turns the cache off.
    std::optional<std::string> cache_dir;
    // CPUs to plan for; 0: those this process may run on (sched_getaffinity). Part of the key.
    int cores = 0;
    // A hint from the caller: the tiles it is about to run, 0 when unknown. A job of one tile
    // cannot win back any measurement: it gets the one-tile answer (one instance with every
    // core, lowest latency) without measuring or caching.
    std::int64_t expected_tiles = 0;
};

// One measured configuration.
struct AutoConfigCell {
    int instances = 1;
    int threads = 1;  // intra-op threads per instance
    int batch = 1;
    double tiles_per_s = 0;
    int runs = 0;  // timed batch runs, over all instances
};

// What a Pipeline runs with and why.
struct AutoConfigChoice {
    enum class Source {
        manual,    // auto off, or everything given: as configured
        one_tile,  // expected_tiles == 1: one instance, every core; not measured, not cached
        measured,  // measured now (and cached when a cache folder is usable)
        cached,    // read from the cache
        fallback,  // the measurement could not run (no probe input): the defaults
    };
    Source source = Source::manual;
    int instances = 1;
    int threads = 0;          // intra-op threads per instance
    int max_batch_size = 8;   // the policy's; a static-batch model runs its N whatever this says
    int static_batch = 0;     // the model's static batch N (no batch axis: 1); 0: a dynamic batch
    int cores = 0;            // what the choice was planned for
    double measure_ms = 0;    // time the measurement took (0 unless measured)
    // Every instance count was measured. A search the budget cut short there is used but not
    // cached (the next run measures again); larger batches cut by the budget (batches_cut) are
    // not tried, and the answer is cached.
    bool complete = true;
    bool batches_cut = false;
    std::vector<AutoConfigCell> cells;  // what was measured, in order (empty unless measured)
    std::string cache_file;   // the entry read or written; empty when none
    // The CPU each instance's worker is pinned to (BatchPolicy::pin_instances), by instance;
    // empty when not pinned. Set by the Pipeline once its executor runs.
    std::vector<int> pinned_cpus;
    // A batch size the model failed at while it was measured (0: none), and the first line of
    // the model's error. A dynamic model that fails at a larger batch keeps that size as its max
    // batch, so the executor's warm-up probe finds it again and falls back to one at a time with
    // its usual warning and the batchify hint.
    int failed_batch = 0;
    std::string failure;
    // The share (0 to 1) of the CPUs this process may use that other processes took while it
    // measured (from /proc/stat's per-CPU counters less this process's own CPU time; a VM's
    // steal time counts as theirs); -1 when not measured or the counters cannot be read.
    double other_load = -1;
    // What else the one line should say: that TILEDET_AUTO_CONFIG turned auto off, or that a
    // measured answer was not cached (no cache folder, one that cannot be written, or a machine
    // too busy while it measured: see AutoConfigOptions::max_other_load).
    std::string note;

    // "auto: 2 instances x 1 thread, max batch 1 (measured 4 cells in 1.3 s on 2 cores, cached)";
    // "static batch N" in place of the max batch for a model with a static batch; ", pinned to
    // CPUs 0,1" at the end when the instances are pinned.
    std::string describe() const;
};

const char* to_string(AutoConfigChoice::Source s);

// The CPUs this process may run on (sched_getaffinity; hardware_concurrency where that fails).
int usable_cores();

}  // namespace tiledet
