// Folding of constant subgraphs before the batch is traced. Private to src/onnx.
#pragma once

#include <onnx/onnx_pb.h>

#include <string>

#include "tiledet/runtime/model.hpp"

namespace tiledet::onnx_detail {

struct FoldResult {
    ::onnx::ModelProto model;
    int nodes_before = 0;
    int nodes_after = 0;
};

// Runs ONNX Runtime's basic (level 1) graph optimizations on `model` and returns the graph it
// writes back: constant folding (Shape of static tensors, ConstantOfShape, shape arithmetic,
// Cast of constants...) and redundant-node elimination. Level 1 is documented as
// "semantics-preserving" and keeps standard ONNX ops only, unlike the extended and layout levels
// (https://onnxruntime.ai/docs/performance/model-optimizations/graph-optimizations.html).
// Throws RuntimeFailure or InputError, naming `what`, when ONNX Runtime cannot load the model.
//
// The transpose optimizer is left out: it moves transposes through reductions, so a LayerNorm
// over the last axis of [1, L, C] becomes one over the middle axis of [1, C, L], whose kernel
// sums in another order once a batch leads (last-bit differences that a TopK of near-equal
// scores turns into reordered outputs). The exporter's layout keeps per-row reductions.
ModelOptions fold_options();

FoldResult fold_constants(const ::onnx::ModelProto& model, const std::string& what, std::size_t memory_limit_bytes);

}  // namespace tiledet::onnx_detail
