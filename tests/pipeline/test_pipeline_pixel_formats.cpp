// A 1-channel model [B,1,640,640] and a uint8 NHWC model [B,640,640,3] (issue 12) end to end:
// through tiledet::Pipeline with two tiles, and through `tiledet detect`. Each half of the image
// holds a different planted scene, so a tile mix-up, a wrong layout or a wrong grey conversion
// moves or rescores boxes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "cli_runner.hpp"
#include "planted_scene.hpp"
#include "tiledet/pipeline/pipeline.hpp"

using namespace tiledet;
namespace planted = tiledet::testing;
namespace fs = std::filesystem;

namespace {

// OpenCV's 8-bit BGR2GRAY (R2Y 4899, G2Y 9617, B2Y 1868, shift 14).
int grey_of(int b, int g, int r) {
    return (b * 1868 + g * 9617 + r * 4899 + (1 << 13)) >> 14;
}

float want_score(const planted::GeneratedModel& g, const planted::PlantedObject& p, int byte, bool grey) {
    // paint_scene paints the object's channel over a background of 40 (a grey model's channel
    // 0 is painted as R).
    return grey ? static_cast<float>(grey_of(40, 40, byte)) / 255.0f * p.scale : planted::expected_score(g, p, byte);
}

cv::Mat two_scenes(const planted::GeneratedModel& g) {
    const int s = g.input_size;
    cv::Mat img(s, 2 * s, CV_8UC3);
    planted::paint_scene(g, planted::kSceneA).copyTo(img(cv::Rect(0, 0, s, s)));
    planted::paint_scene(g, planted::kSceneB).copyTo(img(cv::Rect(s, 0, s, s)));
    return img;
}

class PixelFormatPipeline : public ::testing::TestWithParam<std::string> {};

TEST_P(PixelFormatPipeline, TwoTilesKeepTheirOwnScenesInImagePixels) {
    const std::string name = GetParam();
    TILEDET_REQUIRE_GENERATED(name + ".onnx");
    const planted::GeneratedModel g = planted::generated_entry(name);
    const bool grey = name.find("grey") != std::string::npos;
    const int s = g.input_size;

    PipelineOptions o;
    o.tile_mode = TileMode::fixed;
    o.tiles.overlap_ratio_w = o.tiles.overlap_ratio_h = 0;
    o.batching.max_batch_size = 2;
    o.log = [](LogLevel, std::string_view) {};
    Pipeline p(planted::generated_model(name + ".onnx").string(), o);
    EXPECT_EQ(p.detector().pixel_format().channels, grey ? 1 : 3);
    const ImageResult r = p.detect(two_scenes(g), name);
    ASSERT_EQ(r.tiles.size(), 2u);
    EXPECT_EQ(r.detections.size(), 6u);
    for (const auto& [scene, dx] : {std::pair{planted::kSceneA, 0}, std::pair{planted::kSceneB, s}})
        for (const auto& obj : g.planted) {
            if (obj.duplicate) continue;
            const Box want{obj.box.x1 + static_cast<float>(dx), obj.box.y1, obj.box.x2 + static_cast<float>(dx),
                           obj.box.y2};
            const auto hit = std::find_if(r.detections.begin(), r.detections.end(), [&](const Detection& d) {
                return d.class_id == obj.class_id && iou(d.box, want) > 0.99f;
            });
            ASSERT_NE(hit, r.detections.end()) << name << ": object " << obj.object << " not at x + " << dx;
            EXPECT_NEAR(hit->score, want_score(g, obj, scene[static_cast<std::size_t>(obj.object)], grey), 1e-4)
                << name << " object " << obj.object << " at x + " << dx;
        }
}

TEST_P(PixelFormatPipeline, DetectCommandRunsTheModelAndWritesThePlantedObjects) {
    const std::string name = GetParam();
    TILEDET_REQUIRE_GENERATED(name + ".onnx");
    const planted::GeneratedModel g = planted::generated_entry(name);
    const bool grey = name.find("grey") != std::string::npos;
    const fs::path dir = fs::temp_directory_path() / ("tiledet_pixel_formats_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const fs::path image = dir / (name + ".png"), json = dir / (name + ".json");
    cv::imwrite(image.string(), two_scenes(g));
    const auto r = planted::run_cli("detect --tile 640 --overlap 0 -m " + planted::generated_model(name + ".onnx").string() +
                                    " " + image.string() + " --json " + json.string());
    ASSERT_EQ(r.code, 0) << r.output;
    std::ifstream f(json);
    const auto dets = nlohmann::json::parse(f)["images"][0]["detections"];
    ASSERT_EQ(dets.size(), 6u) << dets.dump();
    std::vector<float> scores;
    for (const auto& d : dets) scores.push_back(d["score"].get<float>());
    for (const auto& scene : {planted::kSceneA, planted::kSceneB})
        for (const auto& obj : g.planted) {
            if (obj.duplicate) continue;
            const float want = want_score(g, obj, scene[static_cast<std::size_t>(obj.object)], grey);
            EXPECT_TRUE(std::any_of(scores.begin(), scores.end(), [&](float s) { return std::abs(s - want) < 1e-4f; }))
                << name << ": no detection scored " << want << " in " << dets.dump();
        }
    fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Inputs, PixelFormatPipeline, ::testing::Values("yolo_grey_dynamic", "yolo_u8_nhwc_dynamic"),
                         [](const auto& info) { return info.param; });

TEST(PixelFormatCli, AnAmbiguousLayoutIsOneClearLineNamingTheOption) {
    // A forced layout that the dims contradict is a bad option: exit 2, the option named.
    TILEDET_REQUIRE_GENERATED("yolo_grey_dynamic.onnx");
    const fs::path image = fs::temp_directory_path() / ("tiledet_pf_" + std::to_string(::getpid()) + ".png");
    cv::imwrite(image.string(), cv::Mat(64, 64, CV_8UC3, cv::Scalar::all(9)));
    const auto r = planted::run_cli("detect --input-layout nhwc -m " +
                                    planted::generated_model("yolo_grey_dynamic.onnx").string() + " " + image.string());
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_NE(r.output.find("--input-layout nhwc given"), std::string::npos) << r.output;
    const auto help = planted::run_cli("detect --help");
    EXPECT_NE(help.output.find("--input-layout"), std::string::npos);
    EXPECT_NE(help.output.find("--channels"), std::string::npos);
    fs::remove(image);
}

}  // namespace

namespace {

TEST(PixelFormatCli, InspectSaysHowTheImageInputIsFed) {
    TILEDET_REQUIRE_GENERATED("yolo_u8_nhwc_dynamic.onnx");
    const auto u8 = planted::run_cli("inspect " + planted::generated_model("yolo_u8_nhwc_dynamic.onnx").string());
    ASSERT_EQ(u8.code, 0) << u8.output;
    EXPECT_NE(u8.output.find("pixels: 3 channels RGB, NHWC uint8, raw bytes, letterbox centred, pad 114"),
              std::string::npos)
        << u8.output;
    const auto grey = planted::run_cli("inspect " + planted::generated_model("yolo_grey_dynamic.onnx").string());
    EXPECT_NE(grey.output.find("pixels: 1 channel (grey), NCHW float32, byte/255, letterbox centred, pad 114"),
              std::string::npos)
        << grey.output;
}

}  // namespace
