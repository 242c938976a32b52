// The command-line faces of the pipeline: `tiledet detect --tile ...` and the original example
// `detect_pipeline`, with its report in the original words.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "cli_runner.hpp"
#include "test_paths.hpp"

namespace fs = std::filesystem;

namespace {

using Run = tiledet::testing::CliResult;
using tiledet::testing::run_command;

Run run(const std::string& cmd) { return run_command(cmd); }

fs::path temp_dir() {
    const fs::path d = fs::temp_directory_path() / ("tiledet_cli_tiled_" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d;
}

// 1280x640: two 640 tiles, each with a bright block where the generated models read scores.
fs::path two_tile_image() {
    cv::Mat img(640, 1280, CV_8UC3, cv::Scalar(40, 40, 40));
    cv::rectangle(img, cv::Rect(100, 100, 500, 400), cv::Scalar(230, 230, 230), cv::FILLED);
    cv::rectangle(img, cv::Rect(740, 100, 500, 400), cv::Scalar(220, 220, 220), cv::FILLED);
    const fs::path p = temp_dir() / "two_tiles.png";
    cv::imwrite(p.string(), img);
    return p;
}

std::string example_path() { return (fs::path(TILEDET_CLI_PATH).parent_path() / "detect_pipeline").string(); }

}  // namespace

TEST(DetectPipelineExample, StaticModelFallsBackAndReportsSequentialExecutionPerTile) {
    TILEDET_REQUIRE_GENERATED("official_rtdetr_static.onnx");
    const auto r = run(example_path() + " --detector rtdetr --overlap 0 --model " +
                       tiledet::testing::generated_model("official_rtdetr_static.onnx").string() + " " +
                       two_tile_image().string());
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find("Batch inference not supported, falling back to sequential processing"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("tiledet batchify"), std::string::npos);
    EXPECT_NE(r.output.find("Sequential Execution: 2 images in "), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("Per-Tile End-to-End Latency (submission -> response)"), std::string::npos);
    EXPECT_NE(r.output.find("Tile #0: "), std::string::npos);
    EXPECT_NE(r.output.find("Tile #1: "), std::string::npos);
    EXPECT_EQ(r.output.find("Tile #2: "), std::string::npos) << "1280x640 without overlap is exactly two 640 tiles";
}

TEST(DetectPipelineExample, DynamicModelRunsTilesAsOneBatch) {
    TILEDET_REQUIRE_GENERATED("official_rtdetr_dynamic.onnx");
    const auto r = run(example_path() + " --detector auto --overlap 0 --max-delay-ms 50 --model " +
                       tiledet::testing::generated_model("official_rtdetr_dynamic.onnx").string() + " " +
                       two_tile_image().string());
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find("CPU Batch Execution: 2 images in "), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("falling back"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("Tile #1: "), std::string::npos);
}

TEST(DetectPipelineExample, WrongDetectorForTheModelIsRefused) {
    TILEDET_REQUIRE_GENERATED("yolo_dynamic.onnx");
    const auto r = run(example_path() + " --detector rfdetr --model " +
                       tiledet::testing::generated_model("yolo_dynamic.onnx").string() + " " + two_tile_image().string());
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_NE(r.output.find("yolo"), std::string::npos);
}

TEST(CliDetectTiled, TileFlagCutsTheImageAndJsonListsEachTile) {
    TILEDET_REQUIRE_GENERATED("official_rtdetr_dynamic.onnx");
    const fs::path json = temp_dir() / "tiled.json";
    const auto r = run(std::string(TILEDET_CLI_PATH) + " detect --tile 640 --overlap 0 --merge nms --match iou --batch 4 -m " +
                       tiledet::testing::generated_model("official_rtdetr_dynamic.onnx").string() + " " +
                       two_tile_image().string() + " --json " + json.string());
    ASSERT_EQ(r.code, 0) << r.output;
    std::ifstream f(json);
    const auto j = nlohmann::json::parse(f);
    ASSERT_EQ(j["images"].size(), 1u);
    const auto& img = j["images"][0];
    ASSERT_EQ(img["tiles"].size(), 2u);
    EXPECT_EQ(img["tiles"][1]["x"], 640);
    EXPECT_GE(img["timings_ms"]["end_to_end"].get<double>(), img["tiles"][0]["latency_ms"].get<double>());
    EXPECT_GT(img["detections"].size(), 0u);
}

TEST(CliDetectTiled, BadTilingFlagsAreOneClearLine) {
    TILEDET_REQUIRE_GENERATED("yolo_dynamic.onnx");
    const std::string model = tiledet::testing::generated_model("yolo_dynamic.onnx").string();
    for (const std::string flags : {"--tile 64x", "--tile x", "--merge median", "--match dice", "--batch 0", "--overlap -1"}) {
        const auto r = run(std::string(TILEDET_CLI_PATH) + " detect " + flags + " -m " + model + " " + two_tile_image().string());
        EXPECT_EQ(r.code, 2) << flags << ": " << r.output;
        EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << flags << ": " << r.output;
    }
}
