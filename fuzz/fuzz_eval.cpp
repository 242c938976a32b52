// YOLO label files and the COCO evaluator: the first input byte picks image sizes, the rest is a
// label file; half of its lines go in as ground truth, the other half (with a score) as
// detections, so random boxes reach the matcher too. Polygon lines also go through masks (segm:
// rasterized ground truth, detections masked by their rasterized polygon), and the same text is
// read as OBB labels (DOTA or YOLO OBB) for the rotated evaluator.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "tiledet/error.hpp"
#include "tiledet/eval/coco_eval.hpp"
#include "tiledet/eval/rotated_eval.hpp"
#include "tiledet/eval/yolo_labels.hpp"
#include "tiledet/tiling/mask_ops.hpp"
#include "tiledet/tiling/rotated.hpp"

namespace {

// OBB labels and the DOTA evaluator on the same text: a DOTA class name is its length.
void rotated(const std::string& text, int img_w, int img_h, bool voc12) {
    tiledet::eval::RotatedGroundTruths gts;
    try {
        gts = tiledet::eval::parse_obb_labels(text, img_w, img_h, "<fuzz>", [](const std::string& name) {
            return name.size() < 8 ? std::optional<int>(static_cast<int>(name.size())) : std::nullopt;
        });
    } catch (const tiledet::Error&) {
        return;
    }
    tiledet::eval::RotatedGroundTruths truth;
    tiledet::Detections dets;
    for (std::size_t i = 0; i < gts.size(); ++i) {
        if (i % 2 == 0) {
            truth.push_back(gts[i]);
            continue;
        }
        // The quadrilateral's enclosing rectangle at its first edge's angle, as a detection.
        const auto& q = gts[i].polygon;
        const float angle = std::atan2(q[1].y - q[0].y, q[1].x - q[0].x);
        tiledet::Detection d;
        try {
            d.rbox = tiledet::bounding_box_at({q.begin(), q.end()}, std::isfinite(angle) ? angle : 0.0f);
        } catch (const std::invalid_argument&) {
            __builtin_trap();  // four points are never "no points"
        }
        d.box = d.rbox->bounds();
        d.class_id = gts[i].class_id;
        d.score = static_cast<float>((i * 37) % 101) / 100.0f;
        dets.push_back(d);
    }
    tiledet::eval::RotatedEvalOptions options;
    if (voc12) options.ap = tiledet::eval::VocAp::voc12_all_points;
    tiledet::eval::RotatedEvaluator ev(options);
    ev.add_image(truth, dets);
    const auto r = ev.evaluate();
    if (std::isnan(r.map) || r.map > 1.0 + 1e-9 || r.map < -1.0) __builtin_trap();
    for (const auto& c : r.per_class)
        if (!(c.ap >= 0.0 && c.ap <= 1.0 + 1e-9)) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    const int img_w = 1 + data[0] * 7, img_h = 1 + data[1] * 5;
    const std::string text(reinterpret_cast<const char*>(data + 2), size - 2);
    tiledet::eval::GroundTruths gts;
    try {
        gts = tiledet::eval::parse_yolo_labels(text, img_w, img_h, "<fuzz>");
    } catch (const tiledet::Error&) {
        return 0;
    }
    rotated(text, img_w, img_h, (data[1] & 1) != 0);
    const bool segm = (data[1] & 2) != 0;
    tiledet::eval::GroundTruths truth;
    tiledet::Detections dets;
    for (std::size_t i = 0; i < gts.size(); ++i) {
        std::shared_ptr<const tiledet::Mask> mask;
        if (segm && !gts[i].polygon.empty())
            mask = std::make_shared<const tiledet::Mask>(tiledet::rasterize_polygon(gts[i].polygon, img_w, img_h));
        if (i % 2 == 0) {
            truth.push_back(gts[i]);
            truth.back().mask = mask;
        } else {
            tiledet::Detection d;
            d.box = gts[i].box;
            d.class_id = gts[i].class_id;
            d.score = static_cast<float>((i * 37) % 101) / 100.0f;
            d.mask = mask;
            dets.push_back(d);
        }
    }
    tiledet::eval::CocoEvalOptions options;
    options.segm = segm;
    options.area_ranges = (data[0] & 1) != 0;
    options.max_dets = 1 + data[1] % 100;
    tiledet::eval::CocoEvaluator ev(options);
    ev.add_image(truth, dets);
    ev.add_image(tiledet::eval::GroundTruths(truth.begin(), truth.begin() + truth.size() / 2), {});
    try {
        const auto r = ev.evaluate();
        for (double v : {r.map, r.map50, r.map75, r.mar})
            if (std::isnan(v) || v > 1.0 + 1e-9 || v < -1.0) __builtin_trap();  // -1: no ground truth
    } catch (const tiledet::Error&) {
    }
    return 0;
}
