// The real dynamically quantized YOLOv8n: repaired, runs at 2, 4 and 8, and its tensor-level
// difference is reported (DynamicQuantizeLinear takes one scale over the whole batch).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "batchify_test_util.hpp"
#include "test_paths.hpp"
#include "tiledet/onnx/batchify.hpp"
#include "tiledet/runtime/model.hpp"

namespace {

using namespace tiledet;
const char* kInt8 = "models/yolov8n_int8.onnx";

TEST(BatchifyInt8, IsRepairedRunsAtEveryBatchAndReportsTheDifference) {
    TILEDET_REQUIRE_SHARED(kInt8);
    const std::string path = tiledet::testing::shared_path(kInt8).string();
    EXPECT_EQ(batch_variant_ops(path), std::vector<std::string>{"DynamicQuantizeLinear"});
    BatchifyOptions o;
    o.keep_unverified = true;
    BatchifyReport report;
    const auto out = batchify_model(read_file_bytes(path), o, &report);
    ASSERT_FALSE(out.empty()) << report.to_text();
    EXPECT_TRUE(report.status == BatchifyReport::Status::repaired_verified ||
                report.status == BatchifyReport::Status::verification_failed)
        << report.to_text();
    ASSERT_EQ(report.differences.size(), 3u);
    for (const auto& d : report.differences) {
        EXPECT_EQ(d.output, "output0");
        EXPECT_TRUE(std::isfinite(d.max_abs)) << "batch " << d.batch << " did not run";
    }
    EXPECT_NE(report.to_text().find("DynamicQuantizeLinear"), std::string::npos);
    const Model repaired = Model::from_bytes(out);
    EXPECT_TRUE(repaired.signature().batch_kind().is_dynamic());
}

// Copies of one item give the batch the same quantization range as the item alone, so the
// batched outputs must equal the single run: the repair itself is exact.
TEST(BatchifyInt8, BatchOfIdenticalItemsMatchesTheSingleRun) {
    TILEDET_REQUIRE_SHARED(kInt8);
    const auto in = read_file_bytes(tiledet::testing::shared_path(kInt8).string());
    BatchifyOptions o;
    o.verify = false;
    const auto out = batchify_model(in, o);
    ASSERT_FALSE(out.empty());
    const Model original = Model::from_bytes(in);
    const Model repaired = Model::from_bytes(out);
    std::mt19937 rng(3);
    const auto item = tiledet::testing::random_item(original.signature(), 0, rng);
    const std::vector<std::vector<Tensor>> items(4, item);
    EXPECT_LE(tiledet::testing::max_batched_difference(original, repaired, items), 1e-3);
}

}  // namespace
