// COCO-style detection metrics (mAP@0.5:0.95, mAP@0.5) with the semantics of pycocotools'
// COCOeval for iouType 'bbox' (cocoeval.py: evaluateImg + accumulate + summarize), so figures
// are comparable with the numbers papers and Ultralytics' val report.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "tiledet/detection.hpp"

namespace tiledet::eval {

// One annotated object: a box in pixels and its class. YOLO labels carry no "iscrowd", so there
// is no crowd flag.
struct GroundTruth {
    GroundTruth() = default;
    GroundTruth(const Box& b, int c) : box(b), class_id(c) {}

    Box box;
    int class_id = 0;
    // A polygon label's outline in pixels (x1, y1, x2, y2, ...; empty for a box label), and the
    // mask segm evaluation compares against (CocoEvalOptions::segm; set by the caller, e.g. from
    // rasterize_polygon; a ground truth without one counts as its filled box).
    std::vector<float> polygon;
    std::shared_ptr<const Mask> mask;
};

using GroundTruths = std::vector<GroundTruth>;

// pycocotools' Params for 'bbox': 10 IoU thresholds 0.50:0.05:0.95, 101 recall thresholds
// 0:0.01:1, and the headline figures at maxDets = 100 per image and category.
constexpr int kIouThresholdCount = 10;
constexpr int kRecallThresholdCount = 101;
constexpr int kCocoMaxDets = 100;

// The thresholds exactly as numpy.linspace builds them in pycocotools (i * step + start, the
// last one set to stop), because recall thresholds are compared to recalls with searchsorted
// and 0.07 != 7 * 0.01 in doubles.
const std::array<double, kIouThresholdCount>& iou_thresholds();
const std::array<double, kRecallThresholdCount>& recall_thresholds();

struct CocoEvalOptions {
    // Detections kept per image and category, highest score first (pycocotools' maxDets[-1]).
    int max_dets = kCocoMaxDets;
    // Also compute AP for COCO's small (< 32^2), medium and large (> 96^2) areas. Areas are box
    // areas: YOLO labels have no segmentation area, unlike COCO's own annotation files.
    bool area_ranges = false;
    // pycocotools iouType 'segm': IoU of masks (pixels in both over pixels in either) instead of
    // boxes; a detection without a mask matches nothing. Area ranges still use box areas.
    bool segm = false;
};

// Figures for one class that has ground truth. AP values are means over recall thresholds (and
// IoU thresholds for `ap`), in [0, 1].
struct ClassAp {
    int class_id = 0;
    int gt_count = 0;
    int det_count = 0;  // detections of this class counted (after the max_dets cut)
    double ap = 0;      // AP@[.50:.95]
    double ap50 = 0;    // AP@.50
    double ap75 = 0;    // AP@.75
    double ar = 0;      // AR@max_dets (mean over IoU thresholds of the final recall)
};

struct CocoEvalResult {
    int images = 0;
    int gt_boxes = 0;
    int detections = 0;  // all detections added, every class
    // Means over classes with ground truth; -1 when no class has any (pycocotools prints -1).
    double map = -1;
    double map50 = -1;
    double map75 = -1;
    double mar = -1;
    // AP@[.50:.95] per area range; -1 when not requested or no ground truth falls in the range.
    double map_small = -1;
    double map_medium = -1;
    double map_large = -1;
    // mAP at each IoU threshold (index i is iou_thresholds()[i]); -1 when no class has GT.
    std::array<double, kIouThresholdCount> map_per_iou{};
    // Classes with ground truth, ascending class id.
    std::vector<ClassAp> per_class;
};

// Collects images (ground truth + detections) and computes the figures. Images are kept in the
// order added; that order breaks score ties across images, as image ids do in pycocotools.
class CocoEvaluator {
public:
    explicit CocoEvaluator(CocoEvalOptions options = {});

    // Adds one image. An image with no ground truth is a background image: its detections can
    // only be false positives.
    void add_image(GroundTruths ground_truth, Detections detections);

    std::size_t image_count() const { return images_.size(); }

    CocoEvalResult evaluate() const;

private:
    struct Image {
        GroundTruths gt;
        Detections dets;
    };
    CocoEvalOptions options_;
    std::vector<Image> images_;
};

}  // namespace tiledet::eval
