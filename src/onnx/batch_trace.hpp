// The batch tracer: walks a batch-1 graph from its inputs, tracks where the batch axis of each
// tensor is, and rewrites the nodes whose constants bake in the batch of 1. Private to src/onnx.
//
// A tensor is in one of three states in the repaired graph:
//   unbatched   the same value for every item (weights, constants, shape arithmetic);
//   in place    the original tensor had a dim of 1 at `axis`; the repaired one has the batch;
//   extra       the original lost its batch axis (Squeeze, Gather of item 0, a reduction over
//               the batch of 1); the repaired tensor keeps it at `axis`, one rank higher.
// Each op rule maps the states of a node's inputs to those of its outputs, rewriting the node
// (and adding small helper nodes) so that item i of every repaired tensor equals the original
// tensor computed on item i alone. What a rule cannot prove it refuses (throws Refused).
#pragma once

#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include <onnx/onnx_pb.h>

namespace tiledet::onnx_detail {

struct Refused : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct BatchState {
    bool batched = false;
    int axis = 0;
    bool extra = false;
    static BatchState none() { return {}; }
    static BatchState in_place(int a) { return {true, a, false}; }
    static BatchState extra_at(int a) { return {true, a, true}; }
    bool operator==(const BatchState&) const = default;
};

struct TraceResult {
    std::vector<std::string> rewrites;
    std::vector<std::string> notes;
    std::vector<std::string> batch_variant_ops;
};

class BatchTracer {
public:
    // `model` is modified in place. Its inputs must all have a leading dim of 1.
    BatchTracer(::onnx::ModelProto& model, std::string batch_name);
    TraceResult run();

private:
    // --- state and facts about the original graph ---
    BatchState state(const std::string& name) const;
    void set_state(const std::string& name, BatchState s) { states_[name] = s; }
    const std::vector<int64_t>& shape(const std::string& name, const ::onnx::NodeProto& user);
    std::optional<std::vector<int64_t>> const_ints(const std::string& name) const;
    int rank(const std::string& name, const ::onnx::NodeProto& user) { return static_cast<int>(shape(name, user).size()); }
    [[noreturn]] void refuse(const ::onnx::NodeProto& n, const std::string& why) const;

    // --- building the repaired graph ---
    std::string fresh(const std::string& hint);
    std::string add_const(const std::vector<int64_t>& values, const std::string& hint);
    std::string add_scalar_or_vector(const std::vector<int64_t>& values, bool scalar, const std::string& hint);
    ::onnx::NodeProto& emit_node(const std::string& op, const std::vector<std::string>& inputs,
                                 const std::vector<std::string>& outputs, const std::string& hint);
    std::string batch_size_1d();  // [B], int64, computed once from the first input's shape
    // [v0, .., B, .., vn]: `values` with entry `pos` replaced by (or, insert: with B inserted at) the batch.
    std::string shape_with_batch(std::vector<int64_t> values, int pos, bool insert, const std::string& hint);
    void rename_outputs(const std::string& from, const std::string& to);
    void hide_graph_output(const std::string& name, const std::string& hidden);
    std::string emit_axes_op(const std::string& op, const std::string& x, const std::vector<int64_t>& axes,
                             const std::string& hint);
    std::string emit_squeeze(const std::string& x, const std::vector<int64_t>& axes, const std::string& hint);
    std::string emit_unsqueeze(const std::string& x, const std::vector<int64_t>& axes, const std::string& hint);
    // Makes `x` (unbatched) carry the batch in state `target`, rewriting the node that made it
    // when that node is a ConstantOfShape/Expand/Tile with a constant shape and `x` has no other
    // users; otherwise adding an Expand. Returns the name to use.
    std::string broadcast_to_batch(const std::string& x, BatchState target, const std::string& why);
    // The same per-item values with the batch as a new leading axis: [B, original dims...]
    // (a Transpose, and for an in-place batch an Unsqueeze that restores the original's 1).
    // Lets inputs that hold the batch differently meet, e.g. a batch merged with the heads.
    std::string to_extra_leading(const std::string& x, const std::string& hint);
    // An extra-axis tensor whose original has a 1 at `axis`: squeeze that 1 so it is in place.
    std::string extra_to_in_place(const std::string& x, const std::string& hint);

    // Axes lists of Squeeze/Unsqueeze/Reduce*/Split: an attribute in old opsets, an input later.
    std::optional<std::vector<int64_t>> read_axes(const ::onnx::NodeProto& n, int input_index, const char* attr);
    void write_axes(::onnx::NodeProto& n, int input_index, const char* attr, int since_opset,
                    const std::vector<int64_t>& axes);
    void replace_input(::onnx::NodeProto& n, int index, const std::string& name);
    void make_identity(::onnx::NodeProto& n, const std::string& why);

    // --- op rules; each pushes the (possibly rewritten) node and sets output states ---
    void visit(::onnx::NodeProto n);
    void rule_same_as_input(::onnx::NodeProto& n);
    void rule_broadcast(::onnx::NodeProto& n, const std::vector<int>& data_inputs);
    void rule_n_first(::onnx::NodeProto& n);  // Conv-like: batch must be axis 0 of input 0
    void n_first_merged(::onnx::NodeProto& n);  // the batch merged with the leading axis
    void rule_shape_of(::onnx::NodeProto& n);
    void rule_reshape(::onnx::NodeProto& n);
    void rule_flatten(::onnx::NodeProto& n);
    void rule_transpose(::onnx::NodeProto& n);
    void rule_concat(::onnx::NodeProto& n);
    void rule_split(::onnx::NodeProto& n);
    void rule_slice(::onnx::NodeProto& n);
    void rule_gather(::onnx::NodeProto& n);
    void rule_gather_elements(::onnx::NodeProto& n);
    void rule_squeeze(::onnx::NodeProto& n);
    void rule_unsqueeze(::onnx::NodeProto& n);
    void rule_reduce(::onnx::NodeProto& n);
    void rule_axis_op(::onnx::NodeProto& n);  // Softmax, ArgMax, TopK, CumSum, LayerNorm...
    void rule_matmul(::onnx::NodeProto& n);
    void rule_gemm(::onnx::NodeProto& n);
    void gemm_as_matmul(::onnx::NodeProto& n);
    void rule_expand(::onnx::NodeProto& n);
    void rule_tile(::onnx::NodeProto& n);
    void rule_resize(::onnx::NodeProto& n);
    void rule_pad(::onnx::NodeProto& n);
    void finish_outputs();

    ::onnx::ModelProto& model_;
    ::onnx::GraphProto& graph_;
    std::string batch_name_;
    int opset_ = 0;
    std::unordered_map<std::string, std::vector<int64_t>> shapes_;     // original, static
    std::unordered_map<std::string, std::vector<int64_t>> values_;     // small int tensors
    std::unordered_map<std::string, BatchState> states_;
    std::unordered_map<std::string, int> users_;                       // uses, graph outputs included
    std::unordered_map<std::string, int> producer_;                    // index in nodes_
    std::vector<::onnx::NodeProto> nodes_;
    std::vector<::onnx::NodeProto> prologue_;                          // batch size computation
    std::set<std::string> names_;
    std::string batch_1d_;
    std::string first_input_;
    TraceResult result_;
};

}  // namespace tiledet::onnx_detail
