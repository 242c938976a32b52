// BatchExecutor throughput and overhead.
//
//   <build>/bin/bench_executor                       # everything
//   <build>/bin/bench_executor --benchmark_filter=Overhead
//   TILEDET_BENCH_TILES=32 <build>/bin/bench_executor --benchmark_filter=Heavy
//
// Heavy*: tiles per second (items_per_second) on the generated heavy RT-DETR models (official
// layout: images f32 [B,3,640,640] + orig_target_sizes int64 [B,2]; --heavy-gflops per tile),
// run one at a time (static batch 1), with dynamic batching, and with 2 instances. Each
// iteration submits TILEDET_BENCH_TILES tiles (default 16) at once and waits for all of them.
// Overhead*: a backend that does nothing, so the time per request is the executor's own
// (submit, queue, batch assembly, split, future); OverheadGroup* submits groups of 8.
// Models come from TILEDET_MODELS_DIR, else the build tree's generated models.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <random>

#include "tiledet/batching/batch_executor.hpp"

using namespace tiledet;

namespace {

std::filesystem::path model_path(const std::string& file) {
    const char* dir = std::getenv("TILEDET_MODELS_DIR");
    return std::filesystem::path(dir ? dir : TILEDET_BENCH_MODELS_DIR) / file;
}

int tiles_per_iteration() {
    const char* v = std::getenv("TILEDET_BENCH_TILES");
    return v ? std::max(1, std::atoi(v)) : 16;
}

std::vector<Tensor> rtdetr_tile(std::mt19937& rng) {
    Tensor image(ElementType::float32, {1, 3, 640, 640});
    std::uniform_real_distribution<float> u(0.f, 1.f);
    for (float& v : image.values<float>()) v = u(rng);
    Tensor sizes(ElementType::int64, {1, 2});
    sizes.values<int64_t>()[0] = 640;
    sizes.values<int64_t>()[1] = 640;
    return {image, sizes};
}

void run_tiles(benchmark::State& state, const std::string& file, int max_batch, int instances) {
    const auto path = model_path(file);
    if (!std::filesystem::exists(path)) {
        state.SkipWithError(("missing " + path.string() + ": build the test_models target").c_str());
        return;
    }
    BatchPolicy policy;
    policy.max_batch_size = max_batch;
    policy.instances = instances;
    policy.max_queue_delay = std::chrono::milliseconds(5);
    policy.queue_capacity = 0;
    BatchExecutor ex = BatchExecutor::open(path.string(), policy, {}, [](LogLevel, std::string_view) {});
    const int n = tiles_per_iteration();
    std::mt19937 rng(1);
    std::vector<std::vector<Tensor>> tiles;
    for (int i = 0; i < n; ++i) tiles.push_back(rtdetr_tile(rng));
    {  // warm-up: first runs allocate and plan
        std::vector<std::future<Result>> f;
        for (int i = 0; i < std::min(n, 2 * max_batch * instances); ++i)
            f.push_back(ex.submit(tiles[static_cast<std::size_t>(i)]));
        for (auto& x : f) x.get();
    }
    const ExecutorStats before = ex.stats();
    for (auto _ : state) {
        std::vector<std::future<Result>> futures;
        futures.reserve(tiles.size());
        for (const auto& t : tiles) futures.push_back(ex.submit(t));
        for (auto& f : futures) benchmark::DoNotOptimize(f.get());
    }
    const ExecutorStats after = ex.stats();
    state.SetItemsProcessed(state.iterations() * n);
    const auto batches = after.batches - before.batches;
    state.counters["mean_batch"] =
        batches ? static_cast<double>(after.completed - before.completed) / static_cast<double>(batches) : 0;
    state.counters["instances"] = static_cast<double>(ex.instances());
    state.counters["sequential"] = ex.sequential() ? 1 : 0;
    state.SetLabel(ex.summary().substr(0, ex.summary().find('\n')));
}

void BM_HeavySequentialStaticBatch1(benchmark::State& s) {
    run_tiles(s, "rtdetr_heavy_static.onnx", 1, 1);
}
void BM_HeavyDynamicBatching(benchmark::State& s) {
    run_tiles(s, "rtdetr_heavy_dynamic.onnx", static_cast<int>(s.range(0)), 1);
}
void BM_HeavyStaticBatch1TwoInstances(benchmark::State& s) {
    run_tiles(s, "rtdetr_heavy_static.onnx", 1, 2);
}
void BM_HeavyDynamicTwoInstances(benchmark::State& s) {
    run_tiles(s, "rtdetr_heavy_dynamic.onnx", 4, 2);
}

BENCHMARK(BM_HeavySequentialStaticBatch1)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
BENCHMARK(BM_HeavyDynamicBatching)->Arg(4)->Arg(8)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
BENCHMARK(BM_HeavyStaticBatch1TwoInstances)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
BENCHMARK(BM_HeavyDynamicTwoInstances)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

// Returns its inputs: no compute, no copies.
struct TrivialBackend : Backend {
    std::vector<Tensor> run(const std::vector<Tensor>& in) override { return in; }
    BatchKind batch_kind() const override { return BatchKind{BatchKind::Kind::dynamic, 0, "batch"}; }
};

// Requests in flight from one producer: submit a burst, then collect it. Time per request =
// the executor's overhead (plus a tiny concat of [1,16] floats when batching).
void BM_OverheadPipelined(benchmark::State& state) {
    BatchPolicy policy;
    policy.max_batch_size = static_cast<int>(state.range(0));
    policy.max_queue_delay = std::chrono::microseconds(0);
    policy.queue_capacity = 0;
    BatchExecutor ex(std::make_unique<TrivialBackend>(), policy);
    const std::vector<Tensor> input{Tensor(ElementType::float32, {1, 16})};
    constexpr int kBurst = 256;
    std::vector<std::future<Result>> futures;
    futures.reserve(kBurst);
    for (auto _ : state) {
        for (int i = 0; i < kBurst; ++i) futures.push_back(ex.submit(input));
        for (auto& f : futures) benchmark::DoNotOptimize(f.get());
        futures.clear();
    }
    state.SetItemsProcessed(state.iterations() * kBurst);
    // Wall seconds per request (printed with an SI prefix: 2.0u = 2.0 microseconds).
    state.counters["time_per_request"] =
        benchmark::Counter(kBurst, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
    state.counters["mean_batch"] = ex.stats().mean_batch_size;
}
BENCHMARK(BM_OverheadPipelined)->Arg(1)->Arg(8)->UseRealTime();

// The same burst handed in as groups of 8 (the tiles of one image): one lock and one wake-up
// per group instead of per request.
void BM_OverheadGroupPipelined(benchmark::State& state) {
    BatchPolicy policy;
    policy.max_batch_size = 8;
    policy.max_queue_delay = std::chrono::microseconds(0);
    policy.queue_capacity = 0;
    BatchExecutor ex(std::make_unique<TrivialBackend>(), policy);
    const std::vector<Tensor> input{Tensor(ElementType::float32, {1, 16})};
    constexpr int kBurst = 256, kGroup = 8;
    std::vector<std::vector<std::future<Result>>> futures;
    futures.reserve(kBurst / kGroup);
    for (auto _ : state) {
        for (int g = 0; g < kBurst / kGroup; ++g)
            futures.push_back(ex.submit(std::vector<Request>(kGroup, Request{input, std::nullopt, 0, {}})));
        for (auto& group : futures)
            for (auto& f : group) benchmark::DoNotOptimize(f.get());
        futures.clear();
    }
    state.SetItemsProcessed(state.iterations() * kBurst);
    state.counters["time_per_request"] =
        benchmark::Counter(kBurst, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
    state.counters["mean_batch"] = ex.stats().mean_batch_size;
}
BENCHMARK(BM_OverheadGroupPipelined)->UseRealTime();

// One request at a time: submit, wait. Includes waking the worker and the caller (two thread
// hand-offs), the latency floor a lone request sees.
void BM_OverheadRoundTrip(benchmark::State& state) {
    BatchPolicy policy;
    policy.max_batch_size = 8;
    policy.max_queue_delay = std::chrono::microseconds(0);
    BatchExecutor ex(std::make_unique<TrivialBackend>(), policy);
    const std::vector<Tensor> input{Tensor(ElementType::float32, {1, 16})};
    for (auto _ : state) benchmark::DoNotOptimize(ex.submit(input).get());
    state.SetItemsProcessed(state.iterations());
    state.counters["time_per_request"] =
        benchmark::Counter(1, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_OverheadRoundTrip)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
