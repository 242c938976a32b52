#include "tiledet/bench/percentiles.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace tiledet::bench {

double nearest_rank(std::span<const double> sorted, double p) {
    if (sorted.empty()) return 0;
    const double n = static_cast<double>(sorted.size());
    auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * n));
    rank = std::clamp<std::size_t>(rank, 1, sorted.size());
    return sorted[rank - 1];
}

Percentiles summarize(std::span<const double> samples) {
    Percentiles out;
    if (samples.empty()) return out;
    std::vector<double> sorted(samples.begin(), samples.end());
    std::sort(sorted.begin(), sorted.end());
    out.count = sorted.size();
    out.mean = std::accumulate(sorted.begin(), sorted.end(), 0.0) / static_cast<double>(sorted.size());
    out.p50 = nearest_rank(sorted, 50);
    out.p90 = nearest_rank(sorted, 90);
    out.p99 = nearest_rank(sorted, 99);
    out.min = sorted.front();
    out.max = sorted.back();
    return out;
}

}  // namespace tiledet::bench
