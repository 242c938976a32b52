// The yolo_obb generated model through `tiledet detect`: tiled and untiled, rotated boxes shifted
// to image pixels, in the JSON as xywhr + xyxyxyxy, drawn by --annotate.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "cli_runner.hpp"
#include "planted_scene.hpp"
#include "test_paths.hpp"

namespace fs = std::filesystem;

namespace {

fs::path temp_dir() {
    const fs::path d = fs::temp_directory_path() / ("tiledet_cli_obb_" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d;
}

nlohmann::json detect_json(const std::string& args, const fs::path& image) {
    const fs::path out = temp_dir() / "out.json";
    const auto r = tiledet::testing::run_command(std::string(TILEDET_CLI_PATH) + " detect --model " +
                                                 tiledet::testing::generated_model("yolo_obb_dynamic.onnx").string() +
                                                 " " + args + " --json " + out.string() + " " + image.string());
    EXPECT_EQ(r.code, 0) << r.output;
    std::ifstream in(out);
    return nlohmann::json::parse(in);
}

// Each detection's corners must be its xywhr's corners, and box their bounds.
void expect_consistent(const nlohmann::json& d) {
    const auto& r = d["xywhr"];
    const float cx = r[0], cy = r[1], w = r[2], h = r[3], a = r[4];
    const float c = std::cos(a), s = std::sin(a);
    const float x0 = cx + w / 2 * c - h / 2 * s, y0 = cy + w / 2 * s + h / 2 * c;
    EXPECT_NEAR(d["xyxyxyxy"][0][0].get<float>(), x0, 1e-2);
    EXPECT_NEAR(d["xyxyxyxy"][0][1].get<float>(), y0, 1e-2);
    float minx = 1e9f;
    for (const auto& p : d["xyxyxyxy"]) minx = std::min(minx, p[0].get<float>());
    EXPECT_NEAR(d["box"][0].get<float>(), std::max(0.0f, minx), 1e-2);
}

TEST(CliObb, TwoTilesGiveEachTilesRotatedBoxesShiftedToImagePixels) {
    TILEDET_REQUIRE_GENERATED("yolo_obb_dynamic.onnx");
    const auto g = tiledet::testing::generated_entry("yolo_obb_dynamic");
    // Scene A in the left 640x640 tile, scene B in the right one.
    cv::Mat img(g.input_size, 2 * g.input_size, CV_8UC3);
    tiledet::testing::paint_scene(g, tiledet::testing::kSceneA).copyTo(img(cv::Rect(0, 0, g.input_size, g.input_size)));
    tiledet::testing::paint_scene(g, tiledet::testing::kSceneB)
        .copyTo(img(cv::Rect(g.input_size, 0, g.input_size, g.input_size)));
    const fs::path png = temp_dir() / "obb_two_tiles.png";
    cv::imwrite(png.string(), img);
    const fs::path annotated = temp_dir() / "annotated";
    const nlohmann::json j = detect_json("--tile 640 --overlap 0 --annotate " + annotated.string(), png);
    EXPECT_EQ(j["family"], "yolo_obb");
    const auto& dets = j["images"][0]["detections"];
    ASSERT_EQ(dets.size(), 6u) << dets.dump();
    int right = 0;
    for (const auto& d : dets) {
        expect_consistent(d);
        const float cx = d["xywhr"][0];
        // The planted centres are 176, 440 and 496 in a tile; the right tile adds 640.
        const float in_tile = cx >= 640 ? cx - 640 : cx;
        right += cx >= 640;
        EXPECT_TRUE(std::abs(in_tile - 176) < 1e-3 || std::abs(in_tile - 440) < 1e-3 || std::abs(in_tile - 496) < 1e-3)
            << d.dump();
        if (d["class_name"] == "ship") {  // object 1: 180 in scene A (left), 250 in scene B (right)
            EXPECT_NEAR(d["score"].get<float>(), (cx >= 640 ? 250.0f : 180.0f) / 255.0f, 1e-4) << d.dump();
        }
    }
    EXPECT_EQ(right, 3);
    EXPECT_TRUE(fs::exists(annotated / "obb_two_tiles.png") || fs::exists(annotated / "obb_two_tiles.jpg"));
}

TEST(CliObb, UntiledFrameMatchesTheIndependentDecoder) {
    TILEDET_REQUIRE_GENERATED("yolo_obb_dynamic.onnx");
    const auto g = tiledet::testing::generated_entry("yolo_obb_dynamic");
    const fs::path png = temp_dir() / "obb_scene_a.png";
    cv::imwrite(png.string(), tiledet::testing::paint_scene(g, tiledet::testing::kSceneA));
    const nlohmann::json j = detect_json("", png);
    const auto& dets = j["images"][0]["detections"];
    ASSERT_EQ(dets.size(), 3u) << dets.dump();
    // ref_decode_obb for scene A: plane at (176, 288) 160x320 at 30 degrees, best first.
    EXPECT_EQ(dets[0]["class_name"], "plane");
    EXPECT_NEAR(dets[0]["xywhr"][0].get<float>(), 176, 1e-3);
    EXPECT_NEAR(dets[0]["xywhr"][4].get<float>(), 0.5235988f, 1e-5);
    for (const auto& d : dets) expect_consistent(d);
}

}  // namespace
