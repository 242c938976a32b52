// Ultralytics RT-DETR (rtdetr-l/x): output0 [B, Q, 4+nc], normalized cx,cy,w,h + sigmoid scores.
#pragma once

#include "family_fit.hpp"

namespace tiledet::detail {

Fit ultralytics_rtdetr_fits(const ModelSignature& sig);

class UltralyticsRtdetrDetector final : public Detector {
public:
    UltralyticsRtdetrDetector(const ModelSignature& sig, const DetectorConfig& config, std::string reason);
    Detections decode(const std::vector<Tensor>& item_outputs, const Geometry& geometry,
                      const DecodeOptions& options) const override;
};

}  // namespace tiledet::detail
