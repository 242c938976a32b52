// YOLO end-to-end exports: output0 [B, 300, 6] = x1,y1,x2,y2,score,class (YOLOv10, YOLO26,
// Ultralytics nms=True).
#pragma once

#include "family_fit.hpp"

namespace tiledet::detail {

Fit yolo_end2end_fits(const ModelSignature& sig);

class YoloEnd2EndDetector final : public Detector {
public:
    YoloEnd2EndDetector(const ModelSignature& sig, const DetectorConfig& config, std::string reason);
    Detections decode(const std::vector<Tensor>& item_outputs, const Geometry& geometry,
                      const DecodeOptions& options) const override;
};

}  // namespace tiledet::detail
