#include "counted_rows.hpp"

#include <algorithm>

#include "nms.hpp"
#include "tensor_values.hpp"
#include "tiledet/error.hpp"

namespace tiledet::detail {
namespace {

std::optional<std::size_t> index_of(const ModelSignature& sig, const char* name) {
    for (std::size_t i = 0; i < sig.outputs.size(); ++i)
        if (sig.outputs[i].name == name) return i;
    return std::nullopt;
}

}  // namespace

std::optional<CountedRows> counted_rows(const ModelSignature& sig, const char* count, const char* boxes,
                                        const char* scores, const char* classes) {
    const auto c = index_of(sig, count), b = index_of(sig, boxes), s = index_of(sig, scores),
               k = index_of(sig, classes);
    if (!c || !b || !s || !k || sig.outputs.size() != 4) return std::nullopt;
    const auto& o = sig.outputs;
    const bool count_ok = o[*c].rank() == 1 || (o[*c].rank() == 2 && o[*c].dims[1].fixed() && o[*c].dims[1].value == 1);
    const bool boxes_ok = o[*b].rank() == 3 && o[*b].dims[2].fixed() && o[*b].dims[2].value == 4;
    if (!count_ok || !boxes_ok || o[*s].rank() != 2 || o[*k].rank() != 2) return std::nullopt;
    return CountedRows{*c, *b, *s, *k};
}

Detections decode_counted_rows(const std::vector<Tensor>& outs, const CountedRows& r, const Geometry& back, float conf,
                               const DecodeOptions& o, const std::string& what) {
    if (outs.size() != 4)
        throw ShapeError(what + " decode: expected 4 output tensors for one item, got " + std::to_string(outs.size()));
    const Shape bs = item_shape(outs[r.boxes], 3);
    const Shape ss = item_shape(outs[r.scores], 2);
    const Shape cs = item_shape(outs[r.classes], 2);
    if (bs.size() != 2 || bs[1] != 4 || ss.size() != 1 || cs.size() != 1 || ss[0] != bs[0] || cs[0] != bs[0])
        throw ShapeError(what + " decode: expected one item's boxes [1,K,4], scores [1,K], classes [1,K], got " +
                         to_string(outs[r.boxes].shape()) + ", " + to_string(outs[r.scores].shape()) + ", " +
                         to_string(outs[r.classes].shape()));
    const std::vector<int64_t> count = int_values(outs[r.count]);
    if (count.size() != 1)
        throw ShapeError(what + " decode: expected one count for the item, got " + to_string(outs[r.count].shape()));
    const int64_t rows = std::clamp<int64_t>(count[0], 0, bs[0]);  // the rest is padding
    const FloatValues boxes(outs[r.boxes]), scores(outs[r.scores]);
    const std::vector<int64_t> classes = int_values(outs[r.classes]);
    Detections dets;
    for (int64_t i = 0; i < rows; ++i) {
        const auto u = static_cast<std::size_t>(i);
        const float score = scores[u];
        const int cls = static_cast<int>(classes[u]);
        if (!(score > conf) || cls < 0) continue;
        const float* b = boxes.data() + u * 4;
        dets.push_back({back.to_original(Box{b[0], b[1], b[2], b[3]}), score, cls});
    }
    return sort_filter_truncate(std::move(dets), o.classes, o.max_det);
}

}  // namespace tiledet::detail
