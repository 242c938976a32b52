// Families whose exports run NMS in the graph (issue 15): YOLO-NAS (BATCH, FLAT), the
// TensorRT-style four outputs, PP-YOLOE (NMS rows, exclude_nms). Generated models with planted,
// image-dependent rows (scripts/make_test_models.py build_counted / build_yolo_nas_flat /
// build_ppyoloe); the expected numbers come from the manifest and model-formats-more.md, not
// from the decoders under test.
#include <gtest/gtest.h>

#include <algorithm>
#include <opencv2/imgproc.hpp>

#include "planted_scene.hpp"
#include "signatures.hpp"
#include "tiledet/detectors/detector.hpp"
#include "tiledet/error.hpp"
#include "tiledet/runtime/model.hpp"

namespace tiledet {
namespace {

using testing::D;
using testing::GeneratedModel;
using testing::Scene;
constexpr int64_t operator""_d(unsigned long long v) {
    return static_cast<int64_t>(v);
}

// Each non-duplicate planted object once, box (input px - pad) / scale, score from the scene;
// nothing else (decoys under the default conf, rows beyond the count and class -1 rows).
void expect_objects(const GeneratedModel& g, const Detections& dets, const Scene& scene, const std::string& what,
                    float sx = 1, float sy = 1, float pad_x = 0, float pad_y = 0, bool check_scores = true) {
    std::size_t objects = 0;
    for (const auto& p : g.planted) {
        if (p.duplicate) continue;
        ++objects;
        const Box want{(p.box.x1 - pad_x) / sx, (p.box.y1 - pad_y) / sy, (p.box.x2 - pad_x) / sx,
                       (p.box.y2 - pad_y) / sy};
        const auto hit = std::find_if(dets.begin(), dets.end(), [&](const Detection& d) {
            return d.class_id == p.class_id && std::abs(d.box.x1 - want.x1) < 0.05f &&
                   std::abs(d.box.y1 - want.y1) < 0.05f && std::abs(d.box.x2 - want.x2) < 0.05f &&
                   std::abs(d.box.y2 - want.y2) < 0.05f;
        });
        ASSERT_NE(hit, dets.end()) << what << ": object " << p.object << " (class " << p.class_id << ") not at "
                                   << want.x1 << "," << want.y1 << "," << want.x2 << "," << want.y2;
        if (check_scores) {
            EXPECT_NEAR(hit->score, testing::expected_score(g, p, scene[static_cast<std::size_t>(p.object)]), 1e-4)
                << what << " object " << p.object;
        }
    }
    EXPECT_EQ(dets.size(), objects) << what << ": extra or missing detections";
}

// YOLO-NAS rescales the longest side to 636 and centre-pads to 640 (model-formats-more.md
// e(3)): a 636x636 crop of the painted 640 frame at (2, 2) is placed back exactly where it was.
cv::Mat nas_image(const GeneratedModel& g, const Scene& scene) {
    return testing::paint_scene(g, scene)(cv::Rect(2, 2, 636, 636)).clone();
}

TEST(YoloNas, BatchFormatIsMatchedFedRawBytesAt636AndKeepsOnlyTheCountedRows) {
    TILEDET_REQUIRE_GENERATED("yolo_nas_static.onnx");
    const Model model = Model::load(testing::generated_model("yolo_nas_static.onnx").string());
    const FamilyMatch m = match_family(model.signature());
    ASSERT_EQ(m.family, Family{"yolo_nas"}) << m.reason;
    EXPECT_EQ(m.candidates.size(), 1u);
    const auto det = make_detector(model.signature());
    EXPECT_EQ(det->pixel_format().type, ElementType::uint8);
    EXPECT_FLOAT_EQ(det->default_conf(), 0.25f);
    const GeneratedModel g = testing::generated_entry("yolo_nas_static");
    const cv::Mat img = nas_image(g, testing::kSceneA);
    auto slots = det->make_input_slots(1);
    const Geometry geo = det->preprocess(img, slots, 0);
    EXPECT_FLOAT_EQ(geo.pad_x, 2.0f);
    EXPECT_FLOAT_EQ(geo.scale_x, 1.0f);
    EXPECT_EQ(slots[0].data<uint8_t>()[0], 114) << "centre pad 114";
    expect_objects(g, detect_one(model, *det, img), testing::kSceneA, "yolo_nas", 1, 1, 2, 2);
    DecodeOptions low;
    low.conf = 0.01f;
    // The decoy (0.1 s_0) passes a low conf; the stale row beyond the count never does.
    EXPECT_EQ(detect_one(model, *det, img, low).size(), 4u);
}

TEST(YoloNas, LongestSideGoesTo636WithFloorCentredPad) {
    ModelSignature sig;
    sig.inputs = {testing::tensor("input", ElementType::uint8, {1_d, 3_d, 640_d, 640_d})};
    sig.outputs = {testing::tensor("flat_predictions", ElementType::float32, {D{"N"}, 7_d})};
    const auto det = make_detector(sig);
    ASSERT_EQ(det->family(), Family{"yolo_nas"}) << det->reason();
    auto slots = det->make_input_slots(1);
    // 1000x501: r = 636/1000 (not 640/1000), content round(636) x round(318.636) = 636x319;
    // left = (640 - 636) // 2 = 2, top = (640 - 319) // 2 = 160.
    const Geometry g = det->preprocess(cv::Mat(501, 1000, CV_8UC3, cv::Scalar(1, 2, 3)), slots, 0);
    EXPECT_FLOAT_EQ(g.scale_x, 0.636f);
    EXPECT_FLOAT_EQ(g.pad_x, 2.0f);
    EXPECT_FLOAT_EQ(g.pad_y, 160.0f);
    const uint8_t* px = slots[0].data<uint8_t>();
    EXPECT_EQ(px[159 * 640 + 300], 114);
    EXPECT_EQ(px[160 * 640 + 300], 3) << "R first (RGB)";
    EXPECT_EQ(px[478 * 640 + 300], 3);
    EXPECT_EQ(px[479 * 640 + 300], 114);
}

TEST(YoloNas, DynamicBatchKeepsEachItemsRows) {
    TILEDET_REQUIRE_GENERATED("yolo_nas_dynamic.onnx");
    const Model model = Model::load(testing::generated_model("yolo_nas_dynamic.onnx").string());
    const auto det = make_detector(model.signature());
    ASSERT_EQ(det->family(), Family{"yolo_nas"});
    const GeneratedModel g = testing::generated_entry("yolo_nas_dynamic");
    auto slots = det->make_input_slots(2, false);
    const Geometry a = det->preprocess(nas_image(g, testing::kSceneA), slots, 0);
    const Geometry b = det->preprocess(nas_image(g, testing::kSceneB), slots, 1);
    const auto out = model.run(slots);
    expect_objects(g, det->decode(det->item_outputs(out, 0), a, {}), testing::kSceneA, "item 0", 1, 1, 2, 2);
    expect_objects(g, det->decode(det->item_outputs(out, 1), b, {}), testing::kSceneB, "item 1", 1, 1, 2, 2);
}

TEST(YoloNas, FlatFormatReadsScoreBeforeClass) {
    TILEDET_REQUIRE_GENERATED("yolo_nas_flat_static.onnx");
    const Model model = Model::load(testing::generated_model("yolo_nas_flat_static.onnx").string());
    const FamilyMatch m = match_family(model.signature());
    ASSERT_EQ(m.family, Family{"yolo_nas"}) << m.reason;
    EXPECT_EQ(m.candidates.size(), 1u) << "never also yolov7_end2end";
    const auto det = make_detector(model.signature());
    EXPECT_FALSE(det->outputs_have_batch_axis());
    const GeneratedModel g = testing::generated_entry("yolo_nas_flat_static");
    expect_objects(g, detect_one(model, *det, nas_image(g, testing::kSceneB)), testing::kSceneB, "flat", 1, 1, 2, 2);
}

TEST(YoloNas, RawHeadIsMatchedByItsGridAndDecodedWithNmsPerItem) {
    TILEDET_REQUIRE_GENERATED("yolo_nas_raw_dynamic.onnx");
    const Model model = Model::load(testing::generated_model("yolo_nas_raw_dynamic.onnx").string());
    const FamilyMatch m = match_family(model.signature());
    ASSERT_EQ(m.family, Family{"yolo_nas"}) << m.reason;
    EXPECT_EQ(m.candidates.size(), 1u) << m.reason;
    EXPECT_NE(m.reason.find("8400 rows = the grid cells of a 640x640 input"), std::string::npos) << m.reason;
    const auto det = make_detector(model.signature());
    EXPECT_FLOAT_EQ(det->default_iou(), 0.7f);
    const GeneratedModel g = testing::generated_entry("yolo_nas_raw_dynamic");
    auto slots = det->make_input_slots(2, false);
    const Geometry a = det->preprocess(nas_image(g, testing::kSceneA), slots, 0);
    const Geometry b = det->preprocess(nas_image(g, testing::kSceneB), slots, 1);
    const auto out = model.run(slots);
    // The near-duplicate of object 0 (IoU ~0.82) is removed by NMS at 0.7: exactly 3 objects.
    expect_objects(g, det->decode(det->item_outputs(out, 0), a, {}), testing::kSceneA, "raw item 0", 1, 1, 2, 2);
    expect_objects(g, det->decode(det->item_outputs(out, 1), b, {}), testing::kSceneB, "raw item 1", 1, 1, 2, 2);
    DecodeOptions loose;
    loose.iou = 0.9f;
    EXPECT_EQ(det->decode(det->item_outputs(out, 0), a, loose).size(), 4u) << "the duplicate survives IoU 0.9";
}

TEST(YoloNas, TwoRank3OutputsThatAreNoGridAreNotYoloNas) {
    ModelSignature sig;
    sig.inputs = {testing::tensor("input", ElementType::uint8, {1_d, 3_d, 640_d, 640_d})};
    sig.outputs = {testing::tensor("a", ElementType::float32, {1_d, 300_d, 4_d}),
                   testing::tensor("b", ElementType::float32, {1_d, 300_d, 80_d})};
    EXPECT_FALSE(match_family(sig).family.has_value()) << match_family(sig).reason;
}

TEST(TrtEnd2End, FourOutputsWithAFloatInputAreYolov7End2EndAtAnyBatch) {
    TILEDET_REQUIRE_GENERATED("trt_end2end_dynamic.onnx");
    const Model model = Model::load(testing::generated_model("trt_end2end_dynamic.onnx").string());
    const FamilyMatch m = match_family(model.signature());
    ASSERT_EQ(m.family, Family{"yolov7_end2end"}) << m.reason;
    EXPECT_EQ(m.candidates.size(), 1u);
    const auto det = make_detector(model.signature());
    EXPECT_TRUE(det->outputs_have_batch_axis());
    const GeneratedModel g = testing::generated_entry("trt_end2end_dynamic");
    // 51 rows shorter: centred letterbox, top = round(25.5 - 0.1) = 25, mapped back with the
    // notebook's un-rounded 25.5 (b(5)).
    const cv::Mat img = testing::paint_scene(g, testing::kSceneB)(cv::Rect(0, 25, g.input_size, g.input_size - 51)).clone();
    expect_objects(g, detect_one(model, *det, img), testing::kSceneB, "trt shorter frame", 1, 1, 0, 25.5f);
}

TEST(TrtEnd2End, TheSameOutputsWithAUint8InputAreYoloNasTensorRt) {
    ModelSignature sig;
    sig.inputs = {testing::tensor("input", ElementType::uint8, {1_d, 3_d, 640_d, 640_d})};
    for (const auto& [name, type, dims] :
         {std::tuple{"num_dets", ElementType::int32, std::vector<D>{1_d, 1_d}},
          std::tuple{"det_boxes", ElementType::float32, std::vector<D>{1_d, 100_d, 4_d}},
          std::tuple{"det_scores", ElementType::float32, std::vector<D>{1_d, 100_d}},
          std::tuple{"det_classes", ElementType::int32, std::vector<D>{1_d, 100_d}}})
        sig.outputs.push_back(testing::tensor(name, type, dims));
    FamilyMatch m = match_family(sig);
    EXPECT_EQ(m.family, Family{"yolo_nas"}) << m.reason;
    EXPECT_EQ(m.candidates.size(), 1u);
    sig.inputs[0] = testing::tensor("images", ElementType::float32, {1_d, 3_d, 640_d, 640_d});
    m = match_family(sig);
    EXPECT_EQ(m.family, Family{"yolov7_end2end"}) << m.reason;
    EXPECT_EQ(m.candidates.size(), 1u);
}

TEST(Ppyoloe, NmsRowsAreInOriginalPixelsAndScaleFactorIsYThenX) {
    TILEDET_REQUIRE_GENERATED("ppyoloe_static.onnx");
    const Model model = Model::load(testing::generated_model("ppyoloe_static.onnx").string());
    const FamilyMatch m = match_family(model.signature());
    ASSERT_EQ(m.family, Family{"ppyoloe"}) << m.reason;
    EXPECT_EQ(m.candidates.size(), 1u);
    const auto det = make_detector(model.signature());
    EXPECT_FLOAT_EQ(det->default_conf(), 0.5f);
    EXPECT_EQ(det->pixel_format().interpolation, Interpolation::cubic);
    EXPECT_EQ(det->resize_mode(), ResizeMode::stretch);
    const GeneratedModel g = testing::generated_entry("ppyoloe_static");
    const cv::Mat img = testing::paint_scene(g, testing::kSceneA);
    auto slots = det->make_input_slots(1);
    det->preprocess(img, slots, 0);
    EXPECT_FLOAT_EQ(slots[1].data<float>()[0], 1.0f);
    // The decoy (0.1 s_0) is under 0.5 and the class -1 row (0.9) is the "no detection" row.
    expect_objects(g, detect_one(model, *det, img), testing::kSceneA, "ppyoloe");

    // Twice as wide: scale_factor = (1, 0.5); the graph divides x by 0.5, so boxes come back
    // twice as wide with no further mapping. (Cubic resampling blurs the region edges, so only
    // the boxes are compared.)
    cv::Mat wide;
    cv::resize(img, wide, cv::Size(2 * g.input_size, g.input_size), 0, 0, cv::INTER_NEAREST);
    det->preprocess(wide, slots, 0);
    EXPECT_FLOAT_EQ(slots[1].data<float>()[0], 1.0f);  // scale_y first
    EXPECT_FLOAT_EQ(slots[1].data<float>()[1], 0.5f);
    expect_objects(g, detect_one(model, *det, wide), testing::kSceneA, "ppyoloe wide", 0.5f, 1, 0, 0, false);
}

TEST(Ppyoloe, NmsGraphWithABatchOtherThanOneIsRefused) {
    ModelSignature sig;
    sig.inputs = {testing::tensor("image", ElementType::float32, {D{"b"}, 3_d, 640_d, 640_d}),
                  testing::tensor("scale_factor", ElementType::float32, {D{"b"}, 2_d})};
    sig.outputs = {testing::tensor("multiclass_nms3_0.tmp_0", ElementType::float32, {D{"M"}, 6_d}),
                   testing::tensor("multiclass_nms3_0.tmp_2", ElementType::int32, {D{"b"}})};
    EXPECT_EQ(match_family(sig).family, Family{"ppyoloe"});
    EXPECT_THROW(make_detector(sig), UnknownLayoutError);
}

TEST(NmsInGraphFamilies, EveryGeneratedModelFitsItsOwnFamilyOnly) {
    for (const auto& [file, family] :
         {std::pair{"yolo_nas_static.onnx", "yolo_nas"}, std::pair{"yolo_nas_dynamic.onnx", "yolo_nas"},
          std::pair{"yolo_nas_flat_static.onnx", "yolo_nas"}, std::pair{"yolo_nas_raw_static.onnx", "yolo_nas"},
          std::pair{"trt_end2end_static.onnx", "yolov7_end2end"},
          std::pair{"trt_end2end_dynamic.onnx", "yolov7_end2end"}, std::pair{"yolov7_end2end_static.onnx", "yolov7_end2end"},
          std::pair{"ppyoloe_static.onnx", "ppyoloe"}, std::pair{"ppyoloe_nonms_static.onnx", "ppyoloe"},
          std::pair{"ppyoloe_nonms_dynamic.onnx", "ppyoloe"}}) {
        TILEDET_REQUIRE_GENERATED(file);
        const Model model = Model::load(testing::generated_model(file).string());
        const FamilyMatch m = match_family(model.signature());
        EXPECT_EQ(m.family, Family{family}) << file << ": " << m.reason;
        EXPECT_EQ(m.candidates.size(), 1u) << file << ": " << m.reason;
    }
}

// Per-family NMS IoU (model-formats-more.md 0): YOLOv5/v7 and YOLOX 0.45, Ultralytics 0.7. Two
// boxes of IoU 0.67 are one object at the YOLOv5 default and two at --iou 0.7.
TEST(FamilyDefaults, Yolov5SuppressesAtItsReferenceIouUnlessTheCallerSaysOtherwise) {
    ModelSignature sig;
    sig.inputs = {testing::tensor("images", ElementType::float32, {1_d, 3_d, 640_d, 640_d})};
    sig.outputs = {testing::tensor("output0", ElementType::float32, {1_d, 25200_d, 85_d})};
    const auto det = make_detector(sig);
    ASSERT_EQ(det->family(), Family{"yolov5"}) << det->reason();
    EXPECT_FLOAT_EQ(det->default_iou(), 0.45f);
    Tensor out(ElementType::float32, {1, 25200, 85});
    float* r = out.data<float>();
    const float rows[2][4] = {{150, 150, 100, 100}, {170, 150, 100, 100}};  // cx, cy, w, h: IoU 8000/12000
    for (int i = 0; i < 2; ++i) {
        std::copy(rows[i], rows[i] + 4, r + i * 85);
        r[i * 85 + 4] = 0.9f;        // obj
        r[i * 85 + 5] = 0.9f - 0.1f * static_cast<float>(i);  // class 0
    }
    Geometry g;
    g.orig_w = g.orig_h = g.input_w = g.input_h = 640;
    EXPECT_EQ(det->decode({out}, g, {}).size(), 1u);
    DecodeOptions loose;
    loose.iou = 0.7f;
    EXPECT_EQ(det->decode({out}, g, loose).size(), 2u);

    ModelSignature yx = sig;
    yx.inputs[0] = testing::tensor("images", ElementType::float32, {1_d, 3_d, 416_d, 416_d});
    yx.outputs[0] = testing::tensor("output", ElementType::float32, {1_d, 3549_d, 85_d});
    EXPECT_FLOAT_EQ(make_detector(yx)->default_iou(), 0.45f);
    EXPECT_FLOAT_EQ(make_detector(testing::ultralytics_signature({1_d, 84_d, 8400_d}))->default_iou(), 0.7f);
}

}  // namespace
}  // namespace tiledet
