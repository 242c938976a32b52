// Oriented-box detection metrics as the DOTA benchmark computes them (DOTA_devkit
// dota_evaluation_task1.py voc_eval): per class, detections of all images ranked by score, each
// matched to the unmatched ground-truth polygon it overlaps most (polygon IoU > 0.5, strict as
// in the devkit's `ovmax > ovthresh`); a match with a "difficult" object is neither a true nor a
// false positive, and difficult objects do not count in the recall. AP is VOC07's 11-point
// interpolation (the devkit's default, use_07_metric=True) or VOC12's all-point area.
// Also reads the label formats OBB datasets ship in: DOTA's `x1 y1 ... x4 y4 class difficult`
// (pixels) and Ultralytics' YOLO OBB `class x1 y1 ... x4 y4` (normalized).
#pragma once

#include <array>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "tiledet/detection.hpp"

namespace tiledet::eval {

// One labelled object: its four corners in pixels (any quadrilateral, either winding).
struct RotatedGroundTruth {
    std::array<Point2, 4> polygon{};
    int class_id = 0;
    bool difficult = false;
};
using RotatedGroundTruths = std::vector<RotatedGroundTruth>;

enum class VocAp {
    voc07_11point,  // mean of the max precision at recall >= 0, 0.1, ..., 1 (DOTA_devkit default)
    voc12_all_points,
};

struct RotatedEvalOptions {
    double iou_threshold = 0.5;
    VocAp ap = VocAp::voc07_11point;
};

struct RotatedClassAp {
    int class_id = 0;
    int gt_count = 0;  // objects that are not difficult
    int det_count = 0;
    double ap = 0;  // in [0, 1]
};

struct RotatedEvalResult {
    int images = 0;
    int gt_objects = 0;  // not difficult, every class
    int detections = 0;
    double map = -1;                        // mean over classes with (non-difficult) ground truth; -1 when none
    std::vector<RotatedClassAp> per_class;  // ascending class id
};

// Collects images and computes the figures. A detection is its rbox's corners when it has one,
// else its axis-aligned box.
class RotatedEvaluator {
public:
    explicit RotatedEvaluator(RotatedEvalOptions options = {}) : options_(options) {}
    void add_image(RotatedGroundTruths ground_truth, Detections detections);
    RotatedEvalResult evaluate() const;

private:
    struct Image {
        RotatedGroundTruths gt;
        Detections dets;
    };
    RotatedEvalOptions options_;
    std::vector<Image> images_;
};

// Polygon IoU of two quadrilaterals (the second must be convex: a detection's rectangle).
double polygon_iou(const std::array<Point2, 4>& a, const std::array<Point2, 4>& convex_b);

// Label text of one image, either format, detected line by line: 10 tokens whose 9th is not a
// number is a DOTA line (class by name through `class_id_of`, which returns nullopt for an
// unknown name; `imagesource:` and `gsd:` header lines are skipped); 9 numbers is a YOLO OBB line
// (normalized corners, scaled by img_w x img_h). Throws InputError naming source and line for any
// other line, an unknown class name, a negative or non-integer class id, or a difficult flag
// other than 0/1.
RotatedGroundTruths parse_obb_labels(const std::string& text, int img_w, int img_h, const std::string& source,
                                     const std::function<std::optional<int>(const std::string&)>& class_id_of);

}  // namespace tiledet::eval
