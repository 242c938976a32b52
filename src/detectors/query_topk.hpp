// The DETR post-process that HF RT-DETR and RF-DETR share: sigmoid over queries x classes,
// top-k over the flattened scores (a query may appear once per class), score > threshold.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "tiledet/detectors/detector.hpp"

namespace tiledet::detail {

struct QueryScore {
    std::size_t query;
    int class_id;
    float score;  // after sigmoid
};

// Highest first; k = the number of queries in both references.
std::vector<QueryScore> sigmoid_topk(const float* logits, std::size_t queries, std::size_t classes, std::size_t k,
                                     float threshold);

// One item's logits [1, Q, C] and boxes [1, Q, 4] (cx, cy, w, h normalized to the input frame)
// -> detections in original pixels, highest score first. `what` names the family and its
// tensors in the shape error ("rfdetr decode: expected dets [1, Q, 4] and labels [1, Q, C+1]").
Detections decode_sigmoid_topk(const Tensor& logits, const Tensor& boxes, const Geometry& g, const DecodeOptions& o,
                               float threshold, const std::string& what);

}  // namespace tiledet::detail
