// Verification of a repaired model: the original run one item at a time against the repaired
// model run on the same items as one batch. Private to src/onnx.
#pragma once

#include <string>
#include <vector>

#include "tiledet/onnx/batchify.hpp"
#include "tiledet/runtime/model.hpp"

namespace tiledet::onnx_detail {

struct VerifyOutcome {
    std::vector<OutputDifference> differences;
    bool all_within = true;
    std::string first_failure;  // "output 'x' at batch 4, item 2: max |diff| 0.3"
};

// Inputs per item: float inputs uniform in [0, 1]; integer inputs whose name holds "size"
// with a last dim of 2 (RT-DETR's orig_target_sizes) get (h, w) = (640 - 32 i, 640 + 48 i)
// for item i; other integer inputs are 0; bools false. Item i is the same at every batch size.
VerifyOutcome verify_batched(const Model& original, const Model& repaired, const BatchifyOptions& options);

}  // namespace tiledet::onnx_detail
