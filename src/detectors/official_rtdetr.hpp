// Official RT-DETR deploy layout, shared by D-FINE, DEIM and DEIMv2: images [N,3,H,W] +
// int64 orig_target_sizes [N,2] = (w,h) -> labels [N,Q], boxes [N,Q,4] (x1,y1,x2,y2 in
// pixels of orig_target_sizes), scores [N,Q]; also exports whose outputs lost the N axis.
#pragma once

#include "family_fit.hpp"

namespace tiledet::detail {

Fit official_rtdetr_fits(const ModelSignature& sig);

class OfficialRtdetrDetector final : public Detector {
public:
    OfficialRtdetrDetector(const ModelSignature& sig, const DetectorConfig& config, std::string reason);
    Detections decode(const std::vector<Tensor>& item_outputs, const Geometry& geometry,
                      const DecodeOptions& options) const override;

protected:
    void fill_extra_inputs(std::vector<Tensor>& slots, int index, const Geometry& g) const override;

private:
    std::size_t sizes_input_;
    std::size_t labels_, boxes_, scores_;
};

}  // namespace tiledet::detail
