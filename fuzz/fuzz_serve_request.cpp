// The Open Inference Protocol's inference request as the server reads it: a JSON header,
// optionally followed by Triton's binary-data section whose split is the
// Inference-Header-Content-Length header. The first input byte picks whether that header is
// sent and where it points; the rest is the body. parse_infer_request must refuse (BadRequest)
// or return inputs whose tensors hold exactly their shape's elements.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "protocol.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 3) return 0;
    const std::string_view body(reinterpret_cast<const char*>(data + 3), size - 3);
    std::optional<std::size_t> json_length;
    if (data[0] & 1) {
        // The header as a client would send it: a decimal length, sometimes past the body's end.
        const std::string header = std::to_string((std::size_t{data[1]} << 8 | data[2]) % (body.size() + 8));
        try {
            json_length = tiledet::serve::parse_header_length(header, body.size());
        } catch (const tiledet::serve::BadRequest&) {
            return 0;
        }
        if (json_length && *json_length > body.size()) __builtin_trap();  // must be refused instead
    }
    try {
        const tiledet::serve::InferRequest r = tiledet::serve::parse_infer_request(body, json_length);
        for (const auto& in : r.inputs) {
            std::size_t count = 1;
            for (const auto d : in.shape) {
                if (d < 0) __builtin_trap();
                count *= static_cast<std::size_t>(d);
            }
            if (in.type == tiledet::ElementType::string) {
                if (in.elements.size() != count) __builtin_trap();
            } else if (static_cast<std::size_t>(in.tensor.numel()) != count || in.tensor.shape() != in.shape ||
                       (count > 0 && in.tensor.empty())) {
                __builtin_trap();
            }
        }
    } catch (const tiledet::serve::BadRequest&) {
    }
    return 0;
}
