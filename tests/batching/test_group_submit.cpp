// Group submit: requests handed in together (the tiles of one image) enter the queue at once and
// share a batch whenever they fit in one; a larger group is cut into full batches.
#include <gtest/gtest.h>

#include <set>

#include "fake_backends.hpp"

using namespace tiledet;
using namespace tiledet::testing;

namespace {

std::vector<Request> group_of(std::initializer_list<float> values) {
    std::vector<Request> g;
    for (float v : values) g.push_back(Request{item(v), std::nullopt, 7, {}});
    return g;
}

}  // namespace

TEST(GroupSubmit, EachRequestGetsItsOwnOutputsInOrder) {
    BatchExecutor ex(std::make_unique<EchoBackend>(), full_batches_only(3));
    auto futures = ex.submit(group_of({1.f, 2.f, 3.f}));
    ASSERT_EQ(futures.size(), 3u);
    for (int i = 0; i < 3; ++i) {
        Result r = futures[static_cast<std::size_t>(i)].get();
        EXPECT_FLOAT_EQ(first_value(r), 2.f * static_cast<float>(i + 1) + 1.f);
        EXPECT_EQ(r.tag, 7u);
        EXPECT_EQ(r.batch_size, 3);
    }
}

TEST(GroupSubmit, GroupThatFitsIsNotSplitByARequestQueuedBeforeIt) {
    auto b = std::make_unique<EchoBackend>();
    EchoBackend* raw = b.get();
    BatchPolicy policy = full_batches_only(2);
    BatchExecutor ex(std::move(b), policy);
    auto lone = ex.submit(item(9.f));
    auto group = ex.submit(group_of({1.f, 2.f}));  // 3 queued: a full batch of 2 would take 9 and 1
    const Result a = group[0].get(), c = group[1].get();
    EXPECT_EQ(a.batch_id, c.batch_id);
    EXPECT_EQ(a.batch_size, 2);
    EXPECT_EQ(lone.get().batch_size, 1);  // went alone, at shutdown or with the next company
    ex.shutdown();
    EXPECT_EQ(raw->batch_sizes(), (std::vector<int64_t>{1, 2}));
}

TEST(GroupSubmit, GroupLargerThanTheMaxBatchIsCutIntoFullBatches) {
    auto b = std::make_unique<EchoBackend>();
    EchoBackend* raw = b.get();
    BatchPolicy policy;
    policy.max_batch_size = 2;
    policy.max_queue_delay = std::chrono::milliseconds(1);
    BatchExecutor ex(std::move(b), policy);
    auto futures = ex.submit(group_of({0.f, 1.f, 2.f, 3.f, 4.f}));
    for (int i = 0; i < 5; ++i)
        EXPECT_FLOAT_EQ(first_value(futures[static_cast<std::size_t>(i)].get()), 2.f * static_cast<float>(i) + 1.f);
    EXPECT_EQ(raw->batch_sizes(), (std::vector<int64_t>{2, 2, 1}));
}

TEST(GroupSubmit, TwoTileGroupsAlwaysFormOneBatchWhenPreparingThemTakesLongerThanTheQueueDelay) {
    // The old per-item submit let the first item's batch leave before the second was ready.
    auto b = std::make_unique<EchoBackend>();
    b->sleep_for(std::chrono::milliseconds(2));
    EchoBackend* raw = b.get();
    BatchPolicy policy;
    policy.max_queue_delay = std::chrono::microseconds(200);
    BatchExecutor ex(std::move(b), policy);
    for (int run = 0; run < 200; ++run) {
        std::vector<Request> g;
        for (int t = 0; t < 2; ++t) {
            const auto ready = std::chrono::steady_clock::now() + std::chrono::microseconds(400);
            while (std::chrono::steady_clock::now() < ready) {
            }  // "preprocessing" slower than the queue delay
            g.push_back(Request{item(static_cast<float>(t)), std::nullopt, 0, {}});
        }
        auto futures = ex.submit(std::move(g));
        const Result r0 = futures[0].get(), r1 = futures[1].get();
        ASSERT_EQ(r0.batch_id, r1.batch_id) << "run " << run;
        ASSERT_EQ(r0.batch_size, 2) << "run " << run;
    }
    EXPECT_EQ(raw->batch_sizes(), (std::vector<int64_t>(200, 2)));
}

TEST(GroupSubmit, AnUnbatchableRequestRefusesTheWholeGroupAndQueuesNone) {
    BatchExecutor ex(std::make_unique<EchoBackend>(), full_batches_only(4));
    std::vector<Request> g = group_of({1.f, 2.f});
    g.push_back(Request{{Tensor(ElementType::float32, {2, 4})}, std::nullopt, 0, {}});
    try {
        ex.submit(std::move(g));
        ADD_FAILURE() << "a request with leading dim 2 should be refused";
    } catch (const ShapeError& e) {
        EXPECT_NE(std::string(e.what()).find("request 2 of the group input 0 has shape"), std::string::npos)
            << e.what();
    }
    EXPECT_EQ(ex.stats().submitted, 0u);
}

TEST(GroupSubmit, GroupLargerThanTheQueueCapacityEntersInPiecesAndAllComplete) {
    BatchPolicy policy;
    policy.max_batch_size = 2;
    policy.queue_capacity = 3;
    policy.max_queue_delay = std::chrono::milliseconds(1);
    BatchExecutor ex(std::make_unique<EchoBackend>(), policy);
    std::vector<Request> g;
    for (int i = 0; i < 10; ++i) g.push_back(Request{item(static_cast<float>(i)), std::nullopt, 0, {}});
    auto futures = ex.submit(std::move(g));
    for (int i = 0; i < 10; ++i)
        EXPECT_FLOAT_EQ(first_value(futures[static_cast<std::size_t>(i)].get()), 2.f * static_cast<float>(i) + 1.f);
    EXPECT_EQ(ex.stats().completed, 10u);
}

TEST(GroupSubmit, RejectingFullQueueFailsTheWholeGroupWithQueueFull) {
    auto b = std::make_unique<EchoBackend>();
    b->blocking();
    EchoBackend* raw = b.get();
    BatchPolicy policy = full_batches_only(1);
    policy.queue_capacity = 2;
    policy.when_full = FullQueue::reject;
    BatchExecutor ex(std::move(b), policy);
    auto running = ex.submit(item(0.f));
    ASSERT_TRUE(raw->wait_entered(1));
    auto one = ex.submit(item(1.f));               // queued: 1 of 2
    auto group = ex.submit(group_of({2.f, 3.f}));  // would make 3 of 2
    for (auto& f : group) EXPECT_THROW(f.get(), QueueFull);
    raw->release();
    EXPECT_FLOAT_EQ(first_value(one.get()), 3.f);
    EXPECT_EQ(ex.stats().rejected, 2u);
}

TEST(GroupSubmit, GroupThatCanNeverFitARejectingQueueSaysSoWithTheCapacityToUse) {
    BatchPolicy policy;
    policy.queue_capacity = 4;
    policy.when_full = FullQueue::reject;
    BatchExecutor ex(std::make_unique<EchoBackend>(), policy);
    std::vector<Request> g;
    for (int i = 0; i < 15; ++i) g.push_back(Request{item(static_cast<float>(i)), std::nullopt, 0, {}});
    auto futures = ex.submit(std::move(g));
    ASSERT_EQ(futures.size(), 15u);
    for (auto& f : futures) {
        try {
            f.get();
            ADD_FAILURE() << "expected QueueFull";
        } catch (const QueueFull& e) {
            EXPECT_NE(std::string(e.what()).find("a group of 15 requests (say, an image's tiles) can never fit a queue "
                                                 "of capacity 4 under FullQueue::reject; raise "
                                                 "BatchPolicy::queue_capacity to at least 15"),
                      std::string::npos)
                << e.what();
        }
    }
    EXPECT_EQ(ex.stats().rejected, 15u);
    EXPECT_EQ(ex.stats().submitted, 0u);
}
