// `tiledet eval` on the generated yolo_obb model: two painted scenes with DOTA labels, some
// matching the decoded rotated boxes exactly, one misplaced, one difficult; the rotated mAP must
// be the hand-computed figure for VOC07 and for VOC12.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "cli_runner.hpp"
#include "planted_scene.hpp"
#include "tiledet/detection.hpp"

namespace {

namespace fs = std::filesystem;
namespace planted = tiledet::testing;
using tiledet::RotatedBox;

std::string dota_line(const RotatedBox& r, const std::string& name, int difficult) {
    std::string s;
    for (const auto& p : r.corners()) s += std::to_string(p.x) + " " + std::to_string(p.y) + " ";
    return s + name + " " + std::to_string(difficult) + "\n";
}

// The decoded boxes of the planted objects (regularized; see test_yolo_obb.cpp's reference).
const RotatedBox kPlane{176, 288, 160, 320, 0.52359879f};
const RotatedBox kShip{440, 420, 120, 240, 0.42920367f};
const RotatedBox kSmallVehicle{496, 144, 160, 192, 1.27079633f};

fs::path make_set() {
    const planted::GeneratedModel g = planted::generated_entry("yolo_obb_dynamic");
    const fs::path dir = fs::temp_directory_path() / ("tiledet_eval_obb_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir / "images");
    fs::create_directories(dir / "labels");
    // Scene A: plane 0.902, ship 0.706, small vehicle 0.549. Scene B: ship 0.980, small
    // vehicle 0.784, plane 0.627.
    cv::imwrite((dir / "images" / "a.png").string(), planted::paint_scene(g, planted::kSceneA));
    cv::imwrite((dir / "images" / "b.png").string(), planted::paint_scene(g, planted::kSceneB));
    std::ofstream a(dir / "labels" / "a.txt");
    a << "imagesource:GoogleEarth\ngsd:0.5\n"
      << dota_line(kPlane, "plane", 0)
      << dota_line({100, 550, 60, 30, 0}, "ship", 0);  // a ship nobody detects; the ship detection misses
    std::ofstream b(dir / "labels" / "b.txt");
    b << dota_line(kPlane, "plane", 0) << dota_line(kShip, "ship", 0) << dota_line(kSmallVehicle, "small-vehicle", 1);
    return dir;
}

nlohmann::json run_eval(const fs::path& dir, const std::string& ap) {
    const fs::path out = dir / ("eval_" + ap + ".json");
    const auto r = tiledet::testing::run_command(std::string(TILEDET_CLI_PATH) + " eval --model " +
                                                 planted::generated_model("yolo_obb_dynamic.onnx").string() +
                                                 " --images " + (dir / "images").string() + " --labels " +
                                                 (dir / "labels").string() + " --ap " + ap + " --json " + out.string());
    EXPECT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find("rotated mAP@0.5 (DOTA"), std::string::npos) << r.output;
    std::ifstream in(out);
    return nlohmann::json::parse(in);
}

// plane: 0.902 TP (a), 0.627 TP (b) of 2 -> AP 1.
// ship: 0.980 TP (b), 0.706 FP (a) of 2 -> recall 0.5, 0.5; precision 1, 0.5:
//   VOC07 = 6/11 (max precision 1 at recall >= 0 .. 0.5), VOC12 = 0.5.
// small vehicle: only a difficult object: no class AP, its matched detection is ignored.
TEST(CliEvalObb, RotatedMapIsTheHandComputedFigure) {
    TILEDET_REQUIRE_GENERATED("yolo_obb_dynamic.onnx");
    const fs::path dir = make_set();
    const nlohmann::json v07 = run_eval(dir, "voc07");
    EXPECT_EQ(v07["gt_objects"], 4);
    ASSERT_EQ(v07["per_class"].size(), 2u) << v07.dump();
    EXPECT_NEAR(v07["per_class"][0]["ap50"].get<double>(), 1.0, 1e-6);
    EXPECT_NEAR(v07["per_class"][1]["ap50"].get<double>(), 6.0 / 11.0, 1e-6);
    EXPECT_NEAR(v07["map50"].get<double>(), (1.0 + 6.0 / 11.0) / 2, 1e-6);
    const nlohmann::json v12 = run_eval(dir, "voc12");
    EXPECT_NEAR(v12["map50"].get<double>(), 0.75, 1e-6);
    fs::remove_all(dir);
}

}  // namespace
