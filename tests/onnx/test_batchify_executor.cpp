// The point of batchify: every repaired static model runs batched in the BatchExecutor and
// gives, request by request, the detections the original gives one image at a time.
#include <gtest/gtest.h>

#include <chrono>
#include <future>

#include "planted_scene.hpp"
#include "test_paths.hpp"
#include "tiledet/batching/batch_executor.hpp"
#include "tiledet/detectors/detector.hpp"
#include "tiledet/onnx/batchify.hpp"
#include "tiledet/runtime/model.hpp"

namespace {

using namespace tiledet;
using tiledet::testing::generated_model;

class RepairedInExecutor : public ::testing::TestWithParam<std::string> {};

TEST_P(RepairedInExecutor, GivesTheOriginalsDetectionsPerRequest) {
    const std::string name = GetParam();
    TILEDET_REQUIRE_GENERATED(name + ".onnx");
    const auto in = read_file_bytes(generated_model(name + ".onnx").string());
    BatchifyOptions bo;
    bo.verify = false;  // verification has its own tests; this one checks the result's use
    BatchifyReport report;
    const auto out = batchify_model(in, bo, &report);
    ASSERT_FALSE(out.empty()) << report.to_text();

    const Model original = Model::from_bytes(in);
    const auto det_o = make_detector(original.signature());
    const auto g = tiledet::testing::generated_entry(name);
    // Eight scenes (two full batches), each lighting the planted objects with other scores, so
    // that a request given another's outputs is caught.
    std::vector<cv::Mat> scenes;
    for (int i = 0; i < 8; ++i)
        scenes.push_back(tiledet::testing::paint_scene(g, {235 - 10 * i, 150 + 12 * i, 130 + 14 * i}, 30 + 4 * i));

    BatchPolicy policy;
    policy.max_batch_size = 4;
    policy.max_queue_delay = std::chrono::milliseconds(1000);  // full batches go at once
    auto backend = std::make_unique<ModelBackend>(Model::from_bytes(out));
    ASSERT_TRUE(backend->batch_kind().is_dynamic());
    const auto det_r = make_detector(backend->model().signature());
    ASSERT_EQ(det_r->family(), det_o->family());
    BatchExecutor executor(std::move(backend), policy);
    ASSERT_FALSE(executor.sequential()) << "the repaired model fell back to one at a time";
    EXPECT_EQ(executor.max_batch_size(), 4);
    std::vector<Geometry> geometry;
    std::vector<std::future<Result>> futures;
    for (const cv::Mat& img : scenes) {
        std::vector<Tensor> slots = det_r->make_input_slots(1);
        geometry.push_back(det_r->preprocess(img, slots, 0));
        futures.push_back(executor.submit(std::move(slots)));
    }
    int largest_batch = 0;
    for (std::size_t i = 0; i < scenes.size(); ++i) {
        const Result r = futures[i].get();
        largest_batch = std::max(largest_batch, r.batch_size);
        const Detections got = det_r->decode(r.outputs, geometry[i], {});
        const Detections want = detect_one(original, *det_o, scenes[i]);
        if (i == 0) {
            EXPECT_GE(want.size(), 3u) << "scene 0 lights every planted object";
        }
        ASSERT_EQ(got.size(), want.size()) << "scene " << i;
        for (std::size_t k = 0; k < want.size(); ++k) {
            EXPECT_EQ(got[k].class_id, want[k].class_id) << "scene " << i << " detection " << k;
            EXPECT_NEAR(got[k].score, want[k].score, 1e-5) << "scene " << i << " detection " << k;
            EXPECT_GT(iou(got[k].box, want[k].box), 0.999f) << "scene " << i << " detection " << k;
        }
    }
    EXPECT_GE(largest_batch, 2) << "nothing ran batched";
}

INSTANTIATE_TEST_SUITE_P(Generated, RepairedInExecutor,
                         ::testing::Values("yolo_static", "yolo_nc3_static", "yolo_e2e_static",
                                           "ultralytics_rtdetr_static", "hf_rtdetr_static", "official_rtdetr_static",
                                           "rfdetr_static", "rtdetr_heavy_static", "official_rtdetr_nobatch_static",
                                           "official_rtdetr_fake_dynamic"));

}  // namespace
