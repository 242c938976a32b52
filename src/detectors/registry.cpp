// The one list of families: ids, aliases, signature fits, and the factory. Adding a family is
// one file pair plus one line in builtin_families() (or register_family at run time).
#include <algorithm>
#include <cctype>
#include <mutex>
#include <ostream>

#include "hf_rtdetr.hpp"
#include "official_rtdetr.hpp"
#include "ppyoloe.hpp"
#include "rfdetr.hpp"
#include "tiledet/error.hpp"
#include "ultralytics_rtdetr.hpp"
#include "yolo.hpp"
#include "yolo_end2end.hpp"
#include "yolo_obb.hpp"
#include "yolo_seg.hpp"
#include "yolo_nas.hpp"
#include "yolov5.hpp"
#include "yolov7_end2end.hpp"
#include "yolox.hpp"

namespace tiledet {
namespace {

using detail::Fit;

template <class D>
std::unique_ptr<Detector> make(const ModelSignature& sig, const DetectorConfig& config, std::string reason) {
    return std::make_unique<D>(sig, config, std::move(reason));
}

// The built-in families, one registration line each, in the order match_family lists them.
std::vector<FamilyRegistration> builtin_families() {
    return {
        {"yolo", {"yolov5u", "yolov8", "yolo11", "yolov11", "yolo12", "ultralytics"},
         "Ultralytics YOLO v5u/v8/v11/v12: images [B,3,H,W] -> output0 [B, 4+nc, anchors]", detail::yolo_fits,
         make<detail::YoloDetector>},
        {"yolo_obb", {"obb", "yolov8_obb", "yolo11_obb"},
         "Ultralytics YOLO OBB (DOTA): images [B,3,H,W] -> output0 [B, 4+nc+1, anchors] = cx,cy,w,h, nc scores, "
         "angle (radians); metadata task 'obb'",
         detail::yolo_obb_fits, make<detail::YoloObbDetector>},
        {"yolo_seg", {"seg", "yolov8_seg", "yolo11_seg", "segment"},
         "Ultralytics YOLO segmentation: images [B,3,H,W] -> output0 [B, 4+nc+32, anchors] (boxes, scores, mask "
         "coefficients) + output1 [B, 32, H/4, W/4] (prototypes)",
         detail::yolo_seg_fits, make<detail::YoloSegDetector>},
        {"yolo_end2end", {"e2e", "yolo_e2e", "yolov10", "yolo26"},
         "YOLO end-to-end (YOLOv10, YOLO26, nms=True): images [B,3,H,W] -> output0 [B, 300, 6] = "
         "x1,y1,x2,y2,score,class",
         detail::yolo_end2end_fits, make<detail::YoloEnd2EndDetector>},
        {"yolov5", {"yolov7", "yolov6"},
         "YOLOv5 / YOLOv7 --grid / YOLOv6: images [B,3,H,W] -> output0|output [B, N, 5+nc], N = 3 anchors x grid "
         "cells (YOLOv6: outputs [B, cells, 5+nc]); cx,cy,w,h px, obj, classes",
         detail::yolov5_fits, make<detail::Yolov5Detector>},
        {"yolox", {"megvii_yolox"},
         "YOLOX: images [B,3,H,W] -> output [B, N, 5+nc], N = grid cells at strides 8,16,32 (3549 at 416, 8400 at "
         "640); raw box regressions, obj, classes",
         detail::yolox_fits, make<detail::YoloxDetector>},
        {"yolov7_end2end", {"yolov7_e2e"},
         "YOLOv7 end2end (ONNX Runtime NMS, --max-wh): images [1,3,H,W] -> output [num_dets, 7] = "
         "batch_id,x0,y0,x1,y1,class,score; or TensorRT-style (YOLOv7/YOLOv6 --end2end): float images -> num_dets, "
         "det_boxes, det_scores, det_classes",
         detail::yolov7_end2end_fits, make<detail::Yolov7End2EndDetector>},
        {"yolo_nas", {"yolonas", "super_gradients"},
         "YOLO-NAS (super-gradients, NMS attached): uint8 input [1,3,640,640] -> num_predictions, pred_boxes, "
         "pred_scores, pred_classes (BATCH) | flat_predictions [N,7] (FLAT) | num_dets, det_boxes, det_scores, "
         "det_classes (TensorRT) | boxes [B,N,4] + scores [B,N,C], N = grid cells (postprocessing=False)",
         detail::yolo_nas_fits, make<detail::YoloNasDetector>},
        {"ppyoloe", {"pp_yoloe", "ppyoloe_plus", "paddledetection"},
         "PP-YOLOE(+) (PaddleDetection, paddle2onnx): image [B,3,640,640] + scale_factor [B,2] -> "
         "multiclass_nms3 rows [M,6] + rows per image [B] | boxes [B,N,4] + scores [B,nc,N] (exclude_nms)",
         detail::ppyoloe_fits, make<detail::PpyoloeDetector>},
        {"ultralytics_rtdetr", {"rtdetr_ultralytics"},
         "Ultralytics RT-DETR: images [B,3,H,W] -> output0 [B, queries, 4+nc] (normalized cxcywh + scores)",
         detail::ultralytics_rtdetr_fits, make<detail::UltralyticsRtdetrDetector>},
        {"hf_rtdetr", {"hf", "huggingface"},
         "Hugging Face RT-DETR/RT-DETRv2: pixel_values [B,3,H,W] -> logits [B,Q,C] + pred_boxes [B,Q,4]",
         detail::hf_rtdetr_fits, make<detail::HfRtdetrDetector>},
        {"official_rtdetr", {"rtdetr", "rtdetrv2", "dfine", "d_fine", "deim", "deimv2"},
         "official RT-DETR / D-FINE / DEIM: images [N,3,H,W] + int64 orig_target_sizes [N,2] -> labels, boxes, "
         "scores",
         detail::official_rtdetr_fits, make<detail::OfficialRtdetrDetector>},
        {"rfdetr", {"rf_detr"}, "Roboflow RF-DETR: input [B,3,R,R] -> dets [B,Q,4] + labels [B,Q,C+1] (logits)",
         detail::rfdetr_fits, make<detail::RfdetrDetector>},
    };
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    std::replace(s.begin(), s.end(), '-', '_');
    return s;
}

struct Registry {
    std::mutex mutex;
    std::vector<FamilyRegistration> families = builtin_families();
};

Registry& registry() {
    static Registry r;
    return r;
}

// A copy, so that fits/make run without the lock (they may call known_layouts()).
std::vector<FamilyRegistration> snapshot() {
    Registry& r = registry();
    std::lock_guard lock(r.mutex);
    return r.families;
}

FamilyRegistration entry(const Family& f) {
    for (auto& e : snapshot())
        if (e.id == f.id()) return e;
    std::string known;
    for (const Family& k : all_families()) known += (known.empty() ? "" : ", ") + k.id();
    throw ConfigError("unknown family '" + f.id() + "'; expected one of: " + known);
}

bool has(const std::vector<Family>& c, const char* id) {
    return std::find(c.begin(), c.end(), Family{id}) != c.end();
}

// When a signature fits several families, only evidence in the model decides (the Ultralytics
// metadata's description or end-to-end flags). Without it there is no pick: the caller refuses.
std::optional<Family> tie_break(const ModelSignature& sig, const std::vector<Family>& c, std::string& why) {
    const auto u = detail::ultralytics_output(sig);
    if (u && u->rtdetr_hint && has(c, "ultralytics_rtdetr")) {
        why = "the metadata description names RT-DETR";
        return Family{"ultralytics_rtdetr"};
    }
    if (u && u->end2end_hint && has(c, "yolo_end2end")) {
        why = "the metadata marks an end-to-end (NMS-free) export";
        return Family{"yolo_end2end"};
    }
    return std::nullopt;
}

}  // namespace

std::ostream& operator<<(std::ostream& os, const Family& f) {
    return os << f.id();
}

std::string to_string(const Family& f) {
    return f.id();
}

std::vector<Family> all_families() {
    std::vector<Family> out;
    for (const auto& e : snapshot()) out.emplace_back(e.id);
    return out;
}

std::optional<Family> parse_family(std::string name) {
    name = lower(std::move(name));
    const auto families = snapshot();
    for (const auto& e : families)
        if (name == e.id) return Family{e.id};
    for (const auto& e : families)
        for (const auto& alias : e.aliases)
            if (name == alias) return Family{e.id};
    return std::nullopt;
}

void register_family(FamilyRegistration r) {
    if (r.id.empty() || r.id != lower(r.id))
        throw ConfigError("register_family: the id must be non-empty lower case with '_' (got '" + r.id + "')");
    if (!r.fits || !r.make) throw ConfigError("register_family: family '" + r.id + "' needs fits and make");
    for (auto& a : r.aliases) a = lower(a);
    Registry& reg = registry();
    std::lock_guard lock(reg.mutex);
    for (const auto& e : reg.families) {
        const auto taken = [&](const std::string& name) {
            return name == e.id || std::find(e.aliases.begin(), e.aliases.end(), name) != e.aliases.end();
        };
        if (taken(r.id)) throw ConfigError("register_family: '" + r.id + "' is already family " + e.id);
        for (const auto& a : r.aliases)
            if (taken(a)) throw ConfigError("register_family: alias '" + a + "' is already family " + e.id);
    }
    reg.families.push_back(std::move(r));
}

std::string to_string(ResizeMode m) {
    return m == ResizeMode::letterbox ? "letterbox" : "stretch";
}

std::optional<ResizeMode> parse_resize_mode(const std::string& name) {
    const std::string n = lower(name);
    if (n == "letterbox") return ResizeMode::letterbox;
    if (n == "stretch" || n == "resize" || n == "plain") return ResizeMode::stretch;
    return std::nullopt;
}

std::string to_string(TensorLayout l) {
    return l == TensorLayout::nhwc ? "nhwc" : "nchw";
}

std::optional<TensorLayout> parse_tensor_layout(const std::string& name) {
    const std::string n = lower(name);
    if (n == "nchw") return TensorLayout::nchw;
    if (n == "nhwc") return TensorLayout::nhwc;
    return std::nullopt;
}

std::string to_string(const PixelFormat& f) {
    std::string out = f.channels == 1 ? "1 channel (grey)" : std::string("3 channels ") + (f.bgr ? "BGR" : "RGB");
    out += std::string(", ") + (f.layout == TensorLayout::nhwc ? "NHWC " : "NCHW ") + to_string(f.type);
    if (f.type == ElementType::uint8) {
        out += ", raw bytes";
    } else {
        const auto num = [](float v) {
            std::string t = std::to_string(v);
            t.erase(t.find_last_not_of('0') + 1);
            if (t.back() == '.') t.pop_back();
            return t;
        };
        const bool plain = f.mean == std::array<float, 3>{0, 0, 0} && f.std == std::array<float, 3>{1, 1, 1};
        out += f.scale == 1.0f ? ", byte" : ", byte/" + num(f.scale);
        if (!plain) {
            out += ", mean " + num(f.mean[0]);
            for (int c = 1; c < f.channels; ++c) out += "," + num(f.mean[static_cast<std::size_t>(c)]);
            out += " std " + num(f.std[0]);
            for (int c = 1; c < f.channels; ++c) out += "," + num(f.std[static_cast<std::size_t>(c)]);
        }
    }
    out += ", " + to_string(f.resize);
    if (f.resize == ResizeMode::letterbox)
        out += std::string(f.letterbox == LetterboxStyle::top_left         ? " top-left"
                           : f.letterbox == LetterboxStyle::centred_floor ? " centred (floor)"
                                                                          : " centred") +
               (f.letterbox_inset ? " inset " + std::to_string(f.letterbox_inset) : std::string()) + ", pad " +
               std::to_string(f.pad_value);
    if (f.interpolation == Interpolation::cubic) out += ", cubic";
    return out;
}

std::string known_layouts() {
    std::string out;
    for (const auto& e : snapshot()) out += "  " + e.id + ": " + e.layout + "\n";
    out.pop_back();
    return out;
}

FamilyMatch match_family(const ModelSignature& sig) {
    FamilyMatch m;
    std::vector<std::string> whys;
    for (const auto& e : snapshot())
        if (Fit why = e.fits(sig)) {
            m.candidates.emplace_back(e.id);
            whys.push_back(*why);
        }
    if (m.candidates.empty()) {
        m.reason = "no known layout matches these inputs and outputs";
        return m;
    }
    if (m.candidates.size() == 1) {
        m.family = m.candidates.front();
        m.reason = whys.front();
        return m;
    }
    std::string tie;
    std::string others, fits;
    for (std::size_t i = 0; i < m.candidates.size(); ++i) fits += "\n  " + to_string(m.candidates[i]) + ": " + whys[i];
    if (const auto picked = tie_break(sig, m.candidates, tie)) {
        m.family = picked;
        const auto pos = static_cast<std::size_t>(std::find(m.candidates.begin(), m.candidates.end(), *picked) -
                                                  m.candidates.begin());
        for (const Family& f : m.candidates)
            if (f != *picked) others += (others.empty() ? "" : ", ") + to_string(f);
        m.reason = whys[pos] + "; also fits " + others + "; picked " + to_string(*picked) + " because " + tie;
        return m;
    }
    std::string choose;
    for (const Family& f : m.candidates) choose += (choose.empty() ? "" : " or ") + to_string(f);
    m.reason = "ambiguous: the signature fits " + std::to_string(m.candidates.size()) +
               " layouts and nothing in the model tells them apart:" + fits + "\nchoose one with the family option (" +
               choose + "; the CLI's --family NAME)";
    return m;
}

std::unique_ptr<Detector> make_detector(const ModelSignature& sig, const DetectorConfig& config) {
    if (config.family) {
        const FamilyMatch m = match_family(sig);
        std::string reason = "forced (the family option)";
        if (m.family && *m.family != *config.family) reason += " (the signature suggests " + to_string(*m.family) + ")";
        if (!m.family && m.candidates.size() > 1) {
            std::string fits;
            for (const Family& f : m.candidates) fits += (fits.empty() ? "" : ", ") + to_string(f);
            reason += " (the signature fits " + fits + ")";
        }
        return entry(*config.family).make(sig, config, std::move(reason));
    }
    const FamilyMatch m = match_family(sig);
    if (!m.family && m.candidates.size() > 1)
        throw UnknownLayoutError("cannot choose a detector family: " + m.reason + "\n" + sig.describe());
    if (!m.family)
        throw UnknownLayoutError("no detector family matches this model (set the family option, the CLI's --family, to force one if you know "
                                 "it)\n" +
                                 sig.describe() + "\nknown layouts:\n" + known_layouts());
    return entry(*m.family).make(sig, config, m.reason);
}

}  // namespace tiledet
