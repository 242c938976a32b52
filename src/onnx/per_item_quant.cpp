#include "per_item_quant.hpp"

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>

#include "proto_util.hpp"

namespace tiledet::onnx_detail {
namespace {

using ::onnx::NodeProto;
using ::onnx::TensorProto;

// Float values of a small constant tensor of any numeric type held in the proto.
std::optional<std::vector<double>> numeric_values(const TensorProto& t) {
    if (t.data_location() == TensorProto::EXTERNAL) return std::nullopt;
    if (auto ints = int_values(t, 1u << 24)) return std::vector<double>(ints->begin(), ints->end());
    std::vector<double> out;
    if (t.data_type() == TensorProto::FLOAT) {
        if (t.has_raw_data()) {
            const std::string& raw = t.raw_data();
            out.resize(raw.size() / 4);
            for (std::size_t i = 0; i < out.size(); ++i) {
                float f;
                std::memcpy(&f, raw.data() + 4 * i, 4);
                out[i] = f;
            }
        } else {
            out.assign(t.float_data().begin(), t.float_data().end());
        }
        return out;
    }
    return std::nullopt;
}

TensorProto float_tensor(const std::string& name, const std::vector<float>& values, const std::vector<int64_t>& dims) {
    TensorProto t;
    t.set_name(name);
    t.set_data_type(TensorProto::FLOAT);
    for (int64_t d : dims) t.add_dims(d);
    t.set_raw_data(std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
    return t;
}

NodeProto make_node(const std::string& op, std::vector<std::string> in, std::vector<std::string> out,
                    const std::string& name) {
    NodeProto n;
    n.set_op_type(op);
    n.set_name(name);
    for (auto& i : in) n.add_input(i);
    for (auto& o : out) n.add_output(o);
    return n;
}

struct Plan {
    int dql = -1;                  // node index
    std::vector<int> convs;        // ConvInteger node indices
    std::vector<int> scale_muls;   // Mul(y_scale, w_scale) node indices
    int rank = 0;
};

}  // namespace

PerItemQuantResult quantize_per_item(::onnx::ModelProto& model) {
    PerItemQuantResult result;
    ::onnx::GraphProto& g = *model.mutable_graph();
    const int opset = default_opset(model);

    std::map<std::string, const TensorProto*> inits;
    for (const auto& t : g.initializer()) inits[t.name()] = &t;
    std::map<std::string, std::vector<int>> consumers;
    for (int i = 0; i < g.node_size(); ++i)
        for (const auto& in : g.node(i).input()) consumers[in].push_back(i);
    std::set<std::string> graph_outputs;
    for (const auto& o : g.output()) graph_outputs.insert(o.name());

    std::vector<Plan> plans;
    for (int i = 0; i < g.node_size(); ++i) {
        const NodeProto& d = g.node(i);
        if (d.op_type() != "DynamicQuantizeLinear" || d.output_size() < 3) continue;
        const std::string &y = d.output(0), &scale = d.output(1), &zp = d.output(2);
        const auto skip = [&](const std::string& why) { result.skipped.push_back(node_label(d) + ": " + why); };
        if (graph_outputs.count(y) || graph_outputs.count(scale) || graph_outputs.count(zp)) {
            skip("its outputs are graph outputs");
            continue;
        }
        Plan p;
        p.dql = i;
        bool ok = true;
        for (int c : consumers[y]) {
            const NodeProto& n = g.node(c);
            const bool conv = n.op_type() == "ConvInteger" && n.input_size() >= 3 && n.input(0) == y && n.input(2) == zp &&
                              inits.count(n.input(1)) && (n.input_size() < 4 || n.input(3).empty() || inits.count(n.input(3)));
            if (!conv) {
                ok = false;
                break;
            }
            const int r = inits[n.input(1)]->dims_size();
            if (p.rank && p.rank != r) ok = false;
            p.rank = r;
            p.convs.push_back(c);
        }
        for (int c : consumers[zp]) ok = ok && std::find(p.convs.begin(), p.convs.end(), c) != p.convs.end();
        std::set<std::string> conv_outputs;
        for (int c : p.convs) conv_outputs.insert(g.node(c).output(0));
        for (int c : consumers[scale]) {
            const NodeProto& m = g.node(c);
            const std::string other = m.input(0) == scale ? m.input(1) : m.input(0);
            if (m.op_type() != "Mul" || !inits.count(other) || inits[other]->dims_size() > 1) {
                ok = false;
                break;
            }
            // The product may only scale Cast(ConvInteger) outputs of this quantized input.
            for (int u : consumers[m.output(0)]) {
                const NodeProto& mu = g.node(u);
                const std::string operand = mu.input(0) == m.output(0) ? mu.input(1) : mu.input(0);
                bool from_cast = false;
                for (const auto& n : g.node())
                    if (n.op_type() == "Cast" && n.output(0) == operand && conv_outputs.count(n.input(0)) &&
                        attr_int(n, "to", 0) == TensorProto::FLOAT)
                        from_cast = true;
                ok = ok && mu.op_type() == "Mul" && from_cast;
            }
            p.scale_muls.push_back(c);
        }
        if (!ok || p.convs.empty() || p.rank < 3) {
            skip("not the DynamicQuantizeLinear -> ConvInteger -> Cast -> Mul(scale) pattern");
            continue;
        }
        plans.push_back(p);
    }
    if (plans.empty()) return result;

    // Constants shared by every rewrite.
    const std::string k0 = "tiledet_piq/zero", k255 = "tiledet_piq/255", ktiny = "tiledet_piq/tiny",
                      kaxes = "tiledet_piq/axes1";
    *g.add_initializer() = float_tensor(k0, {0.0f}, {});
    *g.add_initializer() = float_tensor(k255, {255.0f}, {});
    // Keeps an all-zero input (scale 0) from dividing by zero; its quantized values are the
    // zero point either way, so the convolution gives 0 as before.
    *g.add_initializer() = float_tensor(ktiny, {1e-30f}, {});
    *g.add_initializer() = make_int64_tensor(kaxes, {1}, std::vector<int64_t>{1});

    std::map<int, std::vector<NodeProto>> replace;  // node index -> nodes that take its place
    std::set<int> removed;
    std::set<std::string> retyped;                  // values whose declared type no longer holds
    for (const Plan& p : plans) {
        const NodeProto& d = g.node(p.dql);
        const std::string b = d.name().empty() ? d.output(0) : d.name();
        const std::string x = d.input(0), pre = b + "/per_item/";
        std::vector<NodeProto> nodes;
        const auto add = [&](const std::string& op, std::vector<std::string> in, const std::string& out) {
            nodes.push_back(make_node(op, std::move(in), {pre + out}, pre + out));
            return pre + out;
        };
        const auto reduce = [&](const std::string& op, const std::string& in, const std::string& out) {
            if (opset >= 18) return add(op, {in, kaxes}, out);
            const std::string name = add(op, {in}, out);
            set_attr_ints(nodes.back(), "axes", {1});
            return name;
        };
        // ONNX DynamicQuantizeLinear, per item: x_min = min(0, min(x)), x_max = max(0, max(x)),
        // scale = (x_max - x_min) / 255, zp = round(saturate(0 - x_min / scale)),
        // y = saturate(round(x / scale) + zp) (onnx/docs/Operators.md, DynamicQuantizeLinear).
        const std::string xf = add("Flatten", {x}, "flat");
        set_attr_int(nodes.back(), "axis", 1);
        const std::string mn = add("Min", {reduce("ReduceMin", xf, "min"), k0}, "min0");
        const std::string mx = add("Max", {reduce("ReduceMax", xf, "max"), k0}, "max0");
        const std::string sc = add("Max", {add("Div", {add("Sub", {mx, mn}, "range"), k255}, "scale_raw"), ktiny}, "scale");
        const std::string izp = add("Sub", {k0, add("Div", {mn, sc}, "min_over_scale")}, "izp");
        const std::string zpf = add("Round", {add("Clip", {izp, k0, k255}, "izp_sat")}, "zp");
        const std::string q = add("Clip", {add("Add", {add("Round", {add("Div", {xf, sc}, "x_over_scale")}, "rounded"), zpf}, "shifted"), k0, k255}, "q");
        const std::string centred = add("Sub", {q, zpf}, "centred");
        const std::string shape = add("Shape", {x}, "shape");
        const std::string xs = add("Reshape", {centred, shape}, "x_int");
        std::vector<int64_t> sdims(static_cast<std::size_t>(p.rank), 1);
        sdims[0] = -1;
        const std::string sshape = pre + "scale_shape";
        *g.add_initializer() = make_int64_tensor(sshape, sdims, std::vector<int64_t>{p.rank});
        const std::string sc_b = add("Reshape", {sc, sshape}, "scale_b");
        replace[p.dql] = std::move(nodes);
        removed.insert(p.dql);

        for (int c : p.convs) {
            const NodeProto& ci = g.node(c);
            const TensorProto& w = *inits[ci.input(1)];
            const auto wv = numeric_values(w);
            std::vector<double> zpv = {0.0};
            if (ci.input_size() >= 4 && !ci.input(3).empty()) zpv = numeric_values(*inits[ci.input(3)]).value_or(std::vector<double>{});
            if (!wv || zpv.empty()) throw std::runtime_error("unreadable ConvInteger weights in " + node_label(ci));
            std::vector<int64_t> wdims(w.dims().begin(), w.dims().end());
            const std::size_t per_out = wv->size() / static_cast<std::size_t>(wdims[0]);
            std::vector<float> wf(wv->size());
            for (std::size_t k = 0; k < wv->size(); ++k)
                wf[k] = static_cast<float>((*wv)[k] - zpv[zpv.size() == 1 ? 0 : k / per_out]);
            const std::string wname = ci.name() + "/per_item/weight";
            *g.add_initializer() = float_tensor(wname, wf, wdims);
            NodeProto conv = make_node("Conv", {xs, wname}, {ci.output(0)}, ci.name() + "/per_item");
            for (const auto& a : ci.attribute()) *conv.add_attribute() = a;
            replace[c] = {conv};
            removed.insert(c);
            retyped.insert(ci.output(0));
        }
        for (int m : p.scale_muls) {
            NodeProto& mul = *g.mutable_node(m);
            for (int k = 0; k < mul.input_size(); ++k)
                if (mul.input(k) == d.output(1)) mul.set_input(k, sc_b);
            retyped.insert(mul.output(0));
        }
        result.rewrites.push_back(node_label(d) + ": scale and zero point per item; " + std::to_string(p.convs.size()) +
                                  " ConvInteger -> Conv on per-item zero-centred integers");
    }

    // Rebuild the node list in order, each rewritten node replaced in place (topological order
    // holds: the new nodes read only what the old ones read).
    google::protobuf::RepeatedPtrField<NodeProto> nodes;
    for (int i = 0; i < g.node_size(); ++i) {
        if (replace.count(i)) {
            for (auto& n : replace[i]) *nodes.Add() = std::move(n);
        } else if (!removed.count(i)) {
            *nodes.Add() = g.node(i);
        }
    }
    g.mutable_node()->Swap(&nodes);
    // Shape annotations of retyped values (int32 -> float, scalar -> per item) would now lie.
    auto* vi = g.mutable_value_info();
    for (int i = vi->size() - 1; i >= 0; --i)
        if (retyped.count(vi->Get(i).name())) vi->DeleteSubrange(i, 1);
    // Weights no node reads any more.
    std::set<std::string> used;
    for (const auto& n : g.node())
        for (const auto& in : n.input()) used.insert(in);
    auto* ini = g.mutable_initializer();
    for (int i = ini->size() - 1; i >= 0; --i)
        if (!used.count(ini->Get(i).name())) ini->DeleteSubrange(i, 1);
    return result;
}

}  // namespace tiledet::onnx_detail
