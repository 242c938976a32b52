#include "query_topk.hpp"

#include <algorithm>

#include "tensor_values.hpp"

namespace tiledet::detail {

std::vector<QueryScore> sigmoid_topk(const float* logits, std::size_t queries, std::size_t classes, std::size_t k,
                                     float threshold) {
    // Keeping "score > threshold" after a top-k equals thresholding first and cutting to k
    // after, and comparing logits avoids an exp() per cell of the queries x classes grid.
    const float min_logit = threshold <= 0.0f ? -1e30f : logit(std::min(threshold, 0.9999999f));
    std::vector<QueryScore> out;
    for (std::size_t q = 0; q < queries; ++q) {
        const float* row = logits + q * classes;
        for (std::size_t c = 0; c < classes; ++c)
            if (row[c] > min_logit) out.push_back({q, static_cast<int>(c), sigmoid(row[c])});
    }
    std::erase_if(out, [&](const QueryScore& s) { return !(s.score > threshold); });
    auto by_score = [](const QueryScore& a, const QueryScore& b) {
        return a.score != b.score ? a.score > b.score
                                  : (a.query != b.query ? a.query < b.query : a.class_id < b.class_id);
    };
    if (out.size() > k) {
        std::partial_sort(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(k), out.end(), by_score);
        out.resize(k);
    } else {
        std::sort(out.begin(), out.end(), by_score);
    }
    return out;
}

}  // namespace tiledet::detail
