// YOLOv7 --grid --end2end --max-wh (ONNX Runtime NMS export): one output [num_dets, 7] =
// batch_id, x0, y0, x1, y1, class_id, score in input pixels (model-formats-more.md b(1)); and the
// TensorRT-style four outputs num_dets [B,1], det_boxes [B,K,4], det_scores [B,K], det_classes
// [B,K] (YOLOv7 --end2end without --max-wh, YOLOv6 --end2end [--ort]; b(1), j).
#pragma once

#include <optional>

#include "counted_rows.hpp"
#include "family_fit.hpp"

namespace tiledet::detail {

Fit yolov7_end2end_fits(const ModelSignature& sig);

class Yolov7End2EndDetector final : public Detector {
public:
    Yolov7End2EndDetector(const ModelSignature& sig, const DetectorConfig& config, std::string reason);
    Detections decode(const std::vector<Tensor>& item_outputs, const Geometry& geometry,
                      const DecodeOptions& options) const override;

private:
    std::optional<CountedRows> rows_;  // the four-output layout; empty: [num_dets, 7]
};

}  // namespace tiledet::detail
