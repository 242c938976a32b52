// YOLOX (Megvii): one output [B, N, 5+nc] of raw box regressions, objectness and class
// scores over the anchor-free grid (model-formats-more.md c).
#pragma once

#include "family_fit.hpp"

namespace tiledet::detail {

Fit yolox_fits(const ModelSignature& sig);

class YoloxDetector final : public Detector {
public:
    YoloxDetector(const ModelSignature& sig, const DetectorConfig& config, std::string reason);
    Detections decode(const std::vector<Tensor>& item_outputs, const Geometry& geometry,
                      const DecodeOptions& options) const override;
};

}  // namespace tiledet::detail
