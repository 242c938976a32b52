// Ultralytics segmentation: the generated yolo_seg models decode to what an independent numpy
// decoder (scripts/make_test_models.py ref_decode_seg: process_mask_native, written from the
// reference) finds in the same outputs: classes, scores, boxes, and every mask pixel (compared
// as COCO RLE over the frame). Masks come from the painted image, so a wrong prototype or
// coefficient index changes them.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "planted_scene.hpp"
#include "tiledet/detectors/detector.hpp"
#include "tiledet/error.hpp"
#include "tiledet/runtime/model.hpp"
#include "tiledet/tiling/mask_ops.hpp"

namespace tiledet {
namespace {

using testing::GeneratedModel;

nlohmann::json reference(const std::string& name, const std::string& scene) {
    std::ifstream in(testing::generated_model("manifest.json"));
    const nlohmann::json m = nlohmann::json::parse(in);
    for (const auto& e : m["models"])
        if (e["name"] == name) return e["reference_detections"][scene];
    ADD_FAILURE() << name << " not in the manifest";
    return nlohmann::json::array();
}

void expect_reference(const Detections& got, const nlohmann::json& want, int frame, const std::string& what) {
    ASSERT_EQ(got.size(), want.size()) << what;
    for (std::size_t i = 0; i < want.size(); ++i) {
        const auto& w = want[i];
        EXPECT_EQ(got[i].class_id, w["class_id"].get<int>()) << what << " #" << i;
        EXPECT_NEAR(got[i].score, w["score"].get<float>(), 1e-5) << what << " #" << i;
        EXPECT_NEAR(got[i].box.x1, w["box"][0].get<float>(), 1e-3) << what << " #" << i;
        EXPECT_NEAR(got[i].box.y2, w["box"][3].get<float>(), 1e-3) << what << " #" << i;
        ASSERT_TRUE(got[i].mask) << what << " #" << i;
        const Mask& m = *got[i].mask;
        EXPECT_EQ(m.area(), w["area"].get<std::int64_t>()) << what << " #" << i;
        EXPECT_EQ(rle_counts(m, frame, frame), w["rle_counts"].get<std::vector<std::uint32_t>>()) << what << " #" << i;
        // Held over its box only.
        EXPECT_LE(m.w, static_cast<int>(got[i].box.width()) + 1);
        EXPECT_LE(m.h, static_cast<int>(got[i].box.height()) + 1);
    }
}

TEST(YoloSeg, GeneratedModelsAreMatchedAsSegmentation) {
    for (const char* file : {"yolo_seg_static.onnx", "yolo_seg_dynamic.onnx"}) {
        TILEDET_REQUIRE_GENERATED(file);
        const Model model = Model::load(testing::generated_model(file).string());
        const FamilyMatch m = match_family(model.signature());
        ASSERT_TRUE(m.family) << m.reason;
        EXPECT_EQ(*m.family, Family{"yolo_seg"}) << m.reason;
    }
}

TEST(YoloSeg, StaticAtBatchOneMatchesTheIndependentDecoderPixelForPixel) {
    TILEDET_REQUIRE_GENERATED("yolo_seg_static.onnx");
    const Model model = Model::load(testing::generated_model("yolo_seg_static.onnx").string());
    const auto det = make_detector(model.signature());
    const GeneratedModel g = testing::generated_entry("yolo_seg_static");
    expect_reference(detect_one(model, *det, testing::paint_scene(g, testing::kSceneA)),
                     reference("yolo_seg_static", "A"), g.input_size, "static scene A");
    expect_reference(detect_one(model, *det, testing::paint_scene(g, testing::kSceneB)),
                     reference("yolo_seg_static", "B"), g.input_size, "static scene B");
}

TEST(YoloSeg, DynamicAtBatchTwoKeepsEachItemsOwnMasks) {
    TILEDET_REQUIRE_GENERATED("yolo_seg_dynamic.onnx");
    const Model model = Model::load(testing::generated_model("yolo_seg_dynamic.onnx").string());
    const auto det = make_detector(model.signature());
    const GeneratedModel g = testing::generated_entry("yolo_seg_dynamic");
    std::vector<Tensor> slots = det->make_input_slots(2);
    const Geometry gb = det->preprocess(testing::paint_scene(g, testing::kSceneB), slots, 0);
    const Geometry ga = det->preprocess(testing::paint_scene(g, testing::kSceneA), slots, 1);
    const auto outputs = model.run(slots);
    expect_reference(det->decode(det->item_outputs(outputs, 0), gb, {}), reference("yolo_seg_dynamic", "B"),
                     g.input_size, "item 0");
    expect_reference(det->decode(det->item_outputs(outputs, 1), ga, {}), reference("yolo_seg_dynamic", "A"),
                     g.input_size, "item 1");
}

TEST(YoloSeg, AShorterFrameMapsMasksBackThroughThePad) {
    // 52 rows shorter: no resize, centred with top = round(26 - 0.1) = 26. The mask of the
    // shorter frame is the full-frame mask moved up by 26 rows (4 x 6.5 prototype rows: the
    // bilinear sampling points shift by a whole number of input pixels).
    TILEDET_REQUIRE_GENERATED("yolo_seg_static.onnx");
    const Model model = Model::load(testing::generated_model("yolo_seg_static.onnx").string());
    const auto det = make_detector(model.signature());
    const GeneratedModel g = testing::generated_entry("yolo_seg_static");
    const cv::Mat full = testing::paint_scene(g, testing::kSceneA);
    const Detections whole = detect_one(model, *det, full);
    const cv::Mat img = full(cv::Rect(0, 26, g.input_size, g.input_size - 52)).clone();
    const Detections cut = detect_one(model, *det, img);
    ASSERT_EQ(cut.size(), whole.size());
    for (std::size_t i = 0; i < cut.size(); ++i) {
        ASSERT_TRUE(cut[i].mask);
        int differ = 0;
        for (int y = 0; y < img.rows; ++y)
            for (int x = 0; x < img.cols; ++x) differ += cut[i].mask->at(x, y) != whole[i].mask->at(x, y + 26);
        EXPECT_EQ(differ, 0) << "#" << i;
    }
}

}  // namespace
}  // namespace tiledet
