// YOLOv5, YOLOv7 --grid (P5 and P6) and YOLOv6: one output [B, N, 5+nc] of decoded boxes,
// objectness and class scores (model-formats-more.md a, b, d).
#pragma once

#include "family_fit.hpp"

namespace tiledet::detail {

Fit yolov5_fits(const ModelSignature& sig);

class Yolov5Detector final : public Detector {
public:
    Yolov5Detector(const ModelSignature& sig, const DetectorConfig& config, std::string reason);
    Detections decode(const std::vector<Tensor>& item_outputs, const Geometry& geometry,
                      const DecodeOptions& options) const override;

private:
    bool obj_only_for_one_class_ = false;  // YOLOv7: nc == 1 -> score = obj
};

}  // namespace tiledet::detail
