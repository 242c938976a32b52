#include "query_topk.hpp"

#include <algorithm>

#include "family_fit.hpp"
#include "nms.hpp"
#include "tensor_values.hpp"
#include "tiledet/error.hpp"

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

Detections decode_sigmoid_topk(const Tensor& logits_t, const Tensor& boxes_t, const Geometry& g, const DecodeOptions& o,
                               float threshold, const std::string& what) {
    const Shape ls = item_shape(logits_t, 3);
    const Shape bs = item_shape(boxes_t, 3);
    if (ls.size() != 2 || bs.size() != 2 || bs[1] != 4 || ls[0] != bs[0])
        throw ShapeError(what + ", got " + to_string(logits_t.shape()) + " and " + to_string(boxes_t.shape()));
    const FloatValues logits(logits_t);
    const FloatValues boxes(boxes_t);
    const auto queries = static_cast<std::size_t>(ls[0]);
    const auto w = static_cast<float>(g.input_w), h = static_cast<float>(g.input_h);
    Detections dets;
    for (const QueryScore& s : sigmoid_topk(logits.data(), queries, static_cast<std::size_t>(ls[1]), queries, threshold)) {
        const float* b = boxes.data() + s.query * 4;
        const float cx = b[0] * w, cy = b[1] * h, bw = b[2] * w, bh = b[3] * h;
        dets.push_back({g.to_original(Box{cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2}), s.score, s.class_id});
    }
    return sort_filter_truncate(std::move(dets), o.classes, o.max_det);
}

}  // namespace tiledet::detail
