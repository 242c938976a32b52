// Reference: ultralytics/nn/modules/head.py Segment, utils/nms.py non_max_suppression (nc passed,
// the 32 coefficient rows carried along), utils/ops.py process_mask_native / scale_masks /
// crop_mask (model-formats-more.md g).
#include "yolo_seg.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "nms.hpp"
#include "yolo.hpp"
#include "tensor_values.hpp"
#include "tiledet/error.hpp"

namespace tiledet::detail {
namespace {

constexpr std::size_t kMaxNms = 30000;  // non_max_suppression's max_nms

struct SegOutputs {
    std::size_t boxes = 0, protos = 0;
    int nc = 0, nm = 0;
};

std::optional<SegOutputs> seg_outputs(const ModelSignature& sig) {
    if (sig.inputs.size() != 1 || !image_input(sig) || sig.outputs.size() != 2) return std::nullopt;
    SegOutputs s;
    const bool first_is_boxes = sig.outputs[0].rank() == 3;
    s.boxes = first_is_boxes ? 0 : 1;
    s.protos = first_is_boxes ? 1 : 0;
    const TensorInfo& b = sig.outputs[s.boxes];
    const TensorInfo& p = sig.outputs[s.protos];
    if (b.rank() != 3 || p.rank() != 4 || !p.dims[1].fixed() || !b.dims[1].fixed()) return std::nullopt;
    s.nm = static_cast<int>(p.dims[1].value);
    s.nc = static_cast<int>(b.dims[1].value) - 4 - s.nm;
    if (s.nm < 1 || s.nc < 1) return std::nullopt;
    return s;
}

std::string lower_meta(const ModelSignature& sig, const char* key) {
    const auto it = sig.metadata.find(key);
    if (it == sig.metadata.end()) return "";
    std::string v = it->second;
    std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return v;
}

}  // namespace

Fit yolo_seg_fits(const ModelSignature& sig) {
    const auto s = seg_outputs(sig);
    if (!s) return std::nullopt;
    const std::string task = lower_meta(sig, "task");
    if (!task.empty() && task != "segment") return std::nullopt;
    const auto names = ultralytics_names(sig, s->nc);
    if (sig.metadata.count("names") && static_cast<int>(names.size()) != s->nc) return std::nullopt;
    const TensorInfo& b = sig.outputs[s->boxes];
    const TensorInfo& p = sig.outputs[s->protos];
    return "outputs '" + b.name + "' " + b.dims_string() + " = 4 box rows + " + std::to_string(s->nc) +
           " class rows + " + std::to_string(s->nm) + " mask coefficients, and '" + p.name + "' " + p.dims_string() +
           " prototypes (Ultralytics segmentation" + (task.empty() ? "" : ", metadata task 'segment'") + ")";
}

YoloSegDetector::YoloSegDetector(const ModelSignature& sig, const DetectorConfig& config, std::string reason)
    : Detector(sig, config, [&] {
          const auto so = seg_outputs(sig);
          if (!so)
              layout_mismatch(Family{"yolo_seg"}, sig,
                              "expected one image input and outputs [batch, 4+nc+nm, anchors] + [batch, nm, H/4, W/4]");
          Setup s;
          s.family = Family{"yolo_seg"};
          s.reason = std::move(reason);
          s.pixels.resize = ResizeMode::letterbox;
          s.pixels.pad_value = 114;
          s.default_conf = 0.25f;
          s.num_class_slots = so->nc;
          s.names = ultralytics_names(sig, so->nc);
          return s;
      }()) {
    const auto so = seg_outputs(sig);
    boxes_output_ = so->boxes;
    protos_output_ = so->protos;
}

Detections YoloSegDetector::decode(const std::vector<Tensor>& outs, const Geometry& g, const DecodeOptions& o) const {
    if (outs.size() != 2) throw ShapeError("yolo_seg decode: expected 2 outputs, got " + std::to_string(outs.size()));
    const Shape s = item_shape(outs[boxes_output_], 3);
    const Shape ps = item_shape(outs[protos_output_], 4);
    if (s.size() != 2 || ps.size() != 3 || s[0] < 4 + ps[0] + 1)
        throw ShapeError("yolo_seg decode: expected [1, 4+nc+nm, anchors] and [1, nm, mh, mw], got " +
                         to_string(outs[boxes_output_].shape()) + " and " + to_string(outs[protos_output_].shape()));
    const auto n = static_cast<std::size_t>(s[1]);
    const auto nm = static_cast<std::size_t>(ps[0]);
    const int mh = static_cast<int>(ps[1]), mw = static_cast<int>(ps[2]);
    const std::size_t nc = static_cast<std::size_t>(s[0]) - 4 - nm;
    const FloatValues v(outs[boxes_output_]);
    const FloatValues protos(outs[protos_output_]);
    const float conf = conf_threshold(o);

    const AnchorBest top = best_class_per_anchor(v.data(), nc, n);
    const std::vector<float>& best = top.score;
    const std::vector<int>& best_class = top.class_id;
    struct Candidate {
        Detection det;
        std::size_t anchor;
    };
    std::vector<Candidate> cand;
    for (std::size_t a = 0; a < n; ++a) {
        if (!(best[a] > conf) || !class_allowed(best_class[a], o.classes)) continue;
        const float cx = v[a], cy = v[n + a], w = v[2 * n + a], h = v[3 * n + a];
        cand.push_back({Detection{Box{cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2}, best[a], best_class[a]}, a});
    }
    std::stable_sort(cand.begin(), cand.end(),
                     [](const Candidate& a, const Candidate& b) { return a.det.score > b.det.score; });
    if (cand.size() > kMaxNms) cand.resize(kMaxNms);
    // Greedy NMS as detail::nms (torchvision.ops.nms on class-offset boxes), keeping anchors.
    const float thr = iou_threshold(o);
    const std::size_t limit = o.max_det > 0 ? static_cast<std::size_t>(o.max_det) : cand.size();
    std::vector<char> removed(cand.size(), 0);
    std::vector<const Candidate*> kept;
    for (std::size_t i = 0; i < cand.size() && kept.size() < limit; ++i) {
        if (removed[i]) continue;
        kept.push_back(&cand[i]);
        for (std::size_t j = i + 1; j < cand.size(); ++j)
            if (!removed[j] && (o.agnostic || cand[j].det.class_id == cand[i].det.class_id) &&
                iou(cand[i].det.box, cand[j].det.box) > thr)
                removed[j] = 1;
    }

    // Prototype coordinates of original pixel centres: input = original * scale + pad, protos =
    // input / (input / proto size); bilinear with align_corners=False samples at centre - 0.5.
    const double rx = static_cast<double>(g.input_w) / mw, ry = static_cast<double>(g.input_h) / mh;
    Detections out;
    std::vector<float> logits;
    for (const Candidate* c : kept) {
        Detection d = c->det;
        d.box = g.to_original(d.box);
        // crop_mask keeps columns x1 <= col < x2: integer columns ceil(x1) .. ceil(x2) - 1.
        const int x0 = static_cast<int>(std::ceil(d.box.x1)), x1 = static_cast<int>(std::ceil(d.box.x2));
        const int y0 = static_cast<int>(std::ceil(d.box.y1)), y1 = static_cast<int>(std::ceil(d.box.y2));
        if (x1 <= x0 || y1 <= y0) continue;
        const auto src = [](double dst, double scale, double pad, double ratio, int size) {
            const double s = ((dst + 0.5) * scale + pad) / ratio - 0.5;
            return std::clamp(s, 0.0, static_cast<double>(size - 1));
        };
        // The prototype window these pixels read, then its logits once (nm multiply-adds a cell).
        const int px0 = static_cast<int>(std::floor(src(x0, g.scale_x, g.pad_x, rx, mw)));
        const int px1 = std::min(mw - 1, static_cast<int>(std::floor(src(x1 - 1, g.scale_x, g.pad_x, rx, mw))) + 1);
        const int py0 = static_cast<int>(std::floor(src(y0, g.scale_y, g.pad_y, ry, mh)));
        const int py1 = std::min(mh - 1, static_cast<int>(std::floor(src(y1 - 1, g.scale_y, g.pad_y, ry, mh))) + 1);
        const int ww = px1 - px0 + 1, wh = py1 - py0 + 1;
        logits.assign(static_cast<std::size_t>(ww) * static_cast<std::size_t>(wh), 0.0f);
        for (std::size_t k = 0; k < nm; ++k) {
            const float coef = v[(4 + nc + k) * n + c->anchor];
            if (coef == 0.0f) continue;
            const float* plane = protos.data() + k * static_cast<std::size_t>(mh) * static_cast<std::size_t>(mw);
            for (int y = 0; y < wh; ++y)
                for (int x = 0; x < ww; ++x)
                    logits[static_cast<std::size_t>(y * ww + x)] +=
                        coef * plane[static_cast<std::size_t>(py0 + y) * static_cast<std::size_t>(mw) +
                                     static_cast<std::size_t>(px0 + x)];
        }
        auto mask = std::make_shared<Mask>();
        mask->x = x0, mask->y = y0, mask->w = x1 - x0, mask->h = y1 - y0;
        mask->data.assign(static_cast<std::size_t>(mask->w) * static_cast<std::size_t>(mask->h), 0);
        bool any = false;
        for (int y = y0; y < y1; ++y) {
            const double sy = src(y, g.scale_y, g.pad_y, ry, mh);
            const int iy = static_cast<int>(sy);
            const int iy1 = std::min(iy + 1, mh - 1);
            const double ly = sy - iy;
            for (int x = x0; x < x1; ++x) {
                const double sx = src(x, g.scale_x, g.pad_x, rx, mw);
                const int ix = static_cast<int>(sx);
                const int ix1 = std::min(ix + 1, mw - 1);
                const double lx = sx - ix;
                const auto at = [&](int yy, int xx) {
                    return static_cast<double>(logits[static_cast<std::size_t>((yy - py0) * ww + (xx - px0))]);
                };
                const double val = (1 - ly) * ((1 - lx) * at(iy, ix) + lx * at(iy, ix1)) +
                                   ly * ((1 - lx) * at(iy1, ix) + lx * at(iy1, ix1));
                if (val > 0) {
                    mask->data[static_cast<std::size_t>(y - y0) * static_cast<std::size_t>(mask->w) +
                               static_cast<std::size_t>(x - x0)] = 1;
                    any = true;
                }
            }
        }
        if (!any) continue;  // keep = masks.amax((-2, -1)) > 0
        d.mask = std::move(mask);
        out.push_back(std::move(d));
    }
    return out;
}

}  // namespace tiledet::detail
