// A model that declares a dynamic batch but fails at some sizes (a Reshape that divides a
// constant by the batch): no request fails, the sizes are learned and avoided, one warning.
#include <gtest/gtest.h>

#include "fake_backends.hpp"

using namespace tiledet;
using namespace tiledet::testing;

namespace {

const std::string kSizeWarning = "failed at batch ";

// Submits groups of 1..8 requests, one group at a time, and checks every output against the
// echo model's batch-1 answer.
void expect_every_group_of_one_to_eight_gets_its_outputs(BatchExecutor& ex) {
    for (int n = 1; n <= 8; ++n) {
        std::vector<Request> g;
        for (int i = 0; i < n; ++i) g.push_back(Request{item(static_cast<float>(10 * n + i)), std::nullopt, 0, {}});
        auto futures = ex.submit(std::move(g));
        for (int i = 0; i < n; ++i) {
            const Result r = futures[static_cast<std::size_t>(i)].get();
            EXPECT_FLOAT_EQ(first_value(r), 2.f * static_cast<float>(10 * n + i) + 1.f) << "group " << n;
            EXPECT_FLOAT_EQ(r.outputs.at(1).values<float>()[0], 4.f * static_cast<float>(10 * n + i));
        }
    }
}

BatchPolicy prompt_batches(int max_batch) {
    BatchPolicy p;
    p.max_batch_size = max_batch;
    p.max_queue_delay = std::chrono::milliseconds(1);
    return p;
}

}  // namespace

TEST(FailingSizes, EveryRequestGetsItsOutputsAndFailedSizesAreLearnedWithOneWarning) {
    CapturedLog log;
    auto b = std::make_unique<EchoBackend>();
    b->fail_at_sizes({3, 6, 7});  // no probe item: found on real batches
    EchoBackend* raw = b.get();
    BatchExecutor ex(std::move(b), prompt_batches(8), log.sink());
    expect_every_group_of_one_to_eight_gets_its_outputs(ex);
    EXPECT_FALSE(ex.sequential());
    ExecutorStats s = ex.stats();
    EXPECT_EQ(s.failed, 0u);
    EXPECT_EQ(s.completed, 36u);
    EXPECT_EQ(s.failed_batch_sizes, (std::vector<int>{3, 6, 7}));
    EXPECT_EQ(s.retried_batches, 3u);  // 3, 6 and 7 once each; 6's halves of 3 were not run again
    EXPECT_EQ(s.retried_requests, 16u);
    const auto warnings = log.at(LogLevel::warning);
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_NE(warnings[0].find("failed at batch 3 (fake model: Reshape cannot take batch 3)"), std::string::npos)
        << warnings[0];
    EXPECT_NE(warnings[0].find("tiledet batchify"), std::string::npos);
    EXPECT_NE(ex.summary().find("sizes the model failed at, no longer formed: 3 6 7"), std::string::npos)
        << ex.summary();

    // Once learned, those sizes are never formed again.
    const std::size_t before = raw->batch_sizes().size();
    expect_every_group_of_one_to_eight_gets_its_outputs(ex);
    const auto sizes = raw->batch_sizes();
    for (std::size_t i = before; i < sizes.size(); ++i) {
        EXPECT_NE(sizes[i], 3);
        EXPECT_NE(sizes[i], 6);
        EXPECT_NE(sizes[i], 7);
    }
    s = ex.stats();
    EXPECT_EQ(s.retried_batches, 3u);
    EXPECT_EQ(log.at(LogLevel::warning).size(), 1u);
}

TEST(FailingSizes, ProbeFindsAnOddSizeAtWarmUpAndItIsNeverRun) {
    CapturedLog log;
    auto b = std::make_unique<EchoBackend>();
    b->fail_at_sizes({3}).with_probe();
    EchoBackend* raw = b.get();
    BatchExecutor ex(std::move(b), prompt_batches(8), log.sink());
    EXPECT_EQ(raw->batch_sizes(), (std::vector<int64_t>{2, 3, 8}));  // the probes
    EXPECT_EQ(ex.stats().failed_batch_sizes, (std::vector<int>{3}));
    ASSERT_EQ(log.at(LogLevel::warning).size(), 1u);
    auto futures = ex.submit(std::vector<Request>{
        Request{item(1.f), std::nullopt, 0, {}}, Request{item(2.f), std::nullopt, 0, {}}, Request{item(3.f), std::nullopt, 0, {}}});
    for (int i = 0; i < 3; ++i)
        EXPECT_FLOAT_EQ(first_value(futures[static_cast<std::size_t>(i)].get()), 2.f * static_cast<float>(i + 1) + 1.f);
    EXPECT_EQ(raw->batch_sizes(), (std::vector<int64_t>{2, 3, 8, 2, 1}));
    EXPECT_EQ(ex.stats().retried_batches, 0u);
    EXPECT_EQ(log.at(LogLevel::warning).size(), 1u);
}

TEST(FailingSizes, ProbeSizesCanBeSkipped) {
    auto b = std::make_unique<EchoBackend>();
    b->with_probe();
    EchoBackend* raw = b.get();
    BatchPolicy policy = prompt_batches(8);
    policy.probe_batch_sizes = {2};
    BatchExecutor ex(std::move(b), policy);
    EXPECT_EQ(raw->batch_sizes(), (std::vector<int64_t>{2}));
}

TEST(FailingSizes, RetriedRequestsRunInSmallerBatchesAndSayWhichBatchTheyRanIn) {
    auto b = std::make_unique<EchoBackend>();
    b->with_probe().fail_at_sizes({7});
    EchoBackend* raw = b.get();
    BatchPolicy policy = prompt_batches(8);
    policy.probe_batch_sizes = {2};
    BatchExecutor ex(std::move(b), policy);
    std::vector<Request> g;
    for (int i = 0; i < 7; ++i) g.push_back(Request{item(static_cast<float>(i)), std::nullopt, 0, {}});
    auto futures = ex.submit(std::move(g));
    std::vector<Result> results;
    for (auto& f : futures) results.push_back(f.get());
    EXPECT_EQ(raw->batch_sizes(), (std::vector<int64_t>{2, 7, 4, 3}));  // halves: 4 + 3
    for (int i = 0; i < 7; ++i) EXPECT_EQ(results[static_cast<std::size_t>(i)].batch_size, i < 4 ? 4 : 3);
    EXPECT_EQ(results[0].batch_id, results[3].batch_id);
    EXPECT_NE(results[3].batch_id, results[4].batch_id);
    EXPECT_EQ(ex.stats().failed_batch_sizes, (std::vector<int>{7}));
}
