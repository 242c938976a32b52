#include "tiledet/bench/pipeline_load.hpp"

#include <algorithm>
#include <atomic>
#include <exception>

#include "tiledet/batching/batch_executor.hpp"
#include "tiledet/error.hpp"

namespace tiledet::bench {

std::string to_string(BenchMode m) {
    switch (m) {
        case BenchMode::sequential: return "sequential";
        case BenchMode::dynamic: return "dynamic";
        case BenchMode::instances: return "instances";
    }
    return "?";
}

BenchMode parse_bench_mode(const std::string& name) {
    if (name == "sequential" || name == "seq") return BenchMode::sequential;
    if (name == "dynamic" || name == "batched") return BenchMode::dynamic;
    if (name == "instances" || name == "inst") return BenchMode::instances;
    throw ConfigError("unknown bench mode '" + name + "': expected sequential, dynamic or instances");
}

PipelineOptions options_for(const PipelineBenchConfig& config, PipelineOptions base) {
    switch (config.mode) {
        case BenchMode::sequential:
            base.batching.max_batch_size = 1;
            base.batching.instances = 1;
            break;
        case BenchMode::dynamic:
            base.batching.max_batch_size = std::max(1, config.batch);
            base.batching.instances = 1;
            break;
        case BenchMode::instances:
            base.batching.max_batch_size = std::max(1, config.batch);
            base.batching.instances = std::max(1, config.instances);
            break;
    }
    return base;
}

int auto_concurrency(const PipelineBenchConfig& config, int tiles_per_image) {
    const int batch = config.mode == BenchMode::sequential ? 1 : std::max(1, config.batch);
    const int inst = config.mode == BenchMode::instances ? std::max(1, config.instances) : 1;
    const int tiles = std::max(1, tiles_per_image);
    // At least two images: while one is decoded, merged and the next one preprocessed on its
    // producer thread, the other keeps the runtime busy (one producer leaves it idle then).
    return std::min(1024, std::max(2, (2 * batch * inst + tiles - 1) / tiles));  // producer threads
}

Completion completion_of(const ImageResult& result) {
    Completion c;
    c.latency_ms = result.end_to_end_ms;
    c.preprocess_ms = result.preprocess_ms;
    c.merge_ms = result.merge_ms;
    c.images = 1;
    // Batch ids are shifted by one because 0 means "unknown" here.
    for (std::size_t i = 0; i < result.tiles.size(); ++i) {
        const TileReport& t = result.tiles[i];
        TileSample s;
        s.latency_ms = t.latency_ms;
        s.queue_ms = t.queue_ms;
        s.preprocess_ms = t.preprocess_ms;
        s.inference_ms = t.inference_ms;
        s.decode_ms = t.decode_ms;
        s.batch_size = t.batch_size;
        s.batch_id = t.batch_id + 1;
        c.tiles.push_back(s);
    }
    return c;
}

BenchRow measure_pipeline(Pipeline& pipeline, const PipelineBenchConfig& config, int concurrency,
                          const std::vector<cv::Mat>& images, const WindowOptions& windows) {
    BenchRow row;
    row.kind = "pipeline";
    row.mode = to_string(config.mode);
    row.batch = config.mode == BenchMode::sequential ? 1 : config.batch;
    row.concurrency = concurrency;
    try {
        if (images.empty()) throw ConfigError("measure_pipeline: no images given");
        BatchExecutor& executor = pipeline.executor();
        row.effective_batch = executor.max_batch_size();
        row.sequential_fallback = executor.sequential();
        row.instances = static_cast<int>(executor.instances());
        if (const auto* mb = dynamic_cast<const ModelBackend*>(&executor.backend(0)))
            row.threads = mb->intra_op_threads();
        row.tiles_per_image = static_cast<int>(pipeline.tiles_for(images[0].cols, images[0].rows).size());

        std::vector<std::size_t> next(static_cast<std::size_t>(std::max(1, concurrency)), 0);
        auto step = [&](int worker) {
            auto& k = next[static_cast<std::size_t>(worker)];
            const std::size_t idx = (static_cast<std::size_t>(worker) + k++ * next.size()) % images.size();
            ImageResult r = pipeline.submit(images[idx]).get();
            return completion_of(r);
        };
        const WindowedRun run = run_windows(concurrency, step, windows);
        fill_row(row, run);
        const ExecutorStats stats = executor.stats();
        row.failed_batch_sizes = stats.failed_batch_sizes;
        row.retried_batches = stats.retried_batches;
        row.sequential_fallback = executor.sequential();
    } catch (const std::exception& e) {
        row.error = e.what();
    }
    return row;
}

}  // namespace tiledet::bench
