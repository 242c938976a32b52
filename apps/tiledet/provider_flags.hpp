// --provider, --device-id, --io-binding, --cuda-graphs: one definition for every command that
// loads a model to run it (detect, bench, demo, eval), parsed by tiledet::apply_provider_flags.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "tiledet/runtime/providers.hpp"

namespace tiledet::cli {

inline void add_provider_flags(CLI::App& app, std::string& provider, int& device_id, std::string& io_binding,
                               bool& cuda_graphs) {
    app.add_option("--provider", provider,
                   "Execution providers in priority order, comma-separated: cpu, cuda[:DEVICE], tensorrt[:DEVICE], "
                   "coreml; or auto (tensorrt, cuda, cpu: the first this machine runs). CPU runs what a GPU "
                   "provider lacks. A GPU provider needs scripts/setup.sh --gpu")
        ->capture_default_str();
    app.add_option("--device-id", device_id, "GPU device id (or --provider cuda:DEVICE)");
    app.add_option("--io-binding", io_binding,
                   "ONNX Runtime IoBinding: auto (on with a GPU provider: pinned host staging, outputs bound per "
                   "batch size), on, off")
        ->capture_default_str();
    app.add_flag("--cuda-graphs", cuda_graphs, "Capture one CUDA graph per batch size (cuda provider only)");
}

}  // namespace tiledet::cli
