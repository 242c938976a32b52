// Reference: PaddlePaddle/PaddleDetection (model-formats-more.md f): deploy/third_engine/onnx/
// preprocess.py (scale_factor = (scale_y, scale_x)) and infer.py (rows with class -1 are empty),
// configs/ppyoloe/_base_/ppyoloe_plus_reader.yml (stretch, cv2.INTER_CUBIC, RGB / 255) and
// ppyoloe_plus_crn.yml (nms_threshold 0.7, keep_top_k 300), ppdet/engine/export_utils.py
// (draw_threshold 0.5), ppyoloe_head.py post_process (boxes divided by the scale factor).
#include "ppyoloe.hpp"

#include <cmath>

#include "nms.hpp"
#include "tensor_values.hpp"
#include "tiledet/error.hpp"

namespace tiledet::detail {
namespace {

const TensorInfo* float_pair_input(const ModelSignature& sig, const char* name) {
    const TensorInfo* t = sig.find_input(name);
    if (!t || t->rank() != 2 || !t->dims[1].fixed() || t->dims[1].value != 2) return nullptr;
    return (t->type == ElementType::float32 || t->type == ElementType::float16) ? t : nullptr;
}

struct Outputs {
    bool nms_in_graph = true;
    std::size_t rows = 0, count = 0;    // NMS in graph: [M,6] and [B]
    std::size_t boxes = 0, scores = 0;  // exclude_nms: [B,N,4] and [B,nc,N]
};

// Names are Paddle's variable names and were not verified for exclude_nms (f(4)): the shapes decide.
std::optional<Outputs> outputs_of(const ModelSignature& sig) {
    if (sig.outputs.size() != 2) return std::nullopt;
    const TensorInfo& a = sig.outputs[0];
    const TensorInfo& b = sig.outputs[1];
    const auto rows6 = [](const TensorInfo& t) { return t.rank() == 2 && t.dims[1].fixed() && t.dims[1].value == 6; };
    const auto count = [](const TensorInfo& t) { return t.rank() == 1 && is_integer(t.type); };
    if (rows6(a) && count(b)) return Outputs{true, 0, 1, 0, 0};
    if (rows6(b) && count(a)) return Outputs{true, 1, 0, 0, 0};
    const auto boxes = [](const TensorInfo& t) { return t.rank() == 3 && t.dims[2].fixed() && t.dims[2].value == 4; };
    const auto scores = [](const TensorInfo& t) { return t.rank() == 3 && !is_integer(t.type); };
    if (boxes(a) && scores(b) && !boxes(b)) return Outputs{false, 0, 0, 0, 1};
    if (boxes(b) && scores(a) && !boxes(a)) return Outputs{false, 0, 0, 1, 0};
    return std::nullopt;
}

bool has_paddle_inputs(const ModelSignature& sig) {
    const std::size_t extra = sig.find_input("im_shape") ? 1 : 0;
    return image_input(sig) && float_pair_input(sig, "scale_factor") && sig.inputs.size() == 2 + extra &&
           (!extra || float_pair_input(sig, "im_shape"));
}

void write_pair(Tensor& t, int index, float first, float second) {
    const auto i = static_cast<std::size_t>(index) * 2;
    if (t.type() == ElementType::float32) {
        t.data<float>()[i] = first;
        t.data<float>()[i + 1] = second;
    } else {
        t.data<cv::float16_t>()[i] = cv::float16_t(first);
        t.data<cv::float16_t>()[i + 1] = cv::float16_t(second);
    }
}

}  // namespace

Fit ppyoloe_fits(const ModelSignature& sig) {
    if (!has_paddle_inputs(sig)) return std::nullopt;
    const auto o = outputs_of(sig);
    if (!o) return std::nullopt;
    if (o->nms_in_graph)
        return "inputs '" + image_input(sig)->name + "' + scale_factor [B,2]; outputs '" + sig.outputs[o->rows].name +
               "' " + sig.outputs[o->rows].dims_string() + " = class, score, x1, y1, x2, y2 and '" +
               sig.outputs[o->count].name + "' = rows per image (PaddleDetection, NMS in the graph)";
    return "inputs '" + image_input(sig)->name + "' + scale_factor [B,2]; outputs boxes '" +
           sig.outputs[o->boxes].name + "' " + sig.outputs[o->boxes].dims_string() + " and scores '" +
           sig.outputs[o->scores].name + "' " + sig.outputs[o->scores].dims_string() +
           " (PaddleDetection exclude_nms=True)";
}

PpyoloeDetector::PpyoloeDetector(const ModelSignature& sig, const DetectorConfig& config, std::string reason)
    : Detector(sig, config, [&] {
          if (!ppyoloe_fits(sig))
              layout_mismatch(Family{"ppyoloe"}, sig,
                              "expected inputs image + scale_factor [B,2] and outputs [M,6] + [B] (NMS in the graph) "
                              "or boxes [B,N,4] + scores [B,nc,N] (exclude_nms)");
          const Outputs o = *outputs_of(sig);
          Setup s;
          s.family = Family{"ppyoloe"};
          s.reason = std::move(reason);
          // f(3): Resize keep_ratio False interp 2 (stretch, cubic), RGB, NormalizeImage /255 only
          // (PP-YOLOE+; the original PP-YOLOE's ImageNet mean/std is not read from infer_cfg.yml).
          s.pixels.resize = ResizeMode::stretch;
          s.pixels.interpolation = Interpolation::cubic;
          s.pixels.pad_value = 114;  // only used with --resize letterbox; the reference stretches
          s.default_conf = 0.5f;      // f(4): draw_threshold 0.5, deploy/python --threshold 0.5
          s.default_iou = 0.7f;       // f(4): ppyoloe_plus_crn.yml nms_threshold 0.7 (exclude_nms)
          int nc = 80;
          if (!o.nms_in_graph) {
              const Dim& c = sig.outputs[o.scores].dims[1];
              if (c.fixed()) nc = static_cast<int>(c.value);
          }
          s.num_class_slots = nc;
          s.names = ultralytics_names(sig, nc);
          s.outputs_batched = !o.nms_in_graph;
          if (o.nms_in_graph) {
              // f(6): the NMS graph's rows of all images share one tensor; batch 1 only.
              const TensorInfo& in = *image_input(sig);
              if (!in.dims[0].fixed() || in.dims[0].value != 1)
                  throw UnknownLayoutError("ppyoloe: input '" + in.name + "' " + in.dims_string() +
                                           " has a batch other than 1, and the NMS rows of all images come in one "
                                           "tensor; tiledet decodes only batch-1 exports of this layout (as "
                                           "PaddleDetection documents), or exclude_nms=True exports at any batch");
          }
          return s;
      }()) {
    const Outputs o = *outputs_of(sig);
    nms_in_graph_ = o.nms_in_graph;
    rows_out_ = o.rows;
    boxes_out_ = o.boxes;
    scores_out_ = o.scores;
}

void PpyoloeDetector::fill_extra_inputs(std::vector<Tensor>& slots, int index, const Geometry& g) const {
    const auto& inputs = signature().inputs;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        if (inputs[i].name == "scale_factor") write_pair(slots[i], index, g.scale_y, g.scale_x);  // (y, x), f(2)
        if (inputs[i].name == "im_shape")
            write_pair(slots[i], index, static_cast<float>(g.input_h), static_cast<float>(g.input_w));
    }
}

Detections PpyoloeDetector::decode(const std::vector<Tensor>& outs, const Geometry& g, const DecodeOptions& o) const {
    check_item_outputs(family(), outs, 2);
    // The graph divided input-px boxes by scale_factor (f(4)): what is left is the letterbox
    // pad, pad / scale in these units (0 for the reference's stretch), then a clip.
    Geometry back = g;
    back.scale_x = back.scale_y = 1;
    back.pad_x = g.pad_x / g.scale_x;
    back.pad_y = g.pad_y / g.scale_y;
    const float conf = conf_threshold(o);
    if (nms_in_graph_) {
        const Shape s = outs[rows_out_].shape();
        if (s.size() != 2 || s[1] != 6)
            throw ShapeError("ppyoloe decode: expected NMS rows [M, 6], got " + to_string(s));
        const std::vector<int64_t> count = int_values(outs[1 - rows_out_]);
        const int64_t rows = count.empty() ? s[0] : std::min<int64_t>(count[0], s[0]);
        const FloatValues v(outs[rows_out_]);
        Detections dets;
        for (int64_t i = 0; i < rows; ++i) {
            const float* r = v.data() + i * 6;
            const int cls = static_cast<int>(std::lround(r[0]));
            if (cls < 0 || !(r[1] > conf)) continue;  // class -1: the "no detection" row (infer.py)
            dets.push_back({back.to_original(Box{r[2], r[3], r[4], r[5]}), r[1], cls});
        }
        return sort_filter_truncate(std::move(dets), o.classes, o.max_det);
    }
    const Shape bs = item_shape(outs[boxes_out_], 3);
    const Shape ss = item_shape(outs[scores_out_], 3);
    if (bs.size() != 2 || bs[1] != 4 || ss.size() != 2 || ss[1] != bs[0])
        throw ShapeError("ppyoloe decode: expected boxes [1, N, 4] and scores [1, nc, N], got " +
                         to_string(outs[boxes_out_].shape()) + " and " + to_string(outs[scores_out_].shape()));
    const FloatValues boxes(outs[boxes_out_]), scores(outs[scores_out_]);
    const auto n = static_cast<std::size_t>(bs[0]);
    Detections candidates;
    // multiclass_nms: every (box, class) pair above the threshold is a candidate, NMS per class.
    for (std::size_t c = 0; c < static_cast<std::size_t>(ss[0]); ++c) {
        if (!class_allowed(static_cast<int>(c), o.classes)) continue;
        for (std::size_t i = 0; i < n; ++i) {
            const float score = scores[c * n + i];
            if (!(score > conf)) continue;
            const float* b = boxes.data() + i * 4;
            candidates.push_back({Box{b[0], b[1], b[2], b[3]}, score, static_cast<int>(c)});
        }
    }
    Detections kept = nms(std::move(candidates), iou_threshold(o), o.agnostic, o.max_det);
    for (Detection& d : kept) d.box = back.to_original(d.box);
    return kept;
}

}  // namespace tiledet::detail
