// The yolo_seg generated model through `tiledet detect --tile`: masks shifted to image pixels,
// in the JSON as COCO RLE (decoded back here) or polygons.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "cli_runner.hpp"
#include "planted_scene.hpp"
#include "test_paths.hpp"
#include "tiledet/tiling/mask_ops.hpp"

namespace fs = std::filesystem;

namespace {

fs::path temp_dir() {
    const fs::path d = fs::temp_directory_path() / ("tiledet_cli_seg_" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d;
}

nlohmann::json detect_json(const std::string& args, const fs::path& image) {
    const fs::path out = temp_dir() / "out.json";
    const auto r = tiledet::testing::run_command(std::string(TILEDET_CLI_PATH) + " detect --model " +
                                                 tiledet::testing::generated_model("yolo_seg_dynamic.onnx").string() +
                                                 " " + args + " --json " + out.string() + " " + image.string());
    EXPECT_EQ(r.code, 0) << r.output;
    std::ifstream in(out);
    return nlohmann::json::parse(in);
}

// Mask areas the independent decoder found, per scene and class.
std::map<int, std::int64_t> reference_areas(const std::string& scene) {
    std::ifstream in(tiledet::testing::generated_model("manifest.json"));
    const nlohmann::json m = nlohmann::json::parse(in);
    std::map<int, std::int64_t> out;
    for (const auto& e : m["models"])
        if (e["name"] == "yolo_seg_dynamic")
            for (const auto& d : e["reference_detections"][scene]) out[d["class_id"]] = d["area"];
    return out;
}

fs::path two_scenes(const tiledet::testing::GeneratedModel& g) {
    cv::Mat img(g.input_size, 2 * g.input_size, CV_8UC3);
    tiledet::testing::paint_scene(g, tiledet::testing::kSceneA).copyTo(img(cv::Rect(0, 0, g.input_size, g.input_size)));
    tiledet::testing::paint_scene(g, tiledet::testing::kSceneB)
        .copyTo(img(cv::Rect(g.input_size, 0, g.input_size, g.input_size)));
    const fs::path png = temp_dir() / "seg_two_tiles.png";
    cv::imwrite(png.string(), img);
    return png;
}

TEST(CliSeg, TwoTilesGiveMasksShiftedToImagePixelsAsCocoRle) {
    TILEDET_REQUIRE_GENERATED("yolo_seg_dynamic.onnx");
    const auto g = tiledet::testing::generated_entry("yolo_seg_dynamic");
    const nlohmann::json j =
        detect_json("--tile 640 --overlap 0 --annotate " + (temp_dir() / "ann").string(), two_scenes(g));
    EXPECT_EQ(j["family"], "yolo_seg");
    const auto& dets = j["images"][0]["detections"];
    ASSERT_EQ(dets.size(), 6u) << dets.dump();
    const auto area_a = reference_areas("A"), area_b = reference_areas("B");
    for (const auto& d : dets) {
        const auto& seg = d["segmentation"];
        ASSERT_EQ(seg["size"], (nlohmann::json{640, 1280}));
        const auto counts = tiledet::rle_from_string(seg["counts"].get<std::string>());
        const tiledet::Mask m = tiledet::mask_from_rle(counts, 1280, 640);
        const bool right = d["box"][0].get<float>() >= 640;
        EXPECT_EQ(m.area(), (right ? area_b : area_a).at(d["class_id"].get<int>())) << d.dump();
        // Every mask pixel lies in the detection's box, on its own side of the seam.
        const auto& b = d["box"];
        for (int y = 0; y < 640; ++y)
            for (int x = 0; x < 1280; ++x)
                if (m.at(x, y)) {
                    ASSERT_GE(x, b[0].get<float>() - 0.5f);
                    ASSERT_LT(x, b[2].get<float>());
                    ASSERT_GE(y, b[1].get<float>() - 0.5f);
                    ASSERT_LT(y, b[3].get<float>());
                }
    }
    EXPECT_TRUE(fs::exists(temp_dir() / "ann" / "seg_two_tiles.png"));
}

TEST(CliSeg, PolygonsOnRequestAndNoMasksOnRequest) {
    TILEDET_REQUIRE_GENERATED("yolo_seg_dynamic.onnx");
    const auto g = tiledet::testing::generated_entry("yolo_seg_dynamic");
    const fs::path png = temp_dir() / "seg_scene_a.png";
    cv::imwrite(png.string(), tiledet::testing::paint_scene(g, tiledet::testing::kSceneA));
    const nlohmann::json poly = detect_json("--masks polygon", png);
    const auto& dets = poly["images"][0]["detections"];
    ASSERT_EQ(dets.size(), 3u);
    for (const auto& d : dets) {
        ASSERT_TRUE(d["segmentation"].is_array()) << d.dump();
        ASSERT_GE(d["segmentation"].size(), 1u);
        const auto& p = d["segmentation"][0];
        ASSERT_GE(p.size(), 6u);
        for (std::size_t i = 0; i < p.size(); i += 2) {
            EXPECT_GE(p[i].get<float>(), d["box"][0].get<float>() - 1);
            EXPECT_LE(p[i].get<float>(), d["box"][2].get<float>());
        }
    }
    const nlohmann::json none = detect_json("--masks none", png);
    EXPECT_FALSE(none["images"][0]["detections"][0].contains("segmentation"));
    const auto bad = tiledet::testing::run_command(std::string(TILEDET_CLI_PATH) + " detect --model " +
                                                   tiledet::testing::generated_model("yolo_seg_dynamic.onnx").string() +
                                                   " --masks bitmap " + png.string());
    EXPECT_EQ(bad.code, 2) << bad.output;
    EXPECT_NE(bad.output.find("--masks: expected rle, polygon or none"), std::string::npos) << bad.output;
}

}  // namespace
