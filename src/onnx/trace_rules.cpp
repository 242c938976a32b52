// The op rules of the batch tracer: for each op, where the batch axis of its outputs is, given
// where it is on its inputs, and how the node must change so that item i of each output equals
// the original output computed on item i alone.
#include <algorithm>
#include <climits>
#include <numeric>
#include <optional>
#include <set>

#include "batch_trace.hpp"
#include "proto_util.hpp"

namespace tiledet::onnx_detail {
namespace {

// The product of dims [first, last), or nullopt when a dim is negative or the product overflows
// int64 (a hostile or nonsensical shape: the rules refuse such a model instead of computing with it).
std::optional<int64_t> dims_product(std::vector<int64_t>::const_iterator first, std::vector<int64_t>::const_iterator last) {
    int64_t p = 1;
    for (; first != last; ++first)
        if (*first < 0 || __builtin_mul_overflow(p, *first, &p)) return std::nullopt;
    return p;
}

const std::set<std::string> kUnary = {
    "Identity", "Cast", "CastLike", "Relu", "Sigmoid", "Tanh", "Exp", "Log", "Sqrt", "Neg", "Abs", "Erf", "Softplus",
    "Softsign", "LeakyRelu", "HardSigmoid", "HardSwish", "Elu", "Selu", "Celu", "Gelu", "Mish", "ThresholdedRelu",
    "Floor", "Ceil", "Round", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh",
    "Reciprocal", "Sign", "Not", "IsNaN", "IsInf", "Dropout", "Clip", "QuantizeLinear", "DequantizeLinear",
    "DynamicQuantizeLinear", "Shrink", "BitwiseNot"};
const std::set<std::string> kBroadcast = {
    "Add", "Sub", "Mul", "Div", "Pow", "Mod", "Max", "Min", "Sum", "Mean", "Where", "Equal", "Less", "Greater",
    "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "BitShift", "PRelu", "BitwiseAnd", "BitwiseOr", "BitwiseXor"};
// Batch must be axis 0 of input 0 (NCHW ops); the other inputs are weights.
const std::set<std::string> kNFirst = {
    "Conv", "ConvInteger", "ConvTranspose", "QLinearConv", "MaxPool", "AveragePool", "GlobalAveragePool",
    "GlobalMaxPool", "LpPool", "GlobalLpPool", "BatchNormalization", "InstanceNormalization", "LRN", "DepthToSpace",
    "SpaceToDepth", "GroupNormalization", "MaxUnpool", "RoiAlign", "GridSample", "Col2Im"};
const std::set<std::string> kReduce = {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd",
                                       "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"};
const std::set<std::string> kAxisOps = {"Softmax", "LogSoftmax", "Hardmax", "ArgMax", "ArgMin", "TopK", "CumSum",
                                        "LayerNormalization", "LpNormalization"};

int norm_axis(int64_t axis, int rank) { return static_cast<int>(axis < 0 ? axis + rank : axis); }

std::vector<int64_t> norm_axes(std::vector<int64_t> axes, int rank) {
    for (auto& a : axes) a = norm_axis(a, rank);
    std::sort(axes.begin(), axes.end());
    return axes;
}

int count_below(const std::vector<int64_t>& axes, int a) {
    return static_cast<int>(std::count_if(axes.begin(), axes.end(), [a](int64_t x) { return x < a; }));
}

bool contains(const std::vector<int64_t>& v, int64_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }

std::string axis_text(int a) { return "axis " + std::to_string(a); }

}  // namespace

void BatchTracer::visit(::onnx::NodeProto n) {
    for (const auto& a : n.attribute())
        if (a.type() == ::onnx::AttributeProto::GRAPH || a.type() == ::onnx::AttributeProto::GRAPHS)
            refuse(n, "control flow (subgraphs) is not traced by batchify; re-export with a dynamic batch");
    bool any = false;
    for (const auto& i : n.input()) any = any || state(i).batched;
    if (!any) {
        // The same value for every item: keep the node as it is.
        for (int i = 0; i < n.output_size(); ++i) producer_[n.output(i)] = static_cast<int>(nodes_.size());
        nodes_.push_back(std::move(n));
        return;
    }
    if (!n.domain().empty() && n.domain() != "ai.onnx")
        refuse(n, "an op of domain '" + n.domain() + "' reads a batched tensor; batchify only traces standard ONNX ops");
    const std::string& op = n.op_type();
    if (kUnary.count(op)) rule_same_as_input(n);
    else if (kBroadcast.count(op)) {
        std::vector<int> all(static_cast<std::size_t>(n.input_size()));
        std::iota(all.begin(), all.end(), 0);
        rule_broadcast(n, all);
    } else if (kNFirst.count(op)) rule_n_first(n);
    else if (kReduce.count(op)) rule_reduce(n);
    else if (kAxisOps.count(op)) rule_axis_op(n);
    else if (op == "Shape" || op == "Size") rule_shape_of(n);
    else if (op == "Reshape") rule_reshape(n);
    else if (op == "Flatten") rule_flatten(n);
    else if (op == "Transpose") rule_transpose(n);
    else if (op == "Concat") rule_concat(n);
    else if (op == "Split") rule_split(n);
    else if (op == "Slice") rule_slice(n);
    else if (op == "Gather") rule_gather(n);
    else if (op == "GatherElements") rule_gather_elements(n);
    else if (op == "Squeeze") rule_squeeze(n);
    else if (op == "Unsqueeze") rule_unsqueeze(n);
    else if (op == "MatMul" || op == "MatMulInteger") rule_matmul(n);
    else if (op == "Gemm") rule_gemm(n);
    else if (op == "Expand") rule_expand(n);
    else if (op == "Tile") rule_tile(n);
    else if (op == "Resize" || op == "Upsample") rule_resize(n);
    else if (op == "Pad") rule_pad(n);
    else if (op == "NonMaxSuppression")
        refuse(n, "its selected indices mix the items of a batch into one list; export the model without NMS");
    else if (op == "NonZero")
        refuse(n, "its output length depends on the values of all items together; batchify cannot split it per item");
    else {
        std::string which;
        for (const auto& i : n.input())
            if (state(i).batched) which += (which.empty() ? "'" : ", '") + i + "'";
        refuse(n, "batchify does not know how " + op + " treats a batch axis (batched inputs: " + which +
                      "); re-export the model with a dynamic batch");
    }
}

void BatchTracer::rule_same_as_input(::onnx::NodeProto& n) {
    for (int i = 1; i < n.input_size(); ++i)
        if (state(n.input(i)).batched) refuse(n, "input " + std::to_string(i) + " ('" + n.input(i) + "') carries the batch; only input 0 may");
    const BatchState s = state(n.input(0));
    if ((n.op_type() == "QuantizeLinear" || n.op_type() == "DequantizeLinear") && n.input_size() > 1 &&
        rank(n.input(1), n) == 1 && shape(n.input(1), n)[0] > 1) {
        // Per-axis quantization along the batch axis would need one scale per item.
        const int axis = norm_axis(attr_int(n, "axis", 1), rank(n.input(0), n));
        if (!s.extra && axis == s.axis) refuse(n, "quantizes per channel along the batch axis");
        if (s.extra && axis >= s.axis) set_attr_int(n, "axis", axis + 1);
    }
    if (n.op_type() == "DynamicQuantizeLinear") {
        // One scale and zero point over the whole tensor: over the whole batch once batched.
        set_state(n.output(0), s);
        if (std::find(result_.batch_variant_ops.begin(), result_.batch_variant_ops.end(), n.op_type()) ==
            result_.batch_variant_ops.end())
            result_.batch_variant_ops.push_back(n.op_type());
    } else {
        for (const auto& o : n.output())
            if (!o.empty()) set_state(o, s);
    }
    const int idx = static_cast<int>(nodes_.size());
    for (const auto& o : n.output()) producer_[o] = idx;
    nodes_.push_back(n);
}

void BatchTracer::rule_broadcast(::onnx::NodeProto& n, const std::vector<int>& data_inputs) {
    const int R = rank(n.output(0), n);
    const std::vector<int64_t> out_shape = shape(n.output(0), n);
    // Inputs that hold the batch at different places after broadcasting, one of them as a
    // leading extra axis (the batch merged with another axis in the original): all take the
    // batch as a leading extra axis.
    std::set<int> places;
    bool extra_leading = false;
    for (int i : data_inputs) {
        const BatchState s = state(n.input(i));
        if (!s.batched) continue;
        places.insert((s.extra && s.axis == 0) ? 0 : s.axis + R - rank(n.input(i), n));
        extra_leading = extra_leading || (s.extra && s.axis == 0);
    }
    if (places.size() > 1 && extra_leading)
        for (int i : data_inputs)
            if (state(n.input(i)).batched)
                replace_input(n, i, to_extra_leading(n.input(i), n.input(i) + "_batch_leading"));
    // Each batched input's batch axis, right-aligned to the output's rank.
    int P = -1;
    bool any_in_place = false;
    for (int i : data_inputs) {
        const BatchState s = state(n.input(i));
        if (!s.batched) continue;
        // An extra axis leads the per-item dims when it is axis 0, wherever those are aligned.
        const int p = (s.extra && s.axis == 0) ? 0 : s.axis + R - rank(n.input(i), n);
        if (P >= 0 && p != P)
            refuse(n, "its inputs carry the batch at different axes (" + std::to_string(P) + " and " + std::to_string(p) +
                          " after broadcasting)");
        P = p;
        any_in_place = any_in_place || !s.extra;
    }
    if (any_in_place) {
        for (int i : data_inputs) {
            if (state(n.input(i)).batched) continue;
            const std::vector<int64_t> s = shape(n.input(i), n);
            const int at = P - (R - static_cast<int>(s.size()));
            if (at >= 0 && s[at] != 1)
                refuse(n, "broadcasts the batch axis against size " + std::to_string(s[at]) + " of input '" +
                              n.input(i) + "': every item would be mixed with that axis");
        }
        if (out_shape[P] != 1) refuse(n, "its output has size " + std::to_string(out_shape[P]) + " at the batch axis");
        for (int i : data_inputs) {
            const std::string& in = n.input(i);
            const BatchState s = state(in);
            if (!s.batched || !s.extra) continue;
            std::string x = in;
            const int r = rank(in, n);
            if (r < R) {  // pad the per-item shape to the output rank first
                std::vector<int64_t> ax;
                for (int k = 0; k < R - r; ++k) ax.push_back(s.axis == 0 ? 1 + k : k);
                x = emit_unsqueeze(in, ax, in + "_padded");
                std::vector<int64_t> padded(static_cast<std::size_t>(R - r), 1);
                const auto& orig = shape(in, n);
                padded.insert(padded.end(), orig.begin(), orig.end());
                shapes_[x] = padded;
                set_state(x, BatchState::extra_at(P));
            }
            replace_input(n, i, extra_to_in_place(x, in + "_in_place"));
        }
        set_state(n.output(0), BatchState::in_place(P));
    } else {
        // Every batched input has its own batch axis: pad them to the output's rank, and give
        // unbatched inputs that reach over the batch position a size-1 axis there.
        for (int i : data_inputs) {
            const std::string in = n.input(i);
            const BatchState s = state(in);
            const int r = rank(in, n);
            if (s.batched && r < R) {
                std::vector<int64_t> ax;
                for (int k = 0; k < R - r; ++k) ax.push_back(s.axis == 0 ? 1 + k : k);
                const std::string x = emit_unsqueeze(in, ax, in + "_padded");
                set_state(x, BatchState::extra_at(P));
                replace_input(n, i, x);
            } else if (!s.batched && r > R - P) {
                const std::string x = emit_unsqueeze(in, {P - (R - r)}, in + "_batch_axis");
                replace_input(n, i, x);
            }
        }
        set_state(n.output(0), BatchState::extra_at(P));
    }
    producer_[n.output(0)] = static_cast<int>(nodes_.size());
    nodes_.push_back(n);
}

void BatchTracer::rule_n_first(::onnx::NodeProto& n) {
    BatchState s = state(n.input(0));
    const std::vector<int64_t> in0 = shape(n.input(0), n);
    if (s.extra && s.axis == 0 && in0[0] == 1) {
        replace_input(n, 0, extra_to_in_place(n.input(0), n.input(0) + "_in_place"));
        s = BatchState::in_place(0);
    }
    if (n.op_type() == "GridSample" && n.input_size() > 1) {
        const BatchState g = state(n.input(1));
        if (g.extra && g.axis == 0 && shape(n.input(1), n)[0] == 1)
            replace_input(n, 1, extra_to_in_place(n.input(1), n.input(1) + "_in_place"));
    }
    if (s.extra && s.axis == 0) return n_first_merged(n);
    if (!s.batched || s.extra || s.axis != 0)
        refuse(n, "works on each sample of the leading (N) axis of its first input '" + n.input(0) + "' " +
                      ints_text(in0) + ", but the batch is " +
                      (s.extra ? "an axis the original does not have, at position " + std::to_string(s.axis) +
                                     " of the repaired tensor (the original dropped its batch axis before this node)"
                               : "at " + axis_text(s.axis) + " of it, not the leading axis") +
                      "; re-export with a dynamic batch, or keep the batch leading before this op");
    for (int i = 1; i < n.input_size(); ++i) {
        const BatchState si = state(n.input(i));
        if (n.op_type() == "GridSample" && i == 1 && si == BatchState::in_place(0)) continue;
        if (n.op_type() == "RoiAlign" && i >= 1) refuse(n, "its rois index items of the batch");
        if (si.batched)
            refuse(n, "input " + std::to_string(i) + " ('" + n.input(i) +
                          "') carries the batch: the batch is folded into a weight");
    }
    if (n.op_type() == "MaxPool" && n.output_size() > 1 && !n.output(1).empty())
        refuse(n, "its Indices output counts positions across the whole batch");
    set_state(n.output(0), BatchState::in_place(0));
    producer_[n.output(0)] = static_cast<int>(nodes_.size());
    nodes_.push_back(n);
}

// The original's leading axis of k samples is batch-1 x k merged (torch's deformable attention
// folds the batch into the heads: [bs * n_heads, C, H, W] before GridSample), and the repaired
// tensor holds it as [B, k, ...]. A per-sample op gives the same result on [B * k, ...]: merge
// the two axes before the op and split them after, both with constant Reshapes (-1 is B * k,
// then B).
void BatchTracer::n_first_merged(::onnx::NodeProto& n) {
    const std::vector<int64_t> in0 = shape(n.input(0), n);
    const int data_inputs = n.op_type() == "GridSample" ? 2 : 1;
    for (int i = 0; i < n.input_size(); ++i) {
        if (n.input(i).empty()) continue;
        BatchState si = state(n.input(i));
        if (i >= data_inputs) {
            if (si.batched)
                refuse(n, "input " + std::to_string(i) + " ('" + n.input(i) +
                              "') carries the batch: the batch is folded into a weight");
            continue;
        }
        const std::vector<int64_t> sh = shape(n.input(i), n);
        std::string x = n.input(i);
        if (!si.batched) {
            x = broadcast_to_batch(x, BatchState::extra_at(0), "input " + std::to_string(i) + " of " + node_label(n));
            si = BatchState::extra_at(0);
        }
        if (si != BatchState::extra_at(0) || sh.empty() || sh[0] != in0[0])
            refuse(n, "its first input '" + n.input(0) + "' " + ints_text(in0) +
                          " holds the batch merged with its leading axis, but input " + std::to_string(i) + " ('" +
                          n.input(i) + "') " + ints_text(sh) + " carries the batch " +
                          (si.extra ? "as an added axis at position " + std::to_string(si.axis)
                                    : "at " + axis_text(si.axis)) +
                          "; both must hold it the same way");
        std::vector<int64_t> merged = {-1};
        merged.insert(merged.end(), sh.begin() + 1, sh.end());
        const std::string m = fresh(n.input(i) + "_batch_merged");
        emit_node("Reshape", {x, add_const(merged, "merge_batch_shape")}, {m}, "Reshape");
        replace_input(n, i, m);
    }
    if (n.op_type() == "MaxPool" && n.output_size() > 1 && !n.output(1).empty())
        refuse(n, "its Indices output counts positions across the whole batch");
    const std::string out = n.output(0);
    const std::vector<int64_t> out_shape = shape(out, n);
    const std::string merged_out = fresh(out + "_batch_merged");
    n.set_output(0, merged_out);
    producer_[merged_out] = static_cast<int>(nodes_.size());
    nodes_.push_back(n);
    std::vector<int64_t> split = {-1};
    split.insert(split.end(), out_shape.begin(), out_shape.end());
    emit_node("Reshape", {merged_out, add_const(split, "split_batch_shape")}, {out}, "Reshape");
    set_state(out, BatchState::extra_at(0));
    result_.rewrites.push_back(node_label(n) + ": the batch is merged with its leading axis of " +
                               std::to_string(in0[0]) + " (Reshape to [batch * " + std::to_string(in0[0]) +
                               ", ...] before, back to [batch, " + std::to_string(in0[0]) + ", ...] after)");
}

void BatchTracer::rule_shape_of(::onnx::NodeProto& n) {
    // The original's value is a constant; a Shape of the batched tensor would report the batch
    // where the graph expects 1. Each consumer that shapes a batched tensor puts the batch back.
    std::vector<int64_t> v;
    if (auto known = const_ints(n.output(0))) {
        v = *known;
    } else {
        const std::vector<int64_t> s = shape(n.input(0), n);
        if (n.op_type() == "Size") {
            const auto size = dims_product(s.begin(), s.end());
            if (!size) refuse(n, "has input dims " + ints_text(s) + " whose product is negative or overflows");
            v = {*size};
        } else {
            const int r = static_cast<int>(s.size());
            int start = std::clamp(norm_axis(attr_int(n, "start", 0), r), 0, r);
            int end = std::clamp(norm_axis(attr_int(n, "end", r), r), 0, r);
            v.assign(s.begin() + start, s.begin() + std::max(start, end));
        }
    }
    const bool scalar = n.op_type() == "Size";
    result_.rewrites.push_back(node_label(n) + ": of batched '" + n.input(0) + "' -> the constant " + ints_text(v) +
                               " of the original (the batch is put back where a shape is used)");
    ::onnx::NodeProto c;
    c.set_op_type("Constant");
    c.set_name(n.name());
    c.add_output(n.output(0));
    auto* a = c.add_attribute();
    a->set_name("value");
    a->set_type(::onnx::AttributeProto::TENSOR);
    *a->mutable_t() = make_int64_tensor("", v, scalar ? std::optional<std::vector<int64_t>>(std::vector<int64_t>{}) : std::nullopt);
    values_[n.output(0)] = v;
    set_state(n.output(0), BatchState::none());
    producer_[n.output(0)] = static_cast<int>(nodes_.size());
    nodes_.push_back(c);
}

void BatchTracer::rule_reshape(::onnx::NodeProto& n) {
    const BatchState s = state(n.input(0));
    if (state(n.input(1)).batched) refuse(n, "its target shape depends on the batched values");
    auto target = const_ints(n.input(1));
    if (!target) refuse(n, "its target shape is computed at run time and is not known statically");
    const std::vector<int64_t> in = shape(n.input(0), n);
    const std::vector<int64_t> out = shape(n.output(0), n);
    // Items stay contiguous: the batch must land where the same number of elements precede it.
    const auto before_dims = dims_product(in.begin(), in.begin() + s.axis);
    const auto out_dims = dims_product(out.begin(), out.end());
    if (!before_dims || !out_dims)
        refuse(n, "reshapes " + ints_text(in) + " to " + ints_text(out) + ": a dim is negative or their product overflows");
    const int64_t before = *before_dims;
    int b = -1;
    bool extra = false;
    int64_t prod = 1;  // never overflows: a prefix of out, whose whole product fits
    for (int i = 0; i < static_cast<int>(out.size()); ++i) {
        if (prod == before && out[i] == 1) {
            b = i;
            break;
        }
        prod *= out[i];
    }
    if (b < 0) {
        prod = 1;
        for (int i = 0; i <= static_cast<int>(out.size()); ++i) {
            if (prod == before) {
                b = i;
                extra = true;
                break;
            }
            if (i < static_cast<int>(out.size())) prod *= out[i];
        }
    }
    if (b < 0)
        refuse(n, "reshapes " + ints_text(in) + " to " + ints_text(out) +
                      ", folding the batch axis into another axis; items would be mixed");
    std::vector<int64_t> fixed;
    const bool zeros = std::count(out.begin(), out.end(), 0) > 0;
    if (!s.extra && !extra && b == s.axis && attr_int(n, "allowzero", 0) == 0 &&
        ((*target)[b] == 1 || (*target)[b] == 0)) {
        fixed = *target;
        fixed[b] = 0;  // "copy the input's dim": exactly the batch
    } else if (!zeros) {
        fixed = out;
        if (extra) fixed.insert(fixed.begin() + b, -1);
        else fixed[b] = -1;  // the only unknown: total / the other dims = the batch
    }
    if (fixed != *target) {
        if (fixed.empty()) {
            const std::string shp = shape_with_batch(out, b, extra, "reshape_shape");
            result_.rewrites.push_back(node_label(n) + ": shape " + ints_text(*target) + " -> batch at " + axis_text(b) +
                                       " ++ the rest of " + ints_text(out));
            replace_input(n, 1, shp);
        } else {
            result_.rewrites.push_back(node_label(n) + ": shape " + ints_text(*target) + " -> " + ints_text(fixed));
            replace_input(n, 1, add_const(fixed, "reshape_shape"));
        }
    }
    set_state(n.output(0), extra ? BatchState::extra_at(b) : BatchState::in_place(b));
    producer_[n.output(0)] = static_cast<int>(nodes_.size());
    nodes_.push_back(n);
}

void BatchTracer::rule_flatten(::onnx::NodeProto& n) {
    const BatchState s = state(n.input(0));
    const std::vector<int64_t> in = shape(n.input(0), n);
    const int r = static_cast<int>(in.size());
    const int k = norm_axis(attr_int(n, "axis", 1), r);
    const auto outer_dims = dims_product(in.begin(), in.begin() + k);
    if (!outer_dims) refuse(n, "flattens " + ints_text(in) + ": a dim is negative or their product overflows");
    const int64_t outer = *outer_dims;
    if (s.axis > k || (!s.extra && s.axis == k) || outer != 1)
        refuse(n, "flattens " + ints_text(in) + " at " + axis_text(k) +
                      ", folding the batch axis into another axis; items would be mixed");
    if (s.extra) {
        set_attr_int(n, "axis", k + 1);
        result_.rewrites.push_back(node_label(n) + ": axis " + std::to_string(k) + " -> " + std::to_string(k + 1) +
                                   " (past the batch axis)");
    }
    set_state(n.output(0), BatchState::in_place(0));
    producer_[n.output(0)] = static_cast<int>(nodes_.size());
    nodes_.push_back(n);
}

void BatchTracer::rule_transpose(::onnx::NodeProto& n) {
    const BatchState s = state(n.input(0));
    const int r = rank(n.input(0), n);
    std::vector<int64_t> perm = attr_ints(n, "perm").value_or(std::vector<int64_t>{});
    if (perm.empty())
        for (int i = r - 1; i >= 0; --i) perm.push_back(i);
    if (!s.extra) {
        const int q = static_cast<int>(std::find(perm.begin(), perm.end(), s.axis) - perm.begin());
        set_state(n.output(0), BatchState::in_place(q));
    } else {
        std::vector<int64_t> p2 = {s.axis};
        for (int64_t x : perm) p2.push_back(x >= s.axis ? x + 1 : x);
        result_.rewrites.push_back(node_label(n) + ": perm " + ints_text(perm) + " -> " + ints_text(p2) +
                                   " (the batch axis leads)");
        set_attr_ints(n, "perm", p2);
        set_state(n.output(0), BatchState::extra_at(0));
    }
    producer_[n.output(0)] = static_cast<int>(nodes_.size());
    nodes_.push_back(n);
}

void BatchTracer::rule_concat(::onnx::NodeProto& n) {
    const int r = rank(n.output(0), n);
    const int k = norm_axis(attr_int(n, "axis", 0), r);
    // One batch state for all inputs; prefer in place (what the outputs need in the end).
    BatchState target;
    for (const auto& i : n.input()) {
        const BatchState s = state(i);
        if (s.batched && (!target.batched || (target.extra && !s.extra))) target = s;
    }
    for (int i = 0; i < n.input_size(); ++i) {
        const BatchState s = state(n.input(i));
        if (!s.batched || s == target) continue;
        if (!target.extra && s.extra && s.axis == target.axis && shape(n.input(i), n)[s.axis] == 1)
            replace_input(n, i, extra_to_in_place(n.input(i), n.input(i) + "_in_place"));
        else
            refuse(n, "its inputs carry the batch at different axes");
    }
    if (!target.extra && k == target.axis)
        refuse(n, "concatenates along the batch axis: each item's output would hold several batch-1 tensors");
    for (int i = 0; i < n.input_size(); ++i)
        if (!state(n.input(i)).batched)
            replace_input(n, i, broadcast_to_batch(n.input(i), target, "input of " + node_label(n)));
    if (target.extra && k >= target.axis) {
        set_attr_int(n, "axis", k + 1);
        result_.rewrites.push_back(node_label(n) + ": axis " + std::to_string(k) + " -> " + std::to_string(k + 1) +
                                   " (past the batch axis)");
    }
    set_state(n.output(0), target);
    producer_[n.output(0)] = static_cast<int>(nodes_.size());
    nodes_.push_back(n);
}

void BatchTracer::rule_split(::onnx::NodeProto& n) {
    const BatchState s = state(n.input(0));
    for (int i = 1; i < n.input_size(); ++i)
        if (state(n.input(i)).batched) refuse(n, "its split sizes depend on batched values");
    const int r = rank(n.input(0), n);
    const int k = norm_axis(attr_int(n, "axis", 0), r);
    if (!s.extra && k == s.axis) {
        if (n.output_size() != 1)
            refuse(n, "splits the batch axis into " + std::to_string(n.output_size()) + " parts");
        make_identity(n, "split sizes [1] along the batch axis (one part: the whole batch)");
    } else if (s.extra && k >= s.axis) {
        set_attr_int(n, "axis", k + 1);
        result_.rewrites.push_back(node_label(n) + ": axis " + std::to_string(k) + " -> " + std::to_string(k + 1) +
                                   " (past the batch axis)");
    }
    for (const auto& o : n.output())
        if (!o.empty()) set_state(o, s);
    const int idx = static_cast<int>(nodes_.size());
    for (const auto& o : n.output()) producer_[o] = idx;
    nodes_.push_back(n);
}

void BatchTracer::rule_slice(::onnx::NodeProto& n) {
    const BatchState s = state(n.input(0));
    for (int i = 1; i < n.input_size(); ++i)
        if (state(n.input(i)).batched) refuse(n, "its bounds depend on batched values");
    const int r = rank(n.input(0), n);
    auto starts = const_ints(n.input(1));
    auto ends = const_ints(n.input(2));
    if (!starts || !ends) refuse(n, "its bounds are computed at run time and are not known statically");
    std::vector<int64_t> axes;
    if (n.input_size() > 3 && !n.input(3).empty()) {
        auto a = const_ints(n.input(3));
        if (!a) refuse(n, "its axes are computed at run time");
        axes = *a;
    } else {
        for (int i = 0; i < static_cast<int>(starts->size()); ++i) axes.push_back(i);
    }
    std::vector<int64_t> steps(starts->size(), 1);
    if (n.input_size() > 4 && !n.input(4).empty()) {
        auto st = const_ints(n.input(4));
        if (!st) refuse(n, "its steps are computed at run time");
        steps = *st;
    }
    for (auto& a : axes) a = norm_axis(a, r);
    if (!s.extra) {
        for (std::size_t j = 0; j < axes.size(); ++j) {
            if (axes[j] != s.axis) continue;
            // On an axis of size 1: how many items does the original take?
            auto clampi = [](int64_t v, int64_t lo, int64_t hi) { return std::min(std::max(v, lo), hi); };
            int64_t st = (*starts)[j] < 0 ? (*starts)[j] + 1 : (*starts)[j];
            int64_t en = (*ends)[j] < 0 ? (*ends)[j] + 1 : (*ends)[j];
            int64_t count;
            if (steps[j] > 0) {
                st = clampi(st, 0, 1);
                en = clampi(en, 0, 1);
                count = en > st ? 1 : 0;
            } else {
                st = clampi(st, 0, 0);
                en = clampi(en, -1, 0);
                count = st > en ? 1 : 0;
            }
            if (count == 0) refuse(n, "takes no item of the batch axis");
            std::string before = ints_text({(*starts)[j], (*ends)[j], steps[j]});  // [start, end, step]
            if (steps[j] == 1) before = ints_text({(*starts)[j], (*ends)[j]});
            (*starts)[j] = 0;
            (*ends)[j] = INT64_MAX;
            steps[j] = 1;
            replace_input(n, 1, add_const(*starts, "slice_starts"));
            replace_input(n, 2, add_const(*ends, "slice_ends"));
            if (n.input_size() > 4 && !n.input(4).empty()) replace_input(n, 4, add_const(steps, "slice_steps"));
            result_.rewrites.push_back(node_label(n) + ": [start, end] " + before + " on the batch axis -> [0, INT64_MAX] (every item)");
        }
        set_state(n.output(0), s);
    } else {
        std::vector<int64_t> shifted = axes;
        for (auto& a : shifted)
            if (a >= s.axis) ++a;
        replace_input(n, 3, add_const(shifted, "slice_axes"));
        result_.rewrites.push_back(node_label(n) + ": axes " + ints_text(axes) + " -> " + ints_text(shifted) +
                                   " (past the batch axis)");
        set_state(n.output(0), s);
    }
    producer_[n.output(0)] = static_cast<int>(nodes_.size());
    nodes_.push_back(n);
}

void BatchTracer::rule_gather(::onnx::NodeProto& n) {
    const BatchState sd = state(n.input(0));
    const BatchState si = state(n.input(1));
    const int r = rank(n.input(0), n);
    const int k = norm_axis(attr_int(n, "axis", 0), r);
    const int q = rank(n.input(1), n);
    if (sd.batched && si.batched) refuse(n, "both data and indices carry the batch (that needs GatherND with batch_dims)");
    BatchState out;
    if (si.batched) {
        out = {true, k + si.axis, si.extra};
    } else if (!sd.extra && k == sd.axis) {
        auto idx = const_ints(n.input(1));
        if (!idx) refuse(n, "its indices along the batch axis are computed at run time");
        const bool item0 = std::all_of(idx->begin(), idx->end(), [](int64_t v) { return v == 0 || v == -1; });
        if (!item0 || idx->size() != 1 || q > 1)
            refuse(n, "gathers " + ints_text(*idx) + " along the batch axis; batchify handles taking item 0 only");
        make_identity(n, "index " + std::to_string((*idx)[0]) + " along the batch axis (item 0 of a batch of 1: every item)");
        out = q == 0 ? BatchState::extra_at(sd.axis) : BatchState::in_place(sd.axis);
    } else if (!sd.extra) {
        out = BatchState::in_place(sd.axis < k ? sd.axis : sd.axis - 1 + q);
    } else {
        const int k2 = k >= sd.axis ? k + 1 : k;
        if (k2 != k) {
            set_attr_int(n, "axis", k2);
            result_.rewrites.push_back(node_label(n) + ": axis " + std::to_string(k) + " -> " + std::to_string(k2) +
                                       " (past the batch axis)");
        }
        out = BatchState::extra_at(sd.axis < k2 ? sd.axis : sd.axis - 1 + q);
    }
    set_state(n.output(0), out);
    producer_[n.output(0)] = static_cast<int>(nodes_.size());
    nodes_.push_back(n);
}

void BatchTracer::rule_gather_elements(::onnx::NodeProto& n) {
    const int r = rank(n.input(0), n);
    const int k = norm_axis(attr_int(n, "axis", 0), r);
    for (int i = 0; i < 2; ++i) {
        const BatchState s = state(n.input(i));
        if (s.extra && shape(n.input(i), n)[s.axis] == 1)
            replace_input(n, i, extra_to_in_place(n.input(i), n.input(i) + "_in_place"));
    }
    BatchState target = state(n.input(0)).batched ? state(n.input(0)) : state(n.input(1));
    if (!target.extra && k == target.axis) refuse(n, "gathers along the batch axis");
    for (int i = 0; i < 2; ++i) {
        const BatchState s = state(n.input(i));
        if (s.batched && s != target) refuse(n, "data and indices carry the batch at different axes");
        if (!s.batched) replace_input(n, i, broadcast_to_batch(n.input(i), target, (i ? "indices of " : "data of ") + node_label(n)));
    }
    if (target.extra && k >= target.axis) {
        set_attr_int(n, "axis", k + 1);
        result_.rewrites.push_back(node_label(n) + ": axis " + std::to_string(k) + " -> " + std::to_string(k + 1) +
                                   " (past the batch axis)");
    }
    set_state(n.output(0), target);
    producer_[n.output(0)] = static_cast<int>(nodes_.size());
    nodes_.push_back(n);
}

void BatchTracer::rule_squeeze(::onnx::NodeProto& n) {
    const BatchState s = state(n.input(0));
    const std::vector<int64_t> in = shape(n.input(0), n);
    const int r = static_cast<int>(in.size());
    auto given = read_axes(n, 1, "axes");
    std::vector<int64_t> axes;
    if (given) axes = norm_axes(*given, r);
    else
        for (int i = 0; i < r; ++i)
            if (in[i] == 1) axes.push_back(i);
    if (!s.extra) {
        if (contains(axes, s.axis)) {
            std::vector<int64_t> kept;
            for (int64_t a : axes)
                if (a != s.axis) kept.push_back(a);
            const int at = s.axis - count_below(axes, s.axis);
            if (kept.empty()) {
                make_identity(n, "axes " + ints_text(axes) + " drop the batch axis");
            } else {
                write_axes(n, 1, "axes", 13, kept);
                result_.rewrites.push_back(node_label(n) + ": axes " + ints_text(axes) + " -> " + ints_text(kept) +
                                           " (keeps the batch axis)");
            }
            set_state(n.output(0), BatchState::extra_at(at));
        } else {
            if (!given) write_axes(n, 1, "axes", 13, axes);  // "all 1s" would include a batch of 1
            set_state(n.output(0), BatchState::in_place(s.axis - count_below(axes, s.axis)));
        }
    } else {
        std::vector<int64_t> shifted = axes;
        for (auto& a : shifted)
            if (a >= s.axis) ++a;
        write_axes(n, 1, "axes", 13, shifted);
        result_.rewrites.push_back(node_label(n) + ": axes " + ints_text(axes) + " -> " + ints_text(shifted) +
                                   " (past the batch axis)");
        set_state(n.output(0), BatchState::extra_at(s.axis - count_below(axes, s.axis)));
    }
    producer_[n.output(0)] = static_cast<int>(nodes_.size());
    nodes_.push_back(n);
}

void BatchTracer::rule_unsqueeze(::onnx::NodeProto& n) {
    const BatchState s = state(n.input(0));
    const int r = rank(n.input(0), n);
    auto given = read_axes(n, 1, "axes");
    if (!given) refuse(n, "has no axes");
    const int R = r + static_cast<int>(given->size());
    const std::vector<int64_t> axes = norm_axes(*given, R);
    // Where each input axis lands in the output.
    std::vector<int> pos;
    for (int j = 0; j < R; ++j)
        if (!contains(axes, j)) pos.push_back(j);
    if (!s.extra) {
        set_state(n.output(0), BatchState::in_place(pos[s.axis]));
    } else {
        const int q = s.axis == 0 ? 0 : pos[s.axis - 1] + 1;
        std::vector<int64_t> shifted = axes;
        for (auto& a : shifted)
            if (a >= q) ++a;
        write_axes(n, 1, "axes", 13, shifted);
        result_.rewrites.push_back(node_label(n) + ": axes " + ints_text(axes) + " -> " + ints_text(shifted) +
                                   " (past the batch axis)");
        set_state(n.output(0), BatchState::extra_at(q));
    }
    producer_[n.output(0)] = static_cast<int>(nodes_.size());
    nodes_.push_back(n);
}

void BatchTracer::rule_reduce(::onnx::NodeProto& n) {
    const BatchState s = state(n.input(0));
    const int r = rank(n.input(0), n);
    const bool axes_as_input = (n.op_type() == "ReduceSum" && opset_ >= 13) || opset_ >= 18;
    const int since = n.op_type() == "ReduceSum" ? 13 : 18;
    auto given = axes_as_input ? read_axes(n, 1, "axes") : attr_ints(n, "axes");
    const bool keep = attr_int(n, "keepdims", 1) != 0;
    std::vector<int64_t> axes;
    if (given && !given->empty()) axes = norm_axes(*given, r);
    else if (attr_int(n, "noop_with_empty_axes", 0) != 0) axes = {};
    else
        for (int i = 0; i < r; ++i) axes.push_back(i);
    auto write = [&](const std::vector<int64_t>& a) {
        if (axes_as_input) write_axes(n, 1, "axes", since, a);
        else set_attr_ints(n, "axes", a);
    };
    if (!s.extra) {
        if (contains(axes, s.axis)) {
            // A reduction over the batch of 1 is a per-item reduction: leave the batch out of it.
            std::vector<int64_t> kept;
            for (int64_t a : axes)
                if (a != s.axis) kept.push_back(a);
            if (kept.empty()) {
                static const std::set<std::string> same = {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd"};
                if (!same.count(n.op_type())) refuse(n, "reduces over the batch axis alone");
                make_identity(n, "reduction over the batch axis alone");
            } else {
                write(kept);
                result_.rewrites.push_back(node_label(n) + ": axes " + ints_text(axes) + " -> " + ints_text(kept) +
                                           " (per item, not over the batch)");
            }
            set_state(n.output(0), keep ? BatchState::in_place(s.axis)
                                        : BatchState::extra_at(s.axis - count_below(axes, s.axis)));
        } else {
            if (!given || given->empty()) write(axes);
            set_state(n.output(0), BatchState::in_place(keep ? s.axis : s.axis - count_below(axes, s.axis)));
        }
    } else {
        std::vector<int64_t> shifted = axes;
        for (auto& a : shifted)
            if (a >= s.axis) ++a;
        write(shifted);
        result_.rewrites.push_back(node_label(n) + ": axes " + ints_text(axes) + " -> " + ints_text(shifted) +
                                   " (past the batch axis)");
        set_state(n.output(0), BatchState::extra_at(keep ? s.axis : s.axis - count_below(axes, s.axis)));
    }
    producer_[n.output(0)] = static_cast<int>(nodes_.size());
    nodes_.push_back(n);
}

void BatchTracer::rule_axis_op(::onnx::NodeProto& n) {
    const BatchState s = state(n.input(0));
    for (int i = 1; i < n.input_size(); ++i)
        if (state(n.input(i)).batched) refuse(n, "input " + std::to_string(i) + " carries the batch");
    const std::string& op = n.op_type();
    const int r = rank(n.input(0), n);
    const bool old_softmax = (op == "Softmax" || op == "LogSoftmax" || op == "Hardmax") && opset_ < 13;
    int64_t fallback = (op == "ArgMax" || op == "ArgMin") ? 0 : (old_softmax ? 1 : -1);
    int k;
    if (op == "CumSum") {
        auto v = const_ints(n.input(1));
        if (!v || v->empty()) refuse(n, "its axis is computed at run time");
        k = norm_axis((*v)[0], r);
    } else {
        k = norm_axis(attr_int(n, "axis", fallback), r);
    }
    // LayerNormalization and the pre-13 softmaxes work on every axis from `axis` on.
    const bool from_axis = op == "LayerNormalization" || old_softmax;
    if (!s.extra && (k == s.axis || (from_axis && s.axis > k)))
        refuse(n, "works along the batch axis (" + axis_text(k) + ")");
    if (s.extra && k >= s.axis) {
        if (op == "CumSum") replace_input(n, 1, add_scalar_or_vector({k + 1}, true, "cumsum_axis"));
        else set_attr_int(n, "axis", k + 1);
        result_.rewrites.push_back(node_label(n) + ": axis " + std::to_string(k) + " -> " + std::to_string(k + 1) +
                                   " (past the batch axis)");
    }
    BatchState out = s;
    if ((op == "ArgMax" || op == "ArgMin") && attr_int(n, "keepdims", 1) == 0 && k < s.axis)
        out.axis -= 1;
    const int idx = static_cast<int>(nodes_.size());
    for (const auto& o : n.output())
        if (!o.empty()) {
            set_state(o, (op == "LayerNormalization" && o != n.output(0)) ? s : out);
            producer_[o] = idx;
        }
    nodes_.push_back(n);
}

void BatchTracer::rule_matmul(::onnx::NodeProto& n) {
    for (int i = 2; i < n.input_size(); ++i)
        if (state(n.input(i)).batched) refuse(n, "its zero point carries the batch");
    const BatchState sa = state(n.input(0)), sb = state(n.input(1));
    const int ra = rank(n.input(0), n) + (sa.extra ? 1 : 0);
    const int rb = rank(n.input(1), n) + (sb.extra ? 1 : 0);
    const int R = (rb == 1) ? ra - 1 : (ra == 1 ? rb - 1 : std::max(ra, rb));
    int pos = -1;
    if (sa.batched) {
        if (sa.axis == ra - 1) refuse(n, "the batch axis of input A ('" + n.input(0) + "') is the contracted (K) axis: items would be summed together");
        if (rb == 1) pos = sa.axis;  // the output is A without its last axis
        else if (sa.axis == ra - 2) pos = R - 2;
        else pos = sa.axis + (R - ra);
    }
    if (sb.batched) {
        if (rb == 1 || sb.axis == rb - 2)
            refuse(n, "the batch axis of input B ('" + n.input(1) + "') is the contracted (K) axis: items would be summed together");
        const int pb = sb.axis == rb - 1 ? R - 1 : (ra == 1 ? sb.axis : sb.axis + (R - rb));
        if (sa.batched && (pb != pos || sb.axis >= rb - 2 || sa.axis >= ra - 2))
            refuse(n, "both inputs carry the batch on different roles (a batched weight)");
        pos = pb;
    }
    // An unbatched operand's broadcast (stack) dims must not meet the batch with a size > 1.
    for (int i = 0; i < 2; ++i) {
        const BatchState s = i ? sb : sa;
        if (s.batched) continue;
        const std::vector<int64_t> sh = shape(n.input(i), n);
        const int ri = static_cast<int>(sh.size());
        if (ri <= 2) continue;
        const int at = pos - (R - ri);
        if (at >= 0 && at < ri - 2 && sh[at] != 1)
            refuse(n, "input '" + n.input(i) + "' " + ints_text(sh) + " meets the batch axis with size " +
                          std::to_string(sh[at]));
    }
    const int orig_rank = rank(n.output(0), n);
    BatchState out;
    if (R == orig_rank) {
        if (shape(n.output(0), n)[pos] != 1) refuse(n, "its output has size > 1 at the batch axis");
        out = BatchState::in_place(pos);
    } else {
        out = BatchState::extra_at(pos);
    }
    set_state(n.output(0), out);
    producer_[n.output(0)] = static_cast<int>(nodes_.size());
    nodes_.push_back(n);
}

void BatchTracer::rule_gemm(::onnx::NodeProto& n) {
    const BatchState sa = state(n.input(0)), sb = state(n.input(1));
    if (sa.extra || sb.extra) return gemm_as_matmul(n);
    if (n.input_size() > 2 && state(n.input(2)).batched) refuse(n, "its bias C carries the batch");
    const bool ta = attr_int(n, "transA", 0) != 0, tb = attr_int(n, "transB", 0) != 0;
    int pos;
    if (sa.batched && sb.batched) refuse(n, "both A and B carry the batch (a batched weight)");
    if (sa.batched) {
        if (sa.axis != (ta ? 1 : 0)) refuse(n, "the batch axis of A is the contracted (K) axis: items would be summed together");
        pos = 0;
    } else {
        if (sb.axis != (tb ? 0 : 1)) refuse(n, "the batch axis of B is the contracted (K) axis: items would be summed together");
        pos = 1;
    }
    if (n.input_size() > 2 && !n.input(2).empty()) {
        const std::vector<int64_t> c = shape(n.input(2), n);
        const int at = pos - (2 - static_cast<int>(c.size()));
        if (at >= 0 && c[at] != 1) refuse(n, "its bias C " + ints_text(c) + " meets the batch axis with size " + std::to_string(c[at]));
    }
    set_state(n.output(0), BatchState::in_place(pos));
    producer_[n.output(0)] = static_cast<int>(nodes_.size());
    nodes_.push_back(n);
}

// Gemm is 2-D only (https://onnx.ai/onnx/operators/onnx__Gemm.html). When the batch is an
// extra axis of A (torch flattened [L, 1, E] to [L, E] before a Linear), the rows of every item
// go through the same Gemm: A is flattened to [rows, K] and the product reshaped back. Keeping
// the Gemm (not MatMul + Add) keeps its rounding: the bias is accumulated the same way as in
// the original, so each row is bit for bit the original's.
void BatchTracer::gemm_as_matmul(::onnx::NodeProto& n) {
    const BatchState sa = state(n.input(0)), sb = state(n.input(1));
    if (sb.batched)
        refuse(n, "its input B ('" + n.input(1) +
                      "') carries the batch: a weight that differs per item cannot be "
                      "rewritten; re-export with a dynamic batch");
    if (n.input_size() > 2 && state(n.input(2)).batched)
        refuse(n, "its bias C ('" + n.input(2) + "') carries the batch");
    if (attr_int(n, "transA", 0) != 0)
        refuse(n,
               "has transA=1 on an input whose batch is an extra axis; batchify handles transA=0 Gemms (what "
               "torch.nn.Linear exports); re-export with a dynamic batch");
    const std::vector<int64_t> a = shape(n.input(0), n);
    const std::vector<int64_t> out = shape(n.output(0), n);
    if (sa.axis >= 2 || a.size() != 2 || out.size() != 2)
        refuse(n, "the batch of A ('" + n.input(0) + "') is an extra axis after its contracted (K) axis");
    const std::string flat = fresh(n.input(0) + "_rows");
    emit_node("Reshape", {n.input(0), add_const({-1, a[1]}, "gemm_rows_shape")}, {flat}, "Reshape");
    const std::string product = fresh(n.output(0) + "_rows");
    const std::string result = n.output(0);
    n.set_input(0, flat);
    n.set_output(0, product);
    producer_[product] = static_cast<int>(nodes_.size());
    nodes_.push_back(n);
    std::vector<int64_t> back = out;
    back.insert(back.begin() + sa.axis, -1);
    emit_node("Reshape", {product, add_const(back, "gemm_result_shape")}, {result}, "Reshape");
    set_state(result, BatchState::extra_at(sa.axis));
    result_.rewrites.push_back(node_label(n) + ": A " + ints_text(a) + " with the batch as an extra " +
                               axis_text(sa.axis) + " -> rows [-1, " + std::to_string(a[1]) + "], result -> " +
                               ints_text(back) + " (Gemm is 2-D)");
}

void BatchTracer::rule_expand(::onnx::NodeProto& n) {
    const BatchState s = state(n.input(0));
    if (state(n.input(1)).batched) refuse(n, "its shape depends on batched values");
    auto e = const_ints(n.input(1));
    if (!e) refuse(n, "its shape is computed at run time and is not known statically");
    const int r = rank(n.input(0), n);
    const int L = static_cast<int>(e->size());
    const int R = std::max(r, L);
    if (!s.extra) {
        const int P = s.axis + R - r;
        const int at = P - (R - L);
        if (at >= 0 && (*e)[at] > 1) refuse(n, "expands the batch of 1 to " + std::to_string((*e)[at]));
        set_state(n.output(0), BatchState::in_place(P));
    } else {
        const int at = s.axis + L - r;
        if (at >= 0) {
            std::vector<int64_t> e2 = *e;
            e2.insert(e2.begin() + at, 1);
            replace_input(n, 1, add_const(e2, "expand_shape"));
            result_.rewrites.push_back(node_label(n) + ": shape " + ints_text(*e) + " -> " + ints_text(e2) +
                                       " (1 keeps the batch axis)");
        }
        set_state(n.output(0), BatchState::extra_at(s.axis + R - r));
    }
    producer_[n.output(0)] = static_cast<int>(nodes_.size());
    nodes_.push_back(n);
}

void BatchTracer::rule_tile(::onnx::NodeProto& n) {
    const BatchState s = state(n.input(0));
    if (state(n.input(1)).batched) refuse(n, "its repeats depend on batched values");
    auto rep = const_ints(n.input(1));
    if (!rep) refuse(n, "its repeats are computed at run time and are not known statically");
    if (!s.extra) {
        if ((*rep)[s.axis] != 1) refuse(n, "repeats the batch axis " + std::to_string((*rep)[s.axis]) + " times");
    } else {
        std::vector<int64_t> r2 = *rep;
        r2.insert(r2.begin() + s.axis, 1);
        replace_input(n, 1, add_const(r2, "tile_repeats"));
        result_.rewrites.push_back(node_label(n) + ": repeats " + ints_text(*rep) + " -> " + ints_text(r2) +
                                   " (1 keeps the batch axis)");
    }
    set_state(n.output(0), s);
    producer_[n.output(0)] = static_cast<int>(nodes_.size());
    nodes_.push_back(n);
}

void BatchTracer::rule_resize(::onnx::NodeProto& n) {
    BatchState s = state(n.input(0));
    if (s.extra && shape(n.input(0), n)[s.axis] == 1) {
        replace_input(n, 0, extra_to_in_place(n.input(0), n.input(0) + "_in_place"));
        s = BatchState::in_place(s.axis);
    }
    if (s.extra) refuse(n, "its batch axis is one the original does not have");
    for (int i = 1; i < n.input_size(); ++i)
        if (state(n.input(i)).batched) refuse(n, "its roi/scales/sizes depend on batched values");
    const bool v10 = n.op_type() == "Upsample" || opset_ < 11;
    const int scales_in = v10 ? 1 : 2, sizes_in = 3;
    if (n.input_size() > sizes_in && !n.input(sizes_in).empty()) {
        auto sz = const_ints(n.input(sizes_in));
        if (!sz) refuse(n, "its output sizes are computed at run time and are not known statically");
        std::vector<int64_t> axes = attr_ints(n, "axes").value_or(std::vector<int64_t>{});
        int at = s.axis;
        if (!axes.empty()) {
            axes = norm_axes(axes, rank(n.input(0), n));
            auto it = std::find(axes.begin(), axes.end(), s.axis);
            at = it == axes.end() ? -1 : static_cast<int>(it - axes.begin());
        }
        if (at >= 0) {
            if ((*sz)[at] != 1) refuse(n, "resizes the batch axis to " + std::to_string((*sz)[at]));
            replace_input(n, sizes_in, shape_with_batch(*sz, at, false, "resize_sizes"));
            result_.rewrites.push_back(node_label(n) + ": sizes " + ints_text(*sz) + " -> the batch at " + axis_text(at));
        }
    } else if (n.input_size() > scales_in && !n.input(scales_in).empty()) {
        // Float scales; a scale of 1 on the batch axis keeps it. Anything else is refused by
        // ONNX Runtime itself at verification, with its own message.
    }
    set_state(n.output(0), s);
    producer_[n.output(0)] = static_cast<int>(nodes_.size());
    nodes_.push_back(n);
}

void BatchTracer::rule_pad(::onnx::NodeProto& n) {
    const BatchState s = state(n.input(0));
    for (int i = 1; i < n.input_size(); ++i)
        if (state(n.input(i)).batched) refuse(n, "its pads depend on batched values");
    const int r = rank(n.input(0), n);
    auto pads = const_ints(n.input(1));
    if (!pads)
        refuse(n,
               "its pads are computed at run time and ONNX Runtime's constant folding could not make them a "
               "constant (they depend on the input's values, or folding was off); batchify needs constant pads "
               "to keep the batch axis unpadded: re-export with a dynamic batch");
    const bool has_axes = n.input_size() > 3 && !n.input(3).empty();
    std::vector<int64_t> axes;
    if (has_axes) {
        auto a = const_ints(n.input(3));
        if (!a) refuse(n, "its axes are computed at run time");
        axes = norm_axes(*a, r);
    } else {
        for (int i = 0; i < r; ++i) axes.push_back(i);
    }
    const int m = static_cast<int>(axes.size());
    if (!s.extra) {
        for (int j = 0; j < m; ++j)
            if (axes[j] == s.axis && ((*pads)[j] != 0 || (*pads)[j + m] != 0)) refuse(n, "pads the batch axis");
    } else if (has_axes) {
        std::vector<int64_t> shifted = axes;
        for (auto& a : shifted)
            if (a >= s.axis) ++a;
        replace_input(n, 3, add_const(shifted, "pad_axes"));
    } else {
        std::vector<int64_t> p2(pads->begin(), pads->begin() + m);
        p2.insert(p2.begin() + s.axis, 0);
        std::vector<int64_t> ends(pads->begin() + m, pads->end());
        ends.insert(ends.begin() + s.axis, 0);
        p2.insert(p2.end(), ends.begin(), ends.end());
        replace_input(n, 1, add_const(p2, "pads"));
    }
    set_state(n.output(0), s);
    producer_[n.output(0)] = static_cast<int>(nodes_.size());
    nodes_.push_back(n);
}

}  // namespace tiledet::onnx_detail
