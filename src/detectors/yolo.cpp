// Reference: ultralytics/utils/nms.py non_max_suppression and ultralytics/utils/ops.py
// scale_boxes (model-formats.md a(4), a(5)).
#include "yolo.hpp"

#include <algorithm>

#include "nms.hpp"
#include "tensor_values.hpp"
#include "tiledet/error.hpp"

namespace tiledet::detail {
namespace {

// non_max_suppression's max_nms: at most this many boxes enter NMS, highest scores first.
constexpr std::size_t kMaxNms = 30000;

int classes_of(const ModelSignature& sig) {
    const TensorInfo& out = sig.outputs.at(0);
    return out.dims[1].fixed() ? static_cast<int>(out.dims[1].value) - 4 : 0;
}

}  // namespace

AnchorBest best_class_per_anchor(const float* head, std::size_t nc, std::size_t n) {
    AnchorBest b{std::vector<float>(n, -1.0f), std::vector<int>(n, 0)};
    for (std::size_t c = 0; c < nc; ++c) {
        const float* row = head + (4 + c) * n;
        for (std::size_t a = 0; a < n; ++a)
            if (row[a] > b.score[a]) {
                b.score[a] = row[a];
                b.class_id[a] = static_cast<int>(c);
            }
    }
    return b;
}

Fit yolo_fits(const ModelSignature& sig) {
    const auto u = ultralytics_output(sig);
    if (!u) return std::nullopt;
    // An OBB or pose export has the same [B, 4+nc+extra, N] shape; only its metadata task tells.
    if (u->task == "obb" || u->task == "pose" || u->task == "segment") return std::nullopt;
    const auto& d = u->output->dims;
    // Channel-major: the 4+nc axis is fixed; the anchor axis is larger or symbolic.
    if (!d[1].fixed() || d[1].value < 5) return std::nullopt;
    if (d[2].fixed() && d[2].value <= d[1].value) return std::nullopt;
    const int nc = static_cast<int>(d[1].value) - 4;
    if (u->metadata_classes && *u->metadata_classes != nc) return std::nullopt;
    return "one output '" + u->output->name + "' " + u->output->dims_string() + " = 4 box rows + " +
           std::to_string(nc) + " class rows over " + (d[2].fixed() ? std::to_string(d[2].value) : d[2].to_string()) +
           " anchors (Ultralytics YOLO, channel-major)" + (u->metadata_classes ? ", metadata names agree" : "");
}

YoloDetector::YoloDetector(const ModelSignature& sig, const DetectorConfig& config, std::string reason)
    : Detector(sig, config, [&] {
          const auto u = ultralytics_output(sig);
          if (!u) layout_mismatch(Family{"yolo"}, sig, "expected one image input and one output [batch, 4+nc, anchors]");
          Setup s;
          s.family = Family{"yolo"};
          s.reason = std::move(reason);
          // Ultralytics LetterBox pad (114,114,114); predict conf 0.25 (ultralytics/cfg/default.yaml).
          s.pixels.resize = ResizeMode::letterbox;
          s.pixels.pad_value = 114;
          s.default_conf = 0.25f;
          s.num_class_slots = classes_of(sig);
          s.names = ultralytics_names(sig, s.num_class_slots);
          return s;
      }()) {}

Detections YoloDetector::decode(const std::vector<Tensor>& outs, const Geometry& g, const DecodeOptions& o) const {
    check_item_outputs(family(), outs, 1);
    const Shape s = item_shape(outs[0], 3);
    if (s.size() != 2 || s[0] < 5)
        throw ShapeError("yolo decode: expected output [1, 4+nc, anchors], got " + to_string(outs[0].shape()));
    const auto rows = static_cast<std::size_t>(s[0]);
    const auto n = static_cast<std::size_t>(s[1]);
    const FloatValues v(outs[0]);
    const float conf = conf_threshold(o);

    const AnchorBest top = best_class_per_anchor(v.data(), rows - 4, n);
    const std::vector<float>& best = top.score;
    const std::vector<int>& best_class = top.class_id;
    Detections candidates;
    for (std::size_t a = 0; a < n; ++a) {
        // Strict '>' as in the reference; the class filter applies after the best class is chosen.
        if (!(best[a] > conf) || !class_allowed(best_class[a], o.classes)) continue;
        const float cx = v[a], cy = v[n + a], w = v[2 * n + a], h = v[3 * n + a];
        candidates.push_back({Box{cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2}, best[a], best_class[a]});
    }
    if (candidates.size() > kMaxNms) {
        std::partial_sort(candidates.begin(), candidates.begin() + kMaxNms, candidates.end(),
                          [](const Detection& a, const Detection& b) { return a.score > b.score; });
        candidates.resize(kMaxNms);
    }
    // NMS in the input frame, then scale_boxes + clip_boxes, as the reference does.
    Detections kept = nms(std::move(candidates), iou_threshold(o), o.agnostic, o.max_det);
    for (Detection& d : kept) d.box = g.to_original(d.box);
    return kept;
}

}  // namespace tiledet::detail
