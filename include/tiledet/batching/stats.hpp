// What the executor measured: per request (Triton's queue / compute split), per batch, and a
// summary with percentiles.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tiledet {

using ExecutorClock = std::chrono::steady_clock;

struct RequestTimings {
    ExecutorClock::time_point enqueued;        // submit() accepted it
    ExecutorClock::time_point batch_started;   // its batch went to the backend
    ExecutorClock::time_point batch_finished;  // the backend returned
    ExecutorClock::time_point completed;       // its result was split out and delivered

    std::chrono::nanoseconds queue() const { return batch_started - enqueued; }
    std::chrono::nanoseconds compute() const { return batch_finished - batch_started; }
    std::chrono::nanoseconds end_to_end() const { return completed - enqueued; }
};

struct BatchRecord {
    int size = 0;     // real requests
    int padding = 0;  // padded slots (static batch N)
    std::chrono::nanoseconds duration{0};
    bool sequential = false;  // ran one at a time because the model cannot batch
    bool failed = false;
};

struct LatencySummary {
    double mean_ms = 0, p50_ms = 0, p90_ms = 0, p99_ms = 0;
    std::uint64_t samples = 0;
};

struct ExecutorStats {
    // Requests, by how they ended (submitted = the sum of the rest plus those still pending).
    std::uint64_t submitted = 0, completed = 0, failed = 0, expired = 0, cancelled = 0, rejected = 0, shut_down = 0;
    std::uint64_t batches = 0, failed_batches = 0, padded_slots = 0;
    // Failed batches of more than one request that were re-run in smaller batches, and the
    // requests in them (a request re-run twice counts twice).
    std::uint64_t retried_batches = 0, retried_requests = 0;
    // Batch sizes the model failed at while smaller batches of the same requests ran: the
    // executor no longer forms them. Ascending.
    std::vector<int> failed_batch_sizes;
    double mean_batch_size = 0;
    // batch_size_histogram[n]: batches that ran n real requests.
    std::vector<std::uint64_t> batch_size_histogram;
    // Over the most recent requests (a window of kLatencyWindow): queue, compute, end to end.
    LatencySummary queue, compute, end_to_end;
    // First batch started to last batch finished: the wall time behind items_per_second.
    std::chrono::nanoseconds busy_span{0};
    double items_per_second = 0;
    bool sequential_fallback = false;
    std::string device;
    int max_batch_size = 0;  // in effect (static N, the policy's, or 1 after a fallback)
    int instances = 0;

    static constexpr std::size_t kLatencyWindow = 65536;
};

// The original pipeline's execution line, saying what ran: "CPU Batch Execution: 2 tiles in
// 1 batch (2) in 81.7 ms (24.5 FPS per tile)", "... in 2 batches (2+1) ...", or "CPU Sequential
// Execution: 2 tiles in 2 batches (1+1) ..." when items ran one at a time. `sequential`: whether
// they did, when the caller knows; unset: when every batch held one item and there were several. `batch_sizes`: the
// items of each batch, in the order they ran (more than 8 batches are shown by size: "(8x12,
// 3x1)"). `unit`: what an item is ("image", "tile").
std::string execution_line(const std::string& device, const std::vector<int>& batch_sizes, double total_ms,
                           const std::string& unit = "image", std::optional<bool> sequential = std::nullopt);
// The same from a histogram (histogram[n]: batches of n items).
std::string execution_line_from_histogram(const std::string& device, const std::vector<std::uint64_t>& histogram,
                                          double total_ms, const std::string& unit = "image",
                                          std::optional<bool> sequential = std::nullopt);

// Multi-line text: the original pipeline's execution line first ("CPU Batch Execution: ..."),
// then counts, batch sizes and percentiles.
std::string format_summary(const ExecutorStats& stats);

}  // namespace tiledet
