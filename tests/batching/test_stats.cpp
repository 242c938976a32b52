// What the executor reports: per-request timings, per-batch records, the summary and the log
// lines in the original pipeline's words, through the sink the user sets.
#include <gtest/gtest.h>

#include <regex>

#include "fake_backends.hpp"

using namespace tiledet;
using namespace tiledet::testing;

TEST(Stats, CountsBatchSizesAndRequestOutcomes) {
    BatchExecutor ex(std::make_unique<EchoBackend>(), full_batches_only(4));
    std::vector<std::future<Result>> futures;
    for (int i = 0; i < 8; ++i) futures.push_back(ex.submit(item(static_cast<float>(i))));
    for (auto& f : futures) f.get();
    ex.shutdown();
    const ExecutorStats s = ex.stats();
    EXPECT_EQ(s.submitted, 8u);
    EXPECT_EQ(s.completed, 8u);
    EXPECT_EQ(s.batches, 2u);
    EXPECT_DOUBLE_EQ(s.mean_batch_size, 4.0);
    ASSERT_EQ(s.batch_size_histogram.size(), 5u);
    EXPECT_EQ(s.batch_size_histogram[4], 2u);
    EXPECT_EQ(s.queue.samples, 8u);
    EXPECT_EQ(s.end_to_end.samples, 8u);
    EXPECT_LE(s.queue.p50_ms, s.queue.p99_ms);
    EXPECT_LE(s.compute.p50_ms, s.end_to_end.p99_ms);
    EXPECT_EQ(s.max_batch_size, 4);
    EXPECT_EQ(s.device, "CPU");
}

TEST(Stats, RequestTimingsAreOrdered) {
    BatchExecutor ex(std::make_unique<EchoBackend>(), full_batches_only(2));
    auto a = ex.submit(item(1.f));
    auto b = ex.submit(item(2.f));
    for (Result r : {a.get(), b.get()}) {
        const RequestTimings& t = r.timings;
        EXPECT_LE(t.enqueued, t.batch_started);
        EXPECT_LE(t.batch_started, t.batch_finished);
        EXPECT_LE(t.batch_finished, t.completed);
        EXPECT_EQ(t.queue() + t.compute() + (t.completed - t.batch_finished), t.end_to_end());
    }
}

TEST(Stats, PercentilesAreNearestRankOverTheSamples) {
    // Batches of one whose compute time grows: 1..10 ms of sleep.
    struct Slower : EchoBackend {
        int n = 0;
        std::vector<Tensor> run(const std::vector<Tensor>& in) override {
            std::this_thread::sleep_for(std::chrono::milliseconds(++n));
            return EchoBackend::run(in);
        }
    };
    BatchPolicy policy;
    policy.max_batch_size = 1;
    BatchExecutor ex(std::make_unique<Slower>(), policy);
    for (int i = 0; i < 10; ++i) ex.submit(item(1.f)).get();
    const ExecutorStats s = ex.stats();
    EXPECT_EQ(s.compute.samples, 10u);
    // Sleeps last at least as asked: p50 is the 5th (>= 5 ms), p90 the 9th, p99 the 10th.
    EXPECT_GE(s.compute.p50_ms, 5.0);
    EXPECT_GE(s.compute.p90_ms, 9.0);
    EXPECT_GE(s.compute.p99_ms, 10.0);
    EXPECT_LT(s.compute.p50_ms, s.compute.p99_ms);
}

TEST(Logging, VerboseLogsOneLinePerBatchInTheOriginalWords) {
    CapturedLog log;
    BatchPolicy policy = full_batches_only(2);
    policy.verbose = true;
    {
        BatchExecutor ex(std::make_unique<EchoBackend>(), policy, log.sink());
        auto a = ex.submit(item(1.f));
        auto b = ex.submit(item(2.f));
        a.get();
        b.get();
    }
    const auto lines = log.at(LogLevel::verbose);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_TRUE(std::regex_match(
        lines[0],
        std::regex(R"(CPU Batch Execution: 2 images in 1 batch \(2\) in \d+\.\d ms \(\d+\.\d FPS per image\))")))
        << lines[0];
    // The summary at shutdown starts with the same line over everything.
    const auto info = log.at(LogLevel::info);
    ASSERT_EQ(info.size(), 1u);
    EXPECT_EQ(info[0].rfind("CPU Batch Execution: 2 images in 1 batch (2) in ", 0), 0u) << info[0];
    EXPECT_NE(info[0].find("batch sizes: 2x1"), std::string::npos) << info[0];
}

TEST(Logging, QuietByDefault) {
    CapturedLog log;
    {
        BatchExecutor ex(std::make_unique<EchoBackend>(), full_batches_only(1), log.sink());
        ex.submit(item(1.f)).get();
    }
    EXPECT_TRUE(log.lines.empty());
}

TEST(Logging, DeviceNameComesFromTheBackend) {
    struct Cuda : EchoBackend {
        std::string device() const override { return "CUDA"; }
    };
    CapturedLog log;
    BatchPolicy policy = full_batches_only(1);
    policy.verbose = true;
    BatchExecutor ex(std::make_unique<Cuda>(), policy, log.sink());
    ex.submit(item(1.f)).get();
    EXPECT_EQ(log.count_containing("CUDA Batch Execution: 1 image in 1 batch (1) in "), 1);
    EXPECT_NE(ex.summary().find("CUDA Batch Execution: 1 image in 1 batch (1) in "), std::string::npos);
}
