// ONNX model load from bytes, its signature, family match and detector construction. ONNX
// Runtime is not instrumented: a crash inside it is reported (not hidden) but is not ours.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>

#include "tiledet/detectors/detector.hpp"
#include "tiledet/error.hpp"
#include "tiledet/limits.hpp"
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
        // The pipeline refuses inputs over Limits::max_input_elements before it allocates a slot
        // (pipeline.cpp, check_signature_limits); make_input_slots itself allocates whatever the
        // signature says, so the harness applies the same limit first.
        const auto [in_h, in_w] = detector->input_size();
        const std::int64_t limit = tiledet::Limits{}.max_input_elements;
        if (std::int64_t{3} * in_h * in_w > limit) return 0;
        for (const auto& t : sig.inputs) {
            std::int64_t n = 1;
            for (std::size_t i = t.rank() >= 2 ? 1 : 0; i < t.rank(); ++i) {
                const std::int64_t d = t.dims[i].fixed() ? t.dims[i].value : 1;
                if (d > 0 && n > limit / d) return 0;
                n *= std::max<std::int64_t>(d, 0);
            }
        }
        (void)detector->make_input_slots(1);
    } catch (const tiledet::Error&) {
    }
    return 0;
}
