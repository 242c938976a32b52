// How the executor forms batches. The words are Triton's dynamic batcher's (max batch size,
// preferred batch sizes, max queue delay, queue policy, instance groups) because users know them.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace tiledet {

enum class FullQueue {
    block,   // submit() waits for room
    reject,  // the request fails at once with QueueFull
};

struct BatchPolicy {
    // Largest batch for a model with a dynamic batch axis. A model with a static batch N always
    // runs batches of exactly N (padded), whatever this says.
    int max_batch_size = 8;

    // A batch of one of these sizes goes at once, without waiting for max_batch_size. The
    // largest one that the queue can fill wins (Triton's preferred_batch_size).
    std::vector<int> preferred_batch_sizes = {};

    // How long the oldest queued request may wait for company before a partial batch goes.
    // 0: a batch goes as soon as an instance is free, with whatever is queued.
    std::chrono::microseconds max_queue_delay{2000};

    // Requests waiting (not running) at most; 0: unbounded.
    std::size_t queue_capacity = 1024;
    FullQueue when_full = FullQueue::block;

    // Deadline for requests that carry none, counted from submit(); 0: none. A deadline bounds
    // the time in the queue: a request that starts running always completes.
    std::chrono::microseconds default_deadline{0};

    // Sessions running batches concurrently, each with its share of the CPU threads. Read by
    // the factories that open a model (BatchExecutor::open); an executor built from backends
    // runs one instance per backend given.
    int instances = 1;

    // Linux: when there are as many instances as CPUs this process may run on (its affinity
    // mask) and each instance runs on one CPU thread (Backend::cpu_threads_per_run() == 1: a CPU
    // session with one intra-op thread), the worker thread of instance i is pinned to the i-th
    // of those CPUs, so the sessions stop migrating between cores when image decode and
    // preprocessing threads wake up beside them (1.3-1.7 % shorter model runs with 2 instances
    // on 2 cores, BENCHMARKS.md). Never pins otherwise; false, or TILEDET_PIN_INSTANCES=off in the
    // environment: never. Changes no result, only where the threads run.
    bool pin_instances = true;

    // Before accepting requests, run a probe batch of each of probe_batch_sizes on a model that
    // declares a dynamic batch (when the backend can make a probe item), so an export that baked
    // batch 1 into its graph is found at warm-up rather than on the first real batch, and sizes
    // the graph cannot take (a Reshape that divides a constant by the batch fails at 3) are
    // never formed. A size that fails later is re-run smaller and avoided from then on anyway;
    // the probe only moves that discovery to warm-up.
    bool probe_dynamic_batch = true;
    // 0 stands for max_batch_size; sizes above it are skipped. Drop an entry to skip that probe
    // (the largest batch of a heavy model costs a second or more of warm-up on a CPU).
    std::vector<int> probe_batch_sizes = {2, 3, 0};
    // Where the probe's answers are kept across runs, per model file fingerprint, device and ONNX
    // Runtime version (Backend::probe_cache_key), so a restart skips the probe batches (about
    // 1.5 s on an RT-DETR-R18 graph on a CPU). Unset: $TILEDET_CACHE_DIR, else
    // $XDG_CACHE_HOME/tiledet, else $HOME/.cache/tiledet; "" turns the cache off. Unwritable
    // folders only cost the cache, never a request.
    std::optional<std::string> probe_cache_dir;

    // One log line per batch ("CPU Batch Execution: 2 images in 450.0ms ...") and the summary
    // at shutdown.
    bool verbose = false;
};

// The folder a cache setting names: `configured` when set ("" turns caching off), else
// $TILEDET_CACHE_DIR, else $XDG_CACHE_HOME/tiledet, else $HOME/.cache/tiledet; "" when none.
// Shared by the warm-up probe cache and the auto configuration's cache.
std::string cache_folder(const std::optional<std::string>& configured);

// The CPUs this process may run on (its affinity mask, sched_getaffinity), in order; empty where
// unknown. Shared by the executor's pinning and the auto configuration's core count.
std::vector<int> usable_cpus();

}  // namespace tiledet
