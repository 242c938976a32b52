// Ultralytics YOLO v5u/v8/v11/v12 (and YOLOv8-style heads): output0 [B, 4+nc, N].
#pragma once

#include "family_fit.hpp"

namespace tiledet::detail {

Fit yolo_fits(const ModelSignature& sig);

class YoloDetector final : public Detector {
public:
    YoloDetector(const ModelSignature& sig, const DetectorConfig& config, std::string reason);
    Detections decode(const std::vector<Tensor>& item_outputs, const Geometry& geometry,
                      const DecodeOptions& options) const override;
};

}  // namespace tiledet::detail
