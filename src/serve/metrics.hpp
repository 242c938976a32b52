// Per-model counters with Triton's metric names and meanings (server docs/user_guide/metrics.md,
// read through ../shared/reference/batching-anchors.md section 1.7), and tiledet's own, written
// in the Prometheus text exposition format.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "tiledet/batching/stats.hpp"

namespace tiledet::serve {

// Triton's failure reasons (the `reason` label of nv_inference_request_failure).
enum class FailureReason { rejected, canceled, backend, other };

// Upper bounds of the tiles-per-request histogram's buckets.
inline constexpr std::array<int, 9> kTileBuckets = {1, 2, 4, 8, 16, 32, 64, 128, 256};

struct RequestMetrics {
    std::atomic<std::uint64_t> success{0};
    std::array<std::atomic<std::uint64_t>, 4> failure{};
    std::atomic<std::int64_t> pending{0};  // being handled now (accepted, not yet answered)
    // Cumulative microseconds, as Triton's default counters.
    std::atomic<std::uint64_t> request_us{0}, queue_us{0}, input_us{0}, infer_us{0}, output_us{0};
    std::array<std::atomic<std::uint64_t>, kTileBuckets.size() + 1> tiles_bucket{};  // last: above every bound
    std::atomic<std::uint64_t> tiles_sum{0}, tiles_count{0};

    void fail(FailureReason r) { ++failure[static_cast<std::size_t>(r)]; }
    void observe_tiles(std::size_t tiles);
};

// One served name's metrics, with its executor's stats (shared by NAME and NAME_raw: the
// executor's counts are reported under NAME only).
struct MetricsSnapshot {
    std::string model, version;
    const RequestMetrics* requests = nullptr;
    const ExecutorStats* executor = nullptr;  // null: not reported for this name
};

std::string prometheus_text(const std::vector<MetricsSnapshot>& models);

}  // namespace tiledet::serve
