// `tiledet eval` on the generated yolo_seg model measures masks (COCO segm), not boxes: scene A
// with polygon labels of the painted regions. The boxes match their labels' boxes exactly (bbox mAP
// would be 1); the masks cover part of each region, so mask IoU decides per threshold.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "cli_runner.hpp"
#include "planted_scene.hpp"

namespace {

namespace fs = std::filesystem;
namespace planted = tiledet::testing;

// Scene A, the independent decoder's masks (manifest reference_detections, areas below) lie inside
// the painted regions, so mask IoU with a region label = mask area / region area:
//   person 3986 / (50 x 80) = 0.9965 -> a match at all 10 thresholds 0.50 .. 0.95: AP 1
//   car    4624 / (80 x 60) = 0.9633 -> all 10: AP 1
//   dog    5624 / (80 x 80) = 0.8788 -> 0.50 .. 0.85 (8 of 10), a miss at 0.90, 0.95: AP 0.8
//   mAP@0.5:0.95 = (1 + 1 + 0.8) / 3 = 0.9333; mAP@0.5 = mAP@0.75 = 1.
TEST(CliEvalSeg, MaskMapOfThePlantedSceneIsTheHandComputedFigure) {
    TILEDET_REQUIRE_GENERATED("yolo_seg_dynamic.onnx");
    const planted::GeneratedModel g = planted::generated_entry("yolo_seg_dynamic");
    {
        std::ifstream in(planted::generated_model("manifest.json"));
        const nlohmann::json m = nlohmann::json::parse(in);
        std::vector<std::int64_t> areas;
        for (const auto& e : m["models"])
            if (e["name"] == "yolo_seg_dynamic")
                for (const auto& d : e["reference_detections"]["A"]) areas.push_back(d["area"]);
        ASSERT_EQ(areas, (std::vector<std::int64_t>{3986, 4624, 5624})) << "the generated masks changed: redo the sums";
    }
    const fs::path dir = fs::temp_directory_path() / ("tiledet_eval_seg_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir / "images");
    fs::create_directories(dir / "labels");
    cv::imwrite((dir / "images" / "a.png").string(), planted::paint_scene(g, planted::kSceneA));
    {
        std::ofstream labels(dir / "labels" / "a.txt");
        const float s = static_cast<float>(g.input_size);
        for (const auto& p : g.planted) {
            if (p.duplicate) continue;
            const cv::Rect& r = p.region;
            labels << p.class_id << " " << r.x / s << " " << r.y / s << " " << (r.x + r.width) / s << " " << r.y / s
                   << " " << (r.x + r.width) / s << " " << (r.y + r.height) / s << " " << r.x / s << " "
                   << (r.y + r.height) / s << "\n";
        }
    }
    const fs::path out = dir / "eval.json";
    const auto r = tiledet::testing::run_command(std::string(TILEDET_CLI_PATH) + " eval --model " +
                                                 planted::generated_model("yolo_seg_dynamic.onnx").string() +
                                                 " --images " + (dir / "images").string() + " --labels " +
                                                 (dir / "labels").string() + " --json " + out.string());
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find("mask mAP (COCO segm"), std::string::npos) << r.output;
    std::ifstream in(out);
    const nlohmann::json j = nlohmann::json::parse(in);
    EXPECT_EQ(j["iou_type"], "segm");
    EXPECT_NEAR(j["map"].get<double>(), 2.8 / 3.0, 1e-9);
    EXPECT_NEAR(j["map50"].get<double>(), 1.0, 1e-9);
    EXPECT_NEAR(j["map75"].get<double>(), 1.0, 1e-9);
    fs::remove_all(dir);
}

}  // namespace
