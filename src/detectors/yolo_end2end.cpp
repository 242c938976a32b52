// Reference: NMSModel.forward / Detect.postprocess (model-formats.md a(4), "Variants"); the
// predictor keeps rows with score > conf, no further NMS.
#include "yolo_end2end.hpp"

#include "nms.hpp"
#include "tensor_values.hpp"
#include "tiledet/error.hpp"

namespace tiledet::detail {

Fit yolo_end2end_fits(const ModelSignature& sig) {
    const auto u = ultralytics_output(sig);
    if (!u) return std::nullopt;
    const auto& d = u->output->dims;
    if (!d[2].fixed() || d[2].value != 6) return std::nullopt;
    // A one-class YOLOX / YOLOv5 head is [B, grid rows, 6] too: end-to-end rows are max_det, not a grid.
    if (d[1].fixed() && !u->end2end_hint) {
        const GridEvidence grid = grid_evidence(sig, d[1].value);
        if (grid.kind == GridEvidence::anchor_free || grid.kind == GridEvidence::three_anchors) return std::nullopt;
    }
    return "one output '" + u->output->name + "' " + u->output->dims_string() +
           " = rows of x1,y1,x2,y2,score,class (YOLO end-to-end / nms=True export)" +
           (u->end2end_hint ? ", metadata says end-to-end" : "");
}

YoloEnd2EndDetector::YoloEnd2EndDetector(const ModelSignature& sig, const DetectorConfig& config, std::string reason)
    : Detector(sig, config, [&] {
          const auto u = ultralytics_output(sig);
          if (!u || !u->output->dims[2].fixed() || u->output->dims[2].value != 6)
              layout_mismatch(Family{"yolo_end2end"}, sig,
                              "expected one image input and one output [batch, detections, 6]");
          Setup s;
          s.family = Family{"yolo_end2end"};
          s.reason = std::move(reason);
          s.pixels.resize = ResizeMode::letterbox;  // the Ultralytics predictor, as for YOLO
          s.pixels.pad_value = 114;
          s.default_conf = 0.25f;
          s.num_class_slots = u->metadata_classes.value_or(80);
          s.names = ultralytics_names(sig, s.num_class_slots);
          return s;
      }()) {}

Detections YoloEnd2EndDetector::decode(const std::vector<Tensor>& outs, const Geometry& g,
                                       const DecodeOptions& o) const {
    check_item_outputs(family(), outs, 1);
    const Shape s = item_shape(outs[0], 3);
    if (s.size() != 2 || s[1] != 6)
        throw ShapeError("yolo_end2end decode: expected output [1, detections, 6], got " + to_string(outs[0].shape()));
    const FloatValues v(outs[0]);
    const float conf = conf_threshold(o);
    Detections dets;
    for (int64_t i = 0; i < s[0]; ++i) {
        const float* r = v.data() + i * 6;
        if (!(r[4] > conf)) continue;  // zero-padded rows fall out here
        dets.push_back({g.to_original(Box{r[0], r[1], r[2], r[3]}), r[4], static_cast<int>(std::lround(r[5]))});
    }
    return sort_filter_truncate(std::move(dets), o.classes, o.max_det);
}

}  // namespace tiledet::detail
