// `tiledet eval` on the generated models of the NMS-in-graph families (issue 15): images painted
// with the planted scenes and YOLO labels of the planted boxes (computed from the manifest, in
// image pixels), so a family decoded in the wrong place or with the wrong geometry scores below 1.
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

struct EvalCase {
    std::string model;
    int crop;  // YOLO-NAS: a (size - 2 crop) square at (crop, crop) fits its 636 rescale exactly
};
void PrintTo(const EvalCase& c, std::ostream* os) {
    *os << c.model;
}

class GeneratedEval : public ::testing::TestWithParam<EvalCase> {};

TEST_P(GeneratedEval, PlantedScenesWithTheirBoxesAsLabelsGiveAPerfectMap) {
    const EvalCase c = GetParam();
    TILEDET_REQUIRE_GENERATED(c.model + ".onnx");
    const planted::GeneratedModel g = planted::generated_entry(c.model);
    const fs::path dir = fs::temp_directory_path() / ("tiledet_eval_gen_" + std::to_string(::getpid()) + "_" + c.model);
    fs::remove_all(dir);
    fs::create_directories(dir / "images");
    fs::create_directories(dir / "labels");
    int n = 0;
    for (const auto& scene : {planted::kSceneA, planted::kSceneB}) {
        const cv::Mat full = planted::paint_scene(g, scene);
        const int side = g.input_size - 2 * c.crop;
        const cv::Mat img = full(cv::Rect(c.crop, c.crop, side, side)).clone();
        const std::string stem = "scene" + std::to_string(n++);
        cv::imwrite((dir / "images" / (stem + ".png")).string(), img);
        std::ofstream labels(dir / "labels" / (stem + ".txt"));
        for (const auto& p : g.planted) {
            if (p.duplicate) continue;
            const float x1 = p.box.x1 - static_cast<float>(c.crop), y1 = p.box.y1 - static_cast<float>(c.crop);
            const float x2 = p.box.x2 - static_cast<float>(c.crop), y2 = p.box.y2 - static_cast<float>(c.crop);
            const float s = static_cast<float>(side);
            labels << p.class_id << " " << (x1 + x2) / 2 / s << " " << (y1 + y2) / 2 / s << " " << (x2 - x1) / s << " "
                   << (y2 - y1) / s << "\n";
        }
    }
    const fs::path json = dir / "eval.json";
    const auto r = planted::run_cli("eval --model " + planted::generated_model(c.model + ".onnx").string() +
                                    " --images " + (dir / "images").string() + " --labels " + (dir / "labels").string() +
                                    " --json " + json.string());
    ASSERT_EQ(r.code, 0) << r.output;
    std::ifstream in(json);
    const auto j = nlohmann::json::parse(in);
    EXPECT_EQ(j["images"], 2);
    EXPECT_NEAR(j["map50"].get<double>(), 1.0, 1e-6) << r.output;
    EXPECT_NEAR(j["map"].get<double>(), 1.0, 1e-6) << r.output;
    fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Families, GeneratedEval,
                         ::testing::Values(EvalCase{"yolo_nas_static", 2}, EvalCase{"yolo_nas_flat_static", 2},
                                           EvalCase{"yolo_nas_raw_static", 2},
                                           EvalCase{"trt_end2end_static", 0}, EvalCase{"ppyoloe_static", 0},
                                           EvalCase{"ppyoloe_nonms_static", 0}),
                         [](const auto& info) { return info.param.model; });

}  // namespace
