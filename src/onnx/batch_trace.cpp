// The tracer's frame: facts about the original graph (static shapes from ONNX shape inference,
// small integer values), building blocks for the repaired graph, and the graph outputs. The op
// rules live in trace_rules.cpp.
#include "batch_trace.hpp"

#include <algorithm>
#include <queue>
#include <unordered_set>

#include <onnx/shape_inference/implementation.h>

#include "proto_util.hpp"

namespace tiledet::onnx_detail {

BatchTracer::BatchTracer(::onnx::ModelProto& model, std::string batch_name)
    : model_(model), graph_(*model.mutable_graph()), batch_name_(std::move(batch_name)), opset_(default_opset(model)) {
    // Shapes and small shape values of the original (static) graph, from ONNX's own inference
    // on a copy, so the model we return carries no annotations we did not choose.
    ::onnx::ModelProto copy = model;
    std::unordered_map<std::string, ::onnx::TensorShapeProto> data;
    // ONNX's shape inference dereferences null on a graph whose nodes read a value that no
    // earlier node, input or initializer makes (SEGV in libonnx, found by fuzz_batchify), so it
    // runs only on a topologically sorted graph; otherwise shapes stay unknown and are refused
    // where needed.
    bool sorted = true;
    {
        std::unordered_set<std::string> known;
        for (const auto& v : copy.graph().input()) known.insert(v.name());
        for (const auto& t : copy.graph().initializer()) known.insert(t.name());
        for (const auto& n : copy.graph().node()) {
            for (const auto& i : n.input())
                if (!i.empty() && !known.count(i)) sorted = false;
            for (const auto& o : n.output()) known.insert(o);
        }
    }
    try {
        ::onnx::ShapeInferenceOptions opts(false, 0, true);
        if (sorted) ::onnx::shape_inference::InferShapes(copy, ::onnx::OpSchemaRegistry::Instance(), opts, &data);
    } catch (const std::exception&) {
        // Partial results are still in `copy`; what stays unknown is refused where needed.
    }
    auto take = [&](const ::onnx::ValueInfoProto& v) {
        if (auto d = value_dims(v)) shapes_[v.name()] = *d;
    };
    for (const auto& v : copy.graph().input()) take(v);
    for (const auto& v : copy.graph().output()) take(v);
    for (const auto& v : copy.graph().value_info()) take(v);
    for (const auto& t : graph_.initializer()) {
        shapes_[t.name()] = std::vector<int64_t>(t.dims().begin(), t.dims().end());
        if (auto v = int_values(t)) values_[t.name()] = *v;
    }
    for (const auto& n : graph_.node()) {
        if (n.op_type() != "Constant" || n.output_size() != 1) continue;
        for (const auto& a : n.attribute()) {
            if (a.name() == "value" && a.has_t()) {
                shapes_[n.output(0)] = std::vector<int64_t>(a.t().dims().begin(), a.t().dims().end());
                if (auto v = int_values(a.t())) values_[n.output(0)] = *v;
            } else if (a.name() == "value_ints") {
                values_[n.output(0)] = std::vector<int64_t>(a.ints().begin(), a.ints().end());
                shapes_[n.output(0)] = {a.ints_size()};
            } else if (a.name() == "value_int") {
                values_[n.output(0)] = {a.i()};
                shapes_[n.output(0)] = {};
            }
        }
    }
    for (const auto& [name, sp] : data) {
        std::vector<int64_t> v;
        bool known = true;
        for (const auto& d : sp.dim()) {
            if (!d.has_dim_value()) known = false;
            v.push_back(d.dim_value());
        }
        if (known && !values_.count(name)) values_[name] = v;
    }
    for (const auto& t : graph_.initializer()) names_.insert(t.name());
    for (const auto& n : graph_.node()) {
        for (const auto& i : n.input()) {
            names_.insert(i);
            if (!i.empty()) ++users_[i];
        }
        for (const auto& o : n.output()) names_.insert(o);
    }
    for (const auto& o : graph_.output()) ++users_[o.name()];
}

BatchState BatchTracer::state(const std::string& name) const {
    auto it = states_.find(name);
    return it == states_.end() ? BatchState::none() : it->second;
}

const std::vector<int64_t>& BatchTracer::shape(const std::string& name, const ::onnx::NodeProto& user) {
    auto it = shapes_.find(name);
    if (it == shapes_.end() || std::any_of(it->second.begin(), it->second.end(), [](int64_t d) { return d < 0; }))
        refuse(user, "the shape of '" + name +
                         "' is not known statically (ONNX shape inference could not infer it), so the batch axis "
                         "cannot be traced through it");
    return it->second;
}

std::optional<std::vector<int64_t>> BatchTracer::const_ints(const std::string& name) const {
    if (name.empty()) return std::nullopt;
    auto it = values_.find(name);
    if (it == values_.end()) return std::nullopt;
    return it->second;
}

void BatchTracer::refuse(const ::onnx::NodeProto& n, const std::string& why) const {
    throw Refused(node_label(n) + ": " + why);
}

std::string BatchTracer::fresh(const std::string& hint) {
    for (int k = 0;; ++k) {
        // Appended piece by piece: GCC 12's -Wrestrict misfires on "literal" + std::string&&.
        std::string s = "batchify/";
        s += hint;
        if (k) s += "_" + std::to_string(k);
        if (names_.insert(s).second) return s;
    }
}

std::string BatchTracer::add_const(const std::vector<int64_t>& values, const std::string& hint) {
    return add_scalar_or_vector(values, false, hint);
}

std::string BatchTracer::add_scalar_or_vector(const std::vector<int64_t>& values, bool scalar, const std::string& hint) {
    const std::string name = fresh(hint);
    *graph_.add_initializer() = make_int64_tensor(name, values, scalar ? std::optional<std::vector<int64_t>>(std::vector<int64_t>{})
                                                                       : std::nullopt);
    values_[name] = values;
    shapes_[name] = scalar ? std::vector<int64_t>{} : std::vector<int64_t>{static_cast<int64_t>(values.size())};
    return name;
}

::onnx::NodeProto& BatchTracer::emit_node(const std::string& op, const std::vector<std::string>& inputs,
                                          const std::vector<std::string>& outputs, const std::string& hint) {
    ::onnx::NodeProto n;
    n.set_op_type(op);
    n.set_name(fresh(hint));
    for (const auto& i : inputs) n.add_input(i);
    for (const auto& o : outputs) {
        n.add_output(o);
        producer_[o] = static_cast<int>(nodes_.size());
    }
    nodes_.push_back(std::move(n));
    return nodes_.back();
}

std::string BatchTracer::batch_size_1d() {
    if (!batch_1d_.empty()) return batch_1d_;
    const std::string shp = fresh("input_shape");
    batch_1d_ = fresh("batch_size");
    ::onnx::NodeProto s;
    s.set_op_type("Shape");
    s.set_name(fresh("Shape"));
    s.add_input(first_input_);
    s.add_output(shp);
    ::onnx::NodeProto sl;
    sl.set_op_type("Slice");
    sl.set_name(fresh("Slice"));
    sl.add_input(shp);
    sl.add_input(add_const({0}, "zero"));
    sl.add_input(add_const({1}, "one"));
    sl.add_output(batch_1d_);
    prologue_.push_back(s);
    prologue_.push_back(sl);
    return batch_1d_;
}

std::string BatchTracer::shape_with_batch(std::vector<int64_t> values, int pos, bool insert, const std::string& hint) {
    std::vector<int64_t> before(values.begin(), values.begin() + pos);
    std::vector<int64_t> after(values.begin() + pos + (insert ? 0 : 1), values.end());
    std::vector<std::string> parts;
    if (!before.empty()) parts.push_back(add_const(before, hint + "_before_batch"));
    parts.push_back(batch_size_1d());
    if (!after.empty()) parts.push_back(add_const(after, hint + "_after_batch"));
    if (parts.size() == 1) return parts[0];
    const std::string out = fresh(hint);
    auto& n = emit_node("Concat", parts, {out}, "Concat");
    set_attr_int(n, "axis", 0);
    return out;
}

void BatchTracer::rename_outputs(const std::string& from, const std::string& to) {
    for (auto& n : nodes_)
        for (auto& o : *n.mutable_output())
            if (o == from) o = to;
}

// The node producing graph output `name` now produces `hidden` instead, and its readers read
// `hidden`, so a fixed-up value can take the output's name.
void BatchTracer::hide_graph_output(const std::string& name, const std::string& hidden) {
    rename_outputs(name, hidden);
    for (auto& n : nodes_)
        for (auto& i : *n.mutable_input())
            if (i == name) i = hidden;
}

// Squeeze and Unsqueeze take their axes as an input from opset 13 on, as an attribute before.
std::string BatchTracer::emit_axes_op(const std::string& op, const std::string& x, const std::vector<int64_t>& axes,
                                      const std::string& hint) {
    const std::string out = fresh(hint);
    if (opset_ >= 13) {
        emit_node(op, {x, add_const(axes, "axes")}, {out}, op);
    } else {
        auto& n = emit_node(op, {x}, {out}, op);
        set_attr_ints(n, "axes", axes);
    }
    return out;
}

std::string BatchTracer::emit_squeeze(const std::string& x, const std::vector<int64_t>& axes, const std::string& hint) {
    return emit_axes_op("Squeeze", x, axes, hint);
}

std::string BatchTracer::emit_unsqueeze(const std::string& x, const std::vector<int64_t>& axes, const std::string& hint) {
    return emit_axes_op("Unsqueeze", x, axes, hint);
}

std::string BatchTracer::extra_to_in_place(const std::string& x, const std::string& hint) {
    const BatchState s = state(x);
    const std::string out = emit_squeeze(x, {s.axis + 1}, hint);
    shapes_[out] = shapes_[x];
    set_state(out, BatchState::in_place(s.axis));
    return out;
}

std::string BatchTracer::to_extra_leading(const std::string& x, const std::string& hint) {
    const BatchState s = state(x);
    if (s == BatchState::extra_at(0)) return x;
    ::onnx::NodeProto label;
    label.set_op_type("(value)");
    label.set_name(x);
    const std::vector<int64_t> orig = shape(x, label);
    const int r = static_cast<int>(orig.size()) + (s.extra ? 1 : 0);  // rank of the repaired tensor
    std::vector<int64_t> perm = {s.axis};
    for (int i = 0; i < r; ++i)
        if (i != s.axis) perm.push_back(i);
    std::string out = fresh(hint);
    auto& t = emit_node("Transpose", {x}, {out}, "Transpose");
    set_attr_ints(t, "perm", perm);
    if (!s.extra) out = emit_unsqueeze(out, {s.axis + 1}, hint + "_unsqueezed");  // the original's 1 stays
    shapes_[out] = orig;
    set_state(out, BatchState::extra_at(0));
    return out;
}

std::string BatchTracer::broadcast_to_batch(const std::string& x, BatchState target, const std::string& why) {
    ::onnx::NodeProto dummy;
    dummy.set_op_type("(output)");
    dummy.set_name(x);
    const std::vector<int64_t> s = shape(x, dummy);
    const int r = static_cast<int>(s.size());
    if (!target.extra && (target.axis >= r || s[target.axis] != 1))
        throw Refused(why + ": '" + x + "' " + ints_text(s) + " has no dim of 1 at axis " + std::to_string(target.axis) +
                      " to carry the batch");

    // A constant-shaped ConstantOfShape / Expand / Tile whose only user is here: put the batch
    // into its shape, which is what an exporter with a dynamic batch would have written.
    auto p = producer_.find(x);
    if (p != producer_.end() && users_[x] == 1) {
        const int at = p->second;  // an index: emitting nodes below may move nodes_
        const std::string op = nodes_[at].op_type();
        const ::onnx::NodeProto& prod = nodes_[at];
        const int shape_input = (op == "ConstantOfShape") ? 0 : 1;
        std::optional<std::vector<int64_t>> vals;
        if ((op == "ConstantOfShape" || op == "Expand" || op == "Tile") && prod.input_size() > shape_input)
            vals = const_ints(prod.input(shape_input));
        if (vals && static_cast<int>(vals->size()) == r) {
            const bool tile = op == "Tile";
            const bool ok_in_place = !target.extra && (*vals)[target.axis] == 1;
            const bool ok_extra = target.extra && !tile &&
                                  (op == "ConstantOfShape" || target.axis <= r - rank(prod.input(0), prod));
            if (ok_in_place || ok_extra) {
                const std::string shp = shape_with_batch(*vals, target.axis, target.extra, "batched_shape");
                const std::string before = ints_text(*vals);
                replace_input(nodes_[at], shape_input, shp);
                std::vector<std::string> shown;
                for (int i = 0; i < static_cast<int>(vals->size()); ++i) {
                    if (i == target.axis) shown.push_back("batch");
                    if (i != target.axis || target.extra) shown.push_back(std::to_string((*vals)[i]));
                }
                if (target.extra && target.axis == r) shown.push_back("batch");
                std::string after = "[";
                for (std::size_t i = 0; i < shown.size(); ++i) after += (i ? ", " : "") + shown[i];
                result_.rewrites.push_back(node_label(nodes_[at]) + ": " + (tile ? "repeats " : "shape ") + before + " -> " +
                                           after + "]  (" + why + ")");
                set_state(x, target);
                return x;
            }
        }
    }

    // Otherwise expand the value along a new or size-1 batch axis.
    std::string src = x;
    int rr = r;
    if (target.extra && target.axis > 0) {
        src = emit_unsqueeze(x, {target.axis}, "unsqueeze_for_batch");
        rr = r + 1;
    }
    std::vector<int64_t> ones(static_cast<std::size_t>(target.extra && target.axis == 0 ? r : rr), 1);
    const std::string shp = shape_with_batch(ones, target.axis, target.extra && target.axis == 0, "expand_shape");
    const std::string out = fresh(x + "_batched");
    emit_node("Expand", {src, shp}, {out}, "Expand");
    shapes_[out] = s;
    set_state(out, target);
    result_.rewrites.push_back("'" + x + "' " + ints_text(s) + " does not follow the batch: Expand to the batch (" + why + ")");
    return out;
}

std::optional<std::vector<int64_t>> BatchTracer::read_axes(const ::onnx::NodeProto& n, int input_index, const char* attr) {
    if (n.input_size() > input_index && !n.input(input_index).empty()) {
        auto v = const_ints(n.input(input_index));
        if (!v) refuse(n, std::string("its ") + attr + " are computed at run time; batchify needs them constant");
        return v;
    }
    return attr_ints(n, attr);
}

void BatchTracer::write_axes(::onnx::NodeProto& n, int input_index, const char* attr, int since_opset,
                             const std::vector<int64_t>& axes) {
    if (opset_ >= since_opset) {
        replace_input(n, input_index, add_const(axes, attr));
        remove_attr(n, attr);
    } else {
        set_attr_ints(n, attr, axes);
    }
}

void BatchTracer::replace_input(::onnx::NodeProto& n, int index, const std::string& name) {
    while (n.input_size() <= index) n.add_input("");
    n.set_input(index, name);
}

void BatchTracer::make_identity(::onnx::NodeProto& n, const std::string& why) {
    result_.rewrites.push_back(node_label(n) + ": " + why + " -> Identity");
    const std::string in = n.input(0);
    const std::string out = n.output(0);
    const std::string name = n.name();
    n.Clear();
    n.set_op_type("Identity");
    n.set_name(name);
    n.add_input(in);
    n.add_output(out);
}

void BatchTracer::finish_outputs() {
    for (auto& out : *graph_.mutable_output()) {
        const std::string name = out.name();
        ::onnx::NodeProto label;
        label.set_op_type("graph output");
        label.set_name(name);
        const std::vector<int64_t> s = shape(name, label);
        BatchState st = state(name);
        if (!st.batched || (st.extra && !s.empty() && s[st.axis] == 1 && st.axis == 0)) {
            // Build the batched value under a private name, then give it the output's name.
            const std::string hidden = fresh(name + "_per_item");
            auto p = producer_.find(name);
            if (p == producer_.end() && !st.batched) {
                // A constant output (an initializer, e.g. after folding): a renamed copy of it is
                // expanded to the batch under the output's name.
                auto* inits = graph_.mutable_initializer();
                auto it = std::find_if(inits->begin(), inits->end(), [&](const auto& t) { return t.name() == name; });
                if (it == inits->end()) refuse(label, "is not computed by any node; it cannot gain a batch axis");
                it->set_name(hidden);
                for (auto& n : nodes_)
                    for (auto& i : *n.mutable_input())
                        if (i == name) i = hidden;
                shapes_[hidden] = s;
                const BatchState target = (!s.empty() && s[0] == 1) ? BatchState::in_place(0) : BatchState::extra_at(0);
                rename_outputs(broadcast_to_batch(hidden, target, "graph output '" + name + "'"), name);
                st = target;
                goto declared;
            }
            if (p == producer_.end()) refuse(label, "is not computed by any node; it cannot gain a batch axis");
            std::string fixed;
            if (!st.batched) {
                // Only the output uses it: rewriting its producer keeps the name.
                const BatchState target = (!s.empty() && s[0] == 1) ? BatchState::in_place(0) : BatchState::extra_at(0);
                const std::string got = broadcast_to_batch(name, target, "graph output '" + name + "'");
                if (got == name) {
                    st = target;
                    goto declared;
                }
                // An Expand was added reading `name`: make its result the output.
                hide_graph_output(name, hidden);
                rename_outputs(got, name);
                states_[hidden] = states_[name];
                st = target;
            } else {
                hide_graph_output(name, hidden);
                shapes_[hidden] = s;
                set_state(hidden, st);
                fixed = extra_to_in_place(hidden, name + "_squeezed");
                for (auto& o : *nodes_.back().mutable_output())
                    if (o == fixed) o = name;
                st = BatchState::in_place(0);
            }
        }
    declared:
        set_state(name, st);
        if (st.axis != 0)
            refuse(label, "carries the batch at axis " + std::to_string(st.axis) +
                              ", not at its leading axis; batchify keeps the batch leading on every output");
        auto* shp = out.mutable_type()->mutable_tensor_type()->mutable_shape();
        if (st.extra) {
            ::onnx::TensorShapeProto fresh_shape;
            fresh_shape.add_dim()->set_dim_param(batch_name_);
            for (const auto& d : shp->dim()) *fresh_shape.add_dim() = d;
            *shp = fresh_shape;
            result_.notes.push_back("output '" + name + "' " + ints_text(s) + " had no batch axis; it gains a leading one: [" +
                                    batch_name_ + (s.empty() ? "" : ", " + ints_text(s).substr(1)));
        } else {
            shp->mutable_dim(0)->clear_dim_value();
            shp->mutable_dim(0)->set_dim_param(batch_name_);
        }
    }
}

TraceResult BatchTracer::run() {
    if (opset_ < 11)
        throw Refused("the model imports opset " + std::to_string(opset_) +
                      "; batchify handles opset 11 and later (re-export, or convert with onnx.version_converter)");
    std::set<std::string> inits;
    for (const auto& t : graph_.initializer()) inits.insert(t.name());
    for (auto& in : *graph_.mutable_input()) {
        if (inits.count(in.name())) continue;
        if (first_input_.empty()) first_input_ = in.name();
        set_state(in.name(), BatchState::in_place(0));
        auto* d = in.mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0);
        d->clear_dim_value();
        d->set_dim_param(batch_name_);
    }
    for (const auto& n : graph_.node()) visit(n);
    finish_outputs();

    // Stable topological order: helper nodes were appended where they were needed, some of
    // them feeding nodes emitted earlier (a rewritten producer).
    std::vector<::onnx::NodeProto> all = prologue_;
    for (auto& n : nodes_) all.push_back(std::move(n));
    std::unordered_map<std::string, int> made_by;
    for (int i = 0; i < static_cast<int>(all.size()); ++i)
        for (const auto& o : all[i].output()) made_by[o] = i;
    std::vector<int> pending(all.size(), 0);
    std::vector<std::vector<int>> feeds(all.size());
    for (int i = 0; i < static_cast<int>(all.size()); ++i) {
        std::set<int> from;
        for (const auto& in : all[i].input()) {
            auto it = made_by.find(in);
            if (!in.empty() && it != made_by.end() && it->second != i) from.insert(it->second);
        }
        pending[i] = static_cast<int>(from.size());
        for (int f : from) feeds[f].push_back(i);
    }
    std::priority_queue<int, std::vector<int>, std::greater<>> ready;
    for (int i = 0; i < static_cast<int>(all.size()); ++i)
        if (pending[i] == 0) ready.push(i);
    graph_.clear_node();
    while (!ready.empty()) {
        const int i = ready.top();
        ready.pop();
        *graph_.add_node() = all[i];
        for (int j : feeds[i])
            if (--pending[j] == 0) ready.push(j);
    }
    if (graph_.node_size() != static_cast<int>(all.size()))
        throw Refused("internal: the repaired graph has a cycle; please report this model");

    // Shape annotations of batched tensors would contradict the new batch: drop them.
    auto* vi = graph_.mutable_value_info();
    for (int i = vi->size() - 1; i >= 0; --i)
        if (state(vi->Get(i).name()).batched || !made_by.count(vi->Get(i).name())) vi->DeleteSubrange(i, 1);
    return result_;
}

}  // namespace tiledet::onnx_detail
