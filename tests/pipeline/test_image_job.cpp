// The image job: each submitted image completes by itself, exactly once, through its callback or
// future; deadlines, cancel and a failed tile end it early; destroying the Pipeline with images
// in flight is safe (run under ASan and TSan in CI).
#include <gtest/gtest.h>

#include "future_errors.hpp"

#include <map>
#include <mutex>
#include <semaphore>
#include <thread>

#include "bright_box.hpp"
#include "tiledet/batching/errors.hpp"
#include "tiledet/error.hpp"
#include "tiledet/pipeline/pipeline.hpp"

using namespace tiledet;
using namespace tiledet::testing_bright_box;
using namespace std::chrono_literals;

using tiledet::testing::fails_with;

namespace {

// BrightBoxBackend that runs a batch only when the test hands it a permit, and fails every batch
// holding an item whose top-left input pixel is blue (RGB channel 2 bright, red dark).
class PermitBackend : public BrightBoxBackend {
public:
    explicit PermitBackend(std::counting_semaphore<1000>& permits) : permits_(permits) {}
    std::vector<Tensor> run(const std::vector<Tensor>& in) override {
        ++entered;
        permits_.acquire();
        const int64_t plane = int64_t{kSize} * kSize;
        for (int64_t i = 0; i < in[0].dim(0); ++i) {
            const float* item = in[0].data<float>() + i * 3 * plane;
            if (item[2 * plane] > 0.5f && item[0] < 0.5f) throw RuntimeFailure("planted failure: a blue marker pixel");
        }
        return BrightBoxBackend::run(in);
    }
    std::atomic<int> entered{0};

private:
    std::counting_semaphore<1000>& permits_;
};

struct Gated {
    std::counting_semaphore<1000> permits{0};
    PermitBackend* backend = nullptr;
    std::unique_ptr<Pipeline> pipeline;

    explicit Gated(PipelineOptions o) {
        auto b = std::make_unique<PermitBackend>(permits);
        backend = b.get();
        std::vector<std::unique_ptr<Backend>> v;
        v.push_back(std::move(b));
        pipeline = std::make_unique<Pipeline>(std::move(v), yolo_signature(), std::move(o));
    }
    ~Gated() { permits.release(500); }  // whatever still waits may run, so the pipeline can go
    // Until the worker sits inside run() for the n-th time.
    void wait_entered(int n) const {
        for (int i = 0; i < 2000 && backend->entered.load() < n; ++i) std::this_thread::sleep_for(1ms);
        ASSERT_GE(backend->entered.load(), n) << "the worker never reached run()";
    }
};

PipelineOptions one_at_a_time() {
    PipelineOptions o;
    o.tile_mode = TileMode::fixed;
    o.tiles.overlap_ratio_w = o.tiles.overlap_ratio_h = 0.0;  // 640 tiles, no overlap
    o.batching.max_batch_size = 1;
    o.batching.max_queue_delay = 0us;
    o.batching.probe_dynamic_batch = false;
    // Every tile of these images is cut at submit, so all of them are queued at once (the
    // windowed feed, where later tiles are cut as earlier ones return, has its own tests in
    // test_windowed_feed.cpp).
    o.max_tiles_in_flight = 16;
    o.log = [](LogLevel, std::string_view) {};
    return o;
}

}  // namespace

TEST(ImageJob, CallbackFiresExactlyOncePerImageFromManyThreads) {
    PipelineOptions o = one_at_a_time();
    o.batching.max_batch_size = 4;
    o.batching.max_queue_delay = 2ms;
    Pipeline p(one_backend(1ms), yolo_signature(), o);
    std::mutex mu;
    std::map<std::string, int> calls;
    std::map<std::string, std::size_t> detections;
    constexpr int kThreads = 4, kImages = 8;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < kImages; ++i) {
                SubmitOptions so;
                so.label = std::to_string(t) + "/" + std::to_string(i);
                std::vector<cv::Rect> objs;
                for (int k = 0; k <= (t + i) % 3; ++k) objs.push_back({20 + 200 * k, 100, 50, 50});  // inside tile 0: no seam
                p.submit(scene(1280, 640, objs), so, [&](ImageResult&& r, std::exception_ptr e) {
                    std::lock_guard lk(mu);
                    ++calls[r.source];
                    detections[r.source] = e ? 999 : r.detections.size();
                });
            }
        });
    for (auto& th : threads) th.join();
    p.shutdown();  // returns once every callback has returned
    std::lock_guard lk(mu);
    ASSERT_EQ(calls.size(), static_cast<std::size_t>(kThreads * kImages));
    for (int t = 0; t < kThreads; ++t)
        for (int i = 0; i < kImages; ++i) {
            const std::string label = std::to_string(t) + "/" + std::to_string(i);
            EXPECT_EQ(calls[label], 1) << label;
            EXPECT_EQ(detections[label], static_cast<std::size_t>(1 + (t + i) % 3)) << label;
        }
}

TEST(ImageJob, FutureIsRealSoAnEventLoopCanPollIt) {
    Gated g(one_at_a_time());
    std::future<ImageResult> f = g.pipeline->submit(scene(640, 640, {{10, 10, 50, 50}}), "poll");
    g.wait_entered(1);
    EXPECT_EQ(f.wait_for(0ms), std::future_status::timeout) << "a deferred future would say 'deferred'";
    g.permits.release();
    ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
    EXPECT_EQ(f.get().detections.size(), 1u);
}

TEST(ImageJob, DeadlineDropsAQueuedImage) {
    Gated g(one_at_a_time());
    auto first = g.pipeline->submit(scene(640, 640, {{10, 10, 50, 50}}), "first");
    g.wait_entered(1);
    SubmitOptions late;
    late.label = "stale frame";
    late.deadline = Clock::now() + 20ms;
    auto stale = g.pipeline->submit(scene(640, 640, {{10, 10, 50, 50}}), late);
    std::this_thread::sleep_for(60ms);
    g.permits.release(10);
    EXPECT_EQ(first.get().detections.size(), 1u);
    EXPECT_TRUE(fails_with<DeadlineExpired>(stale));
    EXPECT_EQ(g.backend->entered.load(), 1) << "the expired image must not have run";
}

TEST(ImageJob, CancelDropsTheImagesQueuedTilesWithoutRunningThem) {
    Gated g(one_at_a_time());
    auto first = g.pipeline->submit(scene(640, 640, {{10, 10, 50, 50}}), "first");
    g.wait_entered(1);
    std::exception_ptr error;
    std::atomic<int> calls{0};
    SubmitOptions so;
    so.label = "three tiles";
    ImageJob job = g.pipeline->submit(scene(1920, 640, {{10, 10, 50, 50}}), so, [&](ImageResult&&, std::exception_ptr e) {
        error = e;
        ++calls;
    });
    EXPECT_FALSE(job.done());
    EXPECT_TRUE(job.cancel());
    // All three tiles were still queued: the image ends now, while the worker is still blocked.
    ASSERT_TRUE(job.wait_for(5s));
    EXPECT_EQ(calls.load(), 1);
    ASSERT_TRUE(error);
    EXPECT_THROW(std::rethrow_exception(error), Cancelled);
    EXPECT_FALSE(job.cancel()) << "an ended image cannot be cancelled again";
    g.permits.release(10);
    EXPECT_EQ(first.get().detections.size(), 1u);
    EXPECT_EQ(g.backend->entered.load(), 1);
    EXPECT_EQ(g.pipeline->executor().stats().cancelled, 3u);
}

TEST(ImageJob, AFailedTileCancelsTheImagesOtherQueuedTiles) {
    Gated g(one_at_a_time());
    cv::Mat img = scene(2560, 640, {{700, 100, 50, 50}});  // four tiles; tile 0 carries the marker
    img.at<cv::Vec3b>(0, 0) = cv::Vec3b(255, 0, 0);         // BGR blue
    auto f = g.pipeline->submit(img, "marked");
    g.wait_entered(1);
    g.permits.release();  // tile 0 runs and fails
    // The failure drops the image's queued tiles. The worker may have taken tile 1 before the
    // cancel came (it then waits for a permit): tiles 2 and 3, at least, never run.
    for (int i = 0; i < 2000 && g.pipeline->executor().stats().cancelled < 2; ++i) std::this_thread::sleep_for(1ms);
    const std::uint64_t cancelled = g.pipeline->executor().stats().cancelled;
    EXPECT_GE(cancelled, 2u);
    g.permits.release(10);
    EXPECT_TRUE(fails_with<RuntimeFailure>(f));
    EXPECT_LE(g.backend->entered.load(), 2);
    EXPECT_EQ(g.backend->entered.load() + static_cast<int>(g.pipeline->executor().stats().cancelled), 4)
        << "every tile either ran or was cancelled";
    // The next image is unaffected.
    EXPECT_EQ(g.pipeline->detect(scene(640, 640, {{10, 10, 50, 50}}), "next").detections.size(), 1u);
}

TEST(ImageJob, DestroyingThePipelineWithImagesInFlightEndsEachOnceAndSafely) {
    std::vector<std::future<ImageResult>> futures;
    std::vector<ImageJob> jobs;
    std::atomic<int> calls{0}, cancelled{0};
    {
        Gated g(one_at_a_time());
        for (int i = 0; i < 6; ++i) futures.push_back(g.pipeline->submit(scene(1280, 640, {{10, 10, 50, 50}})));
        for (int i = 0; i < 6; ++i)
            jobs.push_back(g.pipeline->submit(scene(640, 640, {{10, 10, 50, 50}}), SubmitOptions{},
                                              [&](ImageResult&&, std::exception_ptr e) {
                                                  ++calls;
                                                  if (e) ++cancelled;
                                              }));
        g.wait_entered(1);
        std::thread release([&] {
            std::this_thread::sleep_for(30ms);
            g.permits.release(500);
        });
        g.pipeline.reset();  // blocks on the running batch, cancels the queued ones
        release.join();
    }
    EXPECT_EQ(calls.load(), 6);
    EXPECT_EQ(cancelled.load(), 6);
    int ok = 0, dropped = 0;
    for (auto& f : futures) {
        ASSERT_EQ(f.wait_for(0ms), std::future_status::ready);
        try {
            f.get();
            ++ok;
        } catch (const Cancelled&) {
            ++dropped;
        }
    }
    EXPECT_EQ(dropped, 6) << "the first image's tile ran, but its second tile was cancelled";
    EXPECT_EQ(ok, 0);
    for (ImageJob& j : jobs) {
        EXPECT_TRUE(j.done());
        EXPECT_FALSE(j.cancel()) << "a handle outliving its Pipeline must be harmless";
    }
}

TEST(ImageJob, PerImageDecodeAndTilingOverridesApplyToThatImageOnly) {
    PipelineOptions o = one_at_a_time();
    o.batching.max_batch_size = 4;
    Pipeline p(one_backend(), yolo_signature(), o);
    const cv::Mat img = scene(1280, 640, {{100, 100, 50, 50}});  // scores about 0.63
    SubmitOptions strict;
    strict.decode = p.options().decode;
    strict.decode->conf = 0.9f;
    strict.tile_mode = TileMode::none;
    const ImageResult r = p.submit(img, strict).get();
    EXPECT_TRUE(r.detections.empty());
    EXPECT_EQ(r.tiles.size(), 1u);
    const ImageResult d = p.detect(img, "defaults");
    EXPECT_EQ(d.detections.size(), 1u);
    EXPECT_EQ(d.tiles.size(), 2u);
}

TEST(ImageJob, ABadTilingOverrideIsAnOptionErrorForThatImageOnly) {
    Pipeline p(one_backend(), yolo_signature(), one_at_a_time());
    SubmitOptions bad;
    bad.label = "bad.jpg";
    bad.tile_mode = TileMode::fixed;
    bad.tiles = TileSpec{};
    bad.tiles->tile_w = bad.tiles->tile_h = 100;
    bad.tiles->overlap_px_w = bad.tiles->overlap_px_h = 150;
    try {
        p.submit(scene(1280, 640, {}), bad);
        ADD_FAILURE() << "expected an OptionError";
    } catch (const OptionError& e) {
        EXPECT_EQ(e.option(), "tiles.overlap_px_w");
        EXPECT_NE(std::string(e.what()).find("bad.jpg"), std::string::npos) << e.what();
    }
    EXPECT_EQ(p.detect(scene(640, 640, {{10, 10, 20, 20}}), "fine").detections.size(), 1u);
}

TEST(ImageJob, ABadDecodeOverrideIsAnOptionErrorNamingTheField) {
    Pipeline p(one_backend(), yolo_signature(), one_at_a_time());
    SubmitOptions bad;
    bad.label = "request 7";
    bad.decode = DecodeOptions{};
    bad.decode->conf = 5.f;
    try {
        p.submit(scene(640, 640, {}), bad);
        ADD_FAILURE() << "expected an OptionError";
    } catch (const OptionError& e) {
        EXPECT_EQ(e.option(), "decode.conf");
        EXPECT_EQ(std::string(e.what()), "request 7: decode.conf: expected a value in [0, 1], got 5.000000");
    }
    PipelineOptions o = one_at_a_time();
    o.decode.max_det = -1;
    EXPECT_THROW(Pipeline(one_backend(), yolo_signature(), o), OptionError);
}

TEST(ImageJob, SubmitAfterShutdownEndsTheImageWithShutDown) {
    Pipeline p(one_backend(), yolo_signature(), one_at_a_time());
    p.shutdown();
    auto f = p.submit(scene(640, 640, {{10, 10, 20, 20}}), "late");
    ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
    EXPECT_TRUE(fails_with<ShutDown>(f));
}
