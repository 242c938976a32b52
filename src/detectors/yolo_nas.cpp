// Reference: Deci-AI/super-gradients (model-formats-more.md e): module_interfaces/
// exportable_detector.py (uint8 input, BATCH format by default), conversion/onnx/nms.py
// (NonMaxSuppression, BATCH and FLAT outputs), conversion/tensorrt/nms.py (EfficientNMS_TRT),
// training/processing/processing.py default_yolo_nas_coco_processing_params (636 rescale,
// centre pad 114, RGB; conf 0.25).
#include "yolo_nas.hpp"

#include <algorithm>
#include <cmath>

#include "nms.hpp"
#include "tensor_values.hpp"
#include "tiledet/error.hpp"

namespace tiledet::detail {
namespace {

std::optional<CountedRows> batch_rows(const ModelSignature& sig) {
    return counted_rows(sig, "num_predictions", "pred_boxes", "pred_scores", "pred_classes");
}

// The TensorRT engine export has the EfficientNMS_TRT names that YOLOv7/YOLOv6 use too; YOLO-NAS's
// is the one with a uint8 input (its preprocessing is in the graph, e(1)).
std::optional<CountedRows> trt_rows(const ModelSignature& sig) {
    const TensorInfo* in = image_input(sig);
    if (!in || in->type != ElementType::uint8) return std::nullopt;
    return counted_rows(sig, "num_dets", "det_boxes", "det_scores", "det_classes");
}

const TensorInfo* flat_output(const ModelSignature& sig) {
    if (sig.outputs.size() != 1) return nullptr;
    const TensorInfo& o = sig.outputs[0];
    if (o.rank() != 2 || !o.dims[1].fixed() || o.dims[1].value != 7) return nullptr;
    const TensorInfo* in = image_input(sig);
    // [N,7] is also YOLOv7's end2end output (with class and score the other way round): only the
    // name SG gives it or the uint8 input says YOLO-NAS.
    if (o.name == "flat_predictions" || (in && in->type == ElementType::uint8)) return &o;
    return nullptr;
}

struct RawOutputs {
    std::size_t boxes = 0, scores = 1;
    std::string grid;  // the grid evidence
};

// postprocessing=False (e(4)): the traced head's (boxes [B,N,4], scores [B,N,C]); SG sets no
// output names, so the shapes decide: N must be the anchor-free grid of the input (8400 at 640).
std::optional<RawOutputs> raw_outputs(const ModelSignature& sig) {
    if (sig.outputs.size() != 2) return std::nullopt;
    const auto boxes_like = [](const TensorInfo& t) {
        return t.rank() == 3 && t.dims[2].fixed() && t.dims[2].value == 4 && t.dims[1].fixed();
    };
    const bool a = boxes_like(sig.outputs[0]), b = boxes_like(sig.outputs[1]);
    if (a == b) return std::nullopt;  // neither, or both [B,N,4]: no telling boxes from scores
    RawOutputs r;
    r.boxes = a ? 0 : 1;
    r.scores = 1 - r.boxes;
    const TensorInfo& boxes = sig.outputs[r.boxes];
    const TensorInfo& scores = sig.outputs[r.scores];
    if (scores.rank() != 3 || !scores.dims[1].fixed() || scores.dims[1].value != boxes.dims[1].value ||
        !scores.dims[2].fixed() || is_integer(scores.type))
        return std::nullopt;
    const GridEvidence grid = grid_evidence(sig, boxes.dims[1].value);
    if (grid.kind != GridEvidence::anchor_free || grid.p6) return std::nullopt;
    r.grid = grid.text;
    return r;
}

}  // namespace

Fit yolo_nas_fits(const ModelSignature& sig) {
    if (sig.inputs.size() != 1 || !image_input(sig)) return std::nullopt;
    if (const auto raw = raw_outputs(sig))
        return "outputs boxes '" + sig.outputs[raw->boxes].name + "' " + sig.outputs[raw->boxes].dims_string() +
               " + scores '" + sig.outputs[raw->scores].name + "' " + sig.outputs[raw->scores].dims_string() + "; " +
               raw->grid + " (YOLO-NAS exported with postprocessing=False)";
    if (batch_rows(sig))
        return std::string("outputs num_predictions, pred_boxes, pred_scores, pred_classes (YOLO-NAS BATCH format, NMS "
                           "in the graph)");
    if (trt_rows(sig))
        return std::string("uint8 input and outputs num_dets, det_boxes, det_scores, det_classes (YOLO-NAS TensorRT "
                           "export)");
    if (const TensorInfo* f = flat_output(sig))
        return "one output '" + f->name + "' " + f->dims_string() +
               " = image_index, x1, y1, x2, y2, score, class (YOLO-NAS FLAT format" +
               (f->name == "flat_predictions" ? ")" : ", told from YOLOv7 end2end by the uint8 input)");
    return std::nullopt;
}

YoloNasDetector::YoloNasDetector(const ModelSignature& sig, const DetectorConfig& config, std::string reason)
    : Detector(sig, config, [&] {
          if (!yolo_nas_fits(sig))
              layout_mismatch(Family{"yolo_nas"}, sig,
                              "expected num_predictions/pred_boxes/pred_scores/pred_classes, flat_predictions [N,7], "
                              "or a uint8 input with num_dets/det_boxes/det_scores/det_classes");
          Setup s;
          s.family = Family{"yolo_nas"};
          s.reason = std::move(reason);
          // e(3): DetectionLongestMaxSizeRescale(636, 636) + DetectionCenterPadding(640, 640, 114),
          // RGB; the uint8 input takes the bytes (the graph divides by 255), a float one gets /255.
          s.pixels.resize = ResizeMode::letterbox;
          s.pixels.letterbox = LetterboxStyle::centred_floor;
          s.pixels.letterbox_inset = 4;  // 640 - 636
          s.pixels.pad_value = 114;
          s.default_conf = 0.25f;  // e(4): COCO processing params' conf
          s.default_iou = 0.7f;    // e(4): customizable_detector.py iou 0.7 (the NMS ran in the graph)
          const auto raw = raw_outputs(sig);
          // The exports carry no names: COCO unless --names (the raw head says its class count).
          s.num_class_slots = raw ? static_cast<int>(sig.outputs[raw->scores].dims[2].value) : 80;
          s.names = ultralytics_names(sig, s.num_class_slots);
          s.outputs_batched = raw || !flat_output(sig) || batch_rows(sig) || trt_rows(sig);
          if (!s.outputs_batched) {
              const TensorInfo& in = *image_input(sig);
              if (!in.dims[0].fixed() || in.dims[0].value != 1)
                  throw UnknownLayoutError("yolo_nas: input '" + in.name + "' " + in.dims_string() +
                                           " has a batch other than 1, and the FLAT rows of all items come in one "
                                           "tensor; tiledet decodes only batch-1 FLAT exports: re-export with batch_size=1 "
                                           "or output_predictions_format=BATCH");
          }
          return s;
      }()) {
    if (const auto raw = raw_outputs(sig)) {
        raw_ = true;
        boxes_out_ = raw->boxes;
        scores_out_ = raw->scores;
        return;
    }
    rows_ = batch_rows(sig);
    if (!rows_) rows_ = trt_rows(sig);
}

Detections YoloNasDetector::decode(const std::vector<Tensor>& outs, const Geometry& g, const DecodeOptions& o) const {
    // e(5): subtract pad_left / pad_top, divide by the rescale factor (Geometry holds both).
    if (rows_) return decode_counted_rows(outs, *rows_, g, conf_threshold(o), o, "yolo_nas");
    if (raw_) {
        check_item_outputs(family(), outs, 2);
        const Shape bs = item_shape(outs[boxes_out_], 3), ss = item_shape(outs[scores_out_], 3);
        if (bs.size() != 2 || bs[1] != 4 || ss.size() != 2 || ss[0] != bs[0])
            throw ShapeError("yolo_nas decode: expected boxes [1, N, 4] and scores [1, N, C], got " +
                             to_string(outs[boxes_out_].shape()) + " and " + to_string(outs[scores_out_].shape()));
        const FloatValues boxes(outs[boxes_out_]), scores(outs[scores_out_]);
        const auto n = static_cast<std::size_t>(bs[0]), nc = static_cast<std::size_t>(ss[1]);
        const float conf = conf_threshold(o);
        Detections candidates;
        // customizable_detector.py (e(4)): multi_label_per_box, every (box, class) above conf.
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t c = 0; c < nc; ++c) {
                const float score = scores[i * nc + c];
                if (!(score > conf) || !class_allowed(static_cast<int>(c), o.classes)) continue;
                const float* b = boxes.data() + i * 4;
                candidates.push_back({Box{b[0], b[1], b[2], b[3]}, score, static_cast<int>(c)});
            }
        // nms_top_k 1024 candidates enter NMS (e(4)); max_predictions 300 is DecodeOptions' max_det.
        constexpr std::size_t kNmsTopK = 1024;
        if (candidates.size() > kNmsTopK) {
            std::stable_sort(candidates.begin(), candidates.end(),
                             [](const Detection& x, const Detection& y) { return x.score > y.score; });
            candidates.resize(kNmsTopK);
        }
        Detections kept = nms(std::move(candidates), iou_threshold(o), o.agnostic, o.max_det);
        for (Detection& d : kept) d.box = g.to_original(d.box);
        return kept;
    }
    check_item_outputs(family(), outs, 1);
    const Shape s = outs[0].shape();
    if (s.size() != 2 || s[1] != 7)
        throw ShapeError("yolo_nas decode: expected flat_predictions [N, 7], got " + to_string(s));
    const FloatValues v(outs[0]);
    const float conf = conf_threshold(o);
    Detections dets;
    for (int64_t i = 0; i < s[0]; ++i) {
        const float* r = v.data() + i * 7;
        // image_index, x1, y1, x2, y2, score, class; batch 1: every row is image 0.
        if (std::lround(r[0]) != 0 || !(r[5] > conf)) continue;
        dets.push_back({g.to_original(Box{r[1], r[2], r[3], r[4]}), r[5], static_cast<int>(std::lround(r[6]))});
    }
    return sort_filter_truncate(std::move(dets), o.classes, o.max_det);
}

}  // namespace tiledet::detail
