// The command-line faces of the pipeline: `tiledet detect --tile ...` and the original example
// `detect_pipeline`, with its report in the original words.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
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
    EXPECT_NE(r.output.find("CPU Sequential Execution: 2 tiles in 2 batches (1+1) in "), std::string::npos) << r.output;
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
    EXPECT_NE(r.output.find("CPU Batch Execution: 2 tiles in 1 batch (2) in "), std::string::npos) << r.output;
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

TEST(CliDetectTiled, JsonSaysWhichBatchEachTileRanInAndWhatRan) {
    TILEDET_REQUIRE_GENERATED("official_rtdetr_dynamic.onnx");
    const fs::path json = temp_dir() / "tiled_batches.json";
    const auto r = run(std::string(TILEDET_CLI_PATH) + " detect --tile 640 --overlap 0 --batch 4 -m " +
                       tiledet::testing::generated_model("official_rtdetr_dynamic.onnx").string() + " " +
                       two_tile_image().string() + " --json " + json.string());
    ASSERT_EQ(r.code, 0) << r.output;
    std::ifstream f(json);
    const auto img = nlohmann::json::parse(f)["images"][0];
    EXPECT_EQ(img["tiles"][0]["batch_id"], img["tiles"][1]["batch_id"]);
    EXPECT_EQ(img["execution"].get<std::string>().rfind("CPU Batch Execution: 2 tiles in 1 batch (2) in ", 0), 0u)
        << img["execution"];
}

namespace {

// Detections of every image in a `tiledet detect --json` file, by file name.
std::map<std::string, nlohmann::json> detections_by_image(const fs::path& json) {
    std::ifstream f(json);
    const nlohmann::json j = nlohmann::json::parse(f);
    std::map<std::string, nlohmann::json> out;
    for (const auto& img : j["images"]) out[img["file"].get<std::string>()] = img["detections"];
    return out;
}

void expect_same_detections(const nlohmann::json& a, const nlohmann::json& b, const std::string& what) {
    ASSERT_EQ(a.size(), b.size()) << what;
    ASSERT_GT(a.size(), 0u) << what << ": the images should show planted objects";
    for (std::size_t i = 0; i < a.size(); ++i) {
        EXPECT_EQ(a[i]["class_id"], b[i]["class_id"]) << what << " detection " << i;
        EXPECT_NEAR(a[i]["score"].get<double>(), b[i]["score"].get<double>(), 1e-5) << what << " detection " << i;
        for (int k = 0; k < 4; ++k)
            EXPECT_NEAR(a[i]["box"][k].get<double>(), b[i]["box"][k].get<double>(), 1e-3) << what << " detection " << i;
    }
}

std::size_t count_of(const std::string& text, const std::string& needle) {
    std::size_t n = 0;
    for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) ++n;
    return n;
}

}  // namespace

// fake_dynamic_div80 declares a dynamic batch but fails at batch 3, 6 and 7.
TEST(CliDetectFailingSizes, SevenImagesInOneBatchAllMatchBatchOneWithOneWarning) {
    TILEDET_REQUIRE_GENERATED("fake_dynamic_div80.onnx");
    const std::string model = tiledet::testing::generated_model("fake_dynamic_div80.onnx").string();
    std::string images;
    for (int i = 0; i < 7; ++i) {
        cv::Mat img(480 + 20 * i, 640, CV_8UC3, cv::Scalar(30, 30, 30));
        cv::rectangle(img, cv::Rect(60 + 10 * i, 80, 300, 250), cv::Scalar(200 + 5 * i, 210, 220), cv::FILLED);
        const fs::path p = temp_dir() / fs::path("div80_").concat(std::to_string(i)).concat(".png");
        cv::imwrite(p.string(), img);
        images += ' ';
        images += p.string();
    }
    const fs::path batched = temp_dir() / "div80_b8.json", alone = temp_dir() / "div80_b1.json";
    const auto r8 = run(std::string(TILEDET_CLI_PATH) + " detect -m " + model + images +
                        " --batch 8 --max-delay-ms 500 --json " + batched.string());
    ASSERT_EQ(r8.code, 0) << r8.output;
    EXPECT_EQ(count_of(r8.output, "failed at batch"), 1u) << r8.output;
    EXPECT_EQ(count_of(r8.output, "tiledet batchify"), 1u) << r8.output;
    const auto r1 =
        run(std::string(TILEDET_CLI_PATH) + " detect -m " + model + images + " --batch 1 --json " + alone.string());
    ASSERT_EQ(r1.code, 0) << r1.output;
    const auto a = detections_by_image(batched), b = detections_by_image(alone);
    ASSERT_EQ(a.size(), 7u);
    for (const auto& [file, dets] : a) expect_same_detections(dets, b.at(file), file);
}

TEST(CliDetectFailingSizes, ThreeTileImageMatchesBatchOne) {
    TILEDET_REQUIRE_GENERATED("fake_dynamic_div80.onnx");
    const std::string model = tiledet::testing::generated_model("fake_dynamic_div80.onnx").string();
    cv::Mat img(640, 1920, CV_8UC3, cv::Scalar(40, 40, 40));
    for (int t = 0; t < 3; ++t)
        cv::rectangle(img, cv::Rect(640 * t + 100, 100, 450, 400), cv::Scalar(230 - 10 * t, 225, 220), cv::FILLED);
    const fs::path p = temp_dir() / "three_tiles.png";
    cv::imwrite(p.string(), img);
    const fs::path batched = temp_dir() / "three_b8.json", alone = temp_dir() / "three_b1.json";
    const std::string base =
        std::string(TILEDET_CLI_PATH) + " detect --tile 640 --overlap 0 -m " + model + " " + p.string();
    const auto r8 = run(base + " --batch 8 --json " + batched.string());
    ASSERT_EQ(r8.code, 0) << r8.output;
    EXPECT_EQ(count_of(r8.output, "failed at batch 3"), 1u) << r8.output;
    const auto r1 = run(base + " --batch 1 --json " + alone.string());
    ASSERT_EQ(r1.code, 0) << r1.output;
    const auto a = detections_by_image(batched), b = detections_by_image(alone);
    ASSERT_EQ(a.size(), 1u);
    ASSERT_EQ(b.size(), 1u);
    expect_same_detections(a.begin()->second, b.begin()->second, "three tiles");
}

TEST(CliInspectProbe, SaysWhichBatchSizesTheModelRuns) {
    TILEDET_REQUIRE_GENERATED("fake_dynamic_div80.onnx");
    const auto r = run(std::string(TILEDET_CLI_PATH) + " inspect --probe --probe-sizes 1,2,3,max --batch 8 " +
                       tiledet::testing::generated_model("fake_dynamic_div80.onnx").string());
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find("  batch 2: ok ("), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("  batch 3: FAILS: "), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("  batch 8: ok ("), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("probe: fails at batch 3; runs at 1, 2, 8."), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("tiledet batchify"), std::string::npos) << r.output;
}

TEST(CliDemo, BatchedStepRunsBothTilesInOneBatchWithEqualPerTileLatencies) {
    TILEDET_REQUIRE_GENERATED("rtdetr_heavy_dynamic.onnx");
    const auto r = run(std::string(TILEDET_CLI_PATH) + " demo --repeats 1 --out " + (temp_dir() / "demo").string());
    ASSERT_EQ(r.code, 0) << r.output;
    const auto step = r.output.find("[2/3]");
    ASSERT_NE(step, std::string::npos) << r.output;
    const std::string rest = r.output.substr(step);
    const auto line = rest.find('\n') + 1;
    EXPECT_EQ(rest.find("CPU Batch Execution: 2 tiles in 1 batch (2) in "), line) << rest;
    double t0 = 0, t1 = 0;
    ASSERT_EQ(std::sscanf(rest.c_str() + rest.find("Tile #0: "), "Tile #0: %lfms", &t0), 1) << rest;
    ASSERT_EQ(std::sscanf(rest.c_str() + rest.find("Tile #1: "), "Tile #1: %lfms", &t1), 1) << rest;
    EXPECT_NEAR(t0, t1, 0.05 * std::max(t0, t1)) << rest;
    // The static model's step ran one tile at a time, and says so.
    EXPECT_NE(r.output.find("CPU Sequential Execution: 2 tiles in 2 batches (1+1) in "), std::string::npos) << r.output;
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

TEST(CliDetectTiled, ForcedFamilyTheSignatureDoesNotFitIsWarnedOnTheConsole) {
    TILEDET_REQUIRE_GENERATED("yolo_dynamic.onnx");
    const std::string model = tiledet::testing::generated_model("yolo_dynamic.onnx").string();
    const auto forced = run(std::string(TILEDET_CLI_PATH) + " detect -m " + model +
                            " --family ultralytics_rtdetr " + two_tile_image().string());
    EXPECT_NE(forced.output.find("warning: --family ultralytics_rtdetr is forced, but the model's signature does not fit"),
              std::string::npos)
        << forced.output;
    EXPECT_NE(forced.output.find("(it suggests yolo)"), std::string::npos) << forced.output;
    const auto fitting = run(std::string(TILEDET_CLI_PATH) + " detect -m " + model + " --family yolo " +
                             two_tile_image().string());
    EXPECT_EQ(fitting.code, 0) << fitting.output;
    EXPECT_EQ(fitting.output.find("is forced, but"), std::string::npos) << fitting.output;
}

// Limits and hostile inputs: each command ends in one clear line naming the limit and its flag,
// exit 2, before anything large is allocated.
namespace {

std::string one_image() {
    const fs::path p = temp_dir() / "limits.png";
    cv::imwrite(p.string(), cv::Mat(480, 640, CV_8UC3, cv::Scalar(90, 90, 90)));
    return p.string();
}

std::string model_arg(const std::string& file) {
    return tiledet::testing::generated_model(file).string();
}

}  // namespace

TEST(CliLimits, ModelWithHugeInputIsRefusedNamingTheLimitAndFlag) {
    TILEDET_REQUIRE_GENERATED("huge_input.onnx");
    const auto r = tiledet::testing::run_cli("detect -m " + model_arg("huge_input.onnx") + " " + one_image());
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_NE(r.output.find("huge_input.onnx: model input 'images' [1, 3, 100000, 100000]"), std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find("30,000,000,000"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("--max-input-elements"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("unexpected error"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("bad_alloc"), std::string::npos) << r.output;
}

TEST(CliLimits, ModelWithHugeOutputIsRefusedNamingTheLimitAndFlag) {
    TILEDET_REQUIRE_GENERATED("huge_output.onnx");
    const auto r = tiledet::testing::run_cli("detect -m " + model_arg("huge_output.onnx") + " " + one_image());
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_NE(r.output.find("--max-output-elements"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("4,200,000,000"), std::string::npos) << r.output;
}

TEST(CliLimits, TinyTilesAreRefusedWithTheSmallestSizeToUse) {
    TILEDET_REQUIRE_GENERATED("yolo_dynamic.onnx");
    const auto r = tiledet::testing::run_cli("detect -m " + model_arg("yolo_dynamic.onnx") + " --tile 8 --overlap 0 " +
                                             one_image());
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_NE(r.output.find("--min-tile-ratio"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("at least 80x80"), std::string::npos) << r.output;
}

TEST(CliLimits, OverlapNotSmallerThanTheTileIsABadOptionNamingOverlap) {
    TILEDET_REQUIRE_GENERATED("yolo_dynamic.onnx");
    const auto r = tiledet::testing::run_cli("detect -m " + model_arg("yolo_dynamic.onnx") +
                                             " --tile 320 --overlap 320 " + one_image());
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_NE(r.output.find("--overlap: expected an overlap smaller than the tile (320 px"), std::string::npos)
        << r.output;
    EXPECT_EQ(r.output.find("unexpected error"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("make_tile_grid"), std::string::npos) << r.output;
}

TEST(CliLimits, TooManyTilesFailTheImageNamingMaxTiles) {
    TILEDET_REQUIRE_GENERATED("yolo_dynamic.onnx");
    const auto r = tiledet::testing::run_cli("detect -m " + model_arg("yolo_dynamic.onnx") +
                                             " --tile 320 --overlap 0.99 --max-tiles 1024 " + one_image());
    // 5,940 tiles: under the default limit (65,536, sized for huge rasters), over the one given.
    EXPECT_EQ(r.code, 1) << r.output;  // the image failed; the run itself was fine
    EXPECT_NE(r.output.find("limits.png: image 640x480"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("exceeds the limit of 1,024 (--max-tiles)"), std::string::npos) << r.output;
}

TEST(CliLimits, FolderGivenAsModelSaysItIsAFolder) {
    const std::string folder = temp_dir().string();
    for (const std::string& cmd : {"detect -m " + folder + " " + one_image(), "inspect " + folder}) {
        const auto r = tiledet::testing::run_cli(cmd);
        EXPECT_EQ(r.code, 2) << cmd << "\n" << r.output;
        EXPECT_NE(r.output.find(folder + ": is a folder; expected an .onnx file"), std::string::npos) << r.output;
        EXPECT_EQ(r.output.find("bad_alloc"), std::string::npos) << r.output;
    }
}

TEST(CliLimits, TruncatedJpegFailsTheImageInsteadOfDecodingGrey) {
    TILEDET_REQUIRE_GENERATED("yolo_dynamic.onnx");
    std::vector<uchar> jpg;
    cv::Mat img(480, 640, CV_8UC3);
    cv::randu(img, cv::Scalar::all(0), cv::Scalar::all(255));
    cv::imencode(".jpg", img, jpg);
    const fs::path p = temp_dir() / "cut.jpg";
    std::ofstream(p, std::ios::binary)
        .write(reinterpret_cast<const char*>(jpg.data()), static_cast<std::streamsize>(jpg.size() / 2));
    const auto r = tiledet::testing::run_cli("detect -m " + model_arg("yolo_dynamic.onnx") + " " + p.string());
    EXPECT_EQ(r.code, 1) << r.output;
    EXPECT_NE(r.output.find("cut.jpg: truncated JPEG"), std::string::npos) << r.output;
}

TEST(CliLimits, ImageOverThePixelLimitIsRefusedFromItsHeader) {
    TILEDET_REQUIRE_GENERATED("yolo_dynamic.onnx");
    const auto r = tiledet::testing::run_cli("detect -m " + model_arg("yolo_dynamic.onnx") +
                                             " --max-image-pixels 1000 " + one_image());
    EXPECT_EQ(r.code, 1) << r.output;
    EXPECT_NE(
        r.output.find("640x480 = 307,200 pixels (from the PNG header) exceeds the limit of 1,000 (--max-image-pixels)"),
        std::string::npos)
        << r.output;
}

TEST(CliLimits, NegativeLimitIsABadOptionNamingItsFlag) {
    TILEDET_REQUIRE_GENERATED("yolo_dynamic.onnx");
    const auto r =
        tiledet::testing::run_cli("detect -m " + model_arg("yolo_dynamic.onnx") + " --max-tiles -1 " + one_image());
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_NE(r.output.find("--max-tiles: expected a tile count >= 0 (0: no limit), got '-1'"), std::string::npos) << r.output;
}

TEST(CliDetectJsonl, OneJsonLinePerImageInInputOrderWithFailuresAsErrorRecords) {
    TILEDET_REQUIRE_GENERATED("yolo_dynamic.onnx");
    const fs::path dir = fs::temp_directory_path() / ("tiledet_jsonl_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const fs::path bad = dir / "not_an_image.jpg";
    std::ofstream(bad) << "this is text";
    const auto r = tiledet::testing::run_cli("detect -m " + model_arg("yolo_dynamic.onnx") + " --tile 320 --jsonl - " +
                                             one_image() + " " + bad.string() + " " + one_image());
    EXPECT_EQ(r.code, 1) << r.output;  // one input failed
    std::vector<nlohmann::json> records;
    std::istringstream lines(r.output);
    for (std::string line; std::getline(lines, line);)
        if (!line.empty() && line.front() == '{') records.push_back(nlohmann::json::parse(line));
    ASSERT_EQ(records.size(), 3u) << r.output;
    EXPECT_EQ(records[0]["file"], one_image());
    EXPECT_GT(records[0]["tiles"].size(), 1u);
    EXPECT_EQ(records[1]["file"], bad.string());
    EXPECT_TRUE(records[1].contains("error"));
    EXPECT_EQ(records[2]["detections"], records[0]["detections"]);
    fs::remove_all(dir);
}
