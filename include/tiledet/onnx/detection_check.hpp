// Detection-level verification of a repaired model, for models that are not batch-invariant:
// a dynamically quantized model (DynamicQuantizeLinear) takes one activation scale over the
// whole batch, so its batched tensors differ slightly from single-item runs even after a correct
// repair. What the user cares about is whether the detections change, so this runs the original
// one image at a time and the repaired model on the same images in batches, decodes both with
// the detector family, and matches the detections image by image.
//
// Built only with the detectors module (the onnx module itself does not need it).
#pragma once

#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "tiledet/detection.hpp"
#include "tiledet/detectors/detector.hpp"
#include "tiledet/onnx/batchify.hpp"

namespace tiledet {

struct DetectionCheckOptions {
    DecodeOptions decode;     // conf unset: the family's default
    DetectorConfig detector;  // force a family, imgsz, ... (as `tiledet detect` takes them)
    float min_iou = 0.9f;     // a pair matches when IoU > min_iou ...
    float score_tol = 0.05f;  // ... and |score difference| <= score_tol
};

// One image: the original's detections against the repaired model's.
//
// Both runs are decoded with conf lowered by score_tol, so a detection whose score moved across
// the threshold by no more than the tolerance still finds its partner; such a pair counts as
// matched and as `crossed_threshold` (it is why the counts above conf can differ by a few).
struct ImageMatch {
    int original = 0;            // original detections at or above conf
    int repaired = 0;            // repaired detections at or above conf
    int matched = 0;             // original detections (above conf) with a partner
    int unmatched_repaired = 0;  // repaired detections above conf with no partner at all
    int crossed_threshold = 0;   // matched pairs with one side below conf
    float worst_iou = 1.0f;      // over matched pairs
    float worst_score_diff = 0.0f;
    bool agree() const { return matched == original && unmatched_repaired == 0; }
};

// Greedy matching, highest original score first, each to the unmatched same-class partner of
// highest IoU. `original` and `repaired` are decoded at conf - score_tol (or lower); `conf` is
// the threshold the user asked for.
ImageMatch match_detections(const Detections& original, const Detections& repaired, float conf,
                            const DetectionCheckOptions& options = {});

// The comparer batchify calls once per verify batch size: `images` (8-bit BGR) through the
// original one at a time (computed once, reused for every batch size) and through the repaired
// model in chunks of `batch` (the last chunk may be smaller). `names` label images in the
// summary (default "image <i>"). A model no detector family fits gives agree = false and says
// why.
DetectionComparer make_detection_comparer(std::vector<cv::Mat> images, DetectionCheckOptions options = {},
                                          std::vector<std::string> names = {});

// A few deterministic images (smooth gradients with filled shapes, several sizes) for when the
// user gives none. Real detectors find little in them, so the check is weak: say so.
std::vector<cv::Mat> synthetic_check_images(int count = 4);

}  // namespace tiledet
