// What the executor runs: one batch in, one batch out. ModelBackend adapts tiledet::Model; tests
// and other engines implement Backend themselves.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "tiledet/runtime/model.hpp"
#include "tiledet/runtime/signature.hpp"
#include "tiledet/runtime/tensor.hpp"

namespace tiledet {

// One instance of a model. The executor calls run() on one backend from one thread at a time
// (one worker thread per backend), so an implementation needs no locking of its own.
struct Backend {
    virtual ~Backend();

    // One tensor per model input, all with the same leading (batch) size; returns the model's
    // outputs for the whole batch. Throws on failure (tiledet::Error, preferably RuntimeFailure).
    virtual std::vector<Tensor> run(const std::vector<Tensor>& batched_inputs) = 0;

    // Static N, dynamic, or none (inputs without a batch axis: one request per run).
    virtual BatchKind batch_kind() const = 0;

    // The device in log lines: "CPU", "CUDA", ...
    virtual std::string device() const;

    // One valid request (leading dim 1) for the warm-up probe of a dynamic batch; nullopt when
    // the backend cannot make one (then a baked batch is found on the first failing batch).
    virtual std::optional<std::vector<Tensor>> probe_item() const;

    // Names the exact model and device, so the warm-up probe's answers can be cached across runs
    // (BatchPolicy::probe_cache_dir); empty (the default): never cached.
    virtual std::string probe_cache_key() const;

    // CPU threads one run() keeps busy: 1 for a CPU session with one intra-op thread (the run
    // happens on the calling worker thread), 0 when unknown or when a GPU does the work (the
    // default). The executor pins instances to cores only when every backend says 1
    // (BatchPolicy::pin_instances).
    virtual int cpu_threads_per_run() const;
};

class ModelBackend : public Backend {
public:
    // intra_op_threads: what the session was opened with, for reports (0: ONNX Runtime's default).
    explicit ModelBackend(Model model, int intra_op_threads = 0);

    std::vector<Tensor> run(const std::vector<Tensor>& batched_inputs) override;
    BatchKind batch_kind() const override { return kind_; }
    std::string device() const override;
    // Zeros of the signature's shapes with batch 1, when every non-batch dim is fixed.
    std::optional<std::vector<Tensor>> probe_item() const override;
    // The model file's fingerprint, the device and the ONNX Runtime version.
    std::string probe_cache_key() const override;
    // intra_op_threads on a CPU-only session, else 0.
    int cpu_threads_per_run() const override;

    const Model& model() const { return model_; }
    int intra_op_threads() const { return intra_op_threads_; }

private:
    Model model_;
    BatchKind kind_;
    int intra_op_threads_ = 0;
};

// `instances` sessions of one model, splitting the CPU threads between them: each gets
// intra_op_threads = total / instances (total: options.intra_op_threads, or the machine's
// cores when that is 0), at least 1. With one instance, options are used as given.
std::vector<std::unique_ptr<Backend>> make_model_backends(const std::string& path, ModelOptions options, int instances);
std::vector<std::unique_ptr<Backend>> make_model_backends(std::span<const std::byte> bytes, ModelOptions options,
                                                          int instances, std::string name = "<memory>");

// One warm-up probe batch: its size, whether the model ran it with outputs that keep the batch
// axis, how long it took, and the model's error (first line) when it failed.
struct ProbeOutcome {
    int batch_size = 0;
    bool ok = false;
    double ms = 0;
    std::string error;
};

// Runs one batch of each of `sizes` (in order, each > 0) built from backend.probe_item();
// returns nothing when the backend cannot make a probe item.
std::vector<ProbeOutcome> probe_batch_sizes(Backend& backend, const std::vector<int>& sizes);

// "cpu" -> "CPU", "cuda" -> "CUDA", "tensorrt" -> "TensorRT", "coreml" -> "CoreML".
std::string device_label(const std::string& provider);

}  // namespace tiledet
