#include "proto_util.hpp"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "tiledet/error.hpp"

namespace tiledet::onnx_detail {

::onnx::ModelProto parse_model(std::span<const std::byte> bytes, const std::string& what) {
    ::onnx::ModelProto m;
    if (bytes.empty()) throw InputError(what + ": empty file, expected an ONNX model (.onnx)");
    if (bytes.size() > static_cast<std::size_t>(INT32_MAX))
        throw InputError(what + ": larger than 2 GiB; batchify needs the weights in external data files");
    if (!m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) || !m.has_graph() ||
        m.graph().node_size() == 0)
        throw InputError(what + ": not an ONNX model (expected a ModelProto with a graph; the bytes do not parse as one)");
    return m;
}

std::vector<std::byte> serialize_model(const ::onnx::ModelProto& model) {
    std::string s;
    if (!model.SerializeToString(&s)) throw Error("batchify: could not serialize the repaired model");
    std::vector<std::byte> out(s.size());
    std::memcpy(out.data(), s.data(), s.size());
    return out;
}

int default_opset(const ::onnx::ModelProto& model) {
    for (const auto& o : model.opset_import())
        if (o.domain().empty() || o.domain() == "ai.onnx") return static_cast<int>(o.version());
    return 0;
}

std::optional<std::vector<int64_t>> int_values(const ::onnx::TensorProto& t, std::size_t max_elements) {
    if (t.data_location() == ::onnx::TensorProto::EXTERNAL) return std::nullopt;
    std::size_t n = 1;
    for (int64_t d : t.dims()) n *= static_cast<std::size_t>(d);
    if (n > max_elements) return std::nullopt;
    std::vector<int64_t> v;
    v.reserve(n);
    const std::string& raw = t.raw_data();
    auto from_raw = [&](auto sample) -> bool {
        using T = decltype(sample);
        if (raw.size() != n * sizeof(T)) return false;
        for (std::size_t i = 0; i < n; ++i) {
            T x;
            std::memcpy(&x, raw.data() + i * sizeof(T), sizeof(T));
            v.push_back(static_cast<int64_t>(x));
        }
        return true;
    };
    switch (t.data_type()) {
        case ::onnx::TensorProto::INT64:
            if (t.has_raw_data()) return from_raw(int64_t{}) ? std::optional(v) : std::nullopt;
            if (static_cast<std::size_t>(t.int64_data_size()) != n) return std::nullopt;
            v.assign(t.int64_data().begin(), t.int64_data().end());
            return v;
        case ::onnx::TensorProto::INT32:
            if (t.has_raw_data()) return from_raw(int32_t{}) ? std::optional(v) : std::nullopt;
            break;
        case ::onnx::TensorProto::INT16:
            if (t.has_raw_data()) return from_raw(int16_t{}) ? std::optional(v) : std::nullopt;
            break;
        case ::onnx::TensorProto::INT8:
            if (t.has_raw_data()) return from_raw(int8_t{}) ? std::optional(v) : std::nullopt;
            break;
        case ::onnx::TensorProto::UINT8:
            if (t.has_raw_data()) return from_raw(uint8_t{}) ? std::optional(v) : std::nullopt;
            break;
        default: return std::nullopt;
    }
    // int32 and the narrower types keep their values in int32_data when not raw.
    if (static_cast<std::size_t>(t.int32_data_size()) != n) return std::nullopt;
    v.assign(t.int32_data().begin(), t.int32_data().end());
    return v;
}

::onnx::TensorProto make_int64_tensor(const std::string& name, const std::vector<int64_t>& values,
                                      std::optional<std::vector<int64_t>> dims) {
    ::onnx::TensorProto t;
    t.set_name(name);
    t.set_data_type(::onnx::TensorProto::INT64);
    if (dims)
        for (int64_t d : *dims) t.add_dims(d);
    else
        t.add_dims(static_cast<int64_t>(values.size()));
    for (int64_t x : values) t.add_int64_data(x);
    return t;
}

const ::onnx::AttributeProto* find_attr(const ::onnx::NodeProto& n, const std::string& name) {
    for (const auto& a : n.attribute())
        if (a.name() == name) return &a;
    return nullptr;
}

int64_t attr_int(const ::onnx::NodeProto& n, const std::string& name, int64_t fallback) {
    const auto* a = find_attr(n, name);
    return a ? a->i() : fallback;
}

std::optional<std::vector<int64_t>> attr_ints(const ::onnx::NodeProto& n, const std::string& name) {
    const auto* a = find_attr(n, name);
    if (!a) return std::nullopt;
    return std::vector<int64_t>(a->ints().begin(), a->ints().end());
}

static ::onnx::AttributeProto& attr_slot(::onnx::NodeProto& n, const std::string& name) {
    for (auto& a : *n.mutable_attribute())
        if (a.name() == name) return a;
    auto* a = n.add_attribute();
    a->set_name(name);
    return *a;
}

void set_attr_int(::onnx::NodeProto& n, const std::string& name, int64_t v) {
    auto& a = attr_slot(n, name);
    a.Clear();
    a.set_name(name);
    a.set_type(::onnx::AttributeProto::INT);
    a.set_i(v);
}

void set_attr_ints(::onnx::NodeProto& n, const std::string& name, const std::vector<int64_t>& v) {
    auto& a = attr_slot(n, name);
    a.Clear();
    a.set_name(name);
    a.set_type(::onnx::AttributeProto::INTS);
    for (int64_t x : v) a.add_ints(x);
}

void remove_attr(::onnx::NodeProto& n, const std::string& name) {
    auto* attrs = n.mutable_attribute();
    for (int i = 0; i < attrs->size(); ++i)
        if (attrs->Get(i).name() == name) {
            attrs->DeleteSubrange(i, 1);
            return;
        }
}

std::optional<std::vector<int64_t>> value_dims(const ::onnx::ValueInfoProto& v) {
    if (!v.type().has_tensor_type() || !v.type().tensor_type().has_shape()) return std::nullopt;
    std::vector<int64_t> dims;
    for (const auto& d : v.type().tensor_type().shape().dim()) dims.push_back(d.has_dim_value() ? d.dim_value() : -1);
    return dims;
}

std::string ints_text(const std::vector<int64_t>& v) {
    std::string s = "[";
    for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
    return s + "]";
}

std::string node_label(const ::onnx::NodeProto& n) {
    if (!n.name().empty()) return n.op_type() + " '" + n.name() + "'";
    return n.op_type() + " (unnamed, output '" + (n.output_size() ? n.output(0) : std::string("?")) + "')";
}

void write_file_atomically(const std::string& path, std::span<const std::byte> bytes) {
    namespace fs = std::filesystem;
    const fs::path target(path);
    if (fs::is_directory(target)) throw InputError(path + ": is a folder; expected an output file name (e.g. model_dynamic.onnx)");
    const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
    std::random_device rd;
    std::string tmp_name = target.filename().string();
    tmp_name.insert(0, 1, '.');
    tmp_name.append(".tmp").append(std::to_string(rd()));
    const fs::path tmp = dir / tmp_name;
    {
        std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
        if (!f)
            throw InputError(path + ": cannot write (folder '" + dir.string() +
                             "' is missing or not writable); choose a writable output path");
        f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
        f.close();
        if (!f) {
            std::error_code ec;
            fs::remove(tmp, ec);
            throw InputError(path + ": write failed (disk full?); nothing was written");
        }
    }
    std::error_code ec;
    fs::rename(tmp, target, ec);
    if (ec) {
        fs::remove(tmp, ec);
        throw InputError(path + ": cannot replace the file (" + ec.message() + "); nothing was written");
    }
}

}  // namespace tiledet::onnx_detail
