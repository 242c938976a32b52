// The runtime's ceiling: the model's sessions run directly on input tensors built once, at a
// given batch size, with no tiling, queue, pre- or post-processing. Every pipeline row is
// compared with this (efficiency = pipeline tiles/s / bare tiles/s).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "tiledet/bench/percentiles.hpp"
#include "tiledet/bench/windows.hpp"
#include "tiledet/runtime/model.hpp"

namespace tiledet::bench {

struct BareConfig {
    int batch = 1;
    int instances = 1;  // sessions running side by side, one thread each driving it
    int threads = 0;    // intra-op threads per session; 0: cores / instances (ORT's default for 1)
};

struct BareResult {
    BareConfig config;          // threads resolved
    WindowedRun run;
    double tiles_per_s = 0;     // items (batch x runs) per second over the reported windows
    double runs_per_s = 0;
    Percentiles run_latency;    // one batch run, ms
    std::string error;          // why it could not run (e.g. batch 2 on a static-batch-1 model)
};

// The batch sizes this model can run: a dynamic batch takes any; a static batch N only N; a
// model without a batch axis runs its inputs as they are (reported as batch 1).
bool batch_supported(const ModelSignature& sig, int batch);

// One input tensor per model input for `batch` items: float/uint8 images filled with a fixed
// pseudo-random pattern, int64 [batch, 2] size inputs (official RT-DETR's orig_target_sizes)
// with the image height and width, other types zero. Symbolic non-batch dims of a rank-4 image
// take `image_hw`; other symbolic dims take 1. Throws ConfigError for an unsupported batch.
std::vector<Tensor> make_bare_inputs(const ModelSignature& sig, int batch, std::pair<int, int> image_hw = {640, 640});

// Threads per session when config.threads is 0: `total_threads` (0: ONNX Runtime's default) for
// one instance, else the total (0: the machine's cores) split between instances, at least 1 each,
// as make_model_backends splits them for the pipeline.
int resolve_threads(const BareConfig& config, int total_threads = 0);

// Opens config.instances sessions of `path` (base options, intra_op_threads replaced) and
// measures them. Errors while loading or running end in BareResult::error, not an exception.
BareResult measure_bare(const std::string& path, BareConfig config, const ModelOptions& base,
                        const WindowOptions& windows, std::pair<int, int> image_hw = {640, 640});

// The same on sessions already open (one worker thread per model).
BareResult measure_bare(const std::vector<const Model*>& sessions, BareConfig config, const WindowOptions& windows,
                        std::pair<int, int> image_hw = {640, 640});

}  // namespace tiledet::bench
