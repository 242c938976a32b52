// Ultralytics segmentation (yolov8-seg, yolo11-seg): output0 [B, 4+nc+32, N] (boxes, scores, mask
// coefficients) + output1 [B, 32, H/4, W/4] (prototypes); metadata task "segment"
// (model-formats-more.md g).
#pragma once

#include "family_fit.hpp"

namespace tiledet::detail {

Fit yolo_seg_fits(const ModelSignature& sig);

class YoloSegDetector final : public Detector {
public:
    YoloSegDetector(const ModelSignature& sig, const DetectorConfig& config, std::string reason);
    // Boxes as the yolo family (NMS in the input frame, scale_boxes + clip). Each kept detection
    // gets a mask in original pixels, held over the pixels of its box only, decoded as
    // Ultralytics' retina-masks path (ops.process_mask_native): logits = coefficients x
    // prototypes, the letterbox pad cut and the rest resized bilinearly (align_corners=False)
    // to the original size, pixels outside the box (crop_mask: x1 <= col < x2, y1 <= row < y2)
    // cleared, logit > 0 kept. Detections whose mask is empty are dropped, as the reference does.
    Detections decode(const std::vector<Tensor>& item_outputs, const Geometry& geometry,
                      const DecodeOptions& options) const override;

private:
    std::size_t boxes_output_ = 0, protos_output_ = 1;
};

}  // namespace tiledet::detail
