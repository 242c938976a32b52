// Ultralytics oriented boxes (yolov8-obb, yolo11-obb; DOTA): output0 [B, 4+nc+1, N], metadata
// task "obb" (model-formats-more.md h).
#pragma once

#include "family_fit.hpp"

namespace tiledet::detail {

Fit yolo_obb_fits(const ModelSignature& sig);

// Ultralytics utils/metrics.py batch_probiou for one pair of xywhr boxes: 1 - Hellinger distance
// of the boxes' Gaussians (a = w^2/12, b = h^2/12), Bhattacharyya distance clamped to
// [1e-7, 100], eps 1e-7 where the reference adds it.
float probiou(const RotatedBox& a, const RotatedBox& b);

// Ultralytics non_max_suppression(rotated=True) -> TorchNMS.fast_nms with batch_probiou: sorted
// by score (stable), box j is kept iff no higher-scored box of its class (any class when
// `agnostic`) has probiou >= iou_threshold, suppressed or not (Fast-NMS); then cut to max_det.
// Every detection must carry an rbox.
Detections probiou_fast_nms(Detections dets, float iou_threshold, bool agnostic, int max_det);

// Ultralytics ops.regularize_rboxes after PR #19429 (2025-02): swap w and h iff
// (angle mod pi) >= pi/2, then angle mod pi/2, so the angle lies in [0, pi/2).
RotatedBox regularize(RotatedBox r);

class YoloObbDetector final : public Detector {
public:
    YoloObbDetector(const ModelSignature& sig, const DetectorConfig& config, std::string reason);
    // -> detections with rbox in original pixels (regularized; centre minus pad, all four over
    // the letterbox gain, as scale_boxes(xywh=True); not clipped) and box = the rbox's bounds,
    // clipped to the image.
    Detections decode(const std::vector<Tensor>& item_outputs, const Geometry& geometry,
                      const DecodeOptions& options) const override;
};

}  // namespace tiledet::detail
