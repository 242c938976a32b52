// Preprocessing per photo, as the pipeline does it for a 640 x 640 float NCHW input: the resize to
// the content size, then the planar float write (BENCHMARKS.md, issue 17). Photos are decoded
// once, before timing; each benchmark cycles through them.
//   table:      cv::resize, then the per-channel byte -> value tables, three loads per pixel (the
//               reference);
//   vector:     what write_planes runs: a stretch that changes only the height blends two source
//               rows per output row (cv::resize's bytes, no intermediate image), then the AVX2
//               row kernel when the CPU has it (bit-identical);
//   resize_*:   cv::resize alone, with OpenCV's default thread pool and with one thread.
// Arguments: 0 = stretch (RT-DETR, byte/255), 1 = letterbox (YOLO, byte/255, pad 114),
// 2 = stretch with ImageNet mean/std (RF-DETR).
//
//   build/bin/bench_preprocess [FOLDER_OF_JPEGS] --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <filesystem>
#include <iostream>
#include <opencv2/core/utility.hpp>
#include <opencv2/imgproc.hpp>
#include <string>
#include <vector>

#include "jpeg_files.hpp"
#include "preprocess.hpp"
#include "tiledet/io/image.hpp"

namespace {

using namespace tiledet;

std::vector<cv::Mat>& photos() {
    static std::vector<cv::Mat> images;
    return images;
}

struct Setup {
    detail::PixelTransform t;
    ResizeMode mode = ResizeMode::stretch;
    explicit Setup(int64_t kind) {
        if (kind == 1) mode = ResizeMode::letterbox;
        if (kind == 2) {
            t.mean = {0.485f, 0.456f, 0.406f};
            t.std = {0.229f, 0.224f, 0.225f};
        }
    }
};

constexpr int kInput = 640;

template <bool Table>
void write(benchmark::State& state) {
    const Setup s(state.range(0));
    std::vector<float> slot(3 * kInput * kInput);
    std::size_t i = 0;
    for (auto _ : state) {
        const cv::Mat& img = photos()[i++ % photos().size()];
        const detail::Placement p = detail::plan_placement(img.cols, img.rows, kInput, kInput, s.mode);
        if constexpr (Table)
            detail::write_planes_by_table(img, p, s.t, slot.data());
        else
            detail::write_planes(img, p, s.t, slot.data());
        benchmark::DoNotOptimize(slot.data());
    }
    state.SetItemsProcessed(state.iterations());
}

void table(benchmark::State& state) {
    write<true>(state);
}
void vector(benchmark::State& state) {
    write<false>(state);
}

void resize(benchmark::State& state, int threads) {
    const Setup s(state.range(0));
    const int before = cv::getNumThreads();
    cv::setNumThreads(threads);
    std::size_t i = 0;
    cv::Mat out;
    for (auto _ : state) {
        const cv::Mat& img = photos()[i++ % photos().size()];
        const detail::Placement p = detail::plan_placement(img.cols, img.rows, kInput, kInput, s.mode);
        cv::resize(img, out, cv::Size(p.content_w, p.content_h), 0, 0, cv::INTER_LINEAR);
        benchmark::DoNotOptimize(out.data);
    }
    cv::setNumThreads(before);
    state.SetItemsProcessed(state.iterations());
}
void resize_default_threads(benchmark::State& state) {
    resize(state, -1);
}
void resize_one_thread(benchmark::State& state) {
    resize(state, 1);
}

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    const std::string dir = argc > 1 ? argv[1] : "../shared/images/coco64/images";
    for (const auto& path : tiledet_bench::jpeg_files(dir)) photos().push_back(load_image(path.string()));
    if (photos().empty()) {
        std::cerr << "bench_preprocess: no .jpg files in " << dir << " (give a folder of JPEG photos)\n";
        return 2;
    }
    for (auto* f : {&table, &vector, &resize_default_threads, &resize_one_thread}) {
        const char* name = f == &table ? "table" : f == &vector ? "vector" : f == &resize_default_threads ? "resize_default_threads" : "resize_one_thread";
        benchmark::RegisterBenchmark(name, *f)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond);
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
