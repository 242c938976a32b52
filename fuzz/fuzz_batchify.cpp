// batchify on a mutated model: it must refuse (a report, or tiledet::Error) or hand back a
// model that loads and declares a dynamic batch. Verification runs are on, so a repaired model
// is also checked against the original by batchify itself.
#include <cstddef>
#include <cstdint>
#include <span>

#include "tiledet/error.hpp"
#include "tiledet/onnx/batchify.hpp"
#include "tiledet/runtime/model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
    tiledet::BatchifyOptions options;
    options.verify_batches = {2};
    // A mutated shape constant can make a run ask ONNX Runtime for petabytes. A release build
    // gets ORT's clean failure (std::bad_alloc caught in ORT), but under ASan operator new aborts
    // first ("allocation-size-too-big"): bound the runs well below -rss_limit_mb, as a user may.
    options.memory_limit_bytes = std::size_t{1} << 30;
    tiledet::BatchifyReport report;
    try {
        const auto out = tiledet::batchify_model(bytes, options, &report);
        if (!out.empty()) {
            if (!report.ok()) __builtin_trap();  // wrote a model it did not stand behind
            // What batchify hands back must at least load again.
            (void)tiledet::Model::from_bytes(out, {}, "<batchified>");
        }
    } catch (const tiledet::Error&) {
    }
    return 0;
}
