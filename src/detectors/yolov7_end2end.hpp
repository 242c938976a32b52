// YOLOv7 --grid --end2end --max-wh (ONNX Runtime NMS export): one output [num_dets, 7] =
// batch_id, x0, y0, x1, y1, class_id, score in input pixels (model-formats-more.md b(1)).
#pragma once

#include "family_fit.hpp"

namespace tiledet::detail {

Fit yolov7_end2end_fits(const ModelSignature& sig);

class Yolov7End2EndDetector final : public Detector {
public:
    Yolov7End2EndDetector(const ModelSignature& sig, const DetectorConfig& config, std::string reason);
    Detections decode(const std::vector<Tensor>& item_outputs, const Geometry& geometry,
                      const DecodeOptions& options) const override;
};

}  // namespace tiledet::detail
