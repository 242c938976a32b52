// The Open Inference Protocol's (KServe v2) JSON body plus Triton's binary-data extension:
// parsing an inference request into tensors and writing a response. No HTTP here.
// Specs: KServe's "Open Inference Protocol" REST section (kserve.github.io/website, docs
// "predict-api/v2") and Triton's docs/protocol/extension_binary_data.md.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tiledet/runtime/tensor.hpp"

namespace tiledet::serve {

// A request the client must fix: HTTP 400, gRPC INVALID_ARGUMENT. what(): what was expected,
// what was seen, what to do.
class BadRequest : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// "FP32" <-> ElementType::float32; BYTES is ElementType::string. nullopt for an unknown name.
std::optional<ElementType> parse_datatype(std::string_view name);
std::string datatype_name(ElementType t);

struct InferInput {
    std::string name;
    std::string datatype;
    ElementType type = ElementType::unknown;
    Shape shape;
    Tensor tensor;                      // numeric and BOOL inputs: little-endian element bytes
    std::vector<std::string> elements;  // BYTES inputs: one string per element
    bool from_json_data = false;        // given as JSON "data", not in the binary section
    nlohmann::json parameters = nlohmann::json::object();
};

struct RequestedOutput {
    std::string name;
    bool binary = false;
};

struct InferRequest {
    std::string id;
    nlohmann::json parameters = nlohmann::json::object();
    std::vector<InferInput> inputs;
    std::vector<RequestedOutput> outputs;  // empty: every output
    bool binary_output = false;            // parameters.binary_data_output
};

// `body` is the whole HTTP body; `json_length` the Inference-Header-Content-Length header when
// present (the JSON part's length; the rest is the binary section). Throws BadRequest.
InferRequest parse_infer_request(std::string_view body, std::optional<std::size_t> json_length);
// The header's value; throws BadRequest when it is not a number within the body.
std::optional<std::size_t> parse_header_length(const std::string& value, std::size_t body_size);

struct InferOutput {
    std::string name;
    ElementType type = ElementType::unknown;
    Shape shape;
    Tensor tensor;  // contiguous, shape's element count
};

struct EncodedResponse {
    std::string body;
    std::optional<std::size_t> json_length;  // set when the body has a binary section
};

// The response for `request` (its id, its outputs' binary choices). `parameters` go to the
// response's top level.
EncodedResponse encode_infer_response(const InferRequest& request, const std::string& model_name,
                                      const std::string& model_version, const std::vector<InferOutput>& outputs,
                                      const nlohmann::json& parameters);

}  // namespace tiledet::serve
