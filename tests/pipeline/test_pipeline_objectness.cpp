// The objectness families (yolov5, yolox) through the whole pipeline: tiles run by the executor
// (up to 2 a batch; whether they share one is timing, not asserted), decoded per tile, shifted
// back to the image. Each half of the image holds a different planted scene, so a tile mix-up or
// a wrong shift moves or rescores boxes.
#include <gtest/gtest.h>

#include <algorithm>

#include "planted_scene.hpp"
#include "tiledet/pipeline/pipeline.hpp"

using namespace tiledet;
namespace planted = tiledet::testing;

namespace {

void expect_scene_at(const Detections& dets, const planted::GeneratedModel& g, const planted::Scene& scene, float dx,
                     const std::string& what) {
    for (const auto& p : g.planted) {
        if (p.duplicate) continue;
        const Box want{p.box.x1 + dx, p.box.y1, p.box.x2 + dx, p.box.y2};
        const auto hit = std::find_if(dets.begin(), dets.end(), [&](const Detection& d) {
            return d.class_id == p.class_id && iou(d.box, want) > 0.99f;
        });
        ASSERT_NE(hit, dets.end()) << what << ": object " << p.object << " not found at x + " << dx;
        EXPECT_NEAR(hit->score, planted::expected_score(g, p, scene[static_cast<std::size_t>(p.object)]), 1e-4)
            << what << " object " << p.object;
    }
}

class ObjectnessPipeline : public ::testing::TestWithParam<std::string> {};

TEST_P(ObjectnessPipeline, TwoTilesKeepTheirOwnScenesInImagePixels) {
    const std::string name = GetParam() + "_dynamic";
    TILEDET_REQUIRE_GENERATED(name + ".onnx");
    const planted::GeneratedModel g = planted::generated_entry(name);
    const int s = g.input_size;
    cv::Mat img(s, 2 * s, CV_8UC3);
    planted::paint_scene(g, planted::kSceneA).copyTo(img(cv::Rect(0, 0, s, s)));
    planted::paint_scene(g, planted::kSceneB).copyTo(img(cv::Rect(s, 0, s, s)));

    PipelineOptions o;
    o.tile_mode = TileMode::fixed;
    o.tiles.overlap_ratio_w = o.tiles.overlap_ratio_h = 0;
    o.batching.max_batch_size = 2;
    o.log = [](LogLevel, std::string_view) {};
    Pipeline p(planted::generated_model(name + ".onnx").string(), o);
    const ImageResult r = p.detect(img, name);
    ASSERT_EQ(r.tiles.size(), 2u);
    EXPECT_EQ(r.tiles[1].tile.x, s);
    EXPECT_EQ(r.detections.size(), 6u);
    expect_scene_at(r.detections, g, planted::kSceneA, 0, name + " left tile");
    expect_scene_at(r.detections, g, planted::kSceneB, static_cast<float>(s), name + " right tile");
}

INSTANTIATE_TEST_SUITE_P(Families, ObjectnessPipeline,
                         ::testing::Values("yolov5", "yolox", "trt_end2end", "ppyoloe_nonms"),
                         [](const auto& info) { return info.param; });

}  // namespace
