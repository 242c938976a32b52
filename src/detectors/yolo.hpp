// Ultralytics YOLO v5u/v8/v11/v12 (and YOLOv8-style heads): output0 [B, 4+nc, N].
#pragma once

#include <cstddef>
#include <vector>

#include "family_fit.hpp"

namespace tiledet::detail {

Fit yolo_fits(const ModelSignature& sig);

// The best class of each anchor of an Ultralytics head laid out [4 + nc + extra rows, n] (class
// rows 4 .. 4+nc-1; yolo, yolo_obb and yolo_seg), reading the class rows in memory order. Ties go
// to the lower class; score -1 when nc is 0.
struct AnchorBest {
    std::vector<float> score;
    std::vector<int> class_id;
};
AnchorBest best_class_per_anchor(const float* head, std::size_t nc, std::size_t n);

class YoloDetector final : public Detector {
public:
    YoloDetector(const ModelSignature& sig, const DetectorConfig& config, std::string reason);
    Detections decode(const std::vector<Tensor>& item_outputs, const Geometry& geometry,
                      const DecodeOptions& options) const override;
};

}  // namespace tiledet::detail
