// The real dynamically quantized YOLOv8n, repaired, on bus.jpg, zidane.jpg and the 64 coco64
// images at batches 2, 4 and 8.
// - By default batchify quantizes each item with its own scale: the repaired model's batched
//   outputs equal the original's single-item outputs, and so do its detections.
// - With the original batch-wide scale (per_item_quantization = false) the tensors differ
//   (an image batched with one of wider activation range is quantized more coarsely and
//   mid-confidence scores move by up to ~0.15); both levels are measured and reported and the
//   status follows the detection-level verdict.
// Labelled `slow` (about 4 x 66 inferences per test).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "test_paths.hpp"
#include "tiledet/io/image.hpp"
#include "tiledet/onnx/batchify.hpp"
#include "tiledet/onnx/detection_check.hpp"
#include "tiledet/runtime/model.hpp"

namespace {

using namespace tiledet;
using tiledet::testing::shared_path;

void load_all(std::vector<cv::Mat>& images, std::vector<std::string>& names) {
    std::vector<std::string> files = {shared_path("images/bus.jpg").string(),
                                      shared_path("images/zidane.jpg").string()};
    for (const auto& f : list_images(shared_path("images/coco64/images").string())) files.push_back(f);
    for (const auto& f : files) {
        images.push_back(load_image(f));
        names.push_back(std::filesystem::path(f).filename().string());
    }
}

TEST(BatchifyInt8Detections, PerItemQuantizationMakesBatchedOutputsAndDetectionsEqualTheOriginal) {
    TILEDET_REQUIRE_SHARED("models/yolov8n_int8.onnx");
    TILEDET_REQUIRE_SHARED("images/coco64/images");
    std::vector<cv::Mat> images;
    std::vector<std::string> names;
    load_all(images, names);
    ASSERT_EQ(images.size(), 66u);
    const auto original_bytes = read_file_bytes(shared_path("models/yolov8n_int8.onnx").string());
    BatchifyOptions o;
    o.verify_batches = {2, 4, 8};
    BatchifyReport r;
    const auto out = batchify_model(original_bytes, o, &r);
    std::cout << r.to_text();
    ASSERT_EQ(r.status, BatchifyReport::Status::repaired_verified) << r.to_text();
    ASSERT_FALSE(out.empty());
    ASSERT_EQ(r.differences.size(), 3u);
    for (const auto& d : r.differences) EXPECT_LE(d.max_abs, 1e-4) << "batch " << d.batch;

    const Model original = Model::from_bytes(original_bytes, {}, "original");
    const Model repaired = Model::from_bytes(out, {}, "repaired");
    EXPECT_TRUE(repaired.signature().batch_kind().is_dynamic());
    const DetectionComparer compare = make_detection_comparer(images, {}, names);
    for (int batch : {2, 4, 8}) {
        const DetectionAgreement a = compare(original, repaired, batch);
        EXPECT_TRUE(a.agree) << "batch " << batch << ": " << a.summary;
        EXPECT_EQ(a.images, 66);
        EXPECT_GT(a.detections, 300);
        EXPECT_EQ(a.matched, a.detections) << "batch " << batch << ": " << a.summary;
        std::cout << "[ int8 per-item ] batch " << batch << ": " << a.summary << "\n";
    }
}

TEST(BatchifyInt8Detections, BatchWideQuantizationBothLevelsAreMeasuredAndReported) {
    TILEDET_REQUIRE_SHARED("models/yolov8n_int8.onnx");
    TILEDET_REQUIRE_SHARED("images/coco64/images");
    std::vector<cv::Mat> images;
    std::vector<std::string> names;
    load_all(images, names);
    ASSERT_EQ(images.size(), 66u);

    BatchifyOptions o;
    o.per_item_quantization = false;
    o.verify_batches = {2, 4, 8};
    o.detection_comparer = make_detection_comparer(images, {}, names);
    BatchifyReport r;
    const auto out = batchify_model(read_file_bytes(shared_path("models/yolov8n_int8.onnx").string()), o, &r);
    const std::string text = r.to_text();
    std::cout << text;  // the figures, for the closing note

    bool all_agree = true;
    for (const auto& [batch, a] : r.detection_checks) all_agree = all_agree && a.agree;
    EXPECT_EQ(r.status, all_agree ? BatchifyReport::Status::repaired_verified_detections
                                  : BatchifyReport::Status::verification_failed)
        << text;
    EXPECT_EQ(out.empty(), !all_agree) << "written exactly when the detections agree (no keep_unverified)";
    // The tensor level is reported, not hidden: a real, finite difference at every batch size.
    ASSERT_EQ(r.differences.size(), 3u);
    for (const auto& d : r.differences) {
        EXPECT_TRUE(std::isfinite(d.max_abs)) << "batch " << d.batch << " did not run";
        EXPECT_GT(d.max_abs, 0.0) << "batch " << d.batch << ": DynamicQuantizeLinear should make a difference";
    }
    EXPECT_NE(text.find("tensor level"), std::string::npos);
    EXPECT_NE(text.find("detection level"), std::string::npos);
    EXPECT_NE(r.message.find("DynamicQuantizeLinear"), std::string::npos) << r.message;
    ASSERT_EQ(r.detection_checks.size(), 3u);
    for (const auto& [batch, a] : r.detection_checks) {
        EXPECT_EQ(a.images, 66);
        EXPECT_GT(a.detections, 300) << "coco64 and the two images hold hundreds of objects";
        // Most detections survive batching; a broken repair (items mixed up, the batch read as
        // one image) matches almost none.
        EXPECT_GE(a.matched, a.detections * 8 / 10) << "batch " << batch << ": " << a.summary;
        EXPECT_GT(a.worst_iou, 0.9);
        EXPECT_LE(a.worst_score_diff, 0.05);
        EXPECT_EQ(a.agree, a.disagreements.empty());
    }
}

TEST(BatchifyInt8Detections, KeptWhenAskedWithBothLevelsInTheReport) {
    TILEDET_REQUIRE_SHARED("models/yolov8n_int8.onnx");
    TILEDET_REQUIRE_SHARED("images/zidane.jpg");
    BatchifyOptions o;
    o.per_item_quantization = false;
    o.verify_batches = {2};
    o.keep_unverified = true;
    o.detection_comparer = make_detection_comparer(
        {load_image(shared_path("images/bus.jpg").string()), load_image(shared_path("images/zidane.jpg").string())});
    BatchifyReport r;
    const auto out = batchify_model(read_file_bytes(shared_path("models/yolov8n_int8.onnx").string()), o, &r);
    EXPECT_FALSE(out.empty()) << r.to_text();
    EXPECT_TRUE(r.output_written);
    ASSERT_EQ(r.detection_checks.size(), 1u);
    EXPECT_EQ(r.detection_checks[0].second.images, 2);
    EXPECT_GE(r.detection_checks[0].second.detections, 5) << "bus.jpg alone holds 4 people and a bus";
}

}  // namespace
