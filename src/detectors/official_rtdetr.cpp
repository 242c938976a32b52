// Reference: lyuwenyu/RT-DETR rtdetrv2_pytorch/references/deploy/rtdetrv2_onnxruntime.py
// (stretch with T.Resize, ToTensor, orig_target_sizes = (w, h)); postprocessor inside the graph.
//
// We feed orig_target_sizes = the input frame's (w, h), not the image's: the graph then
// returns boxes in input-frame pixels, and Geometry maps them back the same way for stretch,
// letterbox (D-FINE/DEIM scripts feed (640, 640) and undo the letterbox the same way) and
// tiles. For a stretch this equals feeding the image size up to float rounding.
#include "official_rtdetr.hpp"

#include <algorithm>

#include "names.hpp"
#include "nms.hpp"
#include "tensor_values.hpp"
#include "tiledet/error.hpp"

namespace tiledet::detail {
namespace {

const TensorInfo* sizes_input(const ModelSignature& sig) {
    if (const TensorInfo* t = sig.find_input("orig_target_sizes"); t && t->rank() == 2) return t;
    for (const auto& in : sig.inputs)
        if (in.rank() == 2 && is_integer(in.type) && in.dims[1].fixed() && in.dims[1].value == 2) return &in;
    return nullptr;
}

bool outputs_batched(const ModelSignature& sig) {
    return sig.find_output("scores")->rank() == 2;
}

}  // namespace

Fit official_rtdetr_fits(const ModelSignature& sig) {
    const TensorInfo* sizes = sizes_input(sig);
    const TensorInfo* labels = sig.find_output("labels");
    const TensorInfo* boxes = sig.find_output("boxes");
    const TensorInfo* scores = sig.find_output("scores");
    if (!image_input(sig) || !sizes || !labels || !boxes || !scores) return std::nullopt;
    const bool batched = scores->rank() == 2 && labels->rank() == 2 && boxes->rank() == 3;
    const bool unbatched = scores->rank() == 1 && labels->rank() == 1 && boxes->rank() == 2;
    if (!batched && !unbatched) return std::nullopt;
    return "inputs '" + image_input(sig)->name + "' + integer '" + sizes->name +
           "' [N, 2], outputs labels/boxes/scores (official RT-DETR deploy layout, also D-FINE, DEIM, DEIMv2)" +
           (unbatched ? "; outputs have no batch axis" : "");
}

OfficialRtdetrDetector::OfficialRtdetrDetector(const ModelSignature& sig, const DetectorConfig& config,
                                               std::string reason)
    : Detector(sig, config,
               [&] {
                   if (!official_rtdetr_fits(sig))
                       layout_mismatch(
                           Family{"official_rtdetr"}, sig,
                           "expected inputs images [N, 3, H, W] + int64 orig_target_sizes [N, 2] and outputs "
                           "labels [N, Q], boxes [N, Q, 4], scores [N, Q]");
                   Setup s;
                   s.family = Family{"official_rtdetr"};
                   s.reason = std::move(reason);
                   // RT-DETR deploy scripts stretch; D-FINE/DEIM scripts letterbox with black padding, so
                   // --resize letterbox pads with 0 for this family (model-formats.md d(3), f).
                   s.pixels.resize = ResizeMode::stretch;
                   s.pixels.pad_value = 0;
                   // rtdetrv2_tensorrt.py --threshold 0.5 (the onnxruntime script uses 0.6, D-FINE/DEIM 0.4).
                   s.default_conf = 0.5f;
                   s.names = coco80_names();  // labels are contiguous 0..79 for COCO (deploy mode skips the remap)
                   s.num_class_slots = 80;
                   s.outputs_batched = outputs_batched(sig);
                   return s;
               }()),
      sizes_input_(static_cast<std::size_t>(sizes_input(sig) - sig.inputs.data())),
      labels_(output_index("labels")),
      boxes_(output_index("boxes")),
      scores_(output_index("scores")) {}

void OfficialRtdetrDetector::fill_extra_inputs(std::vector<Tensor>& slots, int index, const Geometry& g) const {
    Tensor& t = slots[sizes_input_];
    if (t.rank() != 2 || t.dim(1) != 2 || index >= t.dim(0))
        throw ShapeError("official_rtdetr: orig_target_sizes slot " + to_string(t.shape()) + " cannot hold item " +
                         std::to_string(index));
    const auto i = static_cast<std::size_t>(index) * 2;
    if (t.type() == ElementType::int64) {
        t.data<int64_t>()[i] = g.input_w;
        t.data<int64_t>()[i + 1] = g.input_h;
    } else if (t.type() == ElementType::int32) {
        t.data<int32_t>()[i] = g.input_w;
        t.data<int32_t>()[i + 1] = g.input_h;
    } else {
        throw ShapeError("official_rtdetr: orig_target_sizes must be int64 or int32, the model has " +
                         to_string(t.type()));
    }
}

Detections OfficialRtdetrDetector::decode(const std::vector<Tensor>& outs, const Geometry& g,
                                          const DecodeOptions& o) const {
    check_item_outputs(family(), outs, signature().outputs.size());
    const Shape ls = item_shape(outs[labels_], outputs_have_batch_axis() ? 2 : 0);
    const Shape bs = item_shape(outs[boxes_], outputs_have_batch_axis() ? 3 : 0);
    const Shape ss = item_shape(outs[scores_], outputs_have_batch_axis() ? 2 : 0);
    if (ls.size() != 1 || ss.size() != 1 || bs.size() != 2 || bs[1] != 4 || ls[0] != ss[0] || bs[0] != ss[0])
        throw ShapeError("official_rtdetr decode: expected labels [Q], boxes [Q, 4], scores [Q] per item, got " +
                         to_string(outs[labels_].shape()) + ", " + to_string(outs[boxes_].shape()) + ", " +
                         to_string(outs[scores_].shape()));
    const std::vector<int64_t> labels = int_values(outs[labels_]);
    const FloatValues boxes(outs[boxes_]);
    const FloatValues scores(outs[scores_]);
    const float conf = conf_threshold(o);
    Detections dets;
    for (std::size_t q = 0; q < scores.size(); ++q) {
        if (!(scores[q] > conf)) continue;
        const float* b = boxes.data() + q * 4;
        dets.push_back({g.to_original(Box{b[0], b[1], b[2], b[3]}), scores[q], static_cast<int>(labels[q])});
    }
    return sort_filter_truncate(std::move(dets), o.classes, o.max_det);
}

}  // namespace tiledet::detail
