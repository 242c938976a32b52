// How batches form: by size, by preferred size, by the oldest request's delay, never mixing
// shapes; and that each request gets its own item back.
#include <gtest/gtest.h>

#include <map>

#include "fake_backends.hpp"

using namespace tiledet;
using namespace tiledet::testing;

TEST(BatchFormation, FullBatchesGoAtOnceWithoutWaitingForTheDelay) {
    auto b = std::make_unique<EchoBackend>();
    EchoBackend* raw = b.get();
    BatchExecutor ex(std::move(b), full_batches_only(4));
    std::vector<std::future<Result>> futures;
    for (int i = 0; i < 8; ++i) futures.push_back(ex.submit(item(static_cast<float>(i))));
    for (int i = 0; i < 8; ++i) {
        Result r = futures[static_cast<std::size_t>(i)].get();  // would hang for an hour if size did not trigger
        EXPECT_EQ(r.batch_size, 4);
        EXPECT_FLOAT_EQ(first_value(r), 2.f * static_cast<float>(i) + 1.f);
    }
    EXPECT_EQ(raw->batch_sizes(), (std::vector<int64_t>{4, 4}));
}

TEST(BatchFormation, PartialBatchGoesWhenTheOldestRequestHasWaitedTheMaxQueueDelay) {
    auto b = std::make_unique<EchoBackend>();
    EchoBackend* raw = b.get();
    BatchPolicy policy;
    policy.max_batch_size = 8;
    policy.max_queue_delay = std::chrono::milliseconds(300);
    BatchExecutor ex(std::move(b), policy);
    std::vector<std::future<Result>> futures;
    for (int i = 0; i < 3; ++i) futures.push_back(ex.submit(item(static_cast<float>(i))));
    std::vector<Result> results;
    for (auto& f : futures) results.push_back(f.get());
    // The three went together, and not before the oldest had waited the delay.
    EXPECT_EQ(raw->batch_sizes(), (std::vector<int64_t>{3}));
    const auto oldest = results[0].timings.enqueued;
    for (const Result& r : results) {
        EXPECT_EQ(r.batch_size, 3);
        EXPECT_EQ(r.batch_id, results[0].batch_id);
        EXPECT_GE(r.timings.batch_started - oldest, policy.max_queue_delay);
    }
}

TEST(BatchFormation, PreferredBatchSizeGoesAtOnce) {
    auto b = std::make_unique<EchoBackend>();
    EchoBackend* raw = b.get();
    BatchPolicy policy = full_batches_only(8);
    policy.preferred_batch_sizes = {3};
    BatchExecutor ex(std::move(b), policy);
    std::vector<std::future<Result>> futures;
    for (int i = 0; i < 6; ++i) futures.push_back(ex.submit(item(static_cast<float>(i))));
    for (auto& f : futures) EXPECT_EQ(f.get().batch_size, 3);
    EXPECT_EQ(raw->batch_sizes(), (std::vector<int64_t>{3, 3}));
}

TEST(BatchFormation, ZeroDelaySendsWhatIsQueuedAsSoonAsAnInstanceIsFree) {
    auto b = std::make_unique<EchoBackend>();
    b->blocking();
    EchoBackend* raw = b.get();
    BatchPolicy policy;
    policy.max_batch_size = 8;
    policy.max_queue_delay = std::chrono::microseconds(0);
    BatchExecutor ex(std::move(b), policy);
    auto first = ex.submit(item(0.f));
    ASSERT_TRUE(raw->wait_entered(1));  // the only instance is busy with a batch of 1
    std::vector<std::future<Result>> rest;
    for (int i = 1; i <= 5; ++i) rest.push_back(ex.submit(item(static_cast<float>(i))));
    raw->release();
    EXPECT_EQ(first.get().batch_size, 1);
    for (auto& f : rest) EXPECT_EQ(f.get().batch_size, 5);  // all that queued meanwhile, in one batch
}

TEST(BatchFormation, InputsOfDifferentShapesNeverShareABatch) {
    auto b = std::make_unique<EchoBackend>();
    EchoBackend* raw = b.get();
    BatchExecutor ex(std::move(b), full_batches_only(4));
    std::vector<std::future<Result>> futures;
    std::vector<int64_t> widths;
    for (int i = 0; i < 16; ++i) {
        const int64_t w = (i % 2) ? 4 : 6;
        widths.push_back(w);
        futures.push_back(ex.submit(item(static_cast<float>(i), w)));
    }
    for (int i = 0; i < 16; ++i) {
        Result r = futures[static_cast<std::size_t>(i)].get();
        EXPECT_EQ(r.outputs[0].shape(), (Shape{1, widths[static_cast<std::size_t>(i)]}));
        EXPECT_FLOAT_EQ(first_value(r), 2.f * static_cast<float>(i) + 1.f);
        EXPECT_EQ(r.batch_size, 4);
    }
    for (const Shape& s : raw->shapes()) EXPECT_EQ(s[0], 4);  // 4 batches of 4, each of one width
    EXPECT_EQ(raw->runs(), 4);
}

TEST(BatchFormation, DifferentElementTypesNeverShareABatch) {
    auto b = std::make_unique<EchoBackend>();
    EchoBackend* raw = b.get();
    BatchExecutor ex(std::move(b), full_batches_only(2));
    auto f1 = ex.submit(item(1.f));
    std::vector<Tensor> other = item(2.f);
    other.push_back(Tensor(ElementType::int64, {1, 2}));  // a second input changes the key too
    auto f2 = ex.submit(other);
    auto f3 = ex.submit(item(3.f));
    auto f4 = ex.submit(other);
    EXPECT_EQ(f1.get().batch_id, f3.get().batch_id);
    EXPECT_EQ(f2.get().batch_id, f4.get().batch_id);
    EXPECT_EQ(raw->batch_sizes(), (std::vector<int64_t>{2, 2}));
}

TEST(BatchFormation, OutputsAreZeroCopyViewsWithLeadingDimOne) {
    BatchExecutor ex(std::make_unique<EchoBackend>(), full_batches_only(2));
    auto f1 = ex.submit(item(1.f));
    auto f2 = ex.submit(item(5.f));
    Result a = f1.get(), b = f2.get();
    ASSERT_EQ(a.outputs.size(), 2u);
    EXPECT_EQ(a.outputs[0].shape(), (Shape{1, 4}));
    EXPECT_EQ(a.outputs[1].shape(), (Shape{1}));
    EXPECT_FLOAT_EQ(a.outputs[1].values<float>()[0], 4.f);
    EXPECT_FLOAT_EQ(b.outputs[1].values<float>()[0], 20.f);
    // Both items live in one batch output: b's bytes follow a's.
    EXPECT_EQ(b.outputs[0].bytes(), a.outputs[0].bytes() + 4 * sizeof(float));
}

TEST(BatchFormation, RequestThatIsNotOneItemIsRefusedAtSubmit) {
    BatchExecutor ex(std::make_unique<EchoBackend>(), BatchPolicy{});
    EXPECT_THROW(ex.submit(std::vector<Tensor>{Tensor(ElementType::float32, {2, 4})}), ShapeError);
    EXPECT_THROW(ex.submit(std::vector<Tensor>{}), ShapeError);
}

TEST(BatchFormation, InstancesRunBatchesConcurrently) {
    // Each run waits until two runs are inside the model at once: only concurrent instances
    // get both requests through.
    struct Rendezvous : EchoBackend {
        std::shared_ptr<std::atomic<int>> inside;
        explicit Rendezvous(std::shared_ptr<std::atomic<int>> c) : inside(std::move(c)) {}
        std::vector<Tensor> run(const std::vector<Tensor>& in) override {
            inside->fetch_add(1);
            const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
            while (inside->load() < 2 && std::chrono::steady_clock::now() < until)
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            if (inside->load() < 2) throw RuntimeFailure("the other instance never ran");
            return EchoBackend::run(in);
        }
    };
    auto inside = std::make_shared<std::atomic<int>>(0);
    std::vector<std::unique_ptr<Backend>> backends;
    backends.push_back(std::make_unique<Rendezvous>(inside));
    backends.push_back(std::make_unique<Rendezvous>(inside));
    BatchPolicy policy;
    policy.max_batch_size = 1;
    BatchExecutor ex(std::move(backends), policy);
    EXPECT_EQ(ex.instances(), 2u);
    auto f1 = ex.submit(item(1.f));
    auto f2 = ex.submit(item(2.f));
    EXPECT_FLOAT_EQ(first_value(f1.get()), 3.f);
    EXPECT_FLOAT_EQ(first_value(f2.get()), 5.f);
}
