// The executor over real ONNX Runtime sessions: generated models that cannot batch, instances,
// and batch invariance (an item's outputs do not depend on the batch it ran in).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "fake_backends.hpp"
#include "test_paths.hpp"

using namespace tiledet;
using namespace tiledet::testing;

namespace {

const std::string kFallbackWords = "Batch inference not supported, falling back to sequential processing";

// One thread per session: ONNX Runtime then starts no thread pool of its own, whose (not
// instrumented) synchronisation ThreadSanitizer would misreport; our threads are what is tested.
ModelOptions one_thread() {
    ModelOptions o;
    o.intra_op_threads = 1;
    return o;
}

// A random request for the model: images in [0, 1), sizes (int64) in [64, 1024].
std::vector<Tensor> random_item(const ModelSignature& sig, std::mt19937& rng) {
    std::vector<Tensor> item;
    for (const TensorInfo& in : sig.inputs) {
        Shape shape{1};
        for (std::size_t d = 1; d < in.dims.size(); ++d) shape.push_back(in.dims[d].fixed() ? in.dims[d].value : 32);
        Tensor t(in.type, shape);
        if (in.type == ElementType::float32) {
            std::uniform_real_distribution<float> u(0.f, 1.f);
            for (float& v : t.values<float>()) v = u(rng);
        } else if (in.type == ElementType::int64) {
            std::uniform_int_distribution<int64_t> u(64, 1024);
            for (int64_t& v : t.values<int64_t>()) v = u(rng);
        }
        item.push_back(std::move(t));
    }
    return item;
}

// Largest relative difference between two outputs (0 when identical); int outputs must match.
double max_relative_difference(const Tensor& a, const Tensor& b) {
    if (a.shape() != b.shape() || a.type() != b.type()) return INFINITY;
    double worst = 0;
    if (a.type() == ElementType::float32) {
        const auto x = a.values<float>(), y = b.values<float>();
        for (std::size_t i = 0; i < x.size(); ++i) {
            const double d = std::fabs(double(x[i]) - double(y[i]));
            const double scale = std::max({std::fabs(double(x[i])), std::fabs(double(y[i])), 1e-6});
            worst = std::max(worst, d / scale);
        }
    } else {
        if (std::memcmp(a.bytes(), b.bytes(), a.byte_size()) != 0) return INFINITY;
    }
    return worst;
}

void expect_batch_invariance(const std::filesystem::path& path) {
    const std::vector<std::byte> bytes = read_file_bytes(path.string());
    const Model probe_model = Model::from_bytes(bytes, one_thread());
    ASSERT_TRUE(probe_model.signature().batch_kind().is_dynamic()) << path;
    std::mt19937 rng(1234);
    std::vector<std::vector<Tensor>> items;
    for (int i = 0; i < 8; ++i) items.push_back(random_item(probe_model.signature(), rng));

    std::vector<Result> alone;
    {
        BatchPolicy p;
        p.max_batch_size = 1;
        BatchExecutor ex(std::make_unique<ModelBackend>(Model::from_bytes(bytes, one_thread())), p);
        for (const auto& it : items) alone.push_back(ex.submit(it).get());
    }
    for (int n = 2; n <= 8; ++n) {
        BatchExecutor ex(std::make_unique<ModelBackend>(Model::from_bytes(bytes, one_thread())), full_batches_only(n));
        ASSERT_FALSE(ex.sequential()) << path << " failed its probe";
        std::vector<std::future<Result>> futures;
        for (int i = 0; i < n; ++i) futures.push_back(ex.submit(items[static_cast<std::size_t>(i)]));
        for (int i = 0; i < n; ++i) {
            Result r = futures[static_cast<std::size_t>(i)].get();
            ASSERT_EQ(r.batch_size, n);
            const Result& ref = alone[static_cast<std::size_t>(i)];
            ASSERT_EQ(r.outputs.size(), ref.outputs.size());
            for (std::size_t o = 0; o < r.outputs.size(); ++o)
                EXPECT_LT(max_relative_difference(r.outputs[o], ref.outputs[o]), 1e-5)
                    << path.filename() << " output " << o << ", item " << i << " in a batch of " << n;
        }
    }
}

}  // namespace

class BatchInvariance : public ::testing::TestWithParam<std::string> {};

TEST_P(BatchInvariance, ItemOutputsDoNotDependOnTheBatchItRanIn) {
    TILEDET_REQUIRE_GENERATED(GetParam());
    expect_batch_invariance(generated_model(GetParam()));
}

INSTANTIATE_TEST_SUITE_P(GeneratedDynamicModels, BatchInvariance,
                         ::testing::Values("yolo_dynamic.onnx", "yolo_nc3_dynamic.onnx", "yolo_e2e_dynamic.onnx",
                                           "ultralytics_rtdetr_dynamic.onnx", "hf_rtdetr_dynamic.onnx",
                                           "official_rtdetr_dynamic.onnx", "rfdetr_dynamic.onnx", "yolov5_dynamic.onnx",
                                           "yolox_dynamic.onnx"),
                         [](const auto& info) {
                             std::string n = info.param;
                             return n.substr(0, n.find('.'));
                         });

TEST(BatchInvarianceReal, Deimv2ItemOutputsDoNotDependOnTheBatchItRanIn) {
    TILEDET_REQUIRE_SHARED("models/deimv2_hgnetv2_atto_coco.onnx");
    expect_batch_invariance(shared_path("models/deimv2_hgnetv2_atto_coco.onnx"));
}

TEST(ModelBackendFallback, FakeDynamicModelIsCaughtByTheProbeAndNoRequestFails) {
    TILEDET_REQUIRE_GENERATED("official_rtdetr_fake_dynamic.onnx");
    CapturedLog log;
    auto backends = make_model_backends(generated_model("official_rtdetr_fake_dynamic.onnx").string(), one_thread(), 1);
    ASSERT_TRUE(backends[0]->batch_kind().is_dynamic());
    const ModelSignature sig = static_cast<ModelBackend&>(*backends[0]).model().signature();
    BatchExecutor ex(std::move(backends), full_batches_only(4), log.sink());
    EXPECT_TRUE(ex.sequential());
    EXPECT_EQ(log.count_containing(kFallbackWords), 1);
    EXPECT_EQ(log.count_containing("probe batch of 2 failed"), 1);
    std::mt19937 rng(7);
    std::vector<std::future<Result>> futures;
    for (int i = 0; i < 4; ++i) futures.push_back(ex.submit(random_item(sig, rng)));
    for (auto& f : futures) {
        Result r = f.get();
        EXPECT_EQ(r.batch_size, 1);
        EXPECT_EQ(r.outputs.at(1).shape(), (Shape{1, 300, 4}));
    }
    EXPECT_EQ(log.count_containing(kFallbackWords), 1);
}

TEST(ModelBackendFallback, FakeDynamicModelWithoutProbeFallsBackOnTheFirstBatchAndNoRequestFails) {
    TILEDET_REQUIRE_GENERATED("official_rtdetr_fake_dynamic.onnx");
    CapturedLog log;
    BatchPolicy policy = full_batches_only(4);
    policy.probe_dynamic_batch = false;
    auto backends = make_model_backends(generated_model("official_rtdetr_fake_dynamic.onnx").string(), one_thread(), 1);
    const ModelSignature sig = static_cast<ModelBackend&>(*backends[0]).model().signature();
    BatchExecutor ex(std::move(backends), policy, log.sink());
    EXPECT_FALSE(ex.sequential());
    std::mt19937 rng(7);
    std::vector<std::future<Result>> futures;
    for (int i = 0; i < 6; ++i) futures.push_back(ex.submit(random_item(sig, rng)));
    for (auto& f : futures) EXPECT_EQ(f.get().batch_size, 1);
    EXPECT_TRUE(ex.sequential());
    EXPECT_EQ(log.count_containing(kFallbackWords), 1);
    EXPECT_EQ(ex.stats().failed, 0u);
}

TEST(ModelBackendFallback, StaticBatchOneModelRunsSequentiallyWithTheOriginalWarning) {
    TILEDET_REQUIRE_GENERATED("official_rtdetr_static.onnx");
    CapturedLog log;
    BatchPolicy policy;
    policy.verbose = true;
    BatchExecutor ex =
        BatchExecutor::open(generated_model("official_rtdetr_static.onnx").string(), policy, one_thread(), log.sink());
    EXPECT_TRUE(ex.sequential());
    const ModelSignature& sig = static_cast<const ModelBackend&>(ex.backend(0)).model().signature();
    std::mt19937 rng(3);
    auto a = ex.submit(random_item(sig, rng));
    auto b = ex.submit(random_item(sig, rng));
    EXPECT_EQ(a.get().batch_size, 1);
    EXPECT_EQ(b.get().batch_size, 1);
    EXPECT_EQ(log.count_containing(kFallbackWords + " (the model has a static batch of 1)"), 1);
    EXPECT_EQ(log.count_containing("CPU Sequential Execution: 1 image in 1 batch (1) in "), 2);
}

TEST(ModelBackendFallback, OutputsWithoutBatchAxisArePassedWhole) {
    TILEDET_REQUIRE_GENERATED("official_rtdetr_nobatch_static.onnx");
    CapturedLog log;
    BatchExecutor ex = BatchExecutor::open(generated_model("official_rtdetr_nobatch_static.onnx").string(), {},
                                           one_thread(), log.sink());
    const ModelSignature& sig = static_cast<const ModelBackend&>(ex.backend(0)).model().signature();
    std::mt19937 rng(3);
    Result r = ex.submit(random_item(sig, rng)).get();
    EXPECT_EQ(r.outputs.at(1).shape(), (Shape{300, 4}));
}

TEST(ModelBackendInstances, InstancesSplitTheThreadsBetweenThem) {
    TILEDET_REQUIRE_GENERATED("official_rtdetr_static.onnx");
    ModelOptions options;
    options.intra_op_threads = 2;
    auto backends = make_model_backends(generated_model("official_rtdetr_static.onnx").string(), options, 2);
    ASSERT_EQ(backends.size(), 2u);
    for (const auto& b : backends) EXPECT_EQ(static_cast<ModelBackend&>(*b).intra_op_threads(), 1);
    EXPECT_THROW(make_model_backends(generated_model("official_rtdetr_static.onnx").string(), options, 0), ConfigError);
}

TEST(ModelBackendInstances, TwoInstancesOfAStaticBatchOneModelServeAllRequests) {
    TILEDET_REQUIRE_GENERATED("official_rtdetr_static.onnx");
    CapturedLog log;
    BatchPolicy policy;
    policy.instances = 2;
    ModelOptions two_threads;
    two_threads.intra_op_threads = 2;  // split: one each
    BatchExecutor ex =
        BatchExecutor::open(generated_model("official_rtdetr_static.onnx").string(), policy, two_threads, log.sink());
    EXPECT_EQ(ex.instances(), 2u);
    EXPECT_EQ(log.count_containing("2 instances run requests concurrently"), 1);
    const ModelSignature& sig = static_cast<const ModelBackend&>(ex.backend(0)).model().signature();
    std::mt19937 rng(5);
    std::vector<std::vector<Tensor>> items;
    std::vector<std::future<Result>> futures;
    for (int i = 0; i < 6; ++i) {
        items.push_back(random_item(sig, rng));
        futures.push_back(ex.submit(items.back()));
    }
    const Model reference = Model::load(generated_model("official_rtdetr_static.onnx").string(), one_thread());
    for (int i = 0; i < 6; ++i) {
        Result r = futures[static_cast<std::size_t>(i)].get();
        const std::vector<Tensor> want = reference.run(items[static_cast<std::size_t>(i)]);
        ASSERT_EQ(r.outputs.size(), want.size());
        for (std::size_t o = 0; o < want.size(); ++o)
            EXPECT_EQ(max_relative_difference(r.outputs[o], want[o]), 0.0) << "request " << i << " output " << o;
    }
}

// fake_dynamic_div80 reshapes a constant [1, 80, 128] to [B, -1, 4, 32]: batches of 3, 6, 7 fail.
TEST(ModelBackendFailingSizes, DivisorOf80ModelGivesOneToEightRequestsTheirBatchOneOutputs) {
    TILEDET_REQUIRE_GENERATED("fake_dynamic_div80.onnx");
    const std::vector<std::byte> bytes = read_file_bytes(generated_model("fake_dynamic_div80.onnx").string());
    const Model model = Model::from_bytes(bytes, one_thread());
    ASSERT_TRUE(model.signature().batch_kind().is_dynamic());
    std::mt19937 rng(80);
    std::vector<std::vector<Tensor>> items;
    for (int i = 0; i < 8; ++i) items.push_back(random_item(model.signature(), rng));
    std::vector<Result> alone;
    {
        BatchPolicy p;
        p.max_batch_size = 1;
        BatchExecutor ex(std::make_unique<ModelBackend>(Model::from_bytes(bytes, one_thread())), p);
        for (const auto& it : items) alone.push_back(ex.submit(it).get());
    }
    for (bool probe : {false, true}) {
        CapturedLog log;
        BatchPolicy policy;
        policy.max_batch_size = 8;
        policy.probe_dynamic_batch = probe;
        BatchExecutor ex(std::make_unique<ModelBackend>(Model::from_bytes(bytes, one_thread())), policy, log.sink());
        for (int n = 1; n <= 8; ++n) {
            std::vector<Request> group;
            for (int i = 0; i < n; ++i) group.push_back(Request{items[static_cast<std::size_t>(i)], std::nullopt, 0, {}});
            auto futures = ex.submit(std::move(group));
            for (int i = 0; i < n; ++i) {
                const Result r = futures[static_cast<std::size_t>(i)].get();
                const Result& ref = alone[static_cast<std::size_t>(i)];
                ASSERT_EQ(r.outputs.size(), ref.outputs.size());
                for (std::size_t o = 0; o < r.outputs.size(); ++o)
                    EXPECT_LT(max_relative_difference(r.outputs[o], ref.outputs[o]), 1e-5)
                        << "output " << o << ", item " << i << " of " << n << (probe ? " (probed)" : "");
            }
        }
        const ExecutorStats s = ex.stats();
        EXPECT_FALSE(ex.sequential());
        EXPECT_EQ(s.failed, 0u);
        EXPECT_EQ(s.completed, 36u);
        // Probed: 3 is found at warm-up (probes 2, 3, 8) and never formed; 6 and 7 are found on
        // their first batch and re-run. Unprobed: 3 too.
        EXPECT_EQ(s.failed_batch_sizes, (std::vector<int>{3, 6, 7}));
        EXPECT_EQ(s.retried_batches, probe ? 2u : 3u);
        ASSERT_EQ(log.at(LogLevel::warning).size(), 1u);
        EXPECT_NE(log.at(LogLevel::warning)[0].find("failed at batch 3"), std::string::npos);
        EXPECT_NE(log.at(LogLevel::warning)[0].find("tiledet batchify"), std::string::npos);
    }
}
