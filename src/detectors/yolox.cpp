// Reference: Megvii-BaseDetection/YOLOX yolox/data/data_augment.py preproc,
// yolox/utils/demo_utils.py demo_postprocess and multiclass_nms_class_agnostic,
// demo/ONNXRuntime/onnx_inference.py (model-formats-more.md c(3)-(5)).
#include "yolox.hpp"

#include <cmath>

#include "nms.hpp"
#include "tensor_values.hpp"
#include "tiledet/error.hpp"

namespace tiledet::detail {

Fit yolox_fits(const ModelSignature& sig) {
    const auto o = objectness_output(sig);
    // YOLOX's exporter writes no metadata; `stride` is YOLOv5's, `task` the ultralytics package's.
    // 'outputs' with anchor-free rows is YOLOv6, whose boxes are already decoded (d(4)).
    if (!o || o->ultralytics_package || o->yolov5_metadata || o->output->name == "outputs") return std::nullopt;
    const auto& d = o->output->dims;
    const int nc = static_cast<int>(d[2].value) - 5;
    if (o->metadata_classes && *o->metadata_classes != nc) return std::nullopt;
    std::string why = "one output '" + o->output->name + "' " + o->output->dims_string() +
                      " = rows of raw box regressions, obj, " + std::to_string(nc) + " classes";
    if (!d[1].fixed()) return why + "; the row axis is symbolic, so the grid cannot be checked";
    const GridEvidence grid = grid_evidence(sig, d[1].value);
    if (grid.kind == GridEvidence::anchor_free) return why + "; " + grid.text + " (YOLOX, anchor-free)";
    if (grid.kind == GridEvidence::unknown_size) return why + "; " + grid.text;
    return std::nullopt;
}

YoloxDetector::YoloxDetector(const ModelSignature& sig, const DetectorConfig& config, std::string reason)
    : Detector(sig, config, [&] {
          const auto o = objectness_output(sig);
          if (!o) layout_mismatch(Family{"yolox"}, sig, "expected one image input and one output [batch, anchors, 5+nc]");
          Setup s;
          s.family = Family{"yolox"};
          s.reason = std::move(reason);
          // preproc: canvas of 114, int(w*r) resize pasted top-left, BGR bytes 0..255, no mean/std.
          s.pixels.resize = ResizeMode::letterbox;
          s.pixels.pad_value = 114;
          s.pixels.letterbox = LetterboxStyle::top_left;
          s.pixels.bgr = true;
          s.pixels.scale = 1.0f;
          // tools/demo.py --conf 0.3; the ONNX demo draws at --score_thr 0.3.
          s.default_conf = 0.3f;
          s.default_iou = 0.45f;  // model-formats-more.md 0 / c: the ONNX demo's multiclass_nms nms_thr 0.45
          s.num_class_slots = static_cast<int>(o->output->dims[2].value) - 5;
          s.names = ultralytics_names(sig, s.num_class_slots);  // COCO 80 in YOLOX's order when nc == 80
          return s;
      }()) {}

Detections YoloxDetector::decode(const std::vector<Tensor>& outs, const Geometry& g, const DecodeOptions& o) const {
    check_item_outputs(family(), outs, 1);
    const Shape s = item_shape(outs[0], 3);
    if (s.size() != 2 || s[1] < 6)
        throw ShapeError("yolox decode: expected output [1, anchors, 5+nc], got " + to_string(outs[0].shape()));
    const int64_t rows = s[0];
    const bool p6 = rows == grid_cells(g.input_h, g.input_w, true);
    if (!p6 && rows != grid_cells(g.input_h, g.input_w, false))
        throw ShapeError(
            "yolox decode: " + std::to_string(rows) + " rows, but a " + std::to_string(g.input_h) + "x" +
            std::to_string(g.input_w) + " input has " + std::to_string(grid_cells(g.input_h, g.input_w, false)) +
            " grid cells at strides 8,16,32 (P6: " + std::to_string(grid_cells(g.input_h, g.input_w, true)) +
            "); give the export's input size with the imgsz option (the CLI's --imgsz)");
    const auto cols = static_cast<std::size_t>(s[1]);
    const FloatValues v(outs[0]);
    const float conf = conf_threshold(o);
    Detections candidates;
    std::size_t row = 0;
    for (int stride : {8, 16, 32, 64}) {
        if (stride == 64 && !p6) break;
        // demo_postprocess: integer grid (no +0.5), H // s by W // s, row-major per level.
        const int gh = g.input_h / stride, gw = g.input_w / stride;
        for (int gy = 0; gy < gh; ++gy)
            for (int gx = 0; gx < gw; ++gx, ++row) {
                const float* r = v.data() + row * cols;
                // scores = obj * cls <= obj, so a row with obj <= conf cannot pass.
                if (!(r[4] > conf)) continue;
                std::size_t best = 5;
                for (std::size_t c = 6; c < cols; ++c)
                    if (r[c] > r[best]) best = c;
                const float score = r[4] * r[best];
                const int cls = static_cast<int>(best - 5);
                // multiclass_nms_class_agnostic: argmax class, keep score > score_thr.
                if (!(score > conf) || !class_allowed(cls, o.classes)) continue;
                const auto sf = static_cast<float>(stride);
                const float cx = (r[0] + static_cast<float>(gx)) * sf, cy = (r[1] + static_cast<float>(gy)) * sf;
                const float w = std::exp(r[2]) * sf, h = std::exp(r[3]) * sf;
                candidates.push_back({Box{cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2}, score, cls});
            }
    }
    // The reference NMS is class-agnostic (YOLOX PR #588); its +1 pixel areas are not copied.
    Detections kept = nms(std::move(candidates), iou_threshold(o), /*agnostic=*/true, o.max_det);
    for (Detection& d : kept) d.box = g.to_original(d.box);  // top-left pad: divide by r only
    return kept;
}

}  // namespace tiledet::detail
