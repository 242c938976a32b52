#include "tiledet/batching/backend.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <thread>

#include "tiledet/error.hpp"

namespace tiledet {

Backend::~Backend() = default;
std::string Backend::device() const {
    return "CPU";
}
std::optional<std::vector<Tensor>> Backend::probe_item() const {
    return std::nullopt;
}

std::string Backend::probe_cache_key() const {
    return {};
}
int Backend::cpu_threads_per_run() const {
    return 0;
}

std::vector<ProbeOutcome> probe_batch_sizes(Backend& backend, const std::vector<int>& sizes) {
    const std::optional<std::vector<Tensor>> item = backend.probe_item();
    if (!item) return {};
    std::vector<ProbeOutcome> out;
    for (int n : sizes) {
        ProbeOutcome o;
        o.batch_size = n;
        const auto t0 = std::chrono::steady_clock::now();
        try {
            std::vector<Tensor> batch;
            for (const Tensor& t : *item)
                batch.push_back(n == 1 ? t : concat_leading(std::vector<Tensor>(static_cast<std::size_t>(n), t)));
            const std::vector<Tensor> outputs = backend.run(batch);
            for (std::size_t i = 0; i < outputs.size(); ++i)
                if (n > 1 && (outputs[i].rank() == 0 || outputs[i].dim(0) != n))
                    throw ShapeError("output " + std::to_string(i) + " has shape " + to_string(outputs[i].shape()) +
                                     " for a batch of " + std::to_string(n));
            o.ok = true;
        } catch (const std::exception& e) {
            const std::string text = e.what();
            o.error = text.substr(0, text.find('\n'));
        }
        o.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        out.push_back(std::move(o));
    }
    return out;
}

std::string device_label(const std::string& provider) {
    if (provider == "cpu") return "CPU";
    if (provider == "cuda") return "CUDA";
    if (provider == "tensorrt") return "TensorRT";
    if (provider == "coreml") return "CoreML";
    std::string up = provider;
    std::transform(up.begin(), up.end(), up.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    return up;
}

ModelBackend::ModelBackend(Model model, int intra_op_threads)
    : model_(std::move(model)), kind_(model_.signature().batch_kind()), intra_op_threads_(intra_op_threads) {}

std::vector<Tensor> ModelBackend::run(const std::vector<Tensor>& batched_inputs) {
    return model_.run(batched_inputs);
}

std::string ModelBackend::device() const {
    const auto& p = model_.providers();
    return device_label(p.empty() ? "cpu" : p.front());
}

int ModelBackend::cpu_threads_per_run() const {
    const auto& p = model_.providers();
    const bool cpu_only = p.empty() || (p.size() == 1 && p.front() == "cpu");
    return cpu_only ? intra_op_threads_ : 0;
}

std::string ModelBackend::probe_cache_key() const {
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(model_.fingerprint()));
    std::string key = std::string(hex) + "-" + device() + "-ort" + Model::runtime_version();
    for (char& c : key)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') c = '_';
    return key;
}

std::optional<std::vector<Tensor>> ModelBackend::probe_item() const {
    std::vector<Tensor> item;
    for (const TensorInfo& in : model_.signature().inputs) {
        if (in.dims.empty() || in.type == ElementType::string || in.type == ElementType::unknown) return std::nullopt;
        Shape shape{1};
        for (std::size_t d = 1; d < in.dims.size(); ++d) {
            if (!in.dims[d].fixed()) return std::nullopt;  // e.g. a dynamic image size: no size to guess
            shape.push_back(in.dims[d].value);
        }
        item.emplace_back(in.type, std::move(shape));
    }
    return item;
}

namespace {

int threads_per_instance(const ModelOptions& options, int instances) {
    const int total = options.intra_op_threads > 0
                          ? options.intra_op_threads
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    return std::max(1, total / instances);
}

void check_instances(int instances) {
    if (instances < 1)
        throw ConfigError("instances must be at least 1, got " + std::to_string(instances) +
                          "; use 1 for one session, K for K sessions running batches concurrently");
}

}  // namespace

std::vector<std::unique_ptr<Backend>> make_model_backends(const std::string& path, ModelOptions options,
                                                          int instances) {
    check_instances(instances);
    const std::vector<std::byte> bytes = read_file_bytes(path);
    return make_model_backends(bytes, std::move(options), instances, path);
}

std::vector<std::unique_ptr<Backend>> make_model_backends(std::span<const std::byte> bytes, ModelOptions options,
                                                          int instances, std::string name) {
    check_instances(instances);
    if (instances > 1) options.intra_op_threads = threads_per_instance(options, instances);
    std::vector<std::unique_ptr<Backend>> out;
    for (int i = 0; i < instances; ++i)
        out.push_back(
            std::make_unique<ModelBackend>(Model::from_bytes(bytes, options, name), options.intra_op_threads));
    return out;
}

}  // namespace tiledet
