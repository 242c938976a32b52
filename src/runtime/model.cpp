#include "tiledet/runtime/model.hpp"

#include <onnxruntime_cxx_api.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <unordered_map>

#include "tiledet/error.hpp"
#include "tiledet/runtime/providers.hpp"

namespace tiledet {
namespace {

// One ONNX Runtime environment per process (ORT requires a single OrtEnv). Its log level is
// FATAL: every ORT error also comes back as an exception, which tiledet turns into its own
// message (a failed batch, a probe), so ORT's coloured "[E:onnxruntime:...]" lines would only
// repeat it on stderr. TILEDET_ORT_LOG_LEVEL=0..4 (verbose..fatal) shows ORT's own log when
// debugging ONNX Runtime itself.
OrtLoggingLevel ort_log_level() {
    if (const char* v = std::getenv("TILEDET_ORT_LOG_LEVEL"); v && *v >= '0' && *v <= '4' && v[1] == '\0')
        return static_cast<OrtLoggingLevel>(*v - '0');
    return ORT_LOGGING_LEVEL_FATAL;
}

Ort::Env& ort_env() {
    static Ort::Env env = [] {
        disable_onnxruntime_telemetry_unless_asked();
        return Ort::Env(ort_log_level(), "tiledet");
    }();
    return env;
}

ElementType from_ort(ONNXTensorElementDataType t) {
    switch (t) {
        case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT: return ElementType::float32;
        case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16: return ElementType::float16;
        case ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE: return ElementType::float64;
        case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8: return ElementType::int8;
        case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8: return ElementType::uint8;
        case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT16: return ElementType::int16;
        case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32: return ElementType::int32;
        case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64: return ElementType::int64;
        case ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL: return ElementType::boolean;
        case ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING: return ElementType::string;
        default: return ElementType::unknown;
    }
}

ONNXTensorElementDataType to_ort(ElementType t) {
    switch (t) {
        case ElementType::float32: return ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
        case ElementType::float16: return ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16;
        case ElementType::float64: return ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE;
        case ElementType::int8: return ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8;
        case ElementType::uint8: return ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8;
        case ElementType::int16: return ONNX_TENSOR_ELEMENT_DATA_TYPE_INT16;
        case ElementType::int32: return ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32;
        case ElementType::int64: return ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64;
        case ElementType::boolean: return ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL;
        default: return ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
    }
}

std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
}

TensorInfo read_info(const std::string& name, const Ort::TypeInfo& type_info) {
    TensorInfo info;
    info.name = name;
    if (type_info.GetONNXType() != ONNX_TYPE_TENSOR) {
        info.type = ElementType::unknown;
        return info;
    }
    auto tinfo = type_info.GetTensorTypeAndShapeInfo();
    info.type = from_ort(tinfo.GetElementType());
    const std::vector<int64_t> shape = tinfo.GetShape();
    std::vector<const char*> symbols(shape.size(), nullptr);
    tinfo.GetSymbolicDimensions(symbols.data(), symbols.size());
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (shape[i] >= 0)
            info.dims.push_back(Dim::fixed_at(shape[i]));
        else
            info.dims.push_back(Dim::symbolic(symbols[i] ? symbols[i] : ""));
    }
    return info;
}

// ONNX Runtime's message without its source locations and C++ signatures, on one line:
// "/onnxruntime_src/.../model.cc:192 onnxruntime::Model::Model(...) Unsupported model IR
// version: 99 ..." -> "Unsupported model IR version: 99 ...", and a nested "... directory.
// tensorprotoutils.cc:453 ValidateExternalDataPathFromDir External data ..." -> "... directory.
// External data ...".
std::string ort_message(const std::string& raw) {
    std::string m;
    std::size_t i = 0;
    while (i < raw.size()) {
        // A word ending in ".cc:N", ".h:N" or ".cpp:N" (a source location), then a space.
        const std::size_t end = raw.find_first_of(" \n", i);
        const std::string word = raw.substr(i, end == std::string::npos ? std::string::npos : end - i);
        const std::size_t colon = word.rfind(':');
        const bool location =
            colon != std::string::npos && colon + 1 < word.size() &&
            std::all_of(word.begin() + static_cast<std::ptrdiff_t>(colon) + 1, word.end(),
                        [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }) &&
            (word.rfind(".cc:") != std::string::npos || word.rfind(".h:") != std::string::npos ||
             word.rfind(".cpp:") != std::string::npos);
        if (!location || end == std::string::npos) {
            m += raw.substr(i, end == std::string::npos ? std::string::npos : end - i + 1);
            if (end == std::string::npos) break;
            i = end + 1;
            continue;
        }
        // Skip the location, then the function: a signature up to its balanced ')' (and a
        // trailing " const"), or one bare name.
        std::size_t j = end + 1;
        const std::size_t next_space = raw.find(' ', j), open = raw.find('(', j);
        std::size_t third_space = next_space;  // "RETURN_TYPE QUALIFIED::NAME(" at most
        for (int t = 0; t < 2 && third_space != std::string::npos; ++t) third_space = raw.find(' ', third_space + 1);
        if (open != std::string::npos && (third_space == std::string::npos || open < third_space)) {
            int depth = 0;
            std::size_t k = open;
            for (; k < raw.size(); ++k) {
                if (raw[k] == '(') ++depth;
                if (raw[k] == ')' && --depth == 0) break;
            }
            j = k < raw.size() ? k + 1 : raw.size();
            if (raw.compare(j, 6, " const") == 0) j += 6;
        } else {
            j = next_space == std::string::npos ? raw.size() : next_space;
        }
        i = j < raw.size() ? j + 1 : raw.size();
    }
    std::string out;
    for (char c : m) {
        if (c == '\n' || c == '\r') c = ' ';
        if (c == ' ' && (out.empty() || out.back() == ' ')) continue;
        out += c;
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out;
}

// What to do about a model ONNX Runtime cannot load.
std::string load_advice(const std::string& message) {
    if (message.find("IR version") != std::string::npos || message.find("Opset") != std::string::npos ||
        message.find("opset") != std::string::npos)
        return "re-export the model with an opset and IR version that ONNX Runtime " + Ort::GetVersionString() +
               " supports";
    if (message.find("xternal data") != std::string::npos)
        return "a model with external data needs its data files beside it, under the names the model gives";
    return "expected a complete .onnx file that ONNX Runtime can load";
}

std::string remedy_text() {
    return "To run batches of more than one, repair the model with `tiledet batchify IN.onnx OUT.onnx`, "
           "or re-export it with a dynamic batch axis (e.g. dynamic_axes={'images': {0: 'batch'}}).";
}

}  // namespace

void disable_onnxruntime_telemetry_unless_asked() {
    // Set but empty counts as unset: ONNX Runtime takes "" as "not disabled".
    const char* v = std::getenv("ORT_DISABLE_TELEMETRY");
    if (!v || !*v) ::setenv("ORT_DISABLE_TELEMETRY", "1", 1);
}

// One IoBinding per set of input shapes (in practice: per batch size), made on first use and
// kept: its inputs are bound once to buffers that stay put (pinned host staging, or device buffers
// for CUDA graphs) and its outputs once to a memory location.
struct BoundShapes {
    std::unique_ptr<Ort::IoBinding> binding;
    std::vector<Ort::Value> staged;          // host (pinned with a GPU provider) input copies; empty: bind the caller's
    std::vector<Ort::Value> device_inputs;   // CUDA graphs only
    std::vector<Ort::Value> device_outputs;  // CUDA graphs only
    int graph_id = -1;                       // CUDA graphs only: gpu_graph_id of this shape
};

struct Model::Impl {
    std::string name;
    std::uint64_t fingerprint = 0;
    ModelOptions options;
    std::vector<std::string> providers;
    std::vector<std::string> skipped;
    bool io_binding = false;
    bool gpu = false;          // a GPU provider leads the list
    bool pinned_ok = true;     // false once the provider turned out to have no pinned host allocator
    std::mutex binding_mutex;  // an IoBinding is not safe to run from two threads at once
    std::map<std::string, BoundShapes> bound;
    std::unique_ptr<Ort::Session> session;
    ModelSignature signature;
    std::vector<std::string> input_names, output_names;
    std::vector<const char*> input_cnames, output_cnames;
};

// FNV-1a's constants (Fowler, Noll, Vo; http://www.isthe.com/chongo/tech/comp/fnv/), applied to
// 8-byte little-endian words and then to the tail bytes: about 1 GB/s, so a 100 MB model costs
// ~0.1 s, far less than the probe it lets us skip.
std::uint64_t fingerprint_bytes(std::span<const std::byte> bytes) {
    constexpr std::uint64_t kOffset = 14695981039346656037ull, kPrime = 1099511628211ull;
    std::uint64_t h = kOffset ^ bytes.size();
    std::size_t i = 0;
    for (; i + 8 <= bytes.size(); i += 8) {
        std::uint64_t w = 0;
        std::memcpy(&w, bytes.data() + i, 8);
        h = (h ^ w) * kPrime;
    }
    for (; i < bytes.size(); ++i) h = (h ^ static_cast<std::uint64_t>(bytes[i])) * kPrime;
    return h;
}

namespace {

bool cuda_compiled_in() {
    for (const std::string& n : Ort::GetAvailableProviders())
        if (n == "CUDAExecutionProvider") return true;
    return false;
}

// A CPU build of libonnxruntime.so runs CUDA through its plugin library: registered once per
// process with the environment (ORT's "plugin execution provider libraries" API), which then
// lists one OrtEpDevice per GPU. We take the device_id-th CUDA GPU in ORT's order and also pass
// device_id as the provider option; on one GPU both are 0.
Ort::ConstEpDevice cuda_plugin_device(int device_id) {
    static std::mutex mutex;
    static bool registered = false;
    std::lock_guard lock(mutex);
    const std::string lib = runtime_library_dir() + "/" + provider_library_file("cuda");
    if (!registered) {
        try {
            ort_env().RegisterExecutionProviderLibrary("tiledet_cuda", lib);
        } catch (const Ort::Exception& e) {
            throw ConfigError("cannot load the CUDA provider " + lib + ": " + ort_message(e.what()) +
                              ". It needs the CUDA 13 runtime, cuBLAS and cuDNN on the library path (for pip's "
                              "nvidia-* packages, their lib folders in LD_LIBRARY_PATH; scripts/stage_gpu.sh's "
                              "tiledet wrapper adds them) and an NVIDIA driver (libcuda.so.1)");
        }
        registered = true;
    }
    std::vector<Ort::ConstEpDevice> gpus;
    for (const Ort::ConstEpDevice& d : ort_env().GetEpDevices())
        if (std::string(d.EpName()) == "CUDAExecutionProvider") gpus.push_back(d);
    if (gpus.empty())
        throw ConfigError(
            "the CUDA provider loaded but found no GPU (does nvidia-smi list one?); run with --provider cpu");
    if (device_id < 0 || static_cast<std::size_t>(device_id) >= gpus.size())
        throw ConfigError("CUDA device " + std::to_string(device_id) + " does not exist: this machine has " +
                          std::to_string(gpus.size()) + " (0.." + std::to_string(gpus.size() - 1) + ")");
    return gpus[static_cast<std::size_t>(device_id)];
}

// The bounded CPU arena of ModelOptions::memory_limit_bytes: one per environment (ONNX Runtime
// keeps one shared allocator per OrtMemoryInfo). Sessions made earlier hold their own reference
// to the arena they were made with, so replacing it for a new bound is safe.
void use_bounded_cpu_arena(std::size_t limit) {
    static std::mutex mutex;
    static std::size_t registered = 0;
    const std::lock_guard lock(mutex);
    if (registered == limit) return;
    const Ort::MemoryInfo cpu = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
    try {
        if (registered != 0) ort_env().UnregisterAllocator(cpu);
        registered = 0;
        // max_mem; -1 keeps ONNX Runtime's default extend strategy, first chunk and dead bytes.
        const Ort::ArenaCfg arena(limit, -1, -1, -1);
        ort_env().CreateAndRegisterAllocator(cpu, arena);
        registered = limit;
    } catch (const Ort::Exception& e) {
        throw ConfigError(std::string("cannot set up a CPU memory bound of ") + std::to_string(limit) +
                          " bytes for ONNX Runtime: " + ort_message(e.what()));
    }
}

Ort::SessionOptions make_session_options(const ModelOptions& o, std::vector<std::string>& in_use,
                                         std::vector<std::string>& skipped) {
    Ort::SessionOptions so;
    if (o.memory_limit_bytes > 0) {
        use_bounded_cpu_arena(o.memory_limit_bytes);
        so.AddConfigEntry("session.use_env_allocators", "1");
    }
    if (o.intra_op_threads > 0) so.SetIntraOpNumThreads(o.intra_op_threads);
    if (o.inter_op_threads > 0) so.SetInterOpNumThreads(o.inter_op_threads);
    if (o.log_severity >= 0) so.SetLogSeverityLevel(o.log_severity);
    if (!o.optimized_model_path.empty()) so.SetOptimizedModelFilePath(o.optimized_model_path.c_str());
    for (const auto& [key, value] : o.config_entries) so.AddConfigEntry(key.c_str(), value.c_str());
    switch (o.optimization) {
        case GraphOptimization::disabled: so.SetGraphOptimizationLevel(ORT_DISABLE_ALL); break;
        case GraphOptimization::basic: so.SetGraphOptimizationLevel(ORT_ENABLE_BASIC); break;
        case GraphOptimization::extended: so.SetGraphOptimizationLevel(ORT_ENABLE_EXTENDED); break;
        case GraphOptimization::all: so.SetGraphOptimizationLevel(ORT_ENABLE_ALL); break;
    }
    ProviderRequest request;
    for (const std::string& p : o.providers) {
        if (p == "auto")
            request.automatic = true;
        else
            request.providers.push_back(p);
        if (p != "auto" && ort_provider_name(p).empty())
            throw ConfigError("execution provider '" + p + "' is not a provider tiledet knows (known: " +
                              join(known_providers()) + ", auto); available: " + join(Model::available_providers()));
    }
    ProviderChoice choice = choose_providers(request, Model::available_providers(), provider_library_present);
    skipped = std::move(choice.skipped);
    auto enable = [&](const std::string& p) {
        try {
            if (p == "cuda") {
                // ORT's documented CUDA provider option keys
                // (https://onnxruntime.ai/docs/execution-providers/CUDA-ExecutionProvider.html).
                std::unordered_map<std::string, std::string> kv = {{"device_id", std::to_string(o.device_id)}};
                if (o.cuda_graphs) kv["enable_cuda_graph"] = "1";
                if (cuda_compiled_in()) {
                    Ort::CUDAProviderOptions cuda;
                    cuda.Update(kv);
                    so.AppendExecutionProvider_CUDA_V2(*cuda);
                } else {
                    so.AppendExecutionProvider_V2(ort_env(), {cuda_plugin_device(o.device_id)}, kv);
                }
            } else if (p == "tensorrt") {
                Ort::TensorRTProviderOptions trt;
                trt.Update({{"device_id", std::to_string(o.device_id)}});
                so.AppendExecutionProvider_TensorRT_V2(*trt);
            } else if (p == "coreml") {
                so.AppendExecutionProvider("CoreML", {});
            } else {
                so.AppendExecutionProvider(p, {});
            }
        } catch (const Ort::Exception& e) {
            throw ConfigError("cannot enable execution provider '" + p + "' on device " + std::to_string(o.device_id) +
                              ": " + ort_message(e.what()) +
                              (p == "cuda" || p == "tensorrt"
                                   ? " (the CUDA 13 runtime, cuBLAS and cuDNN libraries must be on the library path; "
                                     "scripts/setup.sh --gpu installs ONNX Runtime's provider)"
                                   : ""));
        }
    };
    for (const std::string& p : choice.providers) {
        if (p == "cpu") continue;  // CPU is appended last by ORT itself
        try {
            enable(p);
        } catch (const ConfigError& e) {
            if (!request.automatic) throw;
            skipped.push_back(ort_message(e.what()));  // auto: the next provider, at last the CPU
            continue;
        }
        in_use.push_back(p);
    }
    in_use.push_back("cpu");
    return so;
}

}  // namespace

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;
Model::~Model() = default;


Model Model::load(const std::string& path, const ModelOptions& options) {
    // Read ourselves: a clear error for a missing file, and the same code path as from_bytes.
    const std::vector<std::byte> bytes = read_file_bytes(path);
    return from_bytes(bytes, options, path);
}

Model Model::from_bytes(std::span<const std::byte> bytes, const ModelOptions& options, std::string name) {
    if (bytes.empty()) throw InputError(name + ": empty file, expected an ONNX model (.onnx)");
    auto impl = std::make_unique<Impl>();
    impl->name = std::move(name);
    impl->fingerprint = fingerprint_bytes(bytes);
    impl->options = options;
    // Loaded from bytes, ONNX Runtime resolves a model's external data (weights over 2 GB, or
    // saved apart) against the working directory and refuses it as "escaping" it: when `name`
    // is the model's file, its folder is where the data files are (ONNX's external data spec:
    // locations relative to the model file).
    ModelOptions with_folder = options;
    static constexpr const char* kExternalFolder = "session.model_external_initializers_file_folder_path";
    std::error_code ec;
    if (std::filesystem::is_regular_file(impl->name, ec) &&
        std::none_of(options.config_entries.begin(), options.config_entries.end(),
                     [](const auto& kv) { return kv.first == kExternalFolder; })) {
        const auto folder = std::filesystem::absolute(impl->name, ec).parent_path();
        if (!ec) with_folder.config_entries.emplace_back(kExternalFolder, folder.string());
    }
    Ort::SessionOptions so = make_session_options(with_folder, impl->providers, impl->skipped);
    if (options.cuda_graphs &&
        std::find(impl->providers.begin(), impl->providers.end(), "cuda") == impl->providers.end())
        throw ConfigError(impl->name + ": CUDA graphs need the cuda provider (--provider cuda), got " +
                          impl->providers.front());
    try {
        impl->session = std::make_unique<Ort::Session>(ort_env(), bytes.data(), bytes.size(), so);
    } catch (const Ort::Exception& e) {
        // With a GPU provider, a failure here is most often the provider's (a missing cuDNN, no
        // memory): say so, and for `auto` fall back to the CPU as promised.
        if (impl->providers.size() <= 1)
            throw InputError(impl->name + ": not a loadable ONNX model (" + ort_message(e.what()) + "); " +
                             load_advice(e.what()));
        const std::string what =
            "ONNX Runtime could not start a session on " + impl->providers.front() + ": " + ort_message(e.what());
        if (std::find(options.providers.begin(), options.providers.end(), "auto") == options.providers.end())
            throw ConfigError(impl->name + ": " + what + ". --provider cpu runs it on the CPU");
        impl->skipped.push_back(what);
        ModelOptions cpu_only = with_folder;
        cpu_only.providers = {"cpu"};
        cpu_only.cuda_graphs = false;
        impl->providers.clear();
        std::vector<std::string> unused;
        so = make_session_options(cpu_only, impl->providers, unused);
    }
    impl->gpu = impl->providers.front() == "cuda" || impl->providers.front() == "tensorrt";
    impl->io_binding = options.cuda_graphs || options.io_binding == ModelOptions::IoBinding::on ||
                       (options.io_binding == ModelOptions::IoBinding::automatic && impl->gpu);
    if (!impl->session) try {
            impl->session = std::make_unique<Ort::Session>(ort_env(), bytes.data(), bytes.size(), so);
        } catch (const Ort::Exception& e) {
            throw InputError(impl->name + ": not a loadable ONNX model (" + ort_message(e.what()) + "); " +
                             load_advice(e.what()));
        }
    Ort::Session& s = *impl->session;
    Ort::AllocatorWithDefaultOptions alloc;
    for (std::size_t i = 0; i < s.GetInputCount(); ++i) {
        std::string n = s.GetInputNameAllocated(i, alloc).get();
        impl->signature.inputs.push_back(read_info(n, s.GetInputTypeInfo(i)));
        impl->input_names.push_back(std::move(n));
    }
    for (std::size_t i = 0; i < s.GetOutputCount(); ++i) {
        std::string n = s.GetOutputNameAllocated(i, alloc).get();
        impl->signature.outputs.push_back(read_info(n, s.GetOutputTypeInfo(i)));
        impl->output_names.push_back(std::move(n));
    }
    for (const auto& n : impl->input_names) impl->input_cnames.push_back(n.c_str());
    for (const auto& n : impl->output_names) impl->output_cnames.push_back(n.c_str());
    Ort::ModelMetadata md = s.GetModelMetadata();
    impl->signature.producer = md.GetProducerNameAllocated(alloc).get();
    impl->signature.graph_name = md.GetGraphNameAllocated(alloc).get();
    for (const auto& key : md.GetCustomMetadataMapKeysAllocated(alloc)) {
        auto value = md.LookupCustomMetadataMapAllocated(key.get(), alloc);
        impl->signature.metadata[key.get()] = value ? value.get() : "";
    }
    return Model(std::move(impl));
}

const ModelSignature& Model::signature() const { return impl_->signature; }
const std::string& Model::name() const { return impl_->name; }

std::uint64_t Model::fingerprint() const {
    return impl_->fingerprint;
}
const std::vector<std::string>& Model::providers() const { return impl_->providers; }
const std::vector<std::string>& Model::providers_skipped() const {
    return impl_->skipped;
}
bool Model::uses_io_binding() const {
    return impl_->io_binding;
}

void Model::check_inputs(const std::vector<Tensor>& inputs) const {
    const ModelSignature& sig = impl_->signature;
    auto fail = [&](const std::string& what) {
        std::ostringstream os;
        os << impl_->name << ": " << what << ". The model's signature:\n" << sig.describe();
        throw ShapeError(os.str());
    };
    if (inputs.size() != sig.inputs.size())
        fail("expected " + std::to_string(sig.inputs.size()) + " input tensors, got " + std::to_string(inputs.size()));
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        const TensorInfo& want = sig.inputs[i];
        const Tensor& got = inputs[i];
        if (got.type() != want.type)
            fail("input '" + want.name + "' expects " + to_string(want.type) + ", got " + to_string(got.type()));
        if (got.rank() != want.rank())
            fail("input '" + want.name + "' expects rank " + std::to_string(want.rank()) + " " + want.dims_string() +
                 ", got " + to_string(got.shape()));
        for (std::size_t d = 0; d < want.rank(); ++d) {
            if (want.dims[d].fixed() && want.dims[d].value != got.dim(d)) {
                std::string msg = "input '" + want.name + "' expects " + want.dims_string() + ", got " +
                                  to_string(got.shape());
                if (d == 0) msg += ". " + remedy_text();
                fail(msg);
            }
        }
    }
}

std::vector<Tensor> Model::run(const std::vector<Tensor>& inputs) const {
    check_inputs(inputs);
    if (impl_->io_binding) return run_bound(inputs);
    Ort::MemoryInfo mem = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
    std::vector<Ort::Value> in_values;
    in_values.reserve(inputs.size());
    for (const Tensor& t : inputs) {
        // Zero-copy: ORT reads our buffer directly.
        in_values.push_back(Ort::Value::CreateTensor(mem, const_cast<std::byte*>(t.bytes()), t.byte_size(),
                                                     t.shape().data(), t.shape().size(), to_ort(t.type())));
    }
    std::vector<Ort::Value> out_values;
    try {
        out_values = impl_->session->Run(Ort::RunOptions{nullptr}, impl_->input_cnames.data(), in_values.data(),
                                         in_values.size(), impl_->output_cnames.data(), impl_->output_cnames.size());
    } catch (const Ort::Exception& e) {
        throw RuntimeFailure(impl_->name + ": ONNX Runtime failed: " + ort_message(e.what()));
    }
    std::vector<Tensor> outputs;
    outputs.reserve(out_values.size());
    for (Ort::Value& v : out_values) {
        auto info = v.GetTensorTypeAndShapeInfo();
        const ElementType type = from_ort(info.GetElementType());
        Shape shape = info.GetShape();
        auto owner = std::make_shared<Ort::Value>(std::move(v));
        std::byte* data = static_cast<std::byte*>(owner->GetTensorMutableRawData());
        outputs.emplace_back(type, std::move(shape), std::move(owner), data);
    }
    return outputs;
}

namespace {

// ONNX Runtime's allocator names (onnxruntime/core/framework/allocator.h: CUDA = "Cuda",
// CUDA_PINNED = "CudaPinned"). Pinned host memory is what the CUDA provider DMAs from without a
// bounce buffer; OrtMemTypeCPUOutput marks it as host memory the provider can read and write.
Ort::MemoryInfo pinned_memory(int device) {
    return Ort::MemoryInfo("CudaPinned", OrtDeviceAllocator, device, OrtMemTypeCPUOutput);
}
Ort::MemoryInfo device_memory(int device) {
    return Ort::MemoryInfo("Cuda", OrtDeviceAllocator, device, OrtMemTypeDefault);
}

std::string shapes_key(const std::vector<Tensor>& inputs) {
    std::string key;
    for (const Tensor& t : inputs) key += to_string(t.shape()) + ";";
    return key;
}

Tensor to_tensor(Ort::Value v) {
    auto info = v.GetTensorTypeAndShapeInfo();
    const ElementType type = from_ort(info.GetElementType());
    Shape shape = info.GetShape();
    auto owner = std::make_shared<Ort::Value>(std::move(v));
    std::byte* data = static_cast<std::byte*>(owner->GetTensorMutableRawData());
    return Tensor(type, std::move(shape), std::move(owner), data);
}

}  // namespace

std::vector<Tensor> Model::run_bound(const std::vector<Tensor>& inputs) const {
    Impl& m = *impl_;
    const int dev = m.options.device_id;
    std::lock_guard lock(m.binding_mutex);
    try {
        auto [it, fresh] = m.bound.try_emplace(shapes_key(inputs));
        BoundShapes& b = it->second;
        if (fresh) {
            b.binding = std::make_unique<Ort::IoBinding>(*m.session);
            if (m.gpu && m.pinned_ok) {
                // Staging buffers in pinned memory, allocated once for these shapes: the caller's
                // batch is copied in (host to host), then crosses the bus in one DMA per input.
                // A provider without a "CudaPinned" allocator (not verified on the plugin build)
                // leaves us with the caller's pageable buffers, which ORT copies itself.
                try {
                    Ort::Allocator pinned(*m.session, pinned_memory(dev));
                    for (const Tensor& t : inputs)
                        b.staged.push_back(
                            Ort::Value::CreateTensor(pinned, t.shape().data(), t.shape().size(), to_ort(t.type())));
                } catch (const Ort::Exception&) {
                    if (m.options.cuda_graphs) throw;
                    m.pinned_ok = false;
                    b.staged.clear();
                }
            }
            if (m.options.cuda_graphs) {
                // A CUDA graph replays fixed device addresses: inputs and outputs live in device
                // buffers made once per shape, and each shape gets its own graph
                // (gpu_graph_id, ORT >= 1.19; see the CUDA provider's "Using CUDA Graphs" docs).
                Ort::Allocator on_device(*m.session, device_memory(dev));
                for (const Tensor& t : inputs)
                    b.device_inputs.push_back(
                        Ort::Value::CreateTensor(on_device, t.shape().data(), t.shape().size(), to_ort(t.type())));
                const int64_t batch = inputs.front().dim(0);
                for (const TensorInfo& out : m.signature.outputs) {
                    Shape shape;
                    for (std::size_t d = 0; d < out.rank(); ++d) {
                        if (out.dims[d].fixed())
                            shape.push_back(out.dims[d].value);
                        else if (d == 0)
                            shape.push_back(batch);
                        else
                            throw ConfigError(
                                m.name + ": CUDA graphs need every output dimension but the batch fixed; output '" +
                                out.name + "' is " + out.dims_string() + ". Run without CUDA graphs.");
                    }
                    b.device_outputs.push_back(
                        Ort::Value::CreateTensor(on_device, shape.data(), shape.size(), to_ort(out.type)));
                }
                for (std::size_t i = 0; i < inputs.size(); ++i)
                    b.binding->BindInput(m.input_cnames[i], b.device_inputs[i]);
                for (std::size_t i = 0; i < m.output_cnames.size(); ++i)
                    b.binding->BindOutput(m.output_cnames[i], b.device_outputs[i]);
                b.graph_id = static_cast<int>(m.bound.size());  // 1, 2, ...: never ORT's default -1
            } else {
                // Outputs are allocated by ORT on the first run where we say (pinned host memory with
                // a GPU provider: one device-to-host DMA; plain CPU memory otherwise) and reused by
                // later runs of the same shapes.
                const Ort::MemoryInfo out_mem = m.gpu && m.pinned_ok
                                                    ? pinned_memory(dev)
                                                    : Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
                for (const char* name : m.output_cnames) b.binding->BindOutput(name, out_mem);
                for (std::size_t i = 0; i < b.staged.size(); ++i) b.binding->BindInput(m.input_cnames[i], b.staged[i]);
            }
        }
        for (std::size_t i = 0; i < b.staged.size(); ++i)
            std::memcpy(b.staged[i].GetTensorMutableRawData(), inputs[i].bytes(), inputs[i].byte_size());
        if (b.staged.empty() && !m.options.cuda_graphs) {
            // CPU: bind the caller's buffers themselves (zero copy), which move from call to call.
            Ort::MemoryInfo cpu = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
            b.binding->ClearBoundInputs();
            for (std::size_t i = 0; i < inputs.size(); ++i) {
                const Tensor& t = inputs[i];
                b.binding->BindInput(m.input_cnames[i],
                                     Ort::Value::CreateTensor(cpu, const_cast<std::byte*>(t.bytes()), t.byte_size(),
                                                              t.shape().data(), t.shape().size(), to_ort(t.type())));
            }
        }
        Ort::RunOptions run_options;
        if (m.options.cuda_graphs) {
            // Host to device through ONNX Runtime's own data transfer (OrtApi::CopyTensors, 1.23+).
            Ort::Status st = ort_env().CopyTensors(b.staged, b.device_inputs, nullptr);
            if (!st.IsOK())
                throw RuntimeFailure(m.name + ": copying a batch to the device failed: " + st.GetErrorMessage());
            run_options.AddConfigEntry("gpu_graph_id", std::to_string(b.graph_id).c_str());
        }
        m.session->Run(run_options, *b.binding);
        b.binding->SynchronizeOutputs();
        std::vector<Tensor> outputs;
        if (m.options.cuda_graphs) {
            // The device outputs are reused by the next replay: copy them out now.
            Ort::AllocatorWithDefaultOptions host;
            std::vector<Ort::Value> copies;
            for (const Ort::Value& d : b.device_outputs) {
                const auto info = d.GetTensorTypeAndShapeInfo();
                const std::vector<int64_t> shape = info.GetShape();
                copies.push_back(Ort::Value::CreateTensor(host, shape.data(), shape.size(), info.GetElementType()));
            }
            Ort::Status st = ort_env().CopyTensors(b.device_outputs, copies, nullptr);
            if (!st.IsOK())
                throw RuntimeFailure(m.name + ": copying outputs from the device failed: " + st.GetErrorMessage());
            for (Ort::Value& v : copies) outputs.push_back(to_tensor(std::move(v)));
        } else {
            // ORT keeps the outputs bound after the first run at these shapes and writes the next
            // run into the same buffers (pinned with a GPU provider): hand out copies, since the
            // caller may hold these results while the next batch runs (a test pins this).
            for (const Ort::Value& v : b.binding->GetOutputValues()) {
                const auto info = v.GetTensorTypeAndShapeInfo();
                if (info.GetElementType() == ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING)
                    throw ConfigError(m.name + ": a string output cannot go through IoBinding; use --io-binding off");
                Tensor t = Tensor::uninitialized(from_ort(info.GetElementType()), info.GetShape());
                std::memcpy(t.bytes(), v.GetTensorData<std::byte>(), t.byte_size());
                outputs.push_back(std::move(t));
            }
        }
        return outputs;
    } catch (const Ort::Exception& e) {
        throw RuntimeFailure(m.name + ": ONNX Runtime failed: " + ort_message(e.what()));
    }
}

std::vector<std::string> Model::available_providers() {
    std::vector<std::string> out;
    for (const std::string& ort_name : Ort::GetAvailableProviders()) {
        std::string ours = ort_name;
        for (const std::string& o : known_providers())
            if (ort_provider_name(o) == ort_name) ours = o;
        out.push_back(ours);
    }
    // ONNX Runtime's list names only the providers compiled into libonnxruntime.so. A CPU build
    // (as in the asus4 npm packages: the GPU package adds only libonnxruntime_providers_cuda.so
    // and _tensorrt.so) loads the CUDA provider as a plugin execution provider library
    // (OrtApi::RegisterExecutionProviderLibrary, ORT >= 1.22) without listing it: count it too. Checked here: the CPU
    // libonnxruntime.so 1.29.0 of com.github.asus4.onnxruntime@0.4.9 lists only CPUExecutionProvider. Only CUDA's
    // library is such a plugin (it exports CreateEpFactories; the TensorRT library of the same package exports only the
    // legacy GetProvider: nm -D, package 0.4.9).
    if (std::find(out.begin(), out.end(), "cuda") == out.end() && provider_library_present("cuda"))
        out.push_back("cuda");
    return out;
}

std::string Model::runtime_version() { return Ort::GetVersionString(); }

std::vector<std::byte> read_file_bytes(const std::string& path) {
    // On Linux a folder opens as a stream whose size reads as huge, hence the check first.
    std::error_code ec;
    if (path.find('\0') != std::string::npos)
        throw InputError(printable(path, 200) + ": a path with a NUL byte in it; expected an .onnx file's path");
    if (std::filesystem::is_directory(path, ec)) throw InputError(path + ": is a folder; expected an .onnx file");
    // A FIFO would block the open until something writes to it; /dev/zero would read forever.
    if (std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec))
        throw InputError(path + ": not a regular file (a pipe, socket or device); expected an .onnx file");
    // Protobuf parses at most 2 GB (INT_MAX bytes); bigger models keep their weights as external data.
    if (const auto n = std::filesystem::file_size(path, ec); !ec && n > static_cast<std::uintmax_t>(INT32_MAX))
        throw InputError(path + ": " + std::to_string(n) +
                         " bytes, over the 2 GB an .onnx file can hold (protobuf's limit); a model that large keeps "
                         "its weights in external data files beside it");
    std::ifstream f(path, std::ios::binary | std::ios::ate);
    if (!f) throw InputError(path + ": cannot open (no such file, or not readable)");
    const std::streamsize size = f.tellg();
    if (size < 0) throw InputError(path + ": cannot read (is it a directory?)");
    std::vector<std::byte> bytes(static_cast<std::size_t>(size));
    f.seekg(0);
    if (size > 0 && !f.read(reinterpret_cast<char*>(bytes.data()), size))
        throw InputError(path + ": read failed");
    return bytes;
}

}  // namespace tiledet
