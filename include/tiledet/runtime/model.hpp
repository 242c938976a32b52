// The model layer: one ONNX Runtime session behind a small interface. Only src/runtime includes
// ONNX Runtime's headers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "tiledet/runtime/signature.hpp"
#include "tiledet/runtime/tensor.hpp"

namespace tiledet {

enum class GraphOptimization { disabled, basic, extended, all };

struct ModelOptions {
    // Execution providers in priority order: "cpu", "cuda", "tensorrt", "coreml", or {"auto"}
    // (see choose_providers in providers.hpp). CPU is always appended last as the fallback for
    // nodes the others lack. A provider named here that this machine cannot run is a ConfigError.
    std::vector<std::string> providers = {"cpu"};
    int intra_op_threads = 0;  // 0: ONNX Runtime's default (one per core)
    int inter_op_threads = 1;
    GraphOptimization optimization = GraphOptimization::all;
    int device_id = 0;         // for GPU providers
    // ONNX Runtime's IoBinding for run(): inputs staged in page-locked ("pinned") host memory when
    // a GPU provider is in use (one DMA copy to the device per batch), outputs bound to host
    // memory once per batch size, so a batch crosses the bus once each way. automatic: on with
    // cuda/tensorrt, off on the CPU (where it only adds a copy); on: also on the CPU (tests).
    enum class IoBinding { automatic, off, on };
    IoBinding io_binding = IoBinding::automatic;
    // CUDA graphs (CUDA provider's enable_cuda_graph), one graph per batch size (run option
    // gpu_graph_id). Needs every node on the CUDA provider and inputs/outputs at fixed device
    // addresses, so it implies IoBinding with device-resident buffers. Off by default.
    bool cuda_graphs = false;
    // ONNX Runtime's session log severity (0 verbose .. 4 fatal); -1 keeps the environment's
    // (errors). Callers that expect a run to fail (a batch probe) pass 4 and report the
    // exception's text themselves instead of ORT's own "[E:onnxruntime:...]" lines on stderr.
    int log_severity = -1;
    // When set, ONNX Runtime writes the graph it optimized (at `optimization`) to this path
    // (SessionOptions::SetOptimizedModelFilePath). Used by batchify to fold constants.
    std::string optimized_model_path;
    // Session configuration entries (SessionOptions::AddConfigEntry), e.g.
    // {"optimization.disable_specified_optimizers", "TransposeOptimizer"}.
    std::vector<std::pair<std::string, std::string>> config_entries;
    // Bytes the session's CPU tensors may take, 0: no bound (ONNX Runtime's own per-session
    // arena). With a bound the session allocates from a CPU arena registered on the process's
    // ONNX Runtime environment with that max_mem (OrtArenaCfg; "session.use_env_allocators"),
    // so a graph whose shapes ask for more fails its run with an Error saying so instead of
    // taking the machine's memory. The arena is shared by every bounded session in the process
    // and keeps what it grew to; asking for a different bound replaces it for sessions created
    // after. For graphs that are not trusted yet: batchify's verification runs use it.
    std::size_t memory_limit_bytes = 0;
};

class Model {
public:
    static Model load(const std::string& path, const ModelOptions& options = {});
    static Model from_bytes(std::span<const std::byte> bytes, const ModelOptions& options = {},
                            std::string name = "<memory>");

    Model(Model&&) noexcept;
    Model& operator=(Model&&) noexcept;
    ~Model();

    const ModelSignature& signature() const;
    const std::string& name() const;  // the path, or the name given for bytes
    // A 64-bit hash of the model file's bytes (FNV-1a over 8-byte words), stable across runs and
    // machines: the key under which start-up facts about this exact file are cached.
    std::uint64_t fingerprint() const;
    const std::vector<std::string>& providers() const;  // in use, in priority order
    // Providers `auto` passed over, one line each with the reason (empty otherwise).
    const std::vector<std::string>& providers_skipped() const;
    bool uses_io_binding() const;

    // Runs one batch: one tensor per model input, in signature order, all with the same
    // leading (batch) size. Shapes are checked against the signature before the runtime is
    // called: a mismatch throws ShapeError naming the signature, what was given and the remedy.
    // ONNX Runtime's own failures throw RuntimeFailure with its text.
    std::vector<Tensor> run(const std::vector<Tensor>& inputs) const;

    // Throws ShapeError if `inputs` cannot be fed to this model (see run()).
    void check_inputs(const std::vector<Tensor>& inputs) const;

    // The execution providers this ONNX Runtime build has, in tiledet's names, plus the GPU
    // providers whose library lies beside libonnxruntime.so (loaded when a session asks).
    static std::vector<std::string> available_providers();
    static std::string runtime_version();

private:
    struct Impl;
    explicit Model(std::unique_ptr<Impl> impl);
    std::vector<Tensor> run_bound(const std::vector<Tensor>& inputs) const;  // run() through IoBinding
    std::unique_ptr<Impl> impl_;
};

// The 64-bit content hash Model::fingerprint() gives for a model of these bytes (FNV-1a over
// 8-byte words): the key of the caches that outlive a process (warm-up probe, auto config).
std::uint64_t fingerprint_bytes(std::span<const std::byte> bytes);

// Reads a whole file; throws InputError when it is missing or unreadable.
std::vector<std::byte> read_file_bytes(const std::string& path);

// ONNX Runtime 1.29 on Linux sends usage telemetry to Microsoft by default (1DS uploader, a
// device id in $HOME/.cache/Microsoft/DeveloperTools/.onnxruntime, a background thread); the
// opt-out is ORT_DISABLE_TELEMETRY=1 in the environment before the first OrtEnv (onnxruntime
// PRs #27379 and #29843). tiledet sets it to 1 when it is unset or empty, so a detector on a camera
// feed does not phone home; a user who wants ORT's telemetry sets ORT_DISABLE_TELEMETRY=0.
// Besides privacy: that thread still runs when exit() frees ORT's statics, a heap-use-after-
// free found by fuzz_model_load. Called by every tiledet entry point (the CLI's main(), the
// Python module's import) while single-threaded, and again before the library creates its
// OrtEnv; setenv is not thread-safe, so programs embedding the library call it first thing.
void disable_onnxruntime_telemetry_unless_asked();

}  // namespace tiledet
