// Models that cannot batch, and models that fail: static batch 1 runs one at a time with one
// warning; static N pads; a dynamic declaration that breaks at batch 2 is caught and no request
// fails; a model error fails exactly its own batch.
#include <gtest/gtest.h>

#include <set>

#include "fake_backends.hpp"

using namespace tiledet;
using namespace tiledet::testing;

namespace {
const std::string kFallbackWords = "Batch inference not supported, falling back to sequential processing";
}

TEST(Fallback, StaticBatchOneRunsOneAtATimeAndWarnsOnce) {
    CapturedLog log;
    auto b = std::make_unique<EchoBackend>(EchoBackend::static_of(1));
    EchoBackend* raw = b.get();
    BatchExecutor ex(std::move(b), full_batches_only(8), log.sink());
    EXPECT_TRUE(ex.sequential());
    EXPECT_EQ(ex.max_batch_size(), 1);
    std::vector<std::future<Result>> futures;
    for (int i = 0; i < 5; ++i) futures.push_back(ex.submit(item(static_cast<float>(i))));
    for (int i = 0; i < 5; ++i) {
        Result r = futures[static_cast<std::size_t>(i)].get();  // no hour-long wait: batch 1 is always full
        EXPECT_EQ(r.batch_size, 1);
        EXPECT_FLOAT_EQ(first_value(r), 2.f * static_cast<float>(i) + 1.f);
    }
    EXPECT_EQ(raw->batch_sizes(), (std::vector<int64_t>(5, 1)));
    EXPECT_EQ(log.count_containing(kFallbackWords), 1);
    EXPECT_EQ(log.count_containing("tiledet batchify"), 1);
    EXPECT_EQ(log.count_containing("dynamic batch axis"), 1);
    ASSERT_EQ(log.at(LogLevel::warning).size(), 1u);
}

TEST(Fallback, StaticBatchNPadsPartialBatchesAndDropsThePaddingOutputs) {
    auto b = std::make_unique<EchoBackend>(EchoBackend::static_of(4));
    EchoBackend* raw = b.get();
    BatchPolicy policy;
    policy.max_batch_size = 2;  // a static batch wins over the policy's max
    policy.max_queue_delay = std::chrono::milliseconds(1);
    BatchExecutor ex(std::move(b), policy);
    EXPECT_FALSE(ex.sequential());
    EXPECT_EQ(ex.max_batch_size(), 4);
    std::vector<std::future<Result>> futures;
    for (int i = 0; i < 6; ++i) futures.push_back(ex.submit(item(static_cast<float>(i))));
    int real = 0, padding = 0;
    std::set<std::uint64_t> batches;
    for (int i = 0; i < 6; ++i) {
        Result r = futures[static_cast<std::size_t>(i)].get();
        EXPECT_FLOAT_EQ(first_value(r), 2.f * static_cast<float>(i) + 1.f);
        EXPECT_EQ(r.outputs[0].shape(), (Shape{1, 4}));
        EXPECT_EQ(r.batch_size + r.padding, 4);
        if (batches.insert(r.batch_id).second) {
            real += r.batch_size;
            padding += r.padding;
        }
    }
    for (int64_t s : raw->batch_sizes()) EXPECT_EQ(s, 4);  // the model only ever saw batches of 4
    EXPECT_EQ(real, 6);
    EXPECT_EQ(padding, 4 * static_cast<int>(raw->runs()) - 6);
    EXPECT_EQ(ex.stats().padded_slots, static_cast<std::uint64_t>(padding));
}

TEST(Fallback, StaticBatchNSplitsMoreRequestsIntoBatchesOfN) {
    auto b = std::make_unique<EchoBackend>(EchoBackend::static_of(2));
    EchoBackend* raw = b.get();
    BatchExecutor ex(std::move(b), full_batches_only(8));
    std::vector<std::future<Result>> futures;
    for (int i = 0; i < 6; ++i) futures.push_back(ex.submit(item(static_cast<float>(i))));
    for (auto& f : futures) EXPECT_EQ(f.get().batch_size, 2);
    EXPECT_EQ(raw->batch_sizes(), (std::vector<int64_t>{2, 2, 2}));
}

TEST(Fallback, DynamicModelThatFailsAtBatchTwoIsCaughtByTheWarmUpProbe) {
    CapturedLog log;
    auto b = std::make_unique<EchoBackend>();
    b->fail_above_batch(1).with_probe();
    EchoBackend* raw = b.get();
    BatchExecutor ex(std::move(b), full_batches_only(4), log.sink());
    EXPECT_TRUE(ex.sequential());
    EXPECT_EQ(raw->batch_sizes(), (std::vector<int64_t>{2}));  // the probe stops at the first failure
    std::vector<std::future<Result>> futures;
    for (int i = 0; i < 4; ++i) futures.push_back(ex.submit(item(static_cast<float>(i))));
    for (auto& f : futures) EXPECT_EQ(f.get().batch_size, 1);
    EXPECT_EQ(log.count_containing(kFallbackWords), 1);
    EXPECT_EQ(log.count_containing("failed at batch 2"), 0);
    EXPECT_EQ(log.count_containing("probe batch of 2 failed: fake model: Reshape cannot take batch 2"), 1);
}

TEST(Fallback, DynamicModelThatFailsOnItsFirstBatchReRunsItsRequestsAloneAndNoneFails) {
    CapturedLog log;
    auto b = std::make_unique<EchoBackend>();
    b->fail_above_batch(1);  // no probe item: found on the first real batch
    EchoBackend* raw = b.get();
    BatchExecutor ex(std::move(b), full_batches_only(4), log.sink());
    EXPECT_FALSE(ex.sequential());
    std::vector<std::future<Result>> futures;
    for (int i = 0; i < 7; ++i) futures.push_back(ex.submit(item(static_cast<float>(i))));
    for (int i = 0; i < 7; ++i) {
        Result r = futures[static_cast<std::size_t>(i)].get();  // 4..6 go alone, without the hour's wait
        EXPECT_EQ(r.batch_size, 1);
        EXPECT_FLOAT_EQ(first_value(r), 2.f * static_cast<float>(i) + 1.f);
    }
    EXPECT_TRUE(ex.sequential());
    // 4 fails, its halves of 2 fail, their items run alone: batch 2 failed and no batch of more
    // than one ever ran, so the model falls back; the second half of 2 is not tried again.
    EXPECT_EQ(raw->batch_sizes(), (std::vector<int64_t>{4, 2, 1, 1, 1, 1, 1, 1, 1}));
    EXPECT_EQ(log.count_containing(kFallbackWords), 1);
    EXPECT_EQ(log.count_containing("failed at batch 2: fake model: Reshape cannot take batch 2"), 1);
    EXPECT_EQ(log.count_containing("second line"), 0);
    const ExecutorStats s = ex.stats();
    EXPECT_EQ(s.completed, 7u);
    EXPECT_EQ(s.failed, 0u);
    EXPECT_TRUE(s.sequential_fallback);
}

TEST(Fallback, RequestThatFailsAloneGetsTheErrorAndTheRestOfItsBatchStillRuns) {
    auto b = std::make_unique<EchoBackend>();
    b->with_probe().fail_on_value(5.f);
    EchoBackend* raw = b.get();
    BatchExecutor ex(std::move(b), full_batches_only(4));
    std::vector<std::future<Result>> futures;
    for (int i = 0; i < 12; ++i) futures.push_back(ex.submit(item(static_cast<float>(i))));
    for (int i = 0; i < 12; ++i) {
        auto& f = futures[static_cast<std::size_t>(i)];
        if (i == 5) {
            try {
                f.get();
                ADD_FAILURE() << "request 5 fails alone too and should get the model's error";
            } catch (const RuntimeFailure& e) {
                EXPECT_STREQ(e.what(), "fake model cannot take an item holding 5.000000");
            }
        } else {
            EXPECT_FLOAT_EQ(first_value(f.get()), 2.f * static_cast<float>(i) + 1.f) << i;
        }
    }
    // Probe 2, 3, 4; then [0..3], [4..7] fails -> [4,5] fails -> [4], [5] fails; [6,7]; [8..11].
    EXPECT_EQ(raw->batch_sizes(), (std::vector<int64_t>{2, 3, 4, 4, 4, 2, 1, 1, 2, 4}));
    EXPECT_FALSE(ex.sequential());  // a request's error is not a reason to stop batching
    const ExecutorStats s = ex.stats();
    EXPECT_EQ(s.failed, 1u);
    EXPECT_EQ(s.completed, 11u);
    EXPECT_EQ(s.failed_batches, 3u);
    EXPECT_EQ(s.retried_batches, 2u);
    EXPECT_EQ(s.retried_requests, 6u);
    EXPECT_TRUE(s.failed_batch_sizes.empty()) << "the sizes ran; a request failed";
}

TEST(Fallback, FailureAtASizeThatRanBeforeIsRetriedAndTheSizeIsStillFormed) {
    CapturedLog log;
    auto b = std::make_unique<EchoBackend>();
    b->with_probe().throw_on_run(5);  // runs 1-3 are the probes (2, 3, 4), run 5 the second real batch
    EchoBackend* raw = b.get();
    BatchExecutor ex(std::move(b), full_batches_only(4), log.sink());
    std::vector<std::future<Result>> futures;
    for (int i = 0; i < 12; ++i) futures.push_back(ex.submit(item(static_cast<float>(i))));
    for (int i = 0; i < 12; ++i)
        EXPECT_FLOAT_EQ(first_value(futures[static_cast<std::size_t>(i)].get()), 2.f * static_cast<float>(i) + 1.f);
    EXPECT_EQ(raw->batch_sizes(), (std::vector<int64_t>{2, 3, 4, 4, 4, 2, 2, 4}));
    const ExecutorStats s = ex.stats();
    EXPECT_EQ(s.failed, 0u);
    EXPECT_EQ(s.retried_batches, 1u);
    EXPECT_TRUE(s.failed_batch_sizes.empty());
    EXPECT_TRUE(log.at(LogLevel::warning).empty());
}

TEST(Fallback, ModelWithoutBatchAxisRunsEachRequestAsGiven) {
    CapturedLog log;
    auto b = std::make_unique<EchoBackend>(BatchKind{});
    BatchExecutor ex(std::move(b), BatchPolicy{}, log.sink());
    EXPECT_EQ(log.count_containing("no batch axis"), 1);
    Tensor t(ElementType::float32, {3, 2});  // no batch axis: the model's own shape
    for (float& v : t.values<float>()) v = 1.f;
    Result r = ex.submit(std::vector<Tensor>{t}).get();
    EXPECT_EQ(r.outputs[0].shape(), (Shape{3, 2}));  // whole, not item 0
    EXPECT_EQ(r.outputs[1].shape(), (Shape{3}));
}
