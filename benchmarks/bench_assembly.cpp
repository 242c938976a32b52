// Batch assembly: how an image's tiles become one batch tensor, before and after issue 12.
//   per_tile_slots: each tile preprocessed into its own freshly allocated, zero-filled input slot,
//                   then copied into a freshly allocated batch tensor (concat_leading).
//   group_buffer:   the image's tiles preprocessed into items of one buffer; a batch of its
//                   consecutive tiles is a view of that buffer (concat_leading without a copy).
// Both include the same letterbox/normalise work; the difference is the assembly. Counters:
// bytes_per_tile = bytes the process allocated per tile (a counting operator new below).
//   build/bin/bench_assembly --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <opencv2/core.hpp>

#include "tiledet/detectors/detector.hpp"
#include "tiledet/runtime/tensor.hpp"

namespace {
std::atomic<std::size_t> g_allocated{0};
}

// GCC 12 flags free() in a replaced operator delete as mismatched with the replaced new; both
// are ours and use malloc/free.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t n) {
    g_allocated.fetch_add(n, std::memory_order_relaxed);
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace {

using namespace tiledet;

ModelSignature yolo640() {
    ModelSignature sig;
    sig.inputs.push_back({"images", ElementType::float32,
                          {Dim::symbolic("batch"), Dim::fixed_at(3), Dim::fixed_at(640), Dim::fixed_at(640)}});
    sig.outputs.push_back({"output0", ElementType::float32, {Dim::symbolic("batch"), Dim::fixed_at(84), Dim::fixed_at(8400)}});
    return sig;
}

struct Setup {
    std::unique_ptr<Detector> detector = make_detector(yolo640());
    cv::Mat image = cv::Mat(640, 640 * 4, CV_8UC3);
    Setup() { cv::randu(image, 0, 255); }
    cv::Mat tile(int i) const { return image(cv::Rect(640 * i, 0, 640, 640)); }
};

void per_tile_slots(benchmark::State& state) {
    const Setup s;
    const int n = static_cast<int>(state.range(0));
    std::size_t bytes = 0;
    for (auto _ : state) {
        const std::size_t before = g_allocated.load();
        std::vector<Tensor> parts;
        for (int i = 0; i < n; ++i) {
            std::vector<Tensor> slots = s.detector->make_input_slots(1);
            s.detector->preprocess(s.tile(i), slots, 0);
            parts.push_back(std::move(slots[0]));
        }
        Tensor batch = concat_leading(parts);
        benchmark::DoNotOptimize(batch.bytes());
        bytes += g_allocated.load() - before;
    }
    state.counters["bytes_per_tile"] = static_cast<double>(bytes) / static_cast<double>(state.iterations() * n);
}

void group_buffer(benchmark::State& state) {
    const Setup s;
    const int n = static_cast<int>(state.range(0));
    std::size_t bytes = 0;
    for (auto _ : state) {
        const std::size_t before = g_allocated.load();
        std::vector<Tensor> slots = s.detector->make_input_slots(n, /*zero_fill=*/false);  // as the pipeline
        std::vector<Tensor> items;
        for (int i = 0; i < n; ++i) {
            s.detector->preprocess(s.tile(i), slots, i);
            items.push_back(slots[0].item(i));
        }
        Tensor batch = concat_leading(items);
        benchmark::DoNotOptimize(batch.bytes());
        bytes += g_allocated.load() - before;
    }
    state.counters["bytes_per_tile"] = static_cast<double>(bytes) / static_cast<double>(state.iterations() * n);
}

// Preprocessing alone (into a slot allocated once, outside the loop): what both paths share.
void preprocess_only(benchmark::State& state) {
    const Setup s;
    const int n = static_cast<int>(state.range(0));
    std::vector<Tensor> slots = s.detector->make_input_slots(n);
    for (auto _ : state)
        for (int i = 0; i < n; ++i) s.detector->preprocess(s.tile(i), slots, i);
}

}  // namespace

BENCHMARK(per_tile_slots)->Arg(2)->Arg(4)->Unit(benchmark::kMillisecond);
BENCHMARK(group_buffer)->Arg(2)->Arg(4)->Unit(benchmark::kMillisecond);
BENCHMARK(preprocess_only)->Arg(2)->Arg(4)->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
