// Verification of a repaired model: the original run one item at a time against the repaired
// model run on the same items as one batch. Private to src/onnx.
#pragma once

#include <random>
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

// One item (leading dim 1 on every input) as verify_batched makes it. Throws InputError when
// an input has a symbolic dim after the batch.
std::vector<Tensor> verification_item(const ModelSignature& sig, int item, std::mt19937& rng);

// Runs `model` on `batch` verification items as one batch; returns the runtime's error text,
// empty when it ran.
std::string try_batch(const Model& model, int batch, unsigned seed);

}  // namespace tiledet::onnx_detail
