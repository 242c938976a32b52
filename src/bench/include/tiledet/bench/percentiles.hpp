// Percentiles of a set of durations, as perf_analyzer reports them (p50/p90/p99 and the mean).
#pragma once

#include <cstdint>
#include <span>

namespace tiledet::bench {

struct Percentiles {
    double mean = 0, p50 = 0, p90 = 0, p99 = 0, min = 0, max = 0;
    std::uint64_t count = 0;
};

// Nearest-rank percentiles (the smallest sample with at least p% of the samples at or below it),
// so p50 <= p90 <= p99 always holds and every reported value is a measured one. Empty input
// gives all zeros and count 0.
Percentiles summarize(std::span<const double> samples);

// The nearest-rank p-th percentile (0 < p <= 100) of `sorted` (ascending); 0 when empty.
double nearest_rank(std::span<const double> sorted, double p);

}  // namespace tiledet::bench
