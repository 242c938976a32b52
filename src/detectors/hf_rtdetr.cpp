// Reference: RTDetrImageProcessor (stretch, /255, do_normalize=False) and
// post_process_object_detection(threshold=0.5, use_focal_loss=True): sigmoid, top-k over
// Q x C with k = Q, score > threshold, no NMS (model-formats.md c(3), c(4)).
#include "hf_rtdetr.hpp"

#include "names.hpp"
#include "nms.hpp"
#include "query_topk.hpp"
#include "tensor_values.hpp"
#include "tiledet/error.hpp"

namespace tiledet::detail {

Fit hf_rtdetr_fits(const ModelSignature& sig) {
    const TensorInfo* logits = sig.find_output("logits");
    const TensorInfo* boxes = sig.find_output("pred_boxes");
    if (!image_input(sig) || !logits || !boxes || logits->rank() != 3 || boxes->rank() != 3) return std::nullopt;
    return "outputs 'logits' " + logits->dims_string() + " + 'pred_boxes' " + boxes->dims_string() +
           " (Hugging Face RT-DETR, optimum export)";
}

HfRtdetrDetector::HfRtdetrDetector(const ModelSignature& sig, const DetectorConfig& config, std::string reason)
    : Detector(sig, config,
               [&] {
                   if (!hf_rtdetr_fits(sig))
                       layout_mismatch(Family{"hf_rtdetr"}, sig,
                                       "expected an image input and outputs 'logits' [batch, queries, classes] "
                                       "and 'pred_boxes' [batch, queries, 4]");
                   Setup s;
                   s.family = Family{"hf_rtdetr"};
                   s.reason = std::move(reason);
                   s.pixels.resize = ResizeMode::stretch;
                   s.default_conf = 0.5f;  // post_process_object_detection threshold
                   const Dim& c = sig.find_output("logits")->dims[2];
                   s.num_class_slots = c.fixed() ? static_cast<int>(c.value) : 80;
                   // HF COCO checkpoints: id2label with 80 entries, 0..79 (the model's config, not in the ONNX).
                   if (s.num_class_slots == 80) s.names = coco80_names();
                   return s;
               }()),
      logits_(output_index("logits")),
      boxes_(output_index("pred_boxes")) {}

Detections HfRtdetrDetector::decode(const std::vector<Tensor>& outs, const Geometry& g, const DecodeOptions& o) const {
    check_item_outputs(family(), outs, signature().outputs.size());
    return decode_sigmoid_topk(outs[logits_], outs[boxes_], g, o, conf_threshold(o), "hf_rtdetr decode: expected logits [1, Q, C] and pred_boxes [1, Q, 4]");
}

}  // namespace tiledet::detail
