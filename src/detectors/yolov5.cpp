// Reference: ultralytics/yolov5 utils/general.py non_max_suppression and scale_boxes,
// WongKinYiu/yolov7 the same, meituan/YOLOv6 yolov6/utils/nms.py (model-formats-more.md
// a(3)-(5), b(4), d(4)).
#include "yolov5.hpp"

#include <algorithm>

#include "nms.hpp"
#include "tensor_values.hpp"
#include "tiledet/error.hpp"

namespace tiledet::detail {
namespace {

// non_max_suppression's max_nms: at most this many boxes enter NMS, highest scores first.
constexpr std::size_t kMaxNms = 30000;

}  // namespace

Fit yolov5_fits(const ModelSignature& sig) {
    const auto o = objectness_output(sig);
    if (!o || o->ultralytics_package) return std::nullopt;
    const auto& d = o->output->dims;
    const int nc = static_cast<int>(d[2].value) - 5;
    if (o->metadata_classes && *o->metadata_classes != nc) return std::nullopt;
    std::string why = "one output '" + o->output->name + "' " + o->output->dims_string() +
                      " = rows of cx,cy,w,h, obj, " + std::to_string(nc) + " classes";
    if (d[1].fixed()) {
        const GridEvidence grid = grid_evidence(sig, d[1].value);
        const bool yolov6 = grid.kind == GridEvidence::anchor_free && o->output->name == "outputs";
        if (grid.kind == GridEvidence::three_anchors)
            why += "; " + grid.text + " (YOLOv5 / YOLOv7 --grid)";
        else if (yolov6)
            why += "; " + grid.text + " and the output is named 'outputs' (YOLOv6)";
        else if (grid.kind == GridEvidence::unknown_size)
            why += "; " + grid.text;
        else
            return std::nullopt;
    } else {
        why += "; the row axis is symbolic, so the grid cannot be checked";
    }
    if (o->metadata_classes) why += "; metadata names agree";
    if (o->yolov5_metadata) why += "; metadata has YOLOv5's stride key";
    return why;
}

Yolov5Detector::Yolov5Detector(const ModelSignature& sig, const DetectorConfig& config, std::string reason)
    : Detector(sig, config, [&] {
          const auto o = objectness_output(sig);
          if (!o)
              layout_mismatch(Family{"yolov5"}, sig, "expected one image input and one output [batch, anchors, 5+nc]");
          Setup s;
          s.family = Family{"yolov5"};
          s.reason = std::move(reason);
          // letterbox(auto=False): centred, (114,114,114); RGB / 255; detect.py conf 0.25 (a(3), a(4)).
          s.pixels.resize = ResizeMode::letterbox;
          s.pixels.pad_value = 114;
          s.default_conf = 0.25f;
          s.default_iou = 0.45f;  // model-formats-more.md a / 0: detect.py --iou-thres 0.45 (YOLOv7 b(4) too)
          s.num_class_slots = static_cast<int>(o->output->dims[2].value) - 5;
          s.names = ultralytics_names(sig, s.num_class_slots);
          return s;
      }()) {
    // YOLOv7's non_max_suppression uses obj alone when nc == 1 (b(4)); a YOLOv5 export carries
    // its stride metadata and multiplies, as does YOLOv6 (whose obj column is 1.0).
    const auto o = objectness_output(sig);
    obj_only_for_one_class_ = o->output->dims[2].value == 6 && !o->yolov5_metadata;
}

Detections Yolov5Detector::decode(const std::vector<Tensor>& outs, const Geometry& g, const DecodeOptions& o) const {
    check_item_outputs(family(), outs, 1);
    const Shape s = item_shape(outs[0], 3);
    if (s.size() != 2 || s[1] < 6)
        throw ShapeError("yolov5 decode: expected output [1, anchors, 5+nc], got " + to_string(outs[0].shape()));
    const auto cols = static_cast<std::size_t>(s[1]);
    const FloatValues v(outs[0]);
    const float conf = conf_threshold(o);
    Detections candidates;
    for (int64_t a = 0; a < s[0]; ++a) {
        const float* r = v.data() + static_cast<std::size_t>(a) * cols;
        const float obj = r[4];
        if (!(obj > conf)) continue;  // xc = x[..., 4] > conf_thres
        // x[:, 5:] *= x[:, 4:5]; conf, j = x[:, 5:].max(1); keep conf > conf_thres
        std::size_t best = 5;
        for (std::size_t c = 6; c < cols; ++c)
            if (r[c] > r[best]) best = c;
        const float score = obj_only_for_one_class_ ? obj : r[best] * obj;
        const int cls = static_cast<int>(best - 5);
        if (!(score > conf) || !class_allowed(cls, o.classes)) continue;
        candidates.push_back({Box{r[0] - r[2] / 2, r[1] - r[3] / 2, r[0] + r[2] / 2, r[1] + r[3] / 2}, score, cls});
    }
    if (candidates.size() > kMaxNms) {
        std::partial_sort(candidates.begin(), candidates.begin() + kMaxNms, candidates.end(),
                          [](const Detection& a, const Detection& b) { return a.score > b.score; });
        candidates.resize(kMaxNms);
    }
    Detections kept = nms(std::move(candidates), iou_threshold(o), o.agnostic, o.max_det);
    // scale_boxes (a(5)): the pad is (W1 - W0*gain) / 2, not rounded as the letterbox placed it.
    Geometry back = g;
    if (resize_mode() == ResizeMode::letterbox) {
        back.pad_x = (static_cast<float>(g.input_w) - static_cast<float>(g.orig_w) * g.scale_x) / 2;
        back.pad_y = (static_cast<float>(g.input_h) - static_cast<float>(g.orig_h) * g.scale_y) / 2;
    }
    for (Detection& d : kept) d.box = back.to_original(d.box);
    return kept;
}

}  // namespace tiledet::detail
