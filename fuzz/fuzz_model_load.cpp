// ONNX model load from bytes, its signature, family match and detector construction. ONNX
// Runtime is not instrumented: a crash inside it is reported (not hidden) but is not ours.
#include <cstddef>
#include <cstdint>
#include <span>

#include "tiledet/detectors/detector.hpp"
#include "tiledet/error.hpp"
#include "tiledet/runtime/model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
    tiledet::ModelOptions options;
    options.intra_op_threads = 1;
    options.optimization = tiledet::GraphOptimization::disabled;
    try {
        const auto model = tiledet::Model::from_bytes(bytes, options, "<fuzz>");
        const auto& sig = model.signature();
        (void)tiledet::match_family(sig);
        const auto detector = tiledet::make_detector(sig);
        (void)detector->make_input_slots(1);
    } catch (const tiledet::Error&) {
    }
    return 0;
}
