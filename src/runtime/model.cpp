#include "tiledet/runtime/model.hpp"

#include <onnxruntime_cxx_api.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include "tiledet/error.hpp"

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
    static Ort::Env env(ort_log_level(), "tiledet");
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

// tiledet's provider names <-> ONNX Runtime's.
const std::vector<std::pair<std::string, std::string>>& provider_names() {
    static const std::vector<std::pair<std::string, std::string>> names = {
        {"cpu", "CPUExecutionProvider"},
        {"cuda", "CUDAExecutionProvider"},
        {"tensorrt", "TensorrtExecutionProvider"},
        {"coreml", "CoreMLExecutionProvider"},
        {"dml", "DmlExecutionProvider"},
        {"openvino", "OpenVINOExecutionProvider"},
    };
    return names;
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

std::string remedy_text() {
    return "To run batches of more than one, repair the model with `tiledet batchify IN.onnx OUT.onnx`, "
           "or re-export it with a dynamic batch axis (e.g. dynamic_axes={'images': {0: 'batch'}}).";
}

}  // namespace

struct Model::Impl {
    std::string name;
    std::uint64_t fingerprint = 0;
    ModelOptions options;
    std::vector<std::string> providers;
    std::unique_ptr<Ort::Session> session;
    ModelSignature signature;
    std::vector<std::string> input_names, output_names;
    std::vector<const char*> input_cnames, output_cnames;
};

namespace {

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

Ort::SessionOptions make_session_options(const ModelOptions& o, std::vector<std::string>& in_use) {
    Ort::SessionOptions so;
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
    const std::vector<std::string> available = Model::available_providers();
    for (const std::string& p : o.providers) {
        if (std::find(available.begin(), available.end(), p) == available.end()) {
            bool known = false;
            for (const auto& [ours, _] : provider_names()) known |= (ours == p);
            throw ConfigError("execution provider '" + p + "' " +
                              (known ? "is not in this ONNX Runtime build" : "is not a provider tiledet knows") +
                              "; available: " + join(available) +
                              (p == "cuda" || p == "tensorrt" ? " (install the GPU build with scripts/setup.sh --gpu)" : ""));
        }
        if (p == "cpu") continue;  // CPU is appended last by ORT itself
        try {
            if (p == "cuda") {
                OrtCUDAProviderOptions cuda{};
                cuda.device_id = o.device_id;
                so.AppendExecutionProvider_CUDA(cuda);
            } else if (p == "tensorrt") {
                OrtTensorRTProviderOptions trt{};
                trt.device_id = o.device_id;
                so.AppendExecutionProvider_TensorRT(trt);
            } else if (p == "coreml") {
                so.AppendExecutionProvider("CoreML", {});
            } else {
                so.AppendExecutionProvider(p, {});
            }
        } catch (const Ort::Exception& e) {
            throw ConfigError("cannot enable execution provider '" + p + "': " + e.what());
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
    Ort::SessionOptions so = make_session_options(options, impl->providers);
    try {
        impl->session = std::make_unique<Ort::Session>(ort_env(), bytes.data(), bytes.size(), so);
    } catch (const Ort::Exception& e) {
        throw InputError(impl->name + ": not a loadable ONNX model (" + e.what() +
                         "); expected a complete .onnx file");
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
        throw RuntimeFailure(impl_->name + ": ONNX Runtime failed: " + e.what());
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

std::vector<std::string> Model::available_providers() {
    std::vector<std::string> out;
    for (const std::string& ort_name : Ort::GetAvailableProviders()) {
        std::string ours = ort_name;
        for (const auto& [o, n] : provider_names())
            if (n == ort_name) ours = o;
        out.push_back(ours);
    }
    return out;
}

std::string Model::runtime_version() { return Ort::GetVersionString(); }

std::vector<std::byte> read_file_bytes(const std::string& path) {
    // On Linux a folder opens as a stream whose size reads as huge, hence the check first.
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) throw InputError(path + ": is a folder; expected an .onnx file");
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
