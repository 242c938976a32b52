// The DETR post-process that HF RT-DETR and RF-DETR share: sigmoid over queries x classes,
// top-k over the flattened scores (a query may appear once per class), score > threshold.
#pragma once

#include <cstddef>
#include <vector>

namespace tiledet::detail {

struct QueryScore {
    std::size_t query;
    int class_id;
    float score;  // after sigmoid
};

// Highest first; k = the number of queries in both references.
std::vector<QueryScore> sigmoid_topk(const float* logits, std::size_t queries, std::size_t classes, std::size_t k,
                                     float threshold);

}  // namespace tiledet::detail
