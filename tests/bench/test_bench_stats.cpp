// Percentiles, memory reading and window stability: the arithmetic behind every bench figure.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include "tiledet/bench/memory.hpp"
#include "tiledet/bench/percentiles.hpp"
#include "tiledet/bench/windows.hpp"

using namespace tiledet::bench;

TEST(Percentiles, NearestRankOfOneToHundredIsTheRankItself) {
    std::vector<double> v;
    for (int i = 100; i >= 1; --i) v.push_back(i);  // unsorted on purpose
    const Percentiles p = summarize(v);
    EXPECT_EQ(p.count, 100u);
    EXPECT_DOUBLE_EQ(p.p50, 50);
    EXPECT_DOUBLE_EQ(p.p90, 90);
    EXPECT_DOUBLE_EQ(p.p99, 99);
    EXPECT_DOUBLE_EQ(p.mean, 50.5);
    EXPECT_DOUBLE_EQ(p.min, 1);
    EXPECT_DOUBLE_EQ(p.max, 100);
}

TEST(Percentiles, SmallSamplesReportMeasuredValuesInOrder) {
    const std::vector<double> v = {7, 3, 5};
    const Percentiles p = summarize(v);
    EXPECT_DOUBLE_EQ(p.p50, 5);   // rank ceil(1.5) = 2
    EXPECT_DOUBLE_EQ(p.p90, 7);
    EXPECT_DOUBLE_EQ(p.p99, 7);
    EXPECT_LE(p.p50, p.p90);
    EXPECT_LE(p.p90, p.p99);
}

TEST(Percentiles, EmptyInputGivesZeroCount) {
    const Percentiles p = summarize(std::vector<double>{});
    EXPECT_EQ(p.count, 0u);
    EXPECT_EQ(p.p99, 0);
}

TEST(Memory, ParsesRssAndPeakFromProcStatus) {
    const MemorySample m = parse_proc_status("Name:\tx\nVmPeak:\t 999 kB\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\n");
    EXPECT_EQ(m.rss_kb, 1024);
    EXPECT_EQ(m.hwm_kb, 2048);
    EXPECT_FALSE(parse_proc_status("Name:\tx\n").known());
}

TEST(Memory, ThisProcessHasResidentMemoryBelowItsPeak) {
    const MemorySample m = read_process_memory();
    if (!m.known()) GTEST_SKIP() << "no /proc/self/status here";
    EXPECT_GT(m.rss_kb, 0);
    EXPECT_GE(m.hwm_kb, m.rss_kb);
}

namespace {
WindowStats win(double rps, double lat, std::size_t n = 10) {
    WindowStats w;
    w.requests = n;
    w.requests_per_s = rps;
    w.mean_latency_ms = lat;
    w.seconds = 1;
    return w;
}
}  // namespace

TEST(Stability, ThreeWindowsWithinTenPercentAgree) {
    const std::vector<WindowStats> w = {win(50, 9), win(100, 10), win(105, 10.5), win(96, 9.8)};
    EXPECT_TRUE(windows_agree(w, 3, 0.10));
}

TEST(Stability, OneWindowOffByMoreThanTenPercentDisagrees) {
    EXPECT_FALSE(windows_agree(std::vector<WindowStats>{win(100, 10), win(100, 10), win(125, 10)}, 3, 0.10));
    // Throughput steady but latency drifting also disagrees (perf_analyzer checks both).
    EXPECT_FALSE(windows_agree(std::vector<WindowStats>{win(100, 10), win(100, 10), win(100, 13)}, 3, 0.10));
}

TEST(Stability, TooFewOrEmptyWindowsNeverAgree) {
    EXPECT_FALSE(windows_agree(std::vector<WindowStats>{win(100, 10), win(100, 10)}, 3, 0.10));
    EXPECT_FALSE(windows_agree(std::vector<WindowStats>{win(0, 0, 0), win(0, 0, 0), win(0, 0, 0)}, 3, 0.10));
}

TEST(WindowedRun, CountWindowsHoldTheRequestedCountsAndReportTheLastThree) {
    WindowOptions o;
    o.requests = 5;
    o.max_windows = 4;
    o.stability = 10.0;  // anything agrees: stops after the third window
    o.warmup = std::chrono::milliseconds(0);
    auto step = [](int) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        Completion c;
        c.latency_ms = 0.2;
        c.tiles.resize(2);
        return c;
    };
    const WindowedRun run = run_windows(2, step, o);
    ASSERT_TRUE(run.error.empty()) << run.error;
    EXPECT_TRUE(run.stable);
    ASSERT_EQ(run.windows.size(), 3u);
    EXPECT_EQ(run.reported_windows, 3);
    std::size_t requests = 0;
    double seconds = 0;
    for (const WindowStats& w : run.windows) {
        EXPECT_GE(w.requests, 5u);
        EXPECT_EQ(w.tiles, 2 * w.requests);
        requests += w.requests;
        seconds += w.seconds;
    }
    EXPECT_EQ(run.measured.size(), requests);
    EXPECT_DOUBLE_EQ(run.measured_seconds, seconds);
    EXPECT_TRUE(run.after_warmup.known() == run.at_end.known());
}

TEST(WindowedRun, StopsAtMaxWindowsAndSaysNotStableWhenWindowsDisagree) {
    WindowOptions o;
    o.requests = 3;
    o.max_windows = 4;
    o.stability = 0.0;  // nothing real agrees exactly
    o.warmup = std::chrono::milliseconds(0);
    std::atomic<int> n{0};
    auto step = [&n](int) {
        std::this_thread::sleep_for(std::chrono::microseconds(100 * (1 + n++ % 7)));
        Completion c;
        c.latency_ms = n % 5;
        return c;
    };
    const WindowedRun run = run_windows(1, step, o);
    EXPECT_FALSE(run.stable);
    EXPECT_EQ(run.windows.size(), 4u);
    EXPECT_EQ(run.reported_windows, 3);
}

TEST(WindowedRun, AFailingRequestStopsTheRunAndIsReported) {
    WindowOptions o;
    o.duration = std::chrono::milliseconds(50);
    o.warmup = std::chrono::milliseconds(0);
    std::atomic<int> n{0};
    auto step = [&n](int) -> Completion {
        if (++n > 3) throw std::runtime_error("model exploded");
        return Completion{};
    };
    const WindowedRun run = run_windows(2, step, o);
    EXPECT_EQ(run.error, "model exploded");
    EXPECT_FALSE(run.stable);
}
