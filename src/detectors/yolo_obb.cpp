// Reference: ultralytics/nn/modules/head.py OBB, utils/nms.py non_max_suppression(rotated=True),
// utils/metrics.py batch_probiou, utils/ops.py regularize_rboxes / scale_boxes(xywh=True),
// models/yolo/obb/predict.py construct_result (model-formats-more.md h).
#include "yolo_obb.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "nms.hpp"
#include "yolo.hpp"
#include "tensor_values.hpp"
#include "tiledet/error.hpp"

namespace tiledet::detail {
namespace {

constexpr std::size_t kMaxNms = 30000;  // non_max_suppression's max_nms

int classes_of(const ModelSignature& sig) {
    const TensorInfo& out = sig.outputs.at(0);
    return out.dims[1].fixed() ? static_cast<int>(out.dims[1].value) - 5 : 0;
}

struct Covariance {
    double a, b, c;
};

// _get_covariance_matrix: a = w^2/12, b = h^2/12 rotated by the angle.
Covariance covariance(const RotatedBox& r) {
    const double a = static_cast<double>(r.w) * r.w / 12, b = static_cast<double>(r.h) * r.h / 12;
    const double cs = std::cos(r.angle), sn = std::sin(r.angle);
    return {a * cs * cs + b * sn * sn, a * sn * sn + b * cs * cs, (a - b) * cs * sn};
}

}  // namespace

float probiou(const RotatedBox& r1, const RotatedBox& r2) {
    constexpr double eps = 1e-7;
    const Covariance c1 = covariance(r1), c2 = covariance(r2);
    const double x1 = r1.cx, y1 = r1.cy, x2 = r2.cx, y2 = r2.cy;
    const double A = c1.a + c2.a, B = c1.b + c2.b, C = c1.c + c2.c;
    const double den = A * B - C * C + eps;
    const double t1 = (A * (y1 - y2) * (y1 - y2) + B * (x1 - x2) * (x1 - x2)) / den * 0.25;
    const double t2 = (C * (x2 - x1) * (y1 - y2)) / den * 0.5;
    const double d1 = std::max(0.0, c1.a * c1.b - c1.c * c1.c), d2 = std::max(0.0, c2.a * c2.b - c2.c * c2.c);
    const double t3 = std::log((A * B - C * C) / (4 * std::sqrt(d1 * d2) + eps) + eps) * 0.5;
    const double bd = std::clamp(t1 + t2 + t3, eps, 100.0);
    const double hd = std::sqrt(1.0 - std::exp(-bd) + eps);
    return static_cast<float>(1.0 - hd);
}

Detections probiou_fast_nms(Detections dets, float iou_threshold, bool agnostic, int max_det) {
    std::stable_sort(dets.begin(), dets.end(),
                     [](const Detection& a, const Detection& b) { return a.score > b.score; });
    Detections kept;
    const std::size_t limit = max_det > 0 ? static_cast<std::size_t>(max_det) : dets.size();
    for (std::size_t j = 0; j < dets.size() && kept.size() < limit; ++j) {
        if (!dets[j].rbox) throw ShapeError("probiou_fast_nms: detection without a rotated box");
        bool suppressed = false;
        for (std::size_t i = 0; i < j && !suppressed; ++i) {
            if (!agnostic && dets[i].class_id != dets[j].class_id) continue;  // the cls * 7680 offset
            suppressed = probiou(*dets[i].rbox, *dets[j].rbox) >= iou_threshold;
        }
        if (!suppressed) kept.push_back(dets[j]);
    }
    return kept;
}

RotatedBox regularize(RotatedBox r) {
    constexpr double pi = std::numbers::pi;
    const double t = std::fmod(std::fmod(static_cast<double>(r.angle), pi) + pi, pi);  // Python's t % pi
    if (t >= pi / 2) std::swap(r.w, r.h);
    r.angle = static_cast<float>(std::fmod(t, pi / 2));
    return r;
}

Fit yolo_obb_fits(const ModelSignature& sig) {
    const auto u = ultralytics_output(sig);
    if (!u || u->task != "obb") return std::nullopt;
    const auto& d = u->output->dims;
    if (!d[1].fixed() || d[1].value < 6) return std::nullopt;
    if (d[2].fixed() && d[2].value <= d[1].value) return std::nullopt;
    const int nc = static_cast<int>(d[1].value) - 5;
    if (u->metadata_classes && *u->metadata_classes != nc) return std::nullopt;
    return "one output '" + u->output->name + "' " + u->output->dims_string() + " = 4 box rows + " +
           std::to_string(nc) + " class rows + 1 angle row, metadata task 'obb' (Ultralytics OBB)";
}

YoloObbDetector::YoloObbDetector(const ModelSignature& sig, const DetectorConfig& config, std::string reason)
    : Detector(sig, config, [&] {
          const auto u = ultralytics_output(sig);
          if (!u || !u->output->dims[1].fixed() || u->output->dims[1].value < 6)
              layout_mismatch(Family{"yolo_obb"}, sig,
                              "expected one image input and one output [batch, 4+nc+1, anchors]");
          Setup s;
          s.family = Family{"yolo_obb"};
          s.reason = std::move(reason);
          s.pixels.resize = ResizeMode::letterbox;  // same LetterBox as detection
          s.pixels.pad_value = 114;
          s.default_conf = 0.25f;  // cfg/default.yaml conf, iou 0.7
          s.num_class_slots = classes_of(sig);
          s.names = ultralytics_names(sig, s.num_class_slots);
          return s;
      }()) {}

Detections YoloObbDetector::decode(const std::vector<Tensor>& outs, const Geometry& g, const DecodeOptions& o) const {
    check_item_outputs(family(), outs, 1);
    const Shape s = item_shape(outs[0], 3);
    if (s.size() != 2 || s[0] < 6)
        throw ShapeError("yolo_obb decode: expected output [1, 4+nc+1, anchors], got " + to_string(outs[0].shape()));
    const auto rows = static_cast<std::size_t>(s[0]);
    const auto n = static_cast<std::size_t>(s[1]);
    const std::size_t nc = rows - 5;
    const FloatValues v(outs[0]);
    const float conf = conf_threshold(o);

    const AnchorBest top = best_class_per_anchor(v.data(), nc, n);
    const std::vector<float>& best = top.score;
    const std::vector<int>& best_class = top.class_id;
    const float* angle = v.data() + (rows - 1) * n;
    Detections candidates;
    for (std::size_t a = 0; a < n; ++a) {
        if (!(best[a] > conf) || !class_allowed(best_class[a], o.classes)) continue;
        const RotatedBox r{v[a], v[n + a], v[2 * n + a], v[3 * n + a], angle[a]};
        candidates.emplace_back(r.bounds(), best[a], best_class[a], r);
    }
    if (candidates.size() > kMaxNms) {
        std::partial_sort(candidates.begin(), candidates.begin() + kMaxNms, candidates.end(),
                          [](const Detection& a, const Detection& b) { return a.score > b.score; });
        candidates.resize(kMaxNms);
    }
    Detections kept = probiou_fast_nms(std::move(candidates), iou_threshold(o), o.agnostic, o.max_det);
    const float gain = g.scale_x;  // letterbox: one gain for both axes
    for (Detection& d : kept) {
        RotatedBox r = regularize(*d.rbox);
        r.cx = (r.cx - g.pad_x) / gain;
        r.cy = (r.cy - g.pad_y) / gain;
        r.w /= gain;
        r.h /= gain;
        d.rbox = r;
        const Box b = r.bounds();
        const auto W = static_cast<float>(g.orig_w), H = static_cast<float>(g.orig_h);
        d.box = Box{std::clamp(b.x1, 0.0f, W), std::clamp(b.y1, 0.0f, H), std::clamp(b.x2, 0.0f, W),
                    std::clamp(b.y2, 0.0f, H)};
    }
    return kept;
}

}  // namespace tiledet::detail
