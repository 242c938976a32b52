#include "tiledet/runtime/providers.hpp"

#include <dlfcn.h>
#include <onnxruntime_c_api.h>

#include <algorithm>
#include <charconv>
#include <filesystem>

#include "tiledet/error.hpp"

namespace tiledet {
namespace {

struct KnownProvider {
    std::string ours, ort, library;
    bool gpu;
};

// ONNX Runtime's provider names (include/onnxruntime/core/graph/constants.h, kCpuExecutionProvider
// etc.) and the libraries it loads for them: provider_bridge_ort.cc looks for
// "libonnxruntime_providers_<name>.so" in the folder of libonnxruntime.so itself
// (Env::GetRuntimePath), which is where scripts/setup.sh --gpu puts them.
const std::vector<KnownProvider>& table() {
    static const std::vector<KnownProvider> t = {
        {"cpu", "CPUExecutionProvider", "", false},
        {"cuda", "CUDAExecutionProvider", "libonnxruntime_providers_cuda.so", true},
        {"tensorrt", "TensorrtExecutionProvider", "libonnxruntime_providers_tensorrt.so", true},
        {"coreml", "CoreMLExecutionProvider", "", false},
        {"dml", "DmlExecutionProvider", "", true},
        {"openvino", "OpenVINOExecutionProvider", "libonnxruntime_providers_openvino.so", false},
    };
    return t;
}

const KnownProvider* find(std::string_view name) {
    for (const auto& p : table())
        if (p.ours == name) return &p;
    return nullptr;
}

std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
}

[[noreturn]] void bad(std::string_view text, const std::string& why) {
    throw OptionError("--provider", "",
                      ": " + why + " (got '" + std::string(text) +
                          "'); expected names in priority order, comma-separated, from: " + join(known_providers()) +
                          ", a GPU device as NAME:DEVICE (cuda:1), or 'auto'");
}

std::string install_hint(const std::string& p) {
    if (p == "cuda")
        return "; install the CUDA 13 provider with scripts/setup.sh --gpu (ONNX Runtime's "
               "com.github.asus4.onnxruntime.linux-x64-gpu package) and make sure the CUDA 13 runtime, cuBLAS "
               "and cuDNN libraries are on the library path";
    if (p == "tensorrt")
        // The npm CPU build loads CUDA as a plugin (its library exports CreateEpFactories); the
        // TensorRT library of the same package exports only the legacy GetProvider, which needs a
        // libonnxruntime.so built with TensorRT (checked with nm -D on both, 0.4.9).
        return "; TensorRT needs an ONNX Runtime built with it (ONNXRUNTIME_ROOT=/path/to/that build) and "
               "TensorRT's own libraries: the npm CPU build that scripts/setup.sh installs can load only the "
               "CUDA provider (scripts/setup.sh --gpu)";
    return {};
}

}  // namespace

const std::vector<std::string>& known_providers() {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> v;
        for (const auto& p : table()) v.push_back(p.ours);
        return v;
    }();
    return names;
}

std::string ort_provider_name(const std::string& ours) {
    const KnownProvider* p = find(ours);
    return p ? p->ort : std::string();
}

std::string provider_library_file(const std::string& provider) {
    const KnownProvider* p = find(provider);
    return p ? p->library : std::string();
}

ProviderRequest parse_provider_list(std::string_view text) {
    ProviderRequest r;
    if (text.empty()) bad(text, "empty value");
    std::size_t start = 0;
    while (start <= text.size()) {
        const std::size_t comma = std::min(text.find(',', start), text.size());
        const std::string_view item = text.substr(start, comma - start);
        start = comma + 1;
        if (item.empty()) bad(text, "an empty name between commas");
        const std::size_t colon = item.find(':');
        const std::string name(item.substr(0, colon));
        if (name == "auto") {
            if (colon != std::string_view::npos) bad(text, "'auto' takes no device");
            r.automatic = true;
            continue;
        }
        const KnownProvider* p = find(name);
        if (!p) bad(text, "unknown execution provider '" + name + "'");
        if (std::find(r.providers.begin(), r.providers.end(), name) != r.providers.end())
            bad(text, "'" + name + "' is named twice");
        if (colon != std::string_view::npos) {
            if (!p->gpu) bad(text, "'" + name + "' takes no device number");
            const std::string_view num = item.substr(colon + 1);
            int device = -1;
            const auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), device);
            if (num.empty() || ec != std::errc() || end != num.data() + num.size() || device < 0)
                bad(text, "device '" + std::string(num) + "' of '" + name + "' is not a number >= 0");
            if (r.device_id && *r.device_id != device)
                bad(text, "two different devices (" + std::to_string(*r.device_id) + " and " + std::to_string(device) +
                              "); one model runs on one device");
            r.device_id = device;
        }
        r.providers.push_back(name);
    }
    if (r.automatic && !r.providers.empty()) bad(text, "'auto' chooses the providers itself; give it alone");
    return r;
}

ProviderChoice choose_providers(const ProviderRequest& request, const std::vector<std::string>& available,
                                const std::function<bool(const std::string&)>& library_present) {
    auto in_build = [&](const std::string& p) {
        return p == "cpu" || std::find(available.begin(), available.end(), p) != available.end();
    };
    // Why `p` cannot run here, or empty when it can.
    auto missing = [&](const std::string& p) -> std::string {
        if (!in_build(p))
            return "execution provider '" + p + "' is not in this ONNX Runtime build (available: " + join(available) +
                   ")" + install_hint(p);
        const std::string lib = provider_library_file(p);
        if (!lib.empty() && !library_present(p))
            return "execution provider '" + p + "' needs " + lib + " beside libonnxruntime.so (in " +
                   runtime_library_dir() + "), which is not there" + install_hint(p);
        return {};
    };
    ProviderChoice c;
    if (request.automatic) {
        for (const char* p : {"tensorrt", "cuda"}) {
            if (std::string why = missing(p); why.empty())
                c.providers.push_back(p);
            else
                c.skipped.push_back(why);
        }
    } else {
        for (const std::string& p : request.providers) {
            if (p == "cpu") continue;  // appended last below
            if (std::string why = missing(p); !why.empty()) throw ConfigError(why);
            c.providers.push_back(p);
        }
    }
    c.providers.push_back("cpu");
    return c;
}

void apply_provider_flags(ModelOptions& options, std::string_view text, int device_id_flag,
                          std::string_view io_binding_flag, bool cuda_graphs) {
    const ProviderRequest r = parse_provider_list(text);
    if (device_id_flag < 0)
        throw OptionError("--device-id", "", ": expected a GPU number >= 0, got " + std::to_string(device_id_flag));
    if (r.device_id && device_id_flag != 0 && *r.device_id != device_id_flag)
        throw OptionError("--device-id", "",
                          " " + std::to_string(device_id_flag) + " disagrees with --provider '" + std::string(text) +
                              "'; give the device once");
    options.providers = r.automatic ? std::vector<std::string>{"auto"} : r.providers;
    options.device_id = r.device_id.value_or(device_id_flag);
    if (io_binding_flag == "auto")
        options.io_binding = ModelOptions::IoBinding::automatic;
    else if (io_binding_flag == "on")
        options.io_binding = ModelOptions::IoBinding::on;
    else if (io_binding_flag == "off")
        options.io_binding = ModelOptions::IoBinding::off;
    else
        throw OptionError("--io-binding", "", ": expected auto, on or off, got '" + std::string(io_binding_flag) + "'");
    if (cuda_graphs && options.io_binding == ModelOptions::IoBinding::off)
        throw OptionError("--cuda-graphs", "", " needs IoBinding; drop --io-binding off");
    if (cuda_graphs && std::find(r.providers.begin(), r.providers.end(), "cuda") == r.providers.end())
        throw OptionError(
            "--cuda-graphs", "",
            " needs the cuda provider (--provider cuda[:DEVICE]), got --provider '" + std::string(text) + "'");
    options.cuda_graphs = cuda_graphs;
}

std::string runtime_library_dir() {
    // The folder of the libonnxruntime.so this process loaded (OrtGetApiBase is its one exported
    // entry point), which is where ONNX Runtime looks for provider libraries.
    Dl_info info{};
    if (dladdr(reinterpret_cast<const void*>(&OrtGetApiBase), &info) == 0 || !info.dli_fname) return {};
    std::error_code ec;
    const auto path = std::filesystem::canonical(info.dli_fname, ec);
    return (ec ? std::filesystem::path(info.dli_fname) : path).parent_path().string();
}

bool provider_library_present(const std::string& provider) {
    const std::string lib = provider_library_file(provider);
    if (lib.empty()) return true;
    std::error_code ec;
    return std::filesystem::exists(std::filesystem::path(runtime_library_dir()) / lib, ec);
}

}  // namespace tiledet
