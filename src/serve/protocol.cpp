#include "protocol.hpp"

#include <cmath>
#include <cstring>
#include <limits>

namespace tiledet::serve {

using json = nlohmann::json;

namespace {

struct DatatypeName {
    ElementType type;
    const char* name;
};
// The protocol's tensor data types (KServe v2 "Tensor Data Types").
constexpr DatatypeName kDatatypes[] = {
    {ElementType::boolean, "BOOL"},  {ElementType::uint8, "UINT8"},   {ElementType::int8, "INT8"},
    {ElementType::int16, "INT16"},   {ElementType::int32, "INT32"},   {ElementType::int64, "INT64"},
    {ElementType::float16, "FP16"},  {ElementType::float32, "FP32"},  {ElementType::float64, "FP64"},
    {ElementType::string, "BYTES"},
};

// Limits on what a hostile header can make us allocate before the body is checked against it.
constexpr std::size_t kMaxRank = 16;
constexpr std::size_t kMaxInputs = 64;

std::string where(const std::string& input) { return "input '" + input + "'"; }

Shape read_shape(const json& j, const std::string& name) {
    if (!j.is_array() || j.size() > kMaxRank)
        throw BadRequest(where(name) + ": \"shape\" must be an array of at most " + std::to_string(kMaxRank) +
                         " non-negative integers, got " + j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    Shape s;
    for (const json& d : j) {
        if (!d.is_number_integer() || d.get<int64_t>() < 0)
            throw BadRequest(where(name) + ": \"shape\" must hold non-negative integers, got " + j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
        s.push_back(d.get<int64_t>());
    }
    return s;
}

// Element count with overflow refused (a shape of [2^40, 2^40] must not wrap to something small).
std::size_t checked_count(const Shape& s, const std::string& name) {
    std::size_t n = 1;
    for (int64_t d : s) {
        if (d != 0 && n > std::numeric_limits<std::size_t>::max() / 16 / static_cast<std::size_t>(d))
            throw BadRequest(where(name) + ": shape " + to_string(s) + " has too many elements");
        n *= static_cast<std::size_t>(d);
    }
    return n;
}

void flatten(const json& j, std::vector<const json*>& out, int depth = 0) {
    if (depth > static_cast<int>(kMaxRank)) throw BadRequest("\"data\" is nested deeper than any tensor's rank");
    if (j.is_array())
        for (const json& e : j) flatten(e, out, depth + 1);
    else
        out.push_back(&j);
}

template <class T>
void put_integer(const json& v, std::byte* dst, const std::string& name) {
    if (!v.is_number_integer())
        throw BadRequest(where(name) + ": expected integers in \"data\", got " + v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    bool fits;
    T value{};
    if (v.is_number_unsigned()) {
        const auto u = v.get<std::uint64_t>();
        fits = u <= static_cast<std::uint64_t>(std::numeric_limits<T>::max());
        value = static_cast<T>(u);
    } else {
        const auto i = v.get<std::int64_t>();
        fits = i >= static_cast<std::int64_t>(std::numeric_limits<T>::min()) &&
               (i < 0 || static_cast<std::uint64_t>(i) <= static_cast<std::uint64_t>(std::numeric_limits<T>::max()));
        value = static_cast<T>(i);
    }
    if (!fits) throw BadRequest(where(name) + ": value " + v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + " does not fit its datatype");
    std::memcpy(dst, &value, sizeof(T));
}

void put_json_element(ElementType t, const json& v, std::byte* dst, const std::string& name) {
    switch (t) {
        case ElementType::boolean: {
            if (!v.is_boolean()) throw BadRequest(where(name) + ": expected true/false in \"data\", got " + v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
            const std::uint8_t b = v.get<bool>() ? 1 : 0;
            std::memcpy(dst, &b, 1);
            return;
        }
        case ElementType::uint8: return put_integer<std::uint8_t>(v, dst, name);
        case ElementType::int8: return put_integer<std::int8_t>(v, dst, name);
        case ElementType::int16: return put_integer<std::int16_t>(v, dst, name);
        case ElementType::int32: return put_integer<std::int32_t>(v, dst, name);
        case ElementType::int64: return put_integer<std::int64_t>(v, dst, name);
        case ElementType::float32: {
            if (!v.is_number()) throw BadRequest(where(name) + ": expected numbers in \"data\", got " + v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
            const float f = static_cast<float>(v.get<double>());
            std::memcpy(dst, &f, 4);
            return;
        }
        case ElementType::float64: {
            if (!v.is_number()) throw BadRequest(where(name) + ": expected numbers in \"data\", got " + v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
            const double d = v.get<double>();
            std::memcpy(dst, &d, 8);
            return;
        }
        default:
            throw BadRequest(where(name) + ": datatype " + datatype_name(t) +
                             " is only accepted in the binary section (Triton's binary-data extension)");
    }
}

// BYTES in the binary section: each element is a 4-byte little-endian length and its bytes.
std::vector<std::string> split_bytes_elements(std::string_view raw, std::size_t count, const std::string& name) {
    std::vector<std::string> out;
    std::size_t at = 0;
    while (at < raw.size()) {
        if (raw.size() - at < 4)
            throw BadRequest(where(name) + ": BYTES element length prefix cut short (each element is a 4-byte "
                             "little-endian length, then that many bytes)");
        std::uint32_t len = 0;
        for (int i = 0; i < 4; ++i) len |= static_cast<std::uint32_t>(static_cast<unsigned char>(raw[at + i])) << (8 * i);
        at += 4;
        if (len > raw.size() - at)
            throw BadRequest(where(name) + ": BYTES element of " + std::to_string(len) + " bytes but only " +
                             std::to_string(raw.size() - at) + " remain in its binary_data_size");
        out.emplace_back(raw.substr(at, len));
        at += len;
        if (out.size() > count) break;
    }
    if (out.size() != count)
        throw BadRequest(where(name) + ": its shape holds " + std::to_string(count) + " BYTES elements, its binary data " +
                         std::to_string(out.size()));
    return out;
}

}  // namespace

std::optional<ElementType> parse_datatype(std::string_view name) {
    for (const auto& d : kDatatypes)
        if (name == d.name) return d.type;
    return std::nullopt;
}

std::string datatype_name(ElementType t) {
    for (const auto& d : kDatatypes)
        if (d.type == t) return d.name;
    return "UNSUPPORTED(" + to_string(t) + ")";
}

std::optional<std::size_t> parse_header_length(const std::string& value, std::size_t body_size) {
    std::size_t n = 0;
    if (value.empty() || value.size() > 19) throw BadRequest("Inference-Header-Content-Length: expected a byte count, got '" + value + "'");
    for (char c : value) {
        if (c < '0' || c > '9')
            throw BadRequest("Inference-Header-Content-Length: expected a byte count, got '" + value + "'");
        n = n * 10 + static_cast<std::size_t>(c - '0');
    }
    if (n > body_size)
        throw BadRequest("Inference-Header-Content-Length is " + std::to_string(n) + " but the body has only " +
                         std::to_string(body_size) + " bytes");
    return n;
}

InferRequest parse_infer_request(std::string_view body, std::optional<std::size_t> json_length) {
    const std::size_t jlen = json_length.value_or(body.size());
    const std::string_view json_text = body.substr(0, jlen);
    std::string_view binary = body.substr(jlen);
    json j = json::parse(json_text.begin(), json_text.end(), nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object())
        throw BadRequest("the body is not a JSON object: expected an inference request {\"inputs\": [...]} "
                         "(KServe v2), optionally followed by binary tensor data whose JSON part's length is in "
                         "the Inference-Header-Content-Length header");
    InferRequest req;
    if (j.contains("id")) {
        if (!j["id"].is_string()) throw BadRequest("\"id\" must be a string, got " + j["id"].dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
        req.id = j["id"].get<std::string>();
    }
    if (j.contains("parameters")) {
        if (!j["parameters"].is_object()) throw BadRequest("\"parameters\" must be an object");
        req.parameters = j["parameters"];
        if (auto it = req.parameters.find("binary_data_output"); it != req.parameters.end())
            req.binary_output = it->is_boolean() && it->get<bool>();
    }
    if (!j.contains("inputs") || !j["inputs"].is_array() || j["inputs"].empty())
        throw BadRequest("expected \"inputs\": a non-empty array of tensors {name, shape, datatype, data}");
    if (j["inputs"].size() > kMaxInputs) throw BadRequest("more than " + std::to_string(kMaxInputs) + " inputs");
    std::size_t binary_at = 0;
    for (const json& ji : j["inputs"]) {
        if (!ji.is_object() || !ji.contains("name") || !ji["name"].is_string())
            throw BadRequest("each input needs a \"name\" (string), \"shape\" and \"datatype\"");
        InferInput in;
        in.name = ji["name"].get<std::string>();
        for (const InferInput& other : req.inputs)
            if (other.name == in.name) throw BadRequest(where(in.name) + " is given twice");
        if (!ji.contains("datatype") || !ji["datatype"].is_string())
            throw BadRequest(where(in.name) + ": expected \"datatype\" (BOOL, UINT8, INT8, INT16, INT32, INT64, FP16, "
                                              "FP32, FP64 or BYTES)");
        in.datatype = ji["datatype"].get<std::string>();
        const auto type = parse_datatype(in.datatype);
        if (!type)
            throw BadRequest(where(in.name) + ": unknown datatype '" + in.datatype +
                             "' (expected BOOL, UINT8, INT8, INT16, INT32, INT64, FP16, FP32, FP64 or BYTES)");
        in.type = *type;
        if (!ji.contains("shape")) throw BadRequest(where(in.name) + ": expected \"shape\"");
        in.shape = read_shape(ji["shape"], in.name);
        const std::size_t count = checked_count(in.shape, in.name);
        if (ji.contains("parameters")) {
            if (!ji["parameters"].is_object()) throw BadRequest(where(in.name) + ": \"parameters\" must be an object");
            in.parameters = ji["parameters"];
        }
        const auto bsize = in.parameters.find("binary_data_size");
        if (bsize != in.parameters.end()) {
            if (!bsize->is_number_unsigned())
                throw BadRequest(where(in.name) + ": binary_data_size must be a byte count, got " + bsize->dump());
            const auto n = bsize->get<std::uint64_t>();
            if (n > binary.size() - binary_at)
                throw BadRequest(where(in.name) + ": binary_data_size " + std::to_string(n) + " but only " +
                                 std::to_string(binary.size() - binary_at) +
                                 " bytes of binary data remain after the JSON header (truncated body, or a wrong "
                                 "Inference-Header-Content-Length)");
            const std::string_view raw = binary.substr(binary_at, n);
            binary_at += n;
            if (in.type == ElementType::string) {
                in.elements = split_bytes_elements(raw, count, in.name);
            } else {
                const std::size_t want = count * element_size(in.type);
                if (n != want)
                    throw BadRequest(where(in.name) + ": shape " + to_string(in.shape) + " of " + in.datatype + " needs " +
                                     std::to_string(want) + " bytes, binary_data_size says " + std::to_string(n));
                in.tensor = Tensor::uninitialized(in.type, in.shape);
                if (want) std::memcpy(in.tensor.bytes(), raw.data(), want);
            }
        } else {
            if (!ji.contains("data"))
                throw BadRequest(where(in.name) + ": expected \"data\", or parameters.binary_data_size with the bytes "
                                                  "after the JSON (Triton's binary-data extension)");
            in.from_json_data = true;
            std::vector<const json*> flat;
            flatten(ji["data"], flat);
            if (flat.size() != count)
                throw BadRequest(where(in.name) + ": shape " + to_string(in.shape) + " holds " + std::to_string(count) +
                                 " elements, \"data\" has " + std::to_string(flat.size()));
            if (in.type == ElementType::string) {
                for (const json* v : flat) {
                    if (!v->is_string()) throw BadRequest(where(in.name) + ": BYTES data must be strings");
                    in.elements.push_back(v->get<std::string>());
                }
            } else {
                in.tensor = Tensor::uninitialized(in.type, in.shape);
                const std::size_t es = element_size(in.type);
                for (std::size_t i = 0; i < flat.size(); ++i) put_json_element(in.type, *flat[i], in.tensor.bytes() + i * es, in.name);
            }
        }
        req.inputs.push_back(std::move(in));
    }
    if (binary_at != binary.size())
        throw BadRequest(std::to_string(binary.size() - binary_at) +
                         " bytes of binary data after the JSON header belong to no input (the inputs' binary_data_size "
                         "must add up to the body's length minus Inference-Header-Content-Length)");
    if (j.contains("outputs")) {
        if (!j["outputs"].is_array()) throw BadRequest("\"outputs\" must be an array of {name, parameters}");
        for (const json& jo : j["outputs"]) {
            if (!jo.is_object() || !jo.contains("name") || !jo["name"].is_string())
                throw BadRequest("each requested output needs a \"name\"");
            RequestedOutput o{jo["name"].get<std::string>(), req.binary_output};
            if (jo.contains("parameters") && jo["parameters"].is_object()) {
                const json& p = jo["parameters"];
                if (auto it = p.find("binary_data"); it != p.end() && it->is_boolean()) o.binary = it->get<bool>();
            }
            req.outputs.push_back(std::move(o));
        }
    }
    return req;
}

namespace {

json json_values(const InferOutput& o) {
    json data = json::array();
    const std::size_t n = static_cast<std::size_t>(o.tensor.numel());
    switch (o.type) {
        case ElementType::float32:
            for (std::size_t i = 0; i < n; ++i) {
                const float f = o.tensor.data<float>()[i];
                data.push_back(std::isfinite(f) ? json(f) : json(nullptr));
            }
            break;
        case ElementType::float64:
            for (std::size_t i = 0; i < n; ++i) data.push_back(o.tensor.data<double>()[i]);
            break;
        case ElementType::int64:
            for (std::size_t i = 0; i < n; ++i) data.push_back(o.tensor.data<std::int64_t>()[i]);
            break;
        case ElementType::int32:
            for (std::size_t i = 0; i < n; ++i) data.push_back(o.tensor.data<std::int32_t>()[i]);
            break;
        case ElementType::int16:
            for (std::size_t i = 0; i < n; ++i) data.push_back(o.tensor.data<std::int16_t>()[i]);
            break;
        case ElementType::int8:
            for (std::size_t i = 0; i < n; ++i) data.push_back(o.tensor.data<std::int8_t>()[i]);
            break;
        case ElementType::uint8:
            for (std::size_t i = 0; i < n; ++i) data.push_back(o.tensor.data<std::uint8_t>()[i]);
            break;
        case ElementType::boolean:
            for (std::size_t i = 0; i < n; ++i) data.push_back(o.tensor.data<std::uint8_t>()[i] != 0);
            break;
        default:
            throw BadRequest("output '" + o.name + "' has datatype " + datatype_name(o.type) +
                             ", which JSON cannot carry: ask for it with parameters {\"binary_data\": true}");
    }
    return data;
}

}  // namespace

EncodedResponse encode_infer_response(const InferRequest& request, const std::string& model_name,
                                      const std::string& model_version, const std::vector<InferOutput>& outputs,
                                      const json& parameters) {
    json j = json::object();
    j["model_name"] = model_name;
    j["model_version"] = model_version;
    if (!request.id.empty()) j["id"] = request.id;
    if (!parameters.empty()) j["parameters"] = parameters;
    j["outputs"] = json::array();
    std::string binary;
    bool any_binary = false;
    auto emit = [&](const InferOutput& o, bool as_binary) {
        json jo = {{"name", o.name}, {"datatype", datatype_name(o.type)}, {"shape", o.shape}};
        if (as_binary) {
            any_binary = true;
            jo["parameters"] = {{"binary_data_size", o.tensor.byte_size()}};
            binary.append(reinterpret_cast<const char*>(o.tensor.bytes()), o.tensor.byte_size());
        } else {
            jo["data"] = json_values(o);
        }
        j["outputs"].push_back(std::move(jo));
    };
    if (request.outputs.empty()) {
        for (const InferOutput& o : outputs) emit(o, request.binary_output);
    } else {
        for (const RequestedOutput& r : request.outputs) {
            const InferOutput* found = nullptr;
            for (const InferOutput& o : outputs)
                if (o.name == r.name) found = &o;
            if (!found) {
                std::string names;
                for (const InferOutput& o : outputs) names += (names.empty() ? "" : ", ") + o.name;
                throw BadRequest("requested output '" + r.name + "' is not an output of model '" + model_name +
                                 "' (its outputs: " + names + ")");
            }
            emit(*found, r.binary);
        }
    }
    EncodedResponse out;
    out.body = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (any_binary) {
        out.json_length = out.body.size();
        out.body += binary;
    }
    return out;
}

}  // namespace tiledet::serve
