// Windowed, closed-loop measurement in perf_analyzer's manner (shared/reference/
// batching-anchors.md §1.8): `workers` threads each repeat one request (wait for it, start the
// next), completions are counted in windows of time or of requests, and the run stops as soon as
// the last three windows agree within 10% on throughput and mean latency, or after max_windows
// (then it is reported as not stable).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "tiledet/bench/memory.hpp"

namespace tiledet::bench {

using BenchClock = std::chrono::steady_clock;

// One model item (tile) of a completed request; durations in milliseconds.
struct TileSample {
    double latency_ms = 0;     // submitted -> outputs back (pipeline); the batch run (bare)
    double queue_ms = 0;
    double preprocess_ms = 0;
    double inference_ms = 0;
    double decode_ms = 0;
    int batch_size = 0;        // real items in the batch it ran in
    std::uint64_t batch_id = 0;  // equal ids ran together (0: unknown)
};

// One completed request: an image through the pipeline, or one batch run of the bare runtime.
struct Completion {
    BenchClock::time_point done{};
    double latency_ms = 0;     // the request, end to end
    double preprocess_ms = 0;  // image: sum over its tiles
    double merge_ms = 0;       // image: cross-tile merge
    int images = 0;            // 1 for a pipeline image, 0 for a bare run
    std::vector<TileSample> tiles;
};

struct WindowOptions {
    // Time windows (perf_analyzer --measurement-interval, whose default is 5000 ms; ours is
    // shorter because CPU runs of small models settle fast).
    std::chrono::milliseconds duration{2000};
    // > 0: count windows of this many completed requests instead (--measurement-request-count).
    std::size_t requests = 0;
    // A time window is stretched until it holds at least this many requests (at most to
    // 10 x duration): with images of many tiles a window of 2 or 3 images would count
    // throughput in steps of 30-50%, and windows that agree by accident would pass as stable.
    std::size_t min_requests = 10;
    std::chrono::milliseconds warmup{1000};
    double stability = 0.10;  // perf_analyzer --stability-percentage 10
    int stable_windows = 3;   // perf_analyzer compares the last 3 measurements
    int max_windows = 10;     // perf_analyzer --max-trials 10
};

struct WindowStats {
    double seconds = 0;
    std::size_t requests = 0, tiles = 0, images = 0;
    double requests_per_s = 0;
    double mean_latency_ms = 0;
    std::int64_t rss_kb = -1;  // resident memory when the window closed (flat = no leak)
};

struct WindowedRun {
    std::vector<WindowStats> windows;      // every window measured, in order
    bool stable = false;
    int reported_windows = 0;              // the last ones, merged into `measured`
    std::vector<Completion> measured;      // completions of the reported windows
    double measured_seconds = 0;
    MemorySample after_warmup, at_end;
    std::size_t warmup_requests = 0;
    std::string error;                     // the first failure; the run stops at it
};

// True when the last `count` windows each lie within `tolerance` (0.10 = 10%) of their mean,
// for requests/s and for mean latency. False with fewer windows, or an empty window.
bool windows_agree(std::span<const WindowStats> windows, int count, double tolerance);

// Runs the closed loop. `step(worker)` performs one request on the calling worker thread and
// returns its completion (`done` is stamped here when left unset); an exception stops the run
// and is reported in WindowedRun::error.
WindowedRun run_windows(int workers, const std::function<Completion(int worker)>& step, const WindowOptions& options);

// Stats of one window of completions lasting `seconds`.
WindowStats window_stats(std::span<const Completion> completions, double seconds);

}  // namespace tiledet::bench
