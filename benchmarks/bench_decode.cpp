// JPEG decode per photo: tiledet::decode_image (TurboJPEG straight to BGR, EXIF orientation)
// against cv::imdecode (libjpeg-turbo through OpenCV 4.6: RGB, then swapped to BGR), on the same
// bytes in memory, interleaved by Google Benchmark in one run (BENCHMARKS.md, issue 17).
//
//   build/bin/bench_decode [FOLDER_OF_JPEGS]     (default ../shared/images/coco64/images)
#include <benchmark/benchmark.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <opencv2/imgcodecs.hpp>
#include <string>
#include <vector>

#include "jpeg_files.hpp"
#include "tiledet/io/image.hpp"

namespace {

std::vector<std::vector<unsigned char>>& photos() {
    static std::vector<std::vector<unsigned char>> files;
    return files;
}

void OpenCvImdecode(benchmark::State& state) {
    std::size_t i = 0;
    for (auto _ : state) {
        auto& b = photos()[i++ % photos().size()];
        cv::Mat m = cv::imdecode(cv::Mat(1, static_cast<int>(b.size()), CV_8UC1, b.data()), cv::IMREAD_COLOR | cv::IMREAD_ANYDEPTH);
        benchmark::DoNotOptimize(m.data);
    }
    state.SetItemsProcessed(state.iterations());
}

void TiledetDecodeImage(benchmark::State& state) {
    std::size_t i = 0;
    for (auto _ : state) {
        const auto& b = photos()[i++ % photos().size()];
        cv::Mat m = tiledet::decode_image(std::as_bytes(std::span(b)));
        benchmark::DoNotOptimize(m.data);
    }
    state.SetItemsProcessed(state.iterations());
}

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    const std::string dir = argc > 1 ? argv[1] : "../shared/images/coco64/images";
    for (const auto& path : tiledet_bench::jpeg_files(dir)) {
        std::ifstream in(path, std::ios::binary);
        photos().emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    if (photos().empty()) {
        std::cerr << "bench_decode: no .jpg files in " << dir << " (give a folder of JPEG photos)\n";
        return 2;
    }
    benchmark::RegisterBenchmark("OpenCvImdecode", OpenCvImdecode)->Repetitions(5)->ReportAggregatesOnly(true);
    benchmark::RegisterBenchmark("TiledetDecodeImage", TiledetDecodeImage)->Repetitions(5)->ReportAggregatesOnly(true);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
