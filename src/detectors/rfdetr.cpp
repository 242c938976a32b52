// Reference: rfdetr/detr.py predict (stretch to R x R, /255, ImageNet mean/std) and
// rfdetr/models/lwdetr.py PostProcess (sigmoid, top-k over Q x (C+1), slot = class id, no
// NMS); predict threshold 0.5 (model-formats.md e(3), e(4)). Outputs are matched by name,
// never by shape ("Match outputs by name", RF-DETR ONNX docs).
#include "rfdetr.hpp"

#include "names.hpp"
#include "nms.hpp"
#include "query_topk.hpp"
#include "tensor_values.hpp"
#include "tiledet/error.hpp"

namespace tiledet::detail {

Fit rfdetr_fits(const ModelSignature& sig) {
    const TensorInfo* dets = sig.find_output("dets");
    const TensorInfo* labels = sig.find_output("labels");
    if (!image_input(sig) || !dets || !labels || dets->rank() != 3 || labels->rank() != 3 || is_integer(labels->type))
        return std::nullopt;
    return "outputs 'dets' " + dets->dims_string() + " + float 'labels' " + labels->dims_string() +
           " (Roboflow RF-DETR: class logits per query)";
}

RfdetrDetector::RfdetrDetector(const ModelSignature& sig, const DetectorConfig& config, std::string reason)
    : Detector(sig, config,
               [&] {
                   if (!rfdetr_fits(sig))
                       layout_mismatch(Family{"rfdetr"}, sig,
                                       "expected an image input and outputs 'dets' [batch, queries, 4] and "
                                       "float 'labels' [batch, queries, classes+1]");
                   Setup s;
                   s.family = Family{"rfdetr"};
                   s.reason = std::move(reason);
                   s.pixels.resize = ResizeMode::stretch;
                   // ImageNet statistics (rfdetr/detr.py RFDETR.means / RFDETR.stds).
                   s.pixels.mean = {0.485f, 0.456f, 0.406f};
                   s.pixels.std = {0.229f, 0.224f, 0.225f};
                   s.default_conf = 0.5f;
                   const Dim& c = sig.find_output("labels")->dims[2];
                   s.num_class_slots = c.fixed() ? static_cast<int>(c.value) : 91;
                   // COCO weights have 91 slots: slot = COCO category id (rfdetr/util/coco_classes.py).
                   if (s.num_class_slots == 91) s.names = coco91_names();
                   return s;
               }()),
      dets_(output_index("dets")),
      labels_(output_index("labels")) {}

Detections RfdetrDetector::decode(const std::vector<Tensor>& outs, const Geometry& g, const DecodeOptions& o) const {
    check_item_outputs(family(), outs, signature().outputs.size());
    return decode_sigmoid_topk(outs[labels_], outs[dets_], g, o, conf_threshold(o), "rfdetr decode: expected labels [1, Q, C+1] and dets [1, Q, 4]");
}

}  // namespace tiledet::detail
