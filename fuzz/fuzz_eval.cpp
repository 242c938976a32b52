// YOLO label files and the COCO evaluator: the first input byte picks image sizes, the rest is a
// label file; half of its lines go in as ground truth, the other half (with a score) as
// detections, so random boxes reach the matcher too.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include "tiledet/error.hpp"
#include "tiledet/eval/coco_eval.hpp"
#include "tiledet/eval/yolo_labels.hpp"

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
    tiledet::eval::GroundTruths truth;
    tiledet::Detections dets;
    for (std::size_t i = 0; i < gts.size(); ++i) {
        if (i % 2 == 0) {
            truth.push_back(gts[i]);
        } else {
            tiledet::Detection d;
            d.box = gts[i].box;
            d.class_id = gts[i].class_id;
            d.score = static_cast<float>((i * 37) % 101) / 100.0f;
            dets.push_back(d);
        }
    }
    tiledet::eval::CocoEvalOptions options;
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
