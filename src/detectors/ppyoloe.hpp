// PP-YOLOE / PP-YOLOE+ (PaddlePaddle/PaddleDetection via paddle2onnx): inputs `image` and
// `scale_factor` (and `im_shape` where the export has it); outputs either the in-graph NMS rows
// [M,6] = class, score, x1, y1, x2, y2 in original px with the rows-per-image count [B]
// (multiclass_nms3_0.tmp_0 / tmp_2), or, exported with exclude_nms=True, boxes [B,N,4] in
// original px and sigmoid scores [B,nc,N] for tiledet's NMS (model-formats-more.md f).
#pragma once

#include "family_fit.hpp"

namespace tiledet::detail {

Fit ppyoloe_fits(const ModelSignature& sig);

class PpyoloeDetector final : public Detector {
public:
    PpyoloeDetector(const ModelSignature& sig, const DetectorConfig& config, std::string reason);
    Detections decode(const std::vector<Tensor>& item_outputs, const Geometry& geometry,
                      const DecodeOptions& options) const override;

protected:
    void fill_extra_inputs(std::vector<Tensor>& slots, int index, const Geometry& g) const override;

private:
    bool nms_in_graph_ = true;
    std::size_t rows_out_ = 0, boxes_out_ = 0, scores_out_ = 0;
};

}  // namespace tiledet::detail
