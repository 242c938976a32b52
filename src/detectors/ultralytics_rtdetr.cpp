// Reference: RTDETRPredictor (ultralytics/models/rtdetr/predict.py): stretch to the input
// size, best class per query (argmax, not a flattened top-k), score > conf, no NMS.
#include "ultralytics_rtdetr.hpp"

#include "nms.hpp"
#include "tensor_values.hpp"
#include "tiledet/error.hpp"

namespace tiledet::detail {

Fit ultralytics_rtdetr_fits(const ModelSignature& sig) {
    const auto u = ultralytics_output(sig);
    if (!u) return std::nullopt;
    const auto& d = u->output->dims;
    const std::optional<int> nc = u->metadata_classes;
    if (d[2].fixed()) {
        // Query-major: [B, Q, 4+nc] with Q > 4+nc or symbolic.
        if (d[2].value < 5 || (d[1].fixed() && d[1].value <= d[2].value)) return std::nullopt;
        if (nc && *nc + 4 != d[2].value) return std::nullopt;
    } else {
        // A dynamic export names axis 2 "anchors" although it holds 4+nc (model-formats.md b(1)):
        // only the metadata can tell it from YOLO's [B, 4+nc, anchors].
        if (!nc || !d[1].fixed() || d[1].value == *nc + 4) return std::nullopt;
    }
    // A row count that is exactly a detection grid for this input is an anchor head
    // (YOLOX's [1,3549,85] at 416), not decoder queries (model-formats-more.md j).
    if (d[1].fixed() && !u->rtdetr_hint) {
        const GridEvidence grid = grid_evidence(sig, d[1].value);
        if (grid.kind == GridEvidence::anchor_free || grid.kind == GridEvidence::three_anchors) return std::nullopt;
    }
    return "one output '" + u->output->name + "' " + u->output->dims_string() +
           " = queries x (4 normalized box values + " +
           (d[2].fixed() ? std::to_string(d[2].value - 4) : std::to_string(*nc)) +
           " class scores) (Ultralytics RT-DETR)" + (u->rtdetr_hint ? ", metadata description says RT-DETR" : "");
}

UltralyticsRtdetrDetector::UltralyticsRtdetrDetector(const ModelSignature& sig, const DetectorConfig& config,
                                                     std::string reason)
    : Detector(sig, config, [&] {
          const auto u = ultralytics_output(sig);
          if (!u)
              layout_mismatch(Family{"ultralytics_rtdetr"}, sig,
                              "expected one image input and one output [batch, queries, 4+nc]");
          Setup s;
          s.family = Family{"ultralytics_rtdetr"};
          s.reason = std::move(reason);
          s.pixels.resize = ResizeMode::stretch;  // LetterBox(auto=False, scale_fill=True)
          s.default_conf = 0.25f;
          const auto& d = u->output->dims;
          s.num_class_slots = d[2].fixed() ? static_cast<int>(d[2].value) - 4 : u->metadata_classes.value_or(80);
          s.names = ultralytics_names(sig, s.num_class_slots);
          return s;
      }()) {}

Detections UltralyticsRtdetrDetector::decode(const std::vector<Tensor>& outs, const Geometry& g,
                                             const DecodeOptions& o) const {
    check_item_outputs(family(), outs, 1);
    const Shape s = item_shape(outs[0], 3);
    if (s.size() != 2 || s[1] < 5)
        throw ShapeError("ultralytics_rtdetr decode: expected output [1, queries, 4+nc], got " +
                         to_string(outs[0].shape()));
    const auto cols = static_cast<std::size_t>(s[1]);
    const FloatValues v(outs[0]);
    const float conf = conf_threshold(o);
    const auto w = static_cast<float>(g.input_w), h = static_cast<float>(g.input_h);
    Detections dets;
    for (int64_t q = 0; q < s[0]; ++q) {
        const float* r = v.data() + static_cast<std::size_t>(q) * cols;
        std::size_t best = 4;
        for (std::size_t c = 5; c < cols; ++c)
            if (r[c] > r[best]) best = c;
        if (!(r[best] > conf)) continue;
        const float cx = r[0] * w, cy = r[1] * h, bw = r[2] * w, bh = r[3] * h;
        dets.push_back({g.to_original(Box{cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2}), r[best],
                        static_cast<int>(best - 4)});
    }
    return sort_filter_truncate(std::move(dets), o.classes, o.max_det);
}

}  // namespace tiledet::detail
