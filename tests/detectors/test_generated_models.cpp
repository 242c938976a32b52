// Every family decodes its generated model to the planted boxes, classes and scores: static
// models at batch 1, dynamic models at batch 2 with two different scenes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <opencv2/imgproc.hpp>

#include "planted_scene.hpp"
#include "tiledet/detectors/detector.hpp"
#include "tiledet/error.hpp"
#include "tiledet/runtime/model.hpp"

namespace tiledet {
namespace {

using testing::GeneratedModel;
using testing::Scene;

void expect_planted(const GeneratedModel& g, const Detections& dets, const Scene& scene, const std::string& what,
                    float sx = 1, float sy = 1, float pad_x = 0, float pad_y = 0, float w = 1e9f, float h = 1e9f) {
    int objects = 0;
    for (const auto& p : g.planted) {
        if (p.duplicate) continue;
        ++objects;
        const Box want{std::clamp((p.box.x1 - pad_x) / sx, 0.0f, w), std::clamp((p.box.y1 - pad_y) / sy, 0.0f, h),
                       std::clamp((p.box.x2 - pad_x) / sx, 0.0f, w), std::clamp((p.box.y2 - pad_y) / sy, 0.0f, h)};
        const Detection* hit = nullptr;
        for (const auto& d : dets)
            if (d.class_id == p.class_id && iou(d.box, want) > 0.99f) hit = &d;
        ASSERT_NE(hit, nullptr) << what << ": planted object " << p.object << " (class " << p.class_id << ") not found";
        EXPECT_NEAR(hit->box.x1, want.x1, 0.05) << what << " object " << p.object;
        EXPECT_NEAR(hit->box.y1, want.y1, 0.05) << what << " object " << p.object;
        EXPECT_NEAR(hit->box.x2, want.x2, 0.05) << what << " object " << p.object;
        EXPECT_NEAR(hit->box.y2, want.y2, 0.05) << what << " object " << p.object;
        EXPECT_NEAR(hit->score, testing::expected_score(g, p, scene[static_cast<std::size_t>(p.object)]), 1e-4)
            << what << " object " << p.object;
    }
    EXPECT_EQ(dets.size(), static_cast<std::size_t>(objects)) << what << ": extra or missing detections";
    for (std::size_t i = 1; i < dets.size(); ++i) EXPECT_GE(dets[i - 1].score, dets[i].score) << what;
}

struct Case {
    std::string model;
    Family family;
};
void PrintTo(const Case& c, std::ostream* os) {
    *os << c.model;
}

class GeneratedModelDecodes : public ::testing::TestWithParam<Case> {};

TEST_P(GeneratedModelDecodes, StaticAtBatchOneGivesThePlantedObjects) {
    const std::string file = GetParam().model + "_static.onnx";
    TILEDET_REQUIRE_GENERATED(file);
    const Model model = Model::load(testing::generated_model(file).string());
    const auto det = make_detector(model.signature());
    ASSERT_EQ(det->family(), GetParam().family) << det->reason();
    const GeneratedModel g = testing::generated_entry(GetParam().model + "_static");
    expect_planted(g, detect_one(model, *det, testing::paint_scene(g, testing::kSceneA)), testing::kSceneA, file);
}

TEST_P(GeneratedModelDecodes, DynamicAtBatchTwoKeepsEachItemsOwnObjects) {
    const std::string file = GetParam().model + "_dynamic.onnx";
    TILEDET_REQUIRE_GENERATED(file);
    const Model model = Model::load(testing::generated_model(file).string());
    const auto det = make_detector(model.signature());
    ASSERT_EQ(det->family(), GetParam().family) << det->reason();
    const GeneratedModel g = testing::generated_entry(GetParam().model + "_dynamic");
    std::vector<Tensor> slots = det->make_input_slots(2);
    const Geometry ga = det->preprocess(testing::paint_scene(g, testing::kSceneA), slots, 0);
    const Geometry gb = det->preprocess(testing::paint_scene(g, testing::kSceneB), slots, 1);
    const auto outputs = model.run(slots);
    expect_planted(g, det->decode(det->item_outputs(outputs, 0), ga, {}), testing::kSceneA, file + " item 0");
    expect_planted(g, det->decode(det->item_outputs(outputs, 1), gb, {}), testing::kSceneB, file + " item 1");
}

INSTANTIATE_TEST_SUITE_P(
    Families, GeneratedModelDecodes,
    ::testing::Values(Case{"yolo", Family{"yolo"}}, Case{"yolo_nc3", Family{"yolo"}},
                      Case{"yolo_e2e", Family{"yolo_end2end"}}, Case{"ultralytics_rtdetr", Family{"ultralytics_rtdetr"}},
                      Case{"hf_rtdetr", Family{"hf_rtdetr"}}, Case{"official_rtdetr", Family{"official_rtdetr"}},
                      Case{"rfdetr", Family{"rfdetr"}}, Case{"rtdetr_nc81_416", Family{"ultralytics_rtdetr"}},
                      Case{"yolov5", Family{"yolov5"}}, Case{"yolox", Family{"yolox"}},
                      Case{"trt_end2end", Family{"yolov7_end2end"}}, Case{"ppyoloe_nonms", Family{"ppyoloe"}}),
    [](const auto& info) { return info.param.model; });

TEST(GeneratedModels, OfficialRtdetrWithoutBatchAxisOnOutputsDecodesTheWholeOutput) {
    TILEDET_REQUIRE_GENERATED("official_rtdetr_nobatch_static.onnx");
    const Model model = Model::load(testing::generated_model("official_rtdetr_nobatch_static.onnx").string());
    const auto det = make_detector(model.signature());
    EXPECT_EQ(det->family(), Family{"official_rtdetr"});
    EXPECT_FALSE(det->outputs_have_batch_axis());
    EXPECT_NE(det->reason().find("no batch axis"), std::string::npos) << det->reason();
    const GeneratedModel g = testing::generated_entry("official_rtdetr_nobatch_static");
    expect_planted(g, detect_one(model, *det, testing::paint_scene(g, testing::kSceneB)), testing::kSceneB, "nobatch");
}

// A frame 51 rows shorter than the input: no resize (r = 1), so the painted scene keeps its
// scores; only the placement differs. YOLOv5 centres it (top = round(25.5 - 0.1) = 25) and maps
// back with scale_boxes' un-rounded pad 25.5; YOLOX pastes it at the top-left (pad 0).
cv::Mat shorter_frame(const GeneratedModel& g, const Scene& scene, int top) {
    const cv::Mat full = testing::paint_scene(g, scene);
    return full(cv::Rect(0, top, g.input_size, g.input_size - 51)).clone();
}

TEST(GeneratedModels, Yolov5CentresTheFrameAndMapsBackWithTheUnroundedPad) {
    TILEDET_REQUIRE_GENERATED("yolov5_static.onnx");
    const Model model = Model::load(testing::generated_model("yolov5_static.onnx").string());
    const auto det = make_detector(model.signature());
    const GeneratedModel g = testing::generated_entry("yolov5_static");
    const cv::Mat img = shorter_frame(g, testing::kSceneA, 25);
    expect_planted(g, detect_one(model, *det, img), testing::kSceneA, "yolov5 shorter frame", 1, 1, 0, 25.5f,
                   static_cast<float>(img.cols), static_cast<float>(img.rows));
}

TEST(GeneratedModels, YoloxPastesTheFrameTopLeftAndMapsBackWithoutPad) {
    TILEDET_REQUIRE_GENERATED("yolox_static.onnx");
    const Model model = Model::load(testing::generated_model("yolox_static.onnx").string());
    const auto det = make_detector(model.signature());
    const GeneratedModel g = testing::generated_entry("yolox_static");
    const cv::Mat img = shorter_frame(g, testing::kSceneB, 0);
    expect_planted(g, detect_one(model, *det, img), testing::kSceneB, "yolox shorter frame", 1, 1, 0, 0,
                   static_cast<float>(img.cols), static_cast<float>(img.rows));
}

TEST(GeneratedModels, Yolov7End2EndKeepsRowsAboveConfAndMapsBackWithTheUnroundedPad) {
    TILEDET_REQUIRE_GENERATED("yolov7_end2end_static.onnx");
    const Model model = Model::load(testing::generated_model("yolov7_end2end_static.onnx").string());
    const auto det = make_detector(model.signature());
    ASSERT_EQ(det->family(), Family{"yolov7_end2end"}) << det->reason();
    EXPECT_FALSE(det->outputs_have_batch_axis());
    const GeneratedModel g = testing::generated_entry("yolov7_end2end_static");
    const cv::Mat img = shorter_frame(g, testing::kSceneA, 25);
    // The two decoy rows score 0.1 x s (under 0.25): the default conf drops them.
    expect_planted(g, detect_one(model, *det, img), testing::kSceneA, "yolov7_end2end", 1, 1, 0, 25.5f,
                   static_cast<float>(img.cols), static_cast<float>(img.rows));
    DecodeOptions low;
    low.conf = 0.01f;
    EXPECT_EQ(detect_one(model, *det, img, low).size(), 5u);
}

TEST(GeneratedModels, Yolov5NmsRemovesTheNearDuplicateOfTheSameClass) {
    TILEDET_REQUIRE_GENERATED("yolov5_dynamic.onnx");
    const Model model = Model::load(testing::generated_model("yolov5_dynamic.onnx").string());
    const auto det = make_detector(model.signature());
    const GeneratedModel g = testing::generated_entry("yolov5_dynamic");
    const cv::Mat img = testing::paint_scene(g, testing::kSceneA);
    EXPECT_EQ(detect_one(model, *det, img).size(), 3u);
    DecodeOptions loose;
    loose.iou = 0.9f;
    EXPECT_EQ(detect_one(model, *det, img, loose).size(), 4u) << "the duplicate (IoU ~0.82) survives at IoU 0.9";
}

TEST(GeneratedModels, YoloNmsRemovesTheNearDuplicateAtDefaultIouButNotAtIou09) {
    TILEDET_REQUIRE_GENERATED("yolo_dynamic.onnx");
    const Model model = Model::load(testing::generated_model("yolo_dynamic.onnx").string());
    const auto det = make_detector(model.signature());
    const GeneratedModel g = testing::generated_entry("yolo_dynamic");
    const cv::Mat img = testing::paint_scene(g, testing::kSceneA);
    EXPECT_EQ(detect_one(model, *det, img).size(), 3u);
    DecodeOptions loose;
    loose.iou = 0.9f;  // the duplicate's IoU with object 0 is ~0.82
    const Detections all = detect_one(model, *det, img, loose);
    ASSERT_EQ(all.size(), 4u);
    const float s0 = testing::kSceneA[0] / 255.0f;
    const auto dup =
        std::find_if(all.begin(), all.end(), [&](const Detection& d) { return std::abs(d.score - 0.9f * s0) < 1e-4f; });
    EXPECT_NE(dup, all.end()) << "the duplicate (0.9 x object 0's score) should survive NMS at IoU 0.9";
}

TEST(GeneratedModels, ClassFilterConfidenceAndMaxDetApply) {
    TILEDET_REQUIRE_GENERATED("hf_rtdetr_static.onnx");
    const Model model = Model::load(testing::generated_model("hf_rtdetr_static.onnx").string());
    const auto det = make_detector(model.signature());
    const GeneratedModel g = testing::generated_entry("hf_rtdetr_static");
    const cv::Mat img = testing::paint_scene(g, testing::kSceneA);
    DecodeOptions only_cars;
    only_cars.classes = {2};
    const Detections cars = detect_one(model, *det, img, only_cars);
    ASSERT_EQ(cars.size(), 1u);
    EXPECT_EQ(det->class_name(cars[0].class_id), "car");
    DecodeOptions one;
    one.max_det = 1;
    const Detections top = detect_one(model, *det, img, one);
    ASSERT_EQ(top.size(), 1u);
    EXPECT_NEAR(top[0].score, testing::sigmoid(230 / 255.0f), 1e-4);  // the brightest object
    DecodeOptions strict;
    strict.conf = testing::sigmoid(180 / 255.0f) + 0.001f;  // keeps only the 230 object
    EXPECT_EQ(detect_one(model, *det, img, strict).size(), 1u);
}

TEST(GeneratedModels, RfdetrClassIdIsTheCocoCategorySlot) {
    TILEDET_REQUIRE_GENERATED("rfdetr_static.onnx");
    const Model model = Model::load(testing::generated_model("rfdetr_static.onnx").string());
    const auto det = make_detector(model.signature());
    const GeneratedModel g = testing::generated_entry("rfdetr_static");
    std::vector<std::string> names;
    for (const auto& d : detect_one(model, *det, testing::paint_scene(g, testing::kSceneA)))
        names.push_back(std::to_string(d.class_id) + ":" + det->class_name(d.class_id));
    std::sort(names.begin(), names.end());
    EXPECT_EQ(names, (std::vector<std::string>{"18:dog", "1:person", "3:car"}));
    EXPECT_EQ(det->class_name(12), "class12");  // a COCO gap
}

// Letterbox: a 1280x960 image is scaled by 0.5 and padded by 80 rows top and bottom; boxes
// come back in image pixels, clipped (object 2's box starts above the content).
TEST(GeneratedModels, YoloLetterboxMapsBoxesBackToTheOriginalImageAndClips) {
    TILEDET_REQUIRE_GENERATED("yolo_dynamic.onnx");
    const Model model = Model::load(testing::generated_model("yolo_dynamic.onnx").string());
    const auto det = make_detector(model.signature());
    const GeneratedModel g = testing::generated_entry("yolo_dynamic");
    const cv::Mat frame = testing::paint_scene(g, testing::kSceneA);
    cv::Mat img(960, 1280, CV_8UC3, cv::Scalar::all(40));
    // Undo the letterbox: input row y is image row (y - 80) * 2; nearest-pixel upscale keeps regions uniform.
    cv::Mat content = frame(cv::Rect(0, 80, 640, 480));
    cv::resize(content, img, img.size(), 0, 0, cv::INTER_NEAREST);
    std::vector<Tensor> slots = det->make_input_slots(1);
    const Geometry geo = det->preprocess(img, slots, 0);
    EXPECT_FLOAT_EQ(geo.scale_x, 0.5f);
    EXPECT_FLOAT_EQ(geo.pad_x, 0.0f);
    EXPECT_FLOAT_EQ(geo.pad_y, 80.0f);
    const Detections dets = det->decode(det->item_outputs(model.run(slots), 0), geo, {});
    expect_planted(g, dets, testing::kSceneA, "letterbox", 0.5f, 0.5f, 0.0f, 80.0f, 1280.0f, 960.0f);
    for (const auto& d : dets) EXPECT_GE(d.box.y1, 0.0f);
}

// Stretch: a 1280x640 image has independent x and y scales.
TEST(GeneratedModels, OfficialRtdetrStretchMapsBoxesWithSeparateXAndYScales) {
    TILEDET_REQUIRE_GENERATED("official_rtdetr_dynamic.onnx");
    const Model model = Model::load(testing::generated_model("official_rtdetr_dynamic.onnx").string());
    const auto det = make_detector(model.signature());
    const GeneratedModel g = testing::generated_entry("official_rtdetr_dynamic");
    cv::Mat img;
    cv::resize(testing::paint_scene(g, testing::kSceneB), img, cv::Size(1280, 640), 0, 0, cv::INTER_NEAREST);
    const Detections dets = detect_one(model, *det, img);
    expect_planted(g, dets, testing::kSceneB, "stretch", 0.5f, 1.0f);
}

// A tile is an ROI view into a larger image; preprocessing must read only the view.
TEST(GeneratedModels, RoiViewOfALargerImageDecodesLikeTheSameStandaloneImage) {
    TILEDET_REQUIRE_GENERATED("ultralytics_rtdetr_static.onnx");
    const Model model = Model::load(testing::generated_model("ultralytics_rtdetr_static.onnx").string());
    const auto det = make_detector(model.signature());
    const GeneratedModel g = testing::generated_entry("ultralytics_rtdetr_static");
    cv::Mat big(900, 1000, CV_8UC3, cv::Scalar(255, 255, 255));
    const cv::Rect where(123, 77, 640, 640);
    testing::paint_scene(g, testing::kSceneA).copyTo(big(where));
    const cv::Mat view = big(where);
    ASSERT_FALSE(view.isContinuous());
    expect_planted(g, detect_one(model, *det, view), testing::kSceneA, "roi view");
}

// An image smaller than one pixel of the model's grid per object still runs; boxes stay inside it.
TEST(GeneratedModels, TinyFiveByThreeImageDecodesWithBoxesInsideTheImage) {
    TILEDET_REQUIRE_GENERATED("official_rtdetr_static.onnx");
    const Model model = Model::load(testing::generated_model("official_rtdetr_static.onnx").string());
    const auto det = make_detector(model.signature());
    const cv::Mat tiny(3, 5, CV_8UC3, cv::Scalar::all(255));  // every region's mean is 1.0
    const Detections dets = detect_one(model, *det, tiny);
    ASSERT_EQ(dets.size(), 3u);
    for (const auto& d : dets) {
        EXPECT_NEAR(d.score, 1.0f, 1e-5);
        EXPECT_GE(d.box.x1, 0.0f);
        EXPECT_LE(d.box.x2, 5.0f);
        EXPECT_GE(d.box.y1, 0.0f);
        EXPECT_LE(d.box.y2, 3.0f);
        EXPECT_GT(d.box.area(), 0.0f);
    }
    TILEDET_REQUIRE_GENERATED("yolo_static.onnx");  // letterbox of a 5x3 image: 640x384 content
    const Model yolo = Model::load(testing::generated_model("yolo_static.onnx").string());
    const auto ydet = make_detector(yolo.signature());
    for (const auto& d : detect_one(yolo, *ydet, tiny)) {
        EXPECT_GE(d.box.x1, 0.0f);
        EXPECT_LE(d.box.x2, 5.0f);
        EXPECT_LE(d.box.y2, 3.0f);
    }
}

TEST(GeneratedModels, NamesFileOverridesTheModelsNames) {
    TILEDET_REQUIRE_GENERATED("yolo_nc3_static.onnx");
    const auto path = std::filesystem::temp_directory_path() / ("tiledet_names_" + std::to_string(::getpid()) + ".txt");
    std::ofstream(path) << "apple\r\nbanana\ncherry\n";
    const Model model = Model::load(testing::generated_model("yolo_nc3_static.onnx").string());
    DetectorConfig cfg;
    cfg.names_file = path.string();
    const auto det = make_detector(model.signature(), cfg);
    EXPECT_EQ(det->class_name(0), "apple");
    EXPECT_EQ(det->class_name(2), "cherry");
    EXPECT_EQ(det->class_name(7), "unknown");
    std::filesystem::remove(path);
    cfg.names_file = path.string();
    EXPECT_THROW(make_detector(model.signature(), cfg), InputError);
}

TEST(GeneratedModels, ANamesFileThatIsNotTextIsRefusedWithoutEchoingIt) {
    TILEDET_REQUIRE_GENERATED("yolo_nc3_static.onnx");
    const auto path = std::filesystem::temp_directory_path() / ("tiledet_names_bin_" + std::to_string(::getpid()) + ".txt");
    std::ofstream(path, std::ios::binary) << "apple\n\x1b[31m\xff\xfe\x01\ncherry\n";
    const Model model = Model::load(testing::generated_model("yolo_nc3_static.onnx").string());
    DetectorConfig cfg;
    cfg.names_file = path.string();
    try {
        (void)make_detector(model.signature(), cfg);
        FAIL() << "binary names were taken";
    } catch (const InputError& e) {
        const std::string m = e.what();
        EXPECT_NE(m.find(": line 2 is not text (control bytes or invalid UTF-8)"), std::string::npos) << m;
        EXPECT_EQ(m.find('\x1b'), std::string::npos) << m;
    }
    // UTF-8 names are text.
    std::ofstream(path, std::ios::binary) << "pomme\nm\xc3\xbbre\n\xe6\xa1\x83\n";
    const auto det = make_detector(model.signature(), cfg);
    EXPECT_EQ(det->class_name(1), "m\xc3\xbbre");
    std::filesystem::remove(path);
}

}  // namespace
}  // namespace tiledet
