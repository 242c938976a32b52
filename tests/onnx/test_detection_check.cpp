// The detection-level check: the matching rule on hand-made detections, and the comparer on
// generated models (a faithful repair agrees, a different model does not).
#include <gtest/gtest.h>

#include "planted_scene.hpp"
#include "test_paths.hpp"
#include "tiledet/error.hpp"
#include "tiledet/onnx/batchify.hpp"
#include "tiledet/onnx/detection_check.hpp"
#include "tiledet/runtime/model.hpp"

namespace {

using namespace tiledet;
using tiledet::testing::generated_model;

Detection det(float x1, float y1, float x2, float y2, float score, int cls) {
    return Detection{Box{x1, y1, x2, y2}, score, cls};
}

TEST(MatchDetections, IdenticalDetectionsAllMatch) {
    const Detections a = {det(0, 0, 100, 100, 0.9f, 0), det(200, 200, 300, 260, 0.5f, 2)};
    const ImageMatch m = match_detections(a, a, 0.25f);
    EXPECT_TRUE(m.agree());
    EXPECT_EQ(m.original, 2);
    EXPECT_EQ(m.matched, 2);
    EXPECT_FLOAT_EQ(m.worst_iou, 1.0f);
    EXPECT_FLOAT_EQ(m.worst_score_diff, 0.0f);
}

TEST(MatchDetections, SmallScoreAndBoxShiftsStillMatchAndAreReported) {
    const Detections a = {det(0, 0, 100, 100, 0.90f, 0)};
    const Detections b = {det(2, 0, 102, 100, 0.87f, 0)};  // IoU 98/102
    const ImageMatch m = match_detections(a, b, 0.25f);
    EXPECT_TRUE(m.agree());
    EXPECT_NEAR(m.worst_iou, 98.0f / 102.0f, 1e-5);
    EXPECT_NEAR(m.worst_score_diff, 0.03f, 1e-5);
}

TEST(MatchDetections, BoxMovedBeyondTheIouBoundDisagrees) {
    const Detections a = {det(0, 0, 100, 100, 0.9f, 0)};
    const Detections b = {det(10, 0, 110, 100, 0.9f, 0)};  // IoU 90/110 < 0.9
    const ImageMatch m = match_detections(a, b, 0.25f);
    EXPECT_FALSE(m.agree());
    EXPECT_EQ(m.matched, 0);
    EXPECT_EQ(m.unmatched_repaired, 1);
}

TEST(MatchDetections, ScoreBeyondTheToleranceDisagrees) {
    const Detections a = {det(0, 0, 100, 100, 0.9f, 0)};
    const Detections b = {det(0, 0, 100, 100, 0.8f, 0)};
    EXPECT_FALSE(match_detections(a, b, 0.25f).agree());
    DetectionCheckOptions loose;
    loose.score_tol = 0.15f;
    EXPECT_TRUE(match_detections(a, b, 0.25f, loose).agree());
}

TEST(MatchDetections, OtherClassDisagrees) {
    const Detections a = {det(0, 0, 100, 100, 0.9f, 0)};
    const Detections b = {det(0, 0, 100, 100, 0.9f, 1)};
    EXPECT_FALSE(match_detections(a, b, 0.25f).agree());
}

TEST(MatchDetections, MissingOrExtraDetectionDisagrees) {
    const Detections one = {det(0, 0, 100, 100, 0.9f, 0)};
    const Detections two = {det(0, 0, 100, 100, 0.9f, 0), det(300, 300, 400, 400, 0.6f, 5)};
    const ImageMatch missing = match_detections(two, one, 0.25f);
    EXPECT_FALSE(missing.agree());
    EXPECT_EQ(missing.matched, 1);
    EXPECT_EQ(missing.original, 2);
    const ImageMatch extra = match_detections(one, two, 0.25f);
    EXPECT_FALSE(extra.agree());
    EXPECT_EQ(extra.unmatched_repaired, 1);
}

// A score that moves across conf by less than the tolerance is the same detection: the counts
// above conf differ, and that is reported as a crossing, not a disagreement.
TEST(MatchDetections, ScoreCrossingConfWithinToleranceIsAgreement) {
    const Detections a = {det(0, 0, 100, 100, 0.26f, 0)};
    const Detections b = {det(0, 0, 100, 100, 0.24f, 0)};
    const ImageMatch down = match_detections(a, b, 0.25f);
    EXPECT_TRUE(down.agree());
    EXPECT_EQ(down.original, 1);
    EXPECT_EQ(down.repaired, 0);
    EXPECT_EQ(down.crossed_threshold, 1);
    const ImageMatch up = match_detections(b, a, 0.25f);
    EXPECT_TRUE(up.agree());
    EXPECT_EQ(up.original, 0);
    EXPECT_EQ(up.repaired, 1);
    EXPECT_EQ(up.crossed_threshold, 1);
}

TEST(MatchDetections, EachRepairedDetectionPairsOnce) {
    const Detections a = {det(0, 0, 100, 100, 0.9f, 0), det(1, 0, 101, 100, 0.85f, 0)};
    const Detections b = {det(0, 0, 100, 100, 0.9f, 0)};
    const ImageMatch m = match_detections(a, b, 0.25f);
    EXPECT_EQ(m.matched, 1);
    EXPECT_FALSE(m.agree());
}

std::vector<cv::Mat> planted_images(const std::string& model, int n) {
    const auto g = tiledet::testing::generated_entry(model);
    std::vector<cv::Mat> out;
    for (int i = 0; i < n; ++i)
        out.push_back(tiledet::testing::paint_scene(g, {230 - 9 * i, 180 + 11 * i, 140 + 13 * i}, 40 + 5 * i));
    return out;
}

TEST(DetectionComparer, RepairedStaticModelAgreesInChunksWithASmallerLastOne) {
    TILEDET_REQUIRE_GENERATED("yolo_static.onnx");
    const auto in = read_file_bytes(generated_model("yolo_static.onnx").string());
    BatchifyOptions o;
    o.verify = false;
    const auto out = batchify_model(in, o);
    ASSERT_FALSE(out.empty());
    const Model original = Model::from_bytes(in), repaired = Model::from_bytes(out);
    const auto compare = make_detection_comparer(planted_images("yolo_static", 5));
    for (int batch : {1, 2, 4, 8}) {  // 5 images: chunks 2+2+1, 4+1, and one short chunk of 5
        const DetectionAgreement a = compare(original, repaired, batch);
        EXPECT_TRUE(a.agree) << "batch " << batch << ": " << a.summary;
        EXPECT_EQ(a.images, 5);
        EXPECT_EQ(a.detections, 15) << a.summary;  // three planted objects per image
        EXPECT_EQ(a.matched, 15);
        EXPECT_NEAR(a.worst_iou, 1.0, 1e-6);
    }
}

TEST(DetectionComparer, ModelWithOtherDetectionsDisagrees) {
    TILEDET_REQUIRE_GENERATED("yolo_static.onnx");
    TILEDET_REQUIRE_GENERATED("yolo_nc3_dynamic.onnx");
    const Model original = Model::load(generated_model("yolo_static.onnx").string());
    const Model other = Model::load(generated_model("yolo_nc3_dynamic.onnx").string());
    const auto compare = make_detection_comparer(planted_images("yolo_static", 3), {}, {"a.png", "b.png", "c.png"});
    const DetectionAgreement a = compare(original, other, 2);
    EXPECT_FALSE(a.agree) << a.summary;
    EXPECT_FALSE(a.disagreements.empty());
    EXPECT_NE(a.summary.find("a.png"), std::string::npos) << a.summary;
}

TEST(DetectionComparer, NoDetectionsAnywhereIsNotAgreement) {
    TILEDET_REQUIRE_GENERATED("yolo_static.onnx");
    const Model model = Model::load(generated_model("yolo_static.onnx").string());
    // A flat grey image lights no planted region.
    const auto compare = make_detection_comparer({cv::Mat(640, 640, CV_8UC3, cv::Scalar::all(40))});
    const DetectionAgreement a = compare(model, model, 2);
    EXPECT_FALSE(a.agree);
    EXPECT_EQ(a.detections, 0);
    EXPECT_NE(a.summary.find("nothing was compared"), std::string::npos) << a.summary;
}

TEST(DetectionComparer, ModelNoFamilyFitsSaysWhyInsteadOfThrowing) {
    TILEDET_REQUIRE_GENERATED("no_batch_axis.onnx");
    const Model model = Model::load(generated_model("no_batch_axis.onnx").string());
    const auto compare = make_detection_comparer(synthetic_check_images(1));
    const DetectionAgreement a = compare(model, model, 2);
    EXPECT_FALSE(a.agree);
    EXPECT_NE(a.summary.find("cannot compare detections"), std::string::npos) << a.summary;
}

TEST(DetectionComparer, RejectsEmptyOrNonBgrImages) {
    EXPECT_THROW(make_detection_comparer({}), ConfigError);
    EXPECT_THROW(make_detection_comparer({cv::Mat(10, 10, CV_8UC1)}), InputError);
}

TEST(SyntheticCheckImages, AreDeterministicBgrImages) {
    const auto a = synthetic_check_images(4), b = synthetic_check_images(4);
    ASSERT_EQ(a.size(), 4u);
    for (std::size_t i = 0; i < a.size(); ++i) {
        EXPECT_EQ(a[i].type(), CV_8UC3);
        EXPECT_EQ(cv::norm(a[i], b[i], cv::NORM_INF), 0.0);
    }
    EXPECT_NE(a[0].cols, a[1].cols);
}

// batchify with a comparer on an exact model: tensors verify, so detections are not needed and
// the status stays repaired_verified.
TEST(BatchifyWithComparer, BatchInvariantModelSkipsTheDetectionLevel) {
    TILEDET_REQUIRE_GENERATED("yolo_static.onnx");
    BatchifyOptions o;
    o.verify_batches = {2};
    o.detection_comparer = make_detection_comparer(planted_images("yolo_static", 2));
    BatchifyReport r;
    batchify_model(read_file_bytes(generated_model("yolo_static.onnx").string()), o, &r);
    EXPECT_EQ(r.status, BatchifyReport::Status::repaired_verified) << r.to_text();
    EXPECT_TRUE(r.detection_checks.empty());
}

}  // namespace
