// Collects what ExecutorStats reports. Request counters are atomics (bumped on the submit path
// without a lock); batch records and latency windows take one lock per batch.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

#include "tiledet/batching/stats.hpp"

namespace tiledet::batching_detail {

// The last `capacity` samples, in nanoseconds.
class LatencyWindow {
public:
    explicit LatencyWindow(std::size_t capacity) : capacity_(capacity) {}
    void add(std::chrono::nanoseconds d);
    LatencySummary summarize() const;

private:
    std::size_t capacity_;
    std::size_t next_ = 0;
    std::vector<std::int64_t> samples_;
};

class StatsRecorder {
public:
    std::atomic<std::uint64_t> submitted{0}, completed{0}, failed{0}, expired{0}, cancelled{0}, rejected{0},
        shut_down{0}, retried_batches{0}, retried_requests{0};

    // One batch that ran; `timings` are those of its completed requests (empty when it failed).
    void add_batch(const BatchRecord& record, ExecutorClock::time_point started, ExecutorClock::time_point finished,
                   const RequestTimings* timings, std::size_t count);

    // Fills everything but the executor's own facts (device, max batch, fallback, instances).
    void fill(ExecutorStats& out) const;

private:
    mutable std::mutex mu_;
    std::uint64_t batches_ = 0, failed_batches_ = 0, padded_ = 0, items_in_batches_ = 0;
    std::vector<std::uint64_t> histogram_;
    bool any_ = false;
    ExecutorClock::time_point first_start_{}, last_finish_{};
    LatencyWindow queue_{ExecutorStats::kLatencyWindow}, compute_{ExecutorStats::kLatencyWindow},
        end_to_end_{ExecutorStats::kLatencyWindow};
};

}  // namespace tiledet::batching_detail
