// Every accepted request ends in exactly one way: outputs, the model's error, deadline expired,
// cancelled; a full queue rejects or blocks; shutdown drains; many producers each get their own.
#include <gtest/gtest.h>

#include "future_errors.hpp"

#include <thread>

#include "fake_backends.hpp"

using namespace tiledet;
using namespace tiledet::testing;
using namespace std::chrono_literals;

using tiledet::testing::fails_with;

namespace {

// An executor whose only instance is held inside run() by a first request, so what is
// submitted next stays queued until release().
struct HeldExecutor {
    EchoBackend* backend;
    BatchExecutor executor;
    std::future<Result> holder;

    explicit HeldExecutor(BatchPolicy policy) : HeldExecutor(std::make_unique<EchoBackend>(), std::move(policy)) {}
    HeldExecutor(std::unique_ptr<EchoBackend> b, BatchPolicy policy)
        : backend(&b->blocking()), executor(std::move(b), std::move(policy)) {
        holder = executor.submit(item(-1.f));
        EXPECT_TRUE(backend->wait_entered(1));
    }
};

}  // namespace

TEST(Deadline, RequestWhoseDeadlinePassesInTheQueueExpiresAndOthersStillRun) {
    BatchPolicy policy;
    policy.max_batch_size = 1;
    HeldExecutor h(policy);
    const auto deadline = ExecutorClock::now() + 30ms;
    auto doomed = h.executor.submit(Request{item(1.f), deadline, 7, {}});
    auto patient = h.executor.submit(item(2.f));
    std::this_thread::sleep_until(deadline + 5ms);  // past the deadline while the instance is busy
    h.backend->release();
    EXPECT_TRUE(fails_with<DeadlineExpired>(doomed));
    EXPECT_FLOAT_EQ(first_value(patient.get()), 5.f);
    EXPECT_EQ(h.executor.stats().expired, 1u);
}

TEST(Shutdown, PartialBatchWaitingForTheDelayRunsAtShutdown) {
    BatchExecutor ex(std::make_unique<EchoBackend>(), full_batches_only(4));
    auto a = ex.submit(item(1.f));
    auto b = ex.submit(item(2.f));
    ex.shutdown();  // does not wait the hour
    EXPECT_EQ(a.get().batch_size, 2);
    EXPECT_EQ(b.get().batch_size, 2);
}

TEST(Deadline, DeadlineAlreadyPassedAtSubmitExpiresAtOnce) {
    BatchExecutor ex(std::make_unique<EchoBackend>(), full_batches_only(4));
    auto f = ex.submit(Request{item(1.f), ExecutorClock::now() - 1ms, 0, {}});
    EXPECT_TRUE(fails_with<DeadlineExpired>(f));
}

TEST(Deadline, PolicyDefaultDeadlineExpiresQueuedRequestsWithoutWaitingForTheBatchDelay) {
    BatchPolicy policy = full_batches_only(8);  // the batch would wait an hour for company
    policy.default_deadline = 20ms;
    BatchExecutor ex(std::make_unique<EchoBackend>(), policy);
    auto f = ex.submit(item(1.f));
    EXPECT_TRUE(fails_with<DeadlineExpired>(f));  // a worker woke for the deadline
}

TEST(QueueCapacity, FullQueueRejectsWithQueueFullNamingTheCapacity) {
    BatchPolicy policy;
    policy.max_batch_size = 1;
    policy.queue_capacity = 2;
    policy.when_full = FullQueue::reject;
    HeldExecutor h(policy);
    auto a = h.executor.submit(item(1.f));
    auto b = h.executor.submit(item(2.f));
    auto c = h.executor.submit(item(3.f));
    try {
        c.get();
        ADD_FAILURE() << "a third queued request should be rejected";
    } catch (const QueueFull& e) {
        EXPECT_NE(std::string(e.what()).find("capacity 2"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("queue_capacity"), std::string::npos) << e.what();
    }
    h.backend->release();
    EXPECT_FLOAT_EQ(first_value(a.get()), 3.f);
    EXPECT_FLOAT_EQ(first_value(b.get()), 5.f);
    EXPECT_EQ(h.executor.stats().rejected, 1u);
}

TEST(QueueCapacity, FullQueueBlocksTheSubmitterUntilThereIsRoom) {
    BatchPolicy policy;
    policy.max_batch_size = 1;
    policy.queue_capacity = 1;
    policy.when_full = FullQueue::block;
    HeldExecutor h(policy);
    auto a = h.executor.submit(item(1.f));
    std::atomic<bool> returned{false};
    std::future<Result> b;
    std::thread producer([&] {
        b = h.executor.submit(item(2.f));
        returned = true;
    });
    std::this_thread::sleep_for(50ms);
    EXPECT_FALSE(returned.load());  // still waiting for room: the queue holds `a`
    h.backend->release();
    producer.join();
    EXPECT_TRUE(returned.load());
    EXPECT_FLOAT_EQ(first_value(a.get()), 3.f);
    EXPECT_FLOAT_EQ(first_value(b.get()), 5.f);
}

TEST(QueueCapacity, BlockedSubmitterGetsShutDownWhenTheExecutorStops) {
    BatchPolicy policy;
    policy.max_batch_size = 1;
    policy.queue_capacity = 1;
    HeldExecutor h(policy);
    auto a = h.executor.submit(item(1.f));
    std::future<Result> b;
    std::thread producer([&] { b = h.executor.submit(item(2.f)); });
    std::this_thread::sleep_for(20ms);
    std::thread stopper([&] { h.executor.shutdown(); });
    std::this_thread::sleep_for(20ms);
    h.backend->release();
    producer.join();
    stopper.join();
    EXPECT_FLOAT_EQ(first_value(a.get()), 3.f);  // accepted before shutdown: completes
    // Either it found room before the shutdown or it was refused; it never hangs or vanishes.
    try {
        EXPECT_FLOAT_EQ(first_value(b.get()), 5.f);
    } catch (const ShutDown&) {
    }
}

TEST(Shutdown, DrainsRequestsInFlightAndQueued) {
    BatchPolicy policy;
    policy.max_batch_size = 2;
    policy.max_queue_delay = 0us;
    HeldExecutor h(policy);
    std::vector<std::future<Result>> futures;
    for (int i = 0; i < 9; ++i) futures.push_back(h.executor.submit(item(static_cast<float>(i))));
    std::thread stopper([&] { h.executor.shutdown(); });
    std::this_thread::sleep_for(10ms);
    h.backend->release();
    stopper.join();
    EXPECT_FLOAT_EQ(first_value(h.holder.get()), -1.f);
    for (int i = 0; i < 9; ++i)
        EXPECT_FLOAT_EQ(first_value(futures[static_cast<std::size_t>(i)].get()), 2.f * static_cast<float>(i) + 1.f);
    auto late = h.executor.submit(item(1.f));
    EXPECT_TRUE(fails_with<ShutDown>(late));
    const ExecutorStats s = h.executor.stats();
    EXPECT_EQ(s.completed, 10u);
    EXPECT_EQ(s.shut_down, 1u);
}

TEST(Shutdown, CancelPendingResolvesQueuedRequestsAsCancelledAndFinishesTheRunningBatch) {
    BatchPolicy policy;
    policy.max_batch_size = 2;
    policy.max_queue_delay = 0us;
    HeldExecutor h(policy);
    std::vector<std::future<Result>> futures;
    for (int i = 0; i < 5; ++i) futures.push_back(h.executor.submit(item(static_cast<float>(i))));
    std::thread stopper([&] { h.executor.shutdown(/*cancel_pending=*/true); });
    std::this_thread::sleep_for(20ms);
    h.backend->release();
    stopper.join();
    EXPECT_FLOAT_EQ(first_value(h.holder.get()), -1.f);
    // The held run may have finished before or after the cancel: each request ended one way.
    int cancelled = 0, done = 0;
    for (auto& f : futures) {
        try {
            f.get();
            ++done;
        } catch (const Cancelled&) {
            ++cancelled;
        }
    }
    EXPECT_EQ(cancelled + done, 5);
    EXPECT_GT(cancelled, 0);
    EXPECT_EQ(h.executor.stats().cancelled, static_cast<std::uint64_t>(cancelled));
}

TEST(Cancel, CancelByTagRemovesOnlyThatTagsQueuedRequests) {
    BatchPolicy policy;
    policy.max_batch_size = 1;
    HeldExecutor h(policy);
    auto a = h.executor.submit(Request{item(1.f), {}, 1, {}});
    auto b = h.executor.submit(Request{item(2.f), {}, 2, {}});
    auto c = h.executor.submit(Request{item(3.f), {}, 1, {}});
    EXPECT_EQ(h.executor.cancel(1), 2u);
    h.backend->release();
    EXPECT_TRUE(fails_with<Cancelled>(a));
    EXPECT_TRUE(fails_with<Cancelled>(c));
    Result rb = b.get();
    EXPECT_EQ(rb.tag, 2u);
    EXPECT_FLOAT_EQ(first_value(rb), 5.f);
}

TEST(Producers, ManyThreadsEachGetTheirOwnResults) {
    constexpr int kThreads = 16, kPerThread = 500;
    std::vector<std::unique_ptr<Backend>> backends;
    backends.push_back(std::make_unique<EchoBackend>());
    backends.push_back(std::make_unique<EchoBackend>());
    BatchPolicy policy;
    policy.max_batch_size = 8;
    policy.max_queue_delay = 200us;
    policy.queue_capacity = 64;  // small: producers block sometimes
    BatchExecutor ex(std::move(backends), policy);
    std::atomic<int> wrong{0}, ok{0};
    std::vector<std::thread> producers;
    for (int t = 0; t < kThreads; ++t)
        producers.emplace_back([&, t] {
            std::vector<std::future<Result>> mine;
            mine.reserve(kPerThread);
            for (int i = 0; i < kPerThread; ++i) {
                const auto tag = static_cast<std::uint64_t>(t * kPerThread + i);
                mine.push_back(ex.submit(Request{item(static_cast<float>(tag)), {}, tag, {}}));
            }
            for (int i = 0; i < kPerThread; ++i) {
                const auto tag = static_cast<std::uint64_t>(t * kPerThread + i);
                Result r = mine[static_cast<std::size_t>(i)].get();
                const bool right = r.tag == tag && first_value(r) == 2.f * static_cast<float>(tag) + 1.f &&
                                   r.outputs[1].values<float>()[0] == 4.f * static_cast<float>(tag);
                (right ? ok : wrong).fetch_add(1);
            }
        });
    for (auto& p : producers) p.join();
    EXPECT_EQ(wrong.load(), 0);
    EXPECT_EQ(ok.load(), kThreads * kPerThread);
    const ExecutorStats s = ex.stats();
    EXPECT_EQ(s.completed, static_cast<std::uint64_t>(kThreads * kPerThread));
    EXPECT_EQ(s.submitted, s.completed);
}
