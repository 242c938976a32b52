// The pipeline under closed-loop load (perf_analyzer's concurrency mode): `concurrency`
// producer threads each submit an image, wait for its merged result, and submit the next.
// Available when tiledet_bench is built with the pipeline module (TILEDET_BENCH_HAS_PIPELINE).
#pragma once

#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "tiledet/bench/report.hpp"
#include "tiledet/bench/windows.hpp"
#include "tiledet/pipeline/pipeline.hpp"

namespace tiledet::bench {

enum class BenchMode {
    sequential,  // one session, batches of 1 (what a static-batch model falls back to)
    dynamic,     // one session, dynamic batches up to `batch`
    instances,   // `instances` sessions side by side, threads split, batches up to `batch`
};
std::string to_string(BenchMode m);
// Throws ConfigError naming the accepted spellings.
BenchMode parse_bench_mode(const std::string& name);

struct PipelineBenchConfig {
    BenchMode mode = BenchMode::dynamic;
    int batch = 1;       // max batch size (sequential: always 1)
    int instances = 1;   // instances mode only (others: 1)
};

// The pipeline options of one configuration: `base` with the policy's max batch size and
// instances set for the mode.
PipelineOptions options_for(const PipelineBenchConfig& config, PipelineOptions base);

// Producers enough to keep two batches per instance queued: ceil(2 x batch x instances /
// tiles per image), and at least 2 so that one image's pre/post-processing overlaps another's
// inference.
int auto_concurrency(const PipelineBenchConfig& config, int tiles_per_image);

// Measures an open pipeline with `concurrency` producers cycling through `images`. The row's
// mode/batch/instances fields are filled from `config` and the pipeline's executor.
BenchRow measure_pipeline(Pipeline& pipeline, const PipelineBenchConfig& config, int concurrency,
                          const std::vector<cv::Mat>& images, const WindowOptions& windows);

// Completion of one pipeline image, as the windows count it (exposed for tests).
Completion completion_of(const ImageResult& result);

}  // namespace tiledet::bench
