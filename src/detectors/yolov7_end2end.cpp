// Reference: WongKinYiu/yolov7 models/experimental.py ONNX_ORT / End2End and
// tools/YOLOv7onnx.ipynb (model-formats-more.md b(1), b(3), b(5), b(6)): NMS ran in the graph,
// the notebook letterboxes (centred, 114, RGB / 255), subtracts the un-rounded pad and divides
// by the ratio.
#include "yolov7_end2end.hpp"

#include <cmath>

#include "nms.hpp"
#include "tensor_values.hpp"
#include "tiledet/error.hpp"

namespace tiledet::detail {

namespace {

// EfficientNMS_TRT's outputs (b(1)); a uint8 input makes them YOLO-NAS's TensorRT export (e(4)).
std::optional<CountedRows> trt_rows(const ModelSignature& sig) {
    const TensorInfo* in = image_input(sig);
    if (!in || in->type == ElementType::uint8) return std::nullopt;
    return counted_rows(sig, "num_dets", "det_boxes", "det_scores", "det_classes");
}

}  // namespace

Fit yolov7_end2end_fits(const ModelSignature& sig) {
    if (sig.inputs.size() != 1 || !image_input(sig)) return std::nullopt;
    if (trt_rows(sig))
        return std::string("outputs num_dets, det_boxes, det_scores, det_classes (TensorRT-style end2end of YOLOv7 / "
                           "YOLOv6; EfficientNMS_TRT runs only in TensorRT, YOLOv6 --ort in ONNX Runtime)");
    if (sig.outputs.size() != 1) return std::nullopt;
    const TensorInfo& out = sig.outputs[0];
    if (out.rank() != 2 || !out.dims[1].fixed() || out.dims[1].value != 7) return std::nullopt;
    // YOLO-NAS's FLAT output is [N,7] too, with score and class swapped (e(4)): its name or a
    // uint8 input says so.
    if (out.name == "flat_predictions" || image_input(sig)->type == ElementType::uint8) return std::nullopt;
    return "one output '" + out.name + "' " + out.dims_string() +
           " = rows of batch_id, x0, y0, x1, y1, class, score over the whole batch (YOLOv7 end2end, ONNX Runtime NMS)";
}

Yolov7End2EndDetector::Yolov7End2EndDetector(const ModelSignature& sig, const DetectorConfig& config,
                                             std::string reason)
    : Detector(sig, config, [&] {
          if (!yolov7_end2end_fits(sig))
              layout_mismatch(Family{"yolov7_end2end"}, sig,
                              "expected one float image input and one output [num_dets, 7], or num_dets, det_boxes, "
                              "det_scores, det_classes");
          const TensorInfo& in = *image_input(sig);
          const bool four_outputs = trt_rows(sig).has_value();
          // Rows of every item share one tensor (split by column 0): until items can be split
          // that way, only batch 1 is decoded. The four outputs have a batch axis each.
          if (!four_outputs && (!in.dims[0].fixed() || in.dims[0].value != 1))
              throw UnknownLayoutError("yolov7_end2end: input '" + in.name + "' " + in.dims_string() +
                                       " has a batch other than 1, and the [num_dets, 7] rows of all items come "
                                       "in one tensor; tiledet decodes only batch-1 exports of this layout: "
                                       "re-export without --dynamic-batch");
          Setup s;
          s.family = Family{"yolov7_end2end"};
          s.reason = std::move(reason);
          s.pixels.resize = ResizeMode::letterbox;
          s.pixels.pad_value = 114;
          s.default_conf = 0.25f;  // export.py --conf-thres default; rows under it were already dropped
          s.num_class_slots = 80;  // no metadata in YOLOv7 exports: COCO unless --names
          s.names = ultralytics_names(sig, 80);
          s.outputs_batched = four_outputs;
          return s;
      }()),
      rows_(trt_rows(sig)) {}

Detections Yolov7End2EndDetector::decode(const std::vector<Tensor>& outs, const Geometry& g,
                                         const DecodeOptions& o) const {
    const float conf = conf_threshold(o);
    // Notebook: box -= [dw, dh, dw, dh] with letterbox's un-rounded halves; box /= ratio.
    Geometry back = g;
    if (resize_mode() == ResizeMode::letterbox) {
        back.pad_x = (static_cast<float>(g.input_w) - static_cast<float>(g.orig_w) * g.scale_x) / 2;
        back.pad_y = (static_cast<float>(g.input_h) - static_cast<float>(g.orig_h) * g.scale_y) / 2;
    }
    // EfficientNMS_TRT: corner boxes x1,y1,x2,y2 in input px, the first num_dets rows valid (b(1), b(6)).
    if (rows_) return decode_counted_rows(outs, *rows_, back, conf, o, "yolov7_end2end");
    check_item_outputs(family(), outs, 1);
    const Shape s = outs[0].shape();
    if (s.size() != 2 || s[1] != 7)
        throw ShapeError("yolov7_end2end decode: expected output [num_dets, 7], got " + to_string(s));
    const FloatValues v(outs[0]);
    Detections dets;
    for (int64_t i = 0; i < s[0]; ++i) {
        const float* r = v.data() + i * 7;
        if (std::lround(r[0]) != 0 || !(r[6] > conf)) continue;  // batch 1: every row is item 0
        dets.push_back({back.to_original(Box{r[1], r[2], r[3], r[4]}), r[6], static_cast<int>(std::lround(r[5]))});
    }
    return sort_filter_truncate(std::move(dets), o.classes, o.max_det);
}

}  // namespace tiledet::detail
