// Roboflow RF-DETR: input [B, 3, R, R] (ImageNet mean/std) -> dets [B, Q, 4] (normalized
// cx,cy,w,h) + labels [B, Q, C+1] (raw logits; slot = COCO category id for COCO weights).
#pragma once

#include "family_fit.hpp"

namespace tiledet::detail {

Fit rfdetr_fits(const ModelSignature& sig);

class RfdetrDetector final : public Detector {
public:
    RfdetrDetector(const ModelSignature& sig, const DetectorConfig& config, std::string reason);
    Detections decode(const std::vector<Tensor>& item_outputs, const Geometry& geometry,
                      const DecodeOptions& options) const override;

private:
    std::size_t dets_, labels_;
};

}  // namespace tiledet::detail
