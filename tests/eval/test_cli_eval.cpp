// `tiledet eval` end to end on a few coco64 images with the real YOLOv8n int8 model: the output
// has every figure, mAP lies in (0, 1], and bad inputs give the documented exit codes.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "cli_runner.hpp"
#include "test_paths.hpp"

namespace {

namespace fs = std::filesystem;
using tiledet::testing::shared_path;

using tiledet::testing::CliResult;
using tiledet::testing::run_cli;

fs::path temp_dir(const std::string& name) {
    auto p = fs::temp_directory_path() / ("tiledet_cli_eval_" + std::to_string(::getpid()) + "_" + name);
    fs::remove_all(p);
    fs::create_directories(p);
    return p;
}

// The number after `label` on its own line of the text output, or -2 when absent.
double figure(const std::string& out, const std::string& label) {
    std::smatch m;
    if (!std::regex_search(out, m, std::regex("(^|\\n)" + label + " ([0-9.]+)\\n"))) return -2;
    return std::stod(m[2]);
}

const std::string kModel = "models/yolov8n_int8.onnx";
const std::string kImages = "images/coco64/images";
const std::string kLabels = "images/coco64/labels";

}  // namespace

TEST(CliEval, FewCoco64ImagesPrintMapFiguresInRange) {
    TILEDET_REQUIRE_SHARED(kModel);
    TILEDET_REQUIRE_SHARED(kLabels);
    const fs::path json = temp_dir("json") / "eval.json";
    const auto r =
        run_cli("eval --model " + shared_path(kModel).string() + " --images " + shared_path(kImages).string() +
                " --labels " + shared_path(kLabels).string() + " --limit 6 --per-class --json " + json.string());
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find("images evaluated: 6 (0 background, 0 failed)"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("ground truth boxes: "), std::string::npos);
    EXPECT_NE(r.output.find("detections: "), std::string::npos);
    const double map = figure(r.output, "mAP@0\\.5:0\\.95:");
    const double map50 = figure(r.output, "mAP@0\\.5:");
    EXPECT_GT(map, 0.0) << r.output;
    EXPECT_LE(map, 1.0);
    EXPECT_GE(map50, map);
    EXPECT_LE(map50, 1.0);
    EXPECT_NE(r.output.find("AP50-95"), std::string::npos);
    EXPECT_NE(r.output.find(" person "), std::string::npos) << "class names in the per-class table\n" << r.output;

    std::ifstream in(json);
    const auto j = nlohmann::json::parse(in);
    EXPECT_EQ(j["images"], 6);
    EXPECT_NEAR(j["map"].get<double>(), map, 5e-5);  // the text shows 4 digits
    EXPECT_NEAR(j["map50"].get<double>(), map50, 5e-5);
    int gt_sum = 0;
    for (const auto& c : j["per_class"]) {
        gt_sum += c["gt"].get<int>();
        EXPECT_GE(c["ap"].get<double>(), 0.0);
        EXPECT_LE(c["ap"].get<double>(), c["ap50"].get<double>());
    }
    EXPECT_EQ(gt_sum, j["gt_boxes"].get<int>());
    fs::remove_all(json.parent_path());
}

TEST(CliEval, TileFlagsGiveTheTiledMapThroughThePipeline) {
    TILEDET_REQUIRE_SHARED(kModel);
    TILEDET_REQUIRE_SHARED(kLabels);
    const std::string common = "eval --model " + shared_path(kModel).string() + " --images " +
                               shared_path(kImages).string() + " --labels " + shared_path(kLabels).string() +
                               " --limit 4";
    const auto whole = run_cli(common);
    // coco64 images are at most 640 px: one model-sized tile each is the whole image.
    const auto one_tile = run_cli(common + " --tile 0");
    const fs::path json = temp_dir("tiled") / "eval.json";
    const auto tiled = run_cli(common + " --tile 320 --overlap 0.2 --json " + json.string());
    ASSERT_EQ(whole.code, 0) << whole.output;
    ASSERT_EQ(one_tile.code, 0) << one_tile.output;
    ASSERT_EQ(tiled.code, 0) << tiled.output;
    EXPECT_NE(whole.output.find("; whole images)"), std::string::npos) << whole.output;
    EXPECT_NE(tiled.output.find("; tiles 320x320, overlap 0.20, merged by nms iou 0.50)"), std::string::npos) << tiled.output;
    const double map_whole = figure(whole.output, "mAP@0\\.5:0\\.95:");
    EXPECT_EQ(figure(one_tile.output, "mAP@0\\.5:0\\.95:"), map_whole) << one_tile.output;
    const double map_tiled = figure(tiled.output, "mAP@0\\.5:0\\.95:");
    EXPECT_GT(map_tiled, 0.0) << tiled.output;
    EXPECT_LE(map_tiled, 1.0);
    EXPECT_NE(map_tiled, map_whole) << "320 px tiles upscaled 2x must change what the model sees";
    std::ifstream f(json);
    const nlohmann::json j = nlohmann::json::parse(f);
    EXPECT_EQ(j["tiling"], "tiles 320x320, overlap 0.20, merged by nms iou 0.50");
    EXPECT_NEAR(j["map"].get<double>(), map_tiled, 1e-4);
    // A bad tiling flag is one line naming it, exit 2.
    const auto bad = run_cli(common + " --tile 100 --overlap 150");
    EXPECT_EQ(bad.code, 2) << bad.output;
    EXPECT_NE(bad.output.find("--overlap: expected an overlap smaller than the tile"), std::string::npos) << bad.output;
}

TEST(CliEval, ImageWithoutLabelFileIsBackgroundAndMalformedLabelFailsOnlyThatImage) {
    TILEDET_REQUIRE_SHARED(kModel);
    TILEDET_REQUIRE_SHARED(kLabels);
    const fs::path images = temp_dir("images"), labels = temp_dir("labels");
    for (const char* stem : {"000000000009", "000000000025", "000000000030"})
        fs::copy_file(shared_path(kImages) / (std::string(stem) + ".jpg"), images / (std::string(stem) + ".jpg"));
    fs::copy_file(shared_path(kLabels) / "000000000009.txt", labels / "000000000009.txt");
    std::ofstream(labels / "000000000025.txt") << "23 0.5 0.5\n";  // 030 has none: background
    const auto r = run_cli("eval --model " + shared_path(kModel).string() + " --images " + images.string() +
                           " --labels " + labels.string());
    EXPECT_EQ(r.code, 1) << r.output;
    EXPECT_NE(r.output.find("000000000025.txt line 1: 3 numbers"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("images evaluated: 2 (1 background, 1 failed)"), std::string::npos) << r.output;
    EXPECT_GT(figure(r.output, "mAP@0\\.5:"), 0.0) << r.output;
    fs::remove_all(images);
    fs::remove_all(labels);
}

TEST(CliEval, ALabelClassTheModelCannotGiveFailsThatImage) {
    TILEDET_REQUIRE_SHARED(kModel);
    const fs::path images = temp_dir("images_cls"), labels = temp_dir("labels_cls");
    for (const char* stem : {"000000000009", "000000000025"})
        fs::copy_file(shared_path(kImages) / (std::string(stem) + ".jpg"), images / (std::string(stem) + ".jpg"));
    std::ofstream(labels / "000000000009.txt") << "0 0.5 0.5 0.2 0.2\n";
    std::ofstream(labels / "000000000025.txt") << "99 0.5 0.5 0.2 0.2\n";  // the model has 80 classes
    const auto r = run_cli("eval --model " + shared_path(kModel).string() + " --images " + images.string() +
                           " --labels " + labels.string());
    EXPECT_EQ(r.code, 1) << r.output;
    EXPECT_NE(r.output.find("000000000025.txt: label class 99 is not one the model gives (its classes are 0..79)"),
              std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find("1 failed"), std::string::npos) << r.output;
    fs::remove_all(images);
    fs::remove_all(labels);
}

TEST(CliEval, MissingLabelsFolderIsOneLineAndExitTwo) {
    const fs::path images = temp_dir("nolabels");
    const auto r = run_cli("eval --model m.onnx --images " + images.string() + " --labels /nonexistent/labels");
    EXPECT_EQ(r.code, 2);
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
    EXPECT_NE(r.output.find("/nonexistent/labels"), std::string::npos);
    fs::remove_all(images);
}

// eval's own defaults (Ultralytics' val thresholds, tiles merged by NMS on IoU) are what its help
// shows, not the detect defaults it overrides (a review read --merge TEXT=greedy-nmm there).
TEST(CliEval, HelpShowsEvalsOwnDefaults) {
    const auto r = run_cli("eval --help");
    EXPECT_EQ(r.code, 0);
    for (const char* shown : {"--conf TEXT=0.001 ", "--iou TEXT=0.7 ", "--max-det TEXT=300 ", "--merge TEXT=nms ",
                              "--match TEXT=iou "})
        EXPECT_NE(r.output.find(shown), std::string::npos) << shown << "\n" << r.output;
    const auto d = run_cli("detect --help");
    EXPECT_NE(d.output.find("--merge TEXT=greedy-nmm "), std::string::npos) << d.output;
}
