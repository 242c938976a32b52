// Makes dynamically quantized convolutions batch-invariant. DynamicQuantizeLinear takes one
// scale and zero point over its whole input, so in a batch every item is quantized with the
// range of the widest item: results then depend on the batch's company. This pass computes
// the scale and zero point per item (the same formula, reduced over each item alone) and runs
// the convolution on the per-item zero-centred integers in float, which is exact for the
// integer sums that 8-bit convolutions produce. Private to src/onnx.
#pragma once

#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

namespace tiledet::onnx_detail {

struct PerItemQuantResult {
    std::vector<std::string> rewrites;  // one line per DynamicQuantizeLinear rewritten
    std::vector<std::string> skipped;   // why a DynamicQuantizeLinear was left as it is
};

// Rewrites every DynamicQuantizeLinear whose quantized output and zero point feed only
// ConvInteger nodes (constant weights) and whose scale feeds only Mul by a constant whose
// product scales those convolutions' Cast outputs: the pattern ONNX Runtime's dynamic
// quantizer writes. Anything else is left alone and listed in `skipped`.
PerItemQuantResult quantize_per_item(::onnx::ModelProto& model);

}  // namespace tiledet::onnx_detail
