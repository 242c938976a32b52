// Preprocessing: input size, letterbox/stretch geometry, channel order, normalization, and
// that each item writes only its own part of the slots.
#include <gtest/gtest.h>

#include "signatures.hpp"
#include "tiledet/detectors/detector.hpp"
#include "tiledet/error.hpp"

namespace tiledet {
namespace {

using testing::D;
constexpr int64_t operator""_d(unsigned long long v) {
    return static_cast<int64_t>(v);
}

ModelSignature yolo_sig() {
    return testing::ultralytics_signature({1_d, 84_d, 8400_d});
}
ModelSignature dynamic_yolo_sig() {
    return testing::ultralytics_signature({D{"batch"}, 84_d, D{"anchors"}}, {D{"batch"}, 3_d, D{"height"}, D{"width"}});
}

float at(const Tensor& t, int item, int c, int y, int x) {
    const auto h = t.dim(2), w = t.dim(3);
    return t.data<float>()[((item * 3 + c) * h + y) * w + x];
}

TEST(Preprocess, LetterboxFollowsUltralyticsScaleAndCentredPad) {
    const auto det = make_detector(yolo_sig());
    auto slots = det->make_input_slots(1);
    const cv::Mat img(1080, 810, CV_8UC3, cv::Scalar(255, 0, 0));  // pure blue in BGR
    const Geometry g = det->preprocess(img, slots, 0);
    EXPECT_FLOAT_EQ(g.scale_x, 640.0f / 1080.0f);
    EXPECT_FLOAT_EQ(g.pad_x, 80.0f);  // content 480 wide: (640 - 480) / 2
    EXPECT_FLOAT_EQ(g.pad_y, 0.0f);
    EXPECT_EQ(g.orig_w, 810);
    EXPECT_EQ(g.orig_h, 1080);
    for (int c = 0; c < 3; ++c) EXPECT_FLOAT_EQ(at(slots[0], 0, c, 10, 79), 114.0f / 255.0f) << "pad, channel " << c;
    EXPECT_FLOAT_EQ(at(slots[0], 0, 0, 10, 80), 0.0f);  // R
    EXPECT_FLOAT_EQ(at(slots[0], 0, 2, 10, 80), 1.0f);  // B: BGR -> RGB
    EXPECT_FLOAT_EQ(at(slots[0], 0, 2, 10, 559), 1.0f);
    EXPECT_FLOAT_EQ(at(slots[0], 0, 2, 10, 560), 114.0f / 255.0f);
}

TEST(Preprocess, LetterboxOddPaddingPutsTheExtraRowAtTheBottom) {
    const auto det = make_detector(yolo_sig());
    auto slots = det->make_input_slots(1);
    const Geometry g = det->preprocess(cv::Mat(321, 640, CV_8UC3, cv::Scalar::all(0)), slots, 0);
    EXPECT_FLOAT_EQ(g.pad_y, 159.0f);  // top = round(159.5 - 0.1), bottom = round(159.5 + 0.1)
    EXPECT_FLOAT_EQ(at(slots[0], 0, 0, 158, 0), 114.0f / 255.0f);
    EXPECT_FLOAT_EQ(at(slots[0], 0, 0, 159, 0), 0.0f);
    EXPECT_FLOAT_EQ(at(slots[0], 0, 0, 479, 0), 0.0f);
    EXPECT_FLOAT_EQ(at(slots[0], 0, 0, 480, 0), 114.0f / 255.0f);
}

TEST(Preprocess, GeometryMapsInputBoxesBackAndClipsToTheImage) {
    Geometry g;
    g.orig_w = 810;
    g.orig_h = 1080;
    g.scale_x = g.scale_y = 0.5f;
    g.pad_x = 80;
    const Box b = g.to_original(Box{60, 10, 200, 700});
    EXPECT_FLOAT_EQ(b.x1, 0.0f);  // (60 - 80) / 0.5 < 0: clipped
    EXPECT_FLOAT_EQ(b.y1, 20.0f);
    EXPECT_FLOAT_EQ(b.x2, 240.0f);
    EXPECT_FLOAT_EQ(b.y2, 1080.0f);  // 1400 clipped to the height
}

TEST(InputSize, FixedDimsWinAndAConflictingImgszIsAConfigError) {
    EXPECT_EQ(make_detector(yolo_sig())->input_size(), std::make_pair(640, 640));
    DetectorConfig cfg;
    cfg.imgsz = std::make_pair(320, 320);
    EXPECT_THROW(make_detector(yolo_sig(), cfg), ConfigError);
}

TEST(InputSize, DynamicDimsTakeImgszThenMetadataThen640) {
    ModelSignature sig = dynamic_yolo_sig();
    EXPECT_EQ(make_detector(sig)->input_size(), std::make_pair(640, 640));
    sig.metadata["imgsz"] = "[320, 480]";
    EXPECT_EQ(make_detector(sig)->input_size(), std::make_pair(320, 480));
    DetectorConfig cfg;
    cfg.imgsz = std::make_pair(256, 384);
    const auto det = make_detector(sig, cfg);
    EXPECT_EQ(det->input_size(), std::make_pair(256, 384));
    const auto slots = det->make_input_slots(3);
    EXPECT_EQ(slots[0].shape(), (Shape{3, 3, 256, 384}));
}

TEST(Preprocess, EachItemWritesOnlyItsOwnPartOfTheSlot) {
    const auto det = make_detector(dynamic_yolo_sig());
    auto slots = det->make_input_slots(2);
    det->preprocess(cv::Mat(640, 640, CV_8UC3, cv::Scalar::all(255)), slots, 1);
    EXPECT_FLOAT_EQ(at(slots[0], 0, 0, 0, 0), 0.0f);
    EXPECT_FLOAT_EQ(at(slots[0], 0, 2, 639, 639), 0.0f);
    EXPECT_FLOAT_EQ(at(slots[0], 1, 0, 0, 0), 1.0f);
    EXPECT_THROW(det->preprocess(cv::Mat(8, 8, CV_8UC3), slots, 2), ShapeError);
}

TEST(Preprocess, RfdetrAppliesImagenetMeanAndStd) {
    ModelSignature rf;
    rf.inputs = {testing::tensor("input", ElementType::float32, {1_d, 3_d, 64_d, 64_d})};
    rf.outputs = {testing::tensor("dets", ElementType::float32, {1_d, 300_d, 4_d}),
                  testing::tensor("labels", ElementType::float32, {1_d, 300_d, 91_d})};
    const auto det = make_detector(rf);
    auto slots = det->make_input_slots(1);
    det->preprocess(cv::Mat(10, 20, CV_8UC3, cv::Scalar(0, 255, 255)), slots, 0);  // yellow: B=0, G=R=255
    EXPECT_NEAR(at(slots[0], 0, 0, 5, 5), (1.0f - 0.485f) / 0.229f, 1e-5);
    EXPECT_NEAR(at(slots[0], 0, 1, 5, 5), (1.0f - 0.456f) / 0.224f, 1e-5);
    EXPECT_NEAR(at(slots[0], 0, 2, 5, 5), (0.0f - 0.406f) / 0.225f, 1e-5);
    EXPECT_EQ(det->resize_mode(), ResizeMode::stretch);
}

ModelSignature official_sig() {
    ModelSignature s;
    s.inputs = {testing::tensor("images", ElementType::float32, {D{"N"}, 3_d, 320_d, 320_d}),
                testing::tensor("orig_target_sizes", ElementType::int64, {D{"N"}, 2_d})};
    s.outputs = {testing::tensor("labels", ElementType::int64, {D{"N"}, 300_d}),
                 testing::tensor("boxes", ElementType::float32, {D{"N"}, 300_d, 4_d}),
                 testing::tensor("scores", ElementType::float32, {D{"N"}, 300_d})};
    return s;
}

TEST(Preprocess, OfficialRtdetrFillsOrigTargetSizesWithTheInputFrameWidthThenHeight) {
    const auto det = make_detector(official_sig());
    ASSERT_EQ(det->family(), Family{"official_rtdetr"});
    auto slots = det->make_input_slots(2);
    ASSERT_EQ(slots[1].type(), ElementType::int64);
    det->preprocess(cv::Mat(100, 50, CV_8UC3, cv::Scalar::all(9)), slots, 1);
    EXPECT_EQ(slots[1].data<int64_t>()[0], 0);
    EXPECT_EQ(slots[1].data<int64_t>()[2], 320);
    EXPECT_EQ(slots[1].data<int64_t>()[3], 320);
}

TEST(Preprocess, OfficialRtdetrLetterboxPadsBlackLikeTheDfineScripts) {
    DetectorConfig cfg;
    cfg.resize = ResizeMode::letterbox;
    const auto det = make_detector(official_sig(), cfg);
    auto slots = det->make_input_slots(1);
    const Geometry g = det->preprocess(cv::Mat(100, 200, CV_8UC3, cv::Scalar::all(255)), slots, 0);
    EXPECT_FLOAT_EQ(g.pad_y, 80.0f);
    EXPECT_FLOAT_EQ(at(slots[0], 0, 0, 0, 0), 0.0f);
    EXPECT_FLOAT_EQ(at(slots[0], 0, 0, 160, 0), 1.0f);
}

TEST(Preprocess, Float16InputsAreWrittenAsHalfFloats) {
    auto sig = testing::ultralytics_signature({1_d, 84_d, 8400_d});
    sig.inputs[0].type = ElementType::float16;
    const auto det = make_detector(sig);
    auto slots = det->make_input_slots(1);
    ASSERT_EQ(slots[0].type(), ElementType::float16);
    det->preprocess(cv::Mat(640, 640, CV_8UC3, cv::Scalar::all(128)), slots, 0);
    EXPECT_NEAR(static_cast<float>(slots[0].data<cv::float16_t>()[1000]), 128.0f / 255.0f, 1e-3);
}

TEST(Preprocess, NonBgrImagesAreRejectedWithAClearError) {
    const auto det = make_detector(yolo_sig());
    auto slots = det->make_input_slots(1);
    EXPECT_THROW(det->preprocess(cv::Mat(10, 10, CV_8UC1), slots, 0), InputError);
    EXPECT_THROW(det->preprocess(cv::Mat(), slots, 0), InputError);
}

TEST(Preprocess, YoloxPastesTruncatedContentTopLeftAsBgrBytes) {
    ModelSignature sig;
    sig.inputs.push_back(testing::tensor("images", ElementType::float32, {1_d, 3_d, 416_d, 416_d}));
    sig.outputs.push_back(testing::tensor("output", ElementType::float32, {1_d, 3549_d, 85_d}));
    const auto det = make_detector(sig);
    ASSERT_EQ(det->family(), Family{"yolox"}) << det->reason();
    auto slots = det->make_input_slots(1);
    // r = 416/701: 301 * r = 178.62, which YOLOX truncates to 178 rows (rounding would give 179).
    const cv::Mat img(301, 701, CV_8UC3, cv::Scalar(10, 20, 200));  // B=10, G=20, R=200
    const Geometry g = det->preprocess(img, slots, 0);
    EXPECT_FLOAT_EQ(g.scale_x, static_cast<float>(416.0 / 701.0));
    EXPECT_FLOAT_EQ(g.pad_x, 0.0f);
    EXPECT_FLOAT_EQ(g.pad_y, 0.0f);
    EXPECT_FLOAT_EQ(at(slots[0], 0, 0, 0, 0), 10.0f);  // channel 0 is blue, raw byte
    EXPECT_FLOAT_EQ(at(slots[0], 0, 1, 0, 0), 20.0f);
    EXPECT_FLOAT_EQ(at(slots[0], 0, 2, 0, 0), 200.0f);  // channel 2 is red
    EXPECT_FLOAT_EQ(at(slots[0], 0, 2, 177, 415), 200.0f);
    for (int c = 0; c < 3; ++c) EXPECT_FLOAT_EQ(at(slots[0], 0, c, 178, 0), 114.0f) << "pad below, channel " << c;
}

}  // namespace
}  // namespace tiledet
