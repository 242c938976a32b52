// Ultralytics OBB: the generated yolo_obb models decode to what an independent numpy decoder
// (scripts/make_test_models.py ref_decode_obb, written from the reference) finds in the same
// outputs; batch items stay apart; probiou, Fast-NMS and regularize_rboxes as the reference.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numbers>

#include "planted_scene.hpp"
#include "tiledet/detectors/detector.hpp"
#include "tiledet/runtime/model.hpp"
#include "yolo_obb.hpp"

namespace tiledet {
namespace {

using testing::GeneratedModel;

constexpr float kPi = std::numbers::pi_v<float>;

struct RefDet {
    int class_id;
    float score;
    RotatedBox rbox;
};

std::vector<RefDet> reference(const std::string& name, const std::string& scene) {
    std::ifstream in(testing::generated_model("manifest.json"));
    const nlohmann::json m = nlohmann::json::parse(in);
    std::vector<RefDet> out;
    for (const auto& e : m["models"]) {
        if (e["name"] != name) continue;
        for (const auto& d : e["reference_detections"][scene]) {
            const auto& r = d["xywhr"];
            out.push_back({d["class_id"].get<int>(), d["score"].get<float>(),
                           RotatedBox{r[0].get<float>(), r[1].get<float>(), r[2].get<float>(), r[3].get<float>(),
                                      r[4].get<float>()}});
        }
    }
    return out;
}

void expect_reference(const Detections& got, const std::vector<RefDet>& want, const std::string& what, float dx = 0,
                      float dy = 0) {
    ASSERT_FALSE(want.empty()) << what << ": no reference in the manifest";
    ASSERT_EQ(got.size(), want.size()) << what;
    for (std::size_t i = 0; i < want.size(); ++i) {
        ASSERT_TRUE(got[i].rbox) << what << " #" << i;
        const RotatedBox& r = *got[i].rbox;
        EXPECT_EQ(got[i].class_id, want[i].class_id) << what << " #" << i;
        EXPECT_NEAR(got[i].score, want[i].score, 1e-5) << what << " #" << i;
        EXPECT_NEAR(r.cx, want[i].rbox.cx + dx, 1e-3) << what << " #" << i;
        EXPECT_NEAR(r.cy, want[i].rbox.cy + dy, 1e-3) << what << " #" << i;
        EXPECT_NEAR(r.w, want[i].rbox.w, 1e-3) << what << " #" << i;
        EXPECT_NEAR(r.h, want[i].rbox.h, 1e-3) << what << " #" << i;
        EXPECT_NEAR(r.angle, want[i].rbox.angle, 1e-5) << what << " #" << i;
        EXPECT_GE(r.angle, 0.0f);
        EXPECT_LT(r.angle, kPi / 2);
    }
}

TEST(YoloObb, GeneratedModelsAreMatchedByTheirObbTaskNotAsPlainYolo) {
    for (const char* file : {"yolo_obb_static.onnx", "yolo_obb_dynamic.onnx"}) {
        TILEDET_REQUIRE_GENERATED(file);
        const Model model = Model::load(testing::generated_model(file).string());
        const FamilyMatch m = match_family(model.signature());
        ASSERT_TRUE(m.family) << m.reason;
        EXPECT_EQ(*m.family, Family{"yolo_obb"}) << m.reason;
        EXPECT_EQ(m.candidates.size(), 1u) << m.reason;
        EXPECT_EQ(make_detector(model.signature())->class_name(10), "small vehicle");
    }
}

TEST(YoloObb, StaticAtBatchOneMatchesTheIndependentDecoder) {
    TILEDET_REQUIRE_GENERATED("yolo_obb_static.onnx");
    const Model model = Model::load(testing::generated_model("yolo_obb_static.onnx").string());
    const auto det = make_detector(model.signature());
    const GeneratedModel g = testing::generated_entry("yolo_obb_static");
    expect_reference(detect_one(model, *det, testing::paint_scene(g, testing::kSceneA)),
                     reference("yolo_obb_static", "A"), "static scene A");
    expect_reference(detect_one(model, *det, testing::paint_scene(g, testing::kSceneB)),
                     reference("yolo_obb_static", "B"), "static scene B");
}

TEST(YoloObb, DynamicAtBatchTwoKeepsEachItemsOwnRotatedBoxes) {
    TILEDET_REQUIRE_GENERATED("yolo_obb_dynamic.onnx");
    const Model model = Model::load(testing::generated_model("yolo_obb_dynamic.onnx").string());
    const auto det = make_detector(model.signature());
    const GeneratedModel g = testing::generated_entry("yolo_obb_dynamic");
    std::vector<Tensor> slots = det->make_input_slots(2);
    const Geometry gb = det->preprocess(testing::paint_scene(g, testing::kSceneB), slots, 0);
    const Geometry ga = det->preprocess(testing::paint_scene(g, testing::kSceneA), slots, 1);
    const auto outputs = model.run(slots);
    expect_reference(det->decode(det->item_outputs(outputs, 0), gb, {}), reference("yolo_obb_dynamic", "B"), "item 0");
    expect_reference(det->decode(det->item_outputs(outputs, 1), ga, {}), reference("yolo_obb_dynamic", "A"), "item 1");
}

TEST(YoloObb, ALetterboxedFrameMapsCentresBackThroughThePad) {
    // 51 rows shorter than the input: no resize, content centred with top = round(25.5 - 0.1) = 25;
    // Ultralytics' scale_boxes subtracts that pad from the centres (sizes keep gain 1).
    TILEDET_REQUIRE_GENERATED("yolo_obb_static.onnx");
    const Model model = Model::load(testing::generated_model("yolo_obb_static.onnx").string());
    const auto det = make_detector(model.signature());
    const GeneratedModel g = testing::generated_entry("yolo_obb_static");
    const cv::Mat full = testing::paint_scene(g, testing::kSceneA);
    const cv::Mat img = full(cv::Rect(0, 25, g.input_size, g.input_size - 51)).clone();
    const Detections got = detect_one(model, *det, img);
    expect_reference(got, reference("yolo_obb_static", "A"), "shorter frame", 0, -25.0f);
    for (const Detection& d : got) {
        EXPECT_GE(d.box.y1, 0.0f);
        EXPECT_LE(d.box.y2, static_cast<float>(img.rows));
    }
}

TEST(YoloObb, ProbiouIsOneForTheSameGaussianAndFallsWithDistance) {
    const RotatedBox a{100, 100, 40, 40, 0};
    RotatedBox b = a;
    b.angle = 0.7f;  // a square turned: the same Gaussian
    EXPECT_NEAR(detail::probiou(a, b), 1.0f, 1e-3);
    const RotatedBox bar{100, 100, 80, 10, 0};
    const RotatedBox crossed{100, 100, 80, 10, kPi / 2};
    EXPECT_LT(detail::probiou(bar, crossed), 0.5f);
    EXPECT_NEAR(detail::probiou(bar, crossed), detail::probiou(crossed, bar), 1e-6);
    RotatedBox far = bar;
    far.cx += 500;
    EXPECT_NEAR(detail::probiou(bar, far), 0.0f, 1e-3);
}

TEST(YoloObb, FastNmsLetsASuppressedBoxStillSuppress) {
    // A > B > C in score; A suppresses B, B would suppress C, A does not touch C. Greedy NMS
    // keeps A and C; Ultralytics' Fast-NMS keeps only A.
    const RotatedBox a{100, 100, 100, 20, 0}, b{130, 100, 100, 20, 0}, c{160, 100, 100, 20, 0};
    const float ab = detail::probiou(a, b), bc = detail::probiou(b, c), ac = detail::probiou(a, c);
    ASSERT_GT(ab, ac);
    const float thr = (ab + ac) / 2;
    ASSERT_GE(bc, thr);
    const Detections kept = detail::probiou_fast_nms(
        {Detection{a.bounds(), 0.9f, 0, a}, Detection{b.bounds(), 0.8f, 0, b}, Detection{c.bounds(), 0.7f, 0, c}}, thr,
        false, 300);
    ASSERT_EQ(kept.size(), 1u);
    EXPECT_FLOAT_EQ(kept[0].score, 0.9f);
    // Other classes never suppress each other unless agnostic.
    const Detections two = detail::probiou_fast_nms(
        {Detection{a.bounds(), 0.9f, 0, a}, Detection{a.bounds(), 0.8f, 1, a}}, 0.7f, false, 300);
    EXPECT_EQ(two.size(), 2u);
    EXPECT_EQ(detail::probiou_fast_nms({Detection{a.bounds(), 0.9f, 0, a}, Detection{a.bounds(), 0.8f, 1, a}}, 0.7f,
                                       true, 300)
                  .size(),
              1u);
}

TEST(YoloObb, RegularizeSwapsSidesAtOrPastHalfPiAndWrapsIntoAQuarterTurn) {
    const RotatedBox r = detail::regularize(RotatedBox{0, 0, 10, 20, 2.0f});
    EXPECT_FLOAT_EQ(r.w, 20);
    EXPECT_FLOAT_EQ(r.h, 10);
    EXPECT_NEAR(r.angle, 2.0f - kPi / 2, 1e-6);
    const RotatedBox n = detail::regularize(RotatedBox{0, 0, 10, 20, -0.3f});  // -0.3 mod pi = 2.84 >= pi/2
    EXPECT_FLOAT_EQ(n.w, 20);
    EXPECT_NEAR(n.angle, std::fmod(kPi - 0.3f, kPi / 2), 1e-5);
    const RotatedBox k = detail::regularize(RotatedBox{0, 0, 10, 20, 0.5f});
    EXPECT_FLOAT_EQ(k.w, 10);
    EXPECT_FLOAT_EQ(k.angle, 0.5f);
}

}  // namespace
}  // namespace tiledet
