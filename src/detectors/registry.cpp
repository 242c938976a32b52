// The one list of families: names, signature fits, and the factory. Adding a family is one
// file pair plus one line in kFamilies.
#include <algorithm>
#include <cctype>

#include "hf_rtdetr.hpp"
#include "official_rtdetr.hpp"
#include "rfdetr.hpp"
#include "tiledet/error.hpp"
#include "ultralytics_rtdetr.hpp"
#include "yolo.hpp"
#include "yolo_end2end.hpp"
#include "yolov5.hpp"
#include "yolov7_end2end.hpp"
#include "yolox.hpp"

namespace tiledet {
namespace {

using detail::Fit;

struct FamilyEntry {
    Family family;
    const char* name;
    const char* layout;  // one line for known_layouts()
    Fit (*fits)(const ModelSignature&);
    std::unique_ptr<Detector> (*make)(const ModelSignature&, const DetectorConfig&, std::string);
};

template <class D>
std::unique_ptr<Detector> make(const ModelSignature& sig, const DetectorConfig& config, std::string reason) {
    return std::make_unique<D>(sig, config, std::move(reason));
}

const FamilyEntry kFamilies[] = {
    {Family::yolo, "yolo", "Ultralytics YOLO v5u/v8/v11/v12: images [B,3,H,W] -> output0 [B, 4+nc, anchors]",
     detail::yolo_fits, make<detail::YoloDetector>},
    {Family::yolo_end2end, "yolo_end2end",
     "YOLO end-to-end (YOLOv10, YOLO26, nms=True): images [B,3,H,W] -> output0 [B, 300, 6] = x1,y1,x2,y2,score,class",
     detail::yolo_end2end_fits, make<detail::YoloEnd2EndDetector>},
    {Family::yolov5, "yolov5",
     "YOLOv5 / YOLOv7 --grid / YOLOv6: images [B,3,H,W] -> output0|output [B, N, 5+nc], N = 3 anchors x grid "
     "cells (YOLOv6: outputs [B, cells, 5+nc]); cx,cy,w,h px, obj, classes",
     detail::yolov5_fits, make<detail::Yolov5Detector>},
    {Family::yolox, "yolox",
     "YOLOX: images [B,3,H,W] -> output [B, N, 5+nc], N = grid cells at strides 8,16,32 (3549 at 416, 8400 at "
     "640); raw box regressions, obj, classes",
     detail::yolox_fits, make<detail::YoloxDetector>},
    {Family::yolov7_end2end, "yolov7_end2end",
     "YOLOv7 end2end (ONNX Runtime NMS, --max-wh): images [1,3,H,W] -> output [num_dets, 7] = "
     "batch_id,x0,y0,x1,y1,class,score",
     detail::yolov7_end2end_fits, make<detail::Yolov7End2EndDetector>},
    {Family::ultralytics_rtdetr, "ultralytics_rtdetr",
     "Ultralytics RT-DETR: images [B,3,H,W] -> output0 [B, queries, 4+nc] (normalized cxcywh + scores)",
     detail::ultralytics_rtdetr_fits, make<detail::UltralyticsRtdetrDetector>},
    {Family::hf_rtdetr, "hf_rtdetr",
     "Hugging Face RT-DETR/RT-DETRv2: pixel_values [B,3,H,W] -> logits [B,Q,C] + pred_boxes [B,Q,4]",
     detail::hf_rtdetr_fits, make<detail::HfRtdetrDetector>},
    {Family::official_rtdetr, "official_rtdetr",
     "official RT-DETR / D-FINE / DEIM: images [N,3,H,W] + int64 orig_target_sizes [N,2] -> labels, boxes, scores",
     detail::official_rtdetr_fits, make<detail::OfficialRtdetrDetector>},
    {Family::rfdetr, "rfdetr", "Roboflow RF-DETR: input [B,3,R,R] -> dets [B,Q,4] + labels [B,Q,C+1] (logits)",
     detail::rfdetr_fits, make<detail::RfdetrDetector>},
};

const FamilyEntry& entry(Family f) {
    for (const auto& e : kFamilies)
        if (e.family == f) return e;
    throw ConfigError("unknown family enum value");
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    std::replace(s.begin(), s.end(), '-', '_');
    return s;
}

// When a signature fits several families, only evidence in the model decides (the Ultralytics
// metadata's description or end-to-end flags). Without it there is no pick: the caller refuses.
std::optional<Family> tie_break(const ModelSignature& sig, const std::vector<Family>& c, std::string& why) {
    const auto has = [&](Family f) { return std::find(c.begin(), c.end(), f) != c.end(); };
    const auto u = detail::ultralytics_output(sig);
    if (u && u->rtdetr_hint && has(Family::ultralytics_rtdetr)) {
        why = "the metadata description names RT-DETR";
        return Family::ultralytics_rtdetr;
    }
    if (u && u->end2end_hint && has(Family::yolo_end2end)) {
        why = "the metadata marks an end-to-end (NMS-free) export";
        return Family::yolo_end2end;
    }
    return std::nullopt;
}

}  // namespace

std::string to_string(Family f) {
    return entry(f).name;
}

std::vector<Family> all_families() {
    std::vector<Family> out;
    for (const auto& e : kFamilies) out.push_back(e.family);
    return out;
}

std::optional<Family> parse_family(std::string name) {
    name = lower(std::move(name));
    for (const auto& e : kFamilies)
        if (name == e.name) return e.family;
    static const std::pair<const char*, Family> kAliases[] = {
        {"yolov5u", Family::yolo},
        {"yolov8", Family::yolo},
        {"yolo11", Family::yolo},
        {"yolov11", Family::yolo},
        {"yolo12", Family::yolo},
        {"ultralytics", Family::yolo},
        {"e2e", Family::yolo_end2end},
        {"yolo_e2e", Family::yolo_end2end},
        {"yolov10", Family::yolo_end2end},
        {"yolo26", Family::yolo_end2end},
        {"yolov7", Family::yolov5},
        {"yolov6", Family::yolov5},
        {"megvii_yolox", Family::yolox},
        {"yolov7_e2e", Family::yolov7_end2end},
        {"rtdetr_ultralytics", Family::ultralytics_rtdetr},
        {"hf", Family::hf_rtdetr},
        {"huggingface", Family::hf_rtdetr},
        {"rtdetr", Family::official_rtdetr},
        {"rtdetrv2", Family::official_rtdetr},
        {"dfine", Family::official_rtdetr},
        {"d_fine", Family::official_rtdetr},
        {"deim", Family::official_rtdetr},
        {"deimv2", Family::official_rtdetr},
        {"rf_detr", Family::rfdetr},
    };
    for (const auto& [alias, f] : kAliases)
        if (name == alias) return f;
    return std::nullopt;
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

std::string known_layouts() {
    std::string out;
    for (const auto& e : kFamilies) out += std::string("  ") + e.name + ": " + e.layout + "\n";
    out.pop_back();
    return out;
}

FamilyMatch match_family(const ModelSignature& sig) {
    FamilyMatch m;
    std::vector<std::string> whys;
    for (const auto& e : kFamilies)
        if (Fit why = e.fits(sig)) {
            m.candidates.push_back(e.family);
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
        for (Family f : m.candidates)
            if (f != *picked) others += (others.empty() ? "" : ", ") + to_string(f);
        m.reason = whys[pos] + "; also fits " + others + "; picked " + to_string(*picked) + " because " + tie;
        return m;
    }
    std::string choose;
    for (Family f : m.candidates) choose += (choose.empty() ? "--family " : " or --family ") + to_string(f);
    m.reason = "ambiguous: the signature fits " + std::to_string(m.candidates.size()) +
               " layouts and nothing in the model tells them apart:" + fits + "\nchoose one with " + choose;
    return m;
}

std::unique_ptr<Detector> make_detector(const ModelSignature& sig, const DetectorConfig& config) {
    if (config.family) {
        const FamilyMatch m = match_family(sig);
        std::string reason = "forced with --family";
        if (m.family && *m.family != *config.family) reason += " (the signature suggests " + to_string(*m.family) + ")";
        if (!m.family && m.candidates.size() > 1) {
            std::string fits;
            for (Family f : m.candidates) fits += (fits.empty() ? "" : ", ") + to_string(f);
            reason += " (the signature fits " + fits + ")";
        }
        return entry(*config.family).make(sig, config, std::move(reason));
    }
    const FamilyMatch m = match_family(sig);
    if (!m.family && m.candidates.size() > 1)
        throw UnknownLayoutError("cannot choose a detector family: " + m.reason + "\n" + sig.describe());
    if (!m.family)
        throw UnknownLayoutError("no detector family matches this model (use --family to force one if you know it)\n" +
                                 sig.describe() + "\nknown layouts:\n" + known_layouts());
    return entry(*m.family).make(sig, config, m.reason);
}

}  // namespace tiledet
