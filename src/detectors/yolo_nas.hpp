// YOLO-NAS (Deci-AI/super-gradients) exported with its NMS attached: uint8 input, then the
// BATCH format (num_predictions, pred_boxes, pred_scores, pred_classes), the FLAT format
// (flat_predictions [N,7]) or the TensorRT engine's four outputs; or exported with
// postprocessing=False: boxes [B,N,4] x1y1x2y2 + scores [B,N,C] over the anchor-free grid, for
// tiledet's NMS (model-formats-more.md e).
#pragma once

#include "counted_rows.hpp"
#include "family_fit.hpp"

namespace tiledet::detail {

Fit yolo_nas_fits(const ModelSignature& sig);

class YoloNasDetector final : public Detector {
public:
    YoloNasDetector(const ModelSignature& sig, const DetectorConfig& config, std::string reason);
    Detections decode(const std::vector<Tensor>& item_outputs, const Geometry& geometry,
                      const DecodeOptions& options) const override;

private:
    std::optional<CountedRows> rows_;  // BATCH or TensorRT
    bool raw_ = false;                 // postprocessing=False
    std::size_t boxes_out_ = 0, scores_out_ = 1;
};

}  // namespace tiledet::detail
