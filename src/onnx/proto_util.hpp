// Small helpers over the ONNX protobuf: parse and serialize, read and make int tensors, read
// and set attributes, and write a file atomically. Private to src/onnx.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

namespace tiledet::onnx_detail {

// Throws InputError (naming `what`) when the bytes are not an ONNX model with a graph.
::onnx::ModelProto parse_model(std::span<const std::byte> bytes, const std::string& what);
std::vector<std::byte> serialize_model(const ::onnx::ModelProto& model);

// The default-domain opset the model imports (0 when it imports none).
int default_opset(const ::onnx::ModelProto& model);

// Integer values of a tensor held in the proto (int64, int32, and the other integer types);
// nullopt for float tensors, external data, or more than `max_elements` values.
std::optional<std::vector<int64_t>> int_values(const ::onnx::TensorProto& t, std::size_t max_elements = 4096);
::onnx::TensorProto make_int64_tensor(const std::string& name, const std::vector<int64_t>& values,
                                      std::optional<std::vector<int64_t>> dims = std::nullopt);

const ::onnx::AttributeProto* find_attr(const ::onnx::NodeProto& n, const std::string& name);
int64_t attr_int(const ::onnx::NodeProto& n, const std::string& name, int64_t fallback);
std::optional<std::vector<int64_t>> attr_ints(const ::onnx::NodeProto& n, const std::string& name);
void set_attr_int(::onnx::NodeProto& n, const std::string& name, int64_t v);
void set_attr_ints(::onnx::NodeProto& n, const std::string& name, const std::vector<int64_t>& v);
void remove_attr(::onnx::NodeProto& n, const std::string& name);

// The leading dims of a value's tensor type: the number, -1 for a symbolic or unknown dim;
// nullopt when the value carries no shape.
std::optional<std::vector<int64_t>> value_dims(const ::onnx::ValueInfoProto& v);

// "[1, 84, -1]"
std::string ints_text(const std::vector<int64_t>& v);
// "Reshape '/model/Reshape_3'" (or "Reshape (unnamed, output 'x')")
std::string node_label(const ::onnx::NodeProto& n);

// Writes `bytes` to `path` via a temporary file in the same folder and a rename, so a reader
// never sees half a file and a failure leaves nothing behind. Throws InputError.
void write_file_atomically(const std::string& path, std::span<const std::byte> bytes);

}  // namespace tiledet::onnx_detail
