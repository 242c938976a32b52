// Execution providers as the user names them (--provider) and the choice of which ONNX Runtime
// will use. Parsing and the choice are plain functions of their inputs, so the GPU rules (device
// ids, a provider this build lacks, a provider library that is not installed, `auto` falling back
// to the CPU) are tested on machines without a GPU.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tiledet/runtime/model.hpp"

namespace tiledet {

// A parsed --provider value: "cpu", "cuda", "cuda:1", "tensorrt,cuda", "tensorrt:0,cuda:0",
// "auto". Names are case-sensitive and lower-case, as tiledet prints them.
struct ProviderRequest {
    std::vector<std::string> providers;  // priority order, without duplicates
    std::optional<int> device_id;        // from NAME:DEVICE; the same for every GPU provider named
    bool automatic = false;              // "auto": tensorrt, cuda, cpu, whichever this machine runs
};

// Throws OptionError (option "--provider") naming what was expected and what was seen: an unknown
// name (with the known ones), a device on the CPU, a bad or negative device number, two
// different devices, a duplicate, "auto" mixed with names, an empty value.
ProviderRequest parse_provider_list(std::string_view text);

// Sets options.providers and options.device_id from the command line's --provider TEXT and
// --device-id (device_id_flag; 0 is its default). The device of NAME:DEVICE wins; a --device-id
// other than 0 that disagrees with it is an OptionError. io_binding_flag: "auto", "on" or "off"
// (--io-binding), else an OptionError.
void apply_provider_flags(ModelOptions& options, std::string_view text, int device_id_flag,
                          std::string_view io_binding_flag = "auto", bool cuda_graphs = false);

// The providers tiledet knows, in its names ("cpu", "cuda", "tensorrt", ...).
const std::vector<std::string>& known_providers();

// ONNX Runtime's name for one of ours ("cuda" -> "CUDAExecutionProvider"); empty if unknown.
std::string ort_provider_name(const std::string& ours);

// The shared library ONNX Runtime loads for a provider ("libonnxruntime_providers_cuda.so"), or
// empty for providers built into libonnxruntime.so itself (cpu).
std::string provider_library_file(const std::string& provider);

struct ProviderChoice {
    std::vector<std::string> providers;  // to enable, priority order; always ends with "cpu"
    std::vector<std::string> skipped;    // "auto" only: one line per provider passed over, and why
};

// The fallback rules, with the facts of this machine passed in:
// - every provider named explicitly must be usable, else ConfigError naming what is missing and
//   what installs it (`scripts/setup.sh --gpu`); tiledet never silently runs a GPU request on
//   the CPU;
// - "auto" takes tensorrt, then cuda, whichever are usable, and says in `skipped` why the others
//   were not;
// - "cpu" always ends the list: ONNX Runtime runs on the CPU the nodes a GPU provider lacks.
// `available`: tiledet names of the providers compiled into this ONNX Runtime;
// `library_present(provider)`: whether its provider library is installed.
ProviderChoice choose_providers(const ProviderRequest& request, const std::vector<std::string>& available,
                                const std::function<bool(const std::string&)>& library_present);

// This process's facts for choose_providers: the folder the loaded libonnxruntime.so lives in
// (dladdr), and whether a provider's library is in it.
std::string runtime_library_dir();
bool provider_library_present(const std::string& provider);

}  // namespace tiledet
