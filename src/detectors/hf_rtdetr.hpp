// Hugging Face RT-DETR / RT-DETRv2 (optimum export): pixel_values -> logits [B, Q, C] (raw)
// + pred_boxes [B, Q, 4] (normalized cx,cy,w,h).
#pragma once

#include "family_fit.hpp"

namespace tiledet::detail {

Fit hf_rtdetr_fits(const ModelSignature& sig);

class HfRtdetrDetector final : public Detector {
public:
    HfRtdetrDetector(const ModelSignature& sig, const DetectorConfig& config, std::string reason);
    Detections decode(const std::vector<Tensor>& item_outputs, const Geometry& geometry,
                      const DecodeOptions& options) const override;

private:
    std::size_t logits_, boxes_;
};

}  // namespace tiledet::detail
