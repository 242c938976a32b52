// Every generated static batch-1 model is repaired, verified at 2, 4 and 8, and its repaired
// form independently matches the original item by item at a batch size batchify never tried.
#include <gtest/gtest.h>

#include <random>

#include "batchify_test_util.hpp"
#include "test_paths.hpp"
#include "tiledet/onnx/batchify.hpp"
#include "tiledet/runtime/model.hpp"

namespace {

using namespace tiledet;
using tiledet::testing::generated_model;

class StaticModel : public ::testing::TestWithParam<std::string> {};

TEST_P(StaticModel, IsRepairedAndVerifiedAtBatches2_4_8) {
    const std::string file = GetParam() + ".onnx";
    TILEDET_REQUIRE_GENERATED(file);
    const auto in = read_file_bytes(generated_model(file).string());
    BatchifyReport report;
    const auto out = batchify_model(in, {}, &report);
    ASSERT_EQ(report.status, BatchifyReport::Status::repaired_verified) << report.to_text();
    ASSERT_FALSE(out.empty());
    EXPECT_FALSE(report.rewrites.empty()) << "a static model always bakes the batch somewhere";

    const Model original = Model::from_bytes(in);
    const Model repaired = Model::from_bytes(out);
    EXPECT_TRUE(repaired.signature().batch_kind().is_dynamic()) << repaired.signature().describe();
    EXPECT_EQ(repaired.signature().inputs[0].dims[0].symbol, "batch");
    // One row per output per batch size, all within tolerance.
    ASSERT_EQ(report.differences.size(), 3 * original.signature().outputs.size());
    for (const auto& d : report.differences) {
        EXPECT_TRUE(d.within_tolerance) << d.output << " at batch " << d.batch;
        EXPECT_LE(d.max_abs, 1e-4);
    }
}

TEST_P(StaticModel, RepairedModelMatchesOriginalPerItemAtBatch3) {
    const std::string file = GetParam() + ".onnx";
    TILEDET_REQUIRE_GENERATED(file);
    const auto in = read_file_bytes(generated_model(file).string());
    BatchifyOptions o;
    o.verify = false;
    BatchifyReport report;
    const auto out = batchify_model(in, o, &report);
    ASSERT_EQ(report.status, BatchifyReport::Status::repaired_unverified) << report.to_text();
    const Model original = Model::from_bytes(in);
    const Model repaired = Model::from_bytes(out);
    std::mt19937 rng(7);
    std::vector<std::vector<Tensor>> items;
    for (int i = 0; i < 3; ++i) items.push_back(tiledet::testing::random_item(original.signature(), i, rng));
    EXPECT_LE(tiledet::testing::max_batched_difference(original, repaired, items), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Generated, StaticModel,
                         ::testing::Values("yolo_static", "yolo_nc3_static", "yolo_e2e_static",
                                           "ultralytics_rtdetr_static", "hf_rtdetr_static", "official_rtdetr_static",
                                           "rfdetr_static", "rtdetr_heavy_static", "official_rtdetr_nobatch_static",
                                           "yolo_obb_static", "yolo_seg_static"));

TEST(Batchify, OutputsWithoutBatchAxisGainALeadingOne) {
    TILEDET_REQUIRE_GENERATED("official_rtdetr_nobatch_static.onnx");
    const auto in = read_file_bytes(generated_model("official_rtdetr_nobatch_static.onnx").string());
    BatchifyReport report;
    const auto out = batchify_model(in, {}, &report);
    ASSERT_EQ(report.status, BatchifyReport::Status::repaired_verified) << report.to_text();
    const Model repaired = Model::from_bytes(out);
    const TensorInfo* boxes = repaired.signature().find_output("boxes");
    ASSERT_NE(boxes, nullptr);
    EXPECT_EQ(boxes->dims_string(), "['batch', 300, 4]");
    EXPECT_FALSE(report.notes.empty());
}

// official_rtdetr_fake_dynamic declares ['batch', ...] but a Reshape to [1, 300, 4] inside
// fails at batch 2: the probe finds it, and the model is repaired as the batch-1 model it is.
TEST(Batchify, DeclaredDynamicBatchThatFailsAtTwoIsRepaired) {
    TILEDET_REQUIRE_GENERATED("official_rtdetr_fake_dynamic.onnx");
    const auto in = read_file_bytes(generated_model("official_rtdetr_fake_dynamic.onnx").string());
    BatchifyReport report;
    const auto out = batchify_model(in, {}, &report);
    ASSERT_EQ(report.status, BatchifyReport::Status::repaired_verified) << report.to_text();
    ASSERT_FALSE(out.empty());
    EXPECT_EQ(report.message.rfind("declared a dynamic batch but ran only at batch 1", 0), 0u) << report.message;
    bool noted = false;
    for (const auto& n : report.notes) noted = noted || n.find("fails at batch 2") != std::string::npos;
    EXPECT_TRUE(noted) << report.to_text();
    bool reshape = false;
    for (const auto& w : report.rewrites) reshape = reshape || w.rfind("Reshape", 0) == 0;
    EXPECT_TRUE(reshape) << report.to_text();
    for (const auto& d : report.differences) EXPECT_TRUE(d.within_tolerance) << d.output << " at batch " << d.batch;

    const Model original = Model::from_bytes(in);
    const Model repaired = Model::from_bytes(out);
    EXPECT_EQ(repaired.signature().inputs[0].dims[0].symbol, "batch");
    std::mt19937 rng(11);
    std::vector<std::vector<Tensor>> items;
    for (int i = 0; i < 3; ++i) items.push_back(tiledet::testing::random_item(original.signature(), i, rng));
    EXPECT_LE(tiledet::testing::max_batched_difference(original, repaired, items), 1e-5);
}

TEST(Batchify, DeclaredDynamicBatchThatRunsAtTwoThreeAndFourIsLeftAlone) {
    TILEDET_REQUIRE_GENERATED("official_rtdetr_dynamic.onnx");
    BatchifyReport report;
    const auto out =
        batchify_model(read_file_bytes(generated_model("official_rtdetr_dynamic.onnx").string()), {}, &report);
    EXPECT_EQ(report.status, BatchifyReport::Status::already_dynamic) << report.to_text();
    EXPECT_TRUE(out.empty());
    EXPECT_NE(report.message.find("probed: it runs at batches 2, 3 and 4"), std::string::npos) << report.message;
}

TEST(Batchify, BatchNameOptionNamesTheLeadingDim) {
    TILEDET_REQUIRE_GENERATED("yolo_static.onnx");
    const auto in = read_file_bytes(generated_model("yolo_static.onnx").string());
    BatchifyOptions o;
    o.batch_name = "N";
    o.verify_batches = {2};
    const auto out = batchify_model(in, o);
    ASSERT_FALSE(out.empty());
    const Model repaired = Model::from_bytes(out);
    EXPECT_EQ(repaired.signature().inputs[0].dims[0].symbol, "N");
    EXPECT_EQ(repaired.signature().outputs[0].dims[0].symbol, "N");
}

TEST(Batchify, ReshapeRewriteIsReportedWithBeforeAndAfter) {
    TILEDET_REQUIRE_GENERATED("yolo_static.onnx");
    BatchifyReport report;
    batchify_model(read_file_bytes(generated_model("yolo_static.onnx").string()), {}, &report);
    bool found = false;
    for (const auto& r : report.rewrites) found = found || r.find("Reshape '/Reshape_54': shape [1, 84, 8400] -> ") == 0;
    EXPECT_TRUE(found) << report.to_text();
    EXPECT_NE(report.to_text().find("output0"), std::string::npos);
}

}  // namespace
