// The windowed feed: an image with more tiles than PipelineOptions::max_tiles_in_flight is cut
// a group (one batch) at a time as earlier tiles come back, from an ImageSource read by region.
// Results, ordering and errors must be those of the all-at-once path; reads must stop at the
// window while the executor is busy.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <mutex>
#include <semaphore>
#include <set>
#include <thread>

#include "bright_box.hpp"
#include "future_errors.hpp"
#include "tiledet/batching/errors.hpp"
#include "tiledet/error.hpp"
#include "tiledet/pipeline/pipeline.hpp"

using namespace tiledet;
using namespace tiledet::testing_bright_box;
using namespace std::chrono_literals;
using tiledet::testing::fails_with;

namespace {

// Gives regions of an in-memory scene and counts reads; regions listed in `empty` hold no data;
// the read numbered `fail_at` (1-based) throws.
class CountingSource : public ImageSource {
public:
    explicit CountingSource(cv::Mat image) : image_(std::move(image)) {}
    int width() const override { return image_.cols; }
    int height() const override { return image_.rows; }
    cv::Mat read(const cv::Rect& r) override {
        const int n = ++reads;
        if (n == fail_at) throw InputError("planted read failure at region " + std::to_string(r.x));
        if (empty.count(r.x)) return {};
        return image_(r).clone();
    }
    std::atomic<int> reads{0};
    int fail_at = 0;
    std::set<int> empty;  // tiles (by x) whose region holds no data

private:
    cv::Mat image_;
};

class PermitBackend : public BrightBoxBackend {
public:
    explicit PermitBackend(std::counting_semaphore<1000>& permits) : permits_(permits) {}
    std::vector<Tensor> run(const std::vector<Tensor>& in) override {
        ++entered;
        permits_.acquire();
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
    ~Gated() { permits.release(500); }
};

// 640 tiles without overlap, batches of 2, window of 4 tiles.
PipelineOptions windowed() {
    PipelineOptions o;
    o.tile_mode = TileMode::fixed;
    o.tiles.overlap_ratio_w = o.tiles.overlap_ratio_h = 0.0;
    o.batching.max_batch_size = 2;
    o.batching.max_queue_delay = 50ms;  // a group of 2 goes at once; a lone tile would wait
    o.batching.probe_dynamic_batch = false;
    o.max_tiles_in_flight = 4;
    o.log = [](LogLevel, std::string_view) {};
    return o;
}

// One 50x50 object per tile, at x = 640 k + 100.
cv::Mat row_of_tiles(int tiles) {
    std::vector<cv::Rect> objs;
    for (int k = 0; k < tiles; ++k) objs.push_back({640 * k + 100, 200, 50, 50});
    return scene(640 * tiles, 640, objs);
}

void wait_until(const std::function<bool()>& ok) {
    for (int i = 0; i < 3000 && !ok(); ++i) std::this_thread::sleep_for(1ms);
}

}  // namespace

TEST(WindowedFeed, ReadsStopAtTheWindowWhileTheExecutorIsBusyAndResumeAsTilesReturn) {
    Gated g(windowed());
    auto src = std::make_shared<CountingSource>(row_of_tiles(10));
    SubmitOptions so;
    so.label = "ten tiles";
    auto f = g.pipeline->submit(src, so);
    wait_until([&] { return g.backend->entered.load() >= 1; });
    std::this_thread::sleep_for(50ms);  // time for the feeder to overrun the window, if it would
    EXPECT_EQ(src->reads.load(), 4) << "only the window (two groups of 2) is read while the first batch is held";
    g.permits.release(100);
    const ImageResult r = f.get();
    EXPECT_EQ(src->reads.load(), 10);
    ASSERT_EQ(r.detections.size(), 10u);
    std::set<int> xs;
    for (const Detection& d : r.detections) xs.insert(static_cast<int>(std::lround(d.box.x1)));
    for (int k = 0; k < 10; ++k) EXPECT_TRUE(xs.count(640 * k + 100)) << "object of tile " << k;
}

TEST(WindowedFeed, AWindowedImageGivesTheSameDetectionsAsOneCutAllAtOnce) {
    // Seams included: 20 % overlap, objects straddling tile borders.
    PipelineOptions small = windowed();
    small.tiles.overlap_ratio_w = small.tiles.overlap_ratio_h = 0.2;
    small.batching.max_queue_delay = 0us;
    PipelineOptions whole = small;
    whole.max_tiles_in_flight = 1000;
    const cv::Mat img = scene(3000, 1500, {{580, 100, 120, 100}, {1100, 300, 150, 120}, {2400, 1000, 300, 90}, {50, 50, 50, 50}});
    Pipeline a(one_backend(), yolo_signature(), small), b(one_backend(), yolo_signature(), whole);
    const ImageResult ra = a.detect(img, "windowed"), rb = b.detect(img, "whole");
    ASSERT_GT(ra.tiles.size(), a.tiles_in_flight()) << "the image must be fed through the window";
    ASSERT_EQ(ra.detections.size(), 4u);
    ASSERT_EQ(ra.detections.size(), rb.detections.size());
    for (std::size_t i = 0; i < ra.detections.size(); ++i) {
        EXPECT_FLOAT_EQ(ra.detections[i].box.x1, rb.detections[i].box.x1);
        EXPECT_FLOAT_EQ(ra.detections[i].box.y2, rb.detections[i].box.y2);
        EXPECT_FLOAT_EQ(ra.detections[i].score, rb.detections[i].score);
    }
}

TEST(WindowedFeed, TilesOfAWindowedImageRunInWholeBatches) {
    Pipeline p(one_backend(), yolo_signature(), windowed());
    const ImageResult r = p.detect(row_of_tiles(9), "nine");
    ASSERT_EQ(r.tiles.size(), 9u);
    std::map<std::uint64_t, int> per_batch;
    for (const TileReport& t : r.tiles) ++per_batch[t.batch_id];
    int partial = 0;
    for (const auto& [id, count] : per_batch) partial += count < 2;
    EXPECT_EQ(per_batch.size(), 5u) << "9 tiles in groups of 2: four batches of 2 and one of 1";
    EXPECT_EQ(partial, 1);
}

TEST(WindowedFeed, TilesWhoseRegionHoldsNoDataAreNotRun) {
    std::vector<std::unique_ptr<Backend>> v;
    auto b = std::make_unique<BrightBoxBackend>();
    BrightBoxBackend* backend = b.get();
    v.push_back(std::move(b));
    PipelineOptions o = windowed();
    o.batching.max_batch_size = 1;
    o.batching.max_queue_delay = 0us;
    Pipeline p(std::move(v), yolo_signature(), o);
    auto src = std::make_shared<CountingSource>(row_of_tiles(6));
    src->empty = {640, 1920, 2560};  // tiles 1, 3 and 4
    SubmitOptions so;
    const ImageResult r = p.submit(src, so).get();
    ASSERT_EQ(r.tiles.size(), 6u);
    for (int k = 0; k < 6; ++k) EXPECT_EQ(r.tiles[k].skipped, src->empty.count(640 * k) == 1) << "tile " << k;
    EXPECT_EQ(backend->runs.load(), 3) << "only the three tiles with data run";
    ASSERT_EQ(r.detections.size(), 3u);
    std::set<int> xs;
    for (const Detection& d : r.detections) xs.insert(static_cast<int>(std::lround(d.box.x1)));
    EXPECT_EQ(xs, (std::set<int>{100, 1380, 3300}));
}

TEST(WindowedFeed, AReadErrorEndsTheImageWithThatErrorAndNoFurtherRegionIsRead) {
    PipelineOptions o = windowed();
    o.batching.max_queue_delay = 0us;
    Pipeline p(one_backend(), yolo_signature(), o);
    auto src = std::make_shared<CountingSource>(row_of_tiles(12));
    src->fail_at = 7;  // in the fourth group, after the first window came back
    SubmitOptions so;
    so.label = "broken raster";
    auto f = p.submit(src, so);
    try {
        f.get();
        FAIL() << "expected the planted read failure";
    } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("planted read failure at region 3840"), std::string::npos) << e.what();
    }
    p.shutdown();
    EXPECT_LE(src->reads.load(), 8) << "the failed group's other region at most, then nothing";
}

TEST(WindowedFeed, CancelEndsAWindowedImageAndStopsItsReads) {
    Gated g(windowed());
    auto src = std::make_shared<CountingSource>(row_of_tiles(20));
    std::atomic<int> calls{0};
    std::exception_ptr error;
    SubmitOptions so;
    ImageJob job = g.pipeline->submit(src, so, [&](ImageResult&&, std::exception_ptr e) {
        error = e;
        ++calls;
    });
    wait_until([&] { return g.backend->entered.load() >= 1; });
    EXPECT_TRUE(job.cancel());
    g.permits.release(100);
    ASSERT_TRUE(job.wait_for(5s));
    EXPECT_EQ(calls.load(), 1);
    ASSERT_TRUE(error);
    EXPECT_THROW(std::rethrow_exception(error), Cancelled);
    EXPECT_LE(src->reads.load(), 6) << "the window, and at most one group cut as the held batch returned";
}

TEST(WindowedFeed, DestroyingThePipelineEndsAWindowedImageExactlyOnce) {
    std::atomic<int> calls{0};
    std::atomic<bool> failed{false};
    {
        Gated g(windowed());
        auto src = std::make_shared<CountingSource>(row_of_tiles(30));
        SubmitOptions so;
        g.pipeline->submit(src, so, [&](ImageResult&&, std::exception_ptr e) {
            failed = e != nullptr;
            ++calls;
        });
        wait_until([&] { return g.backend->entered.load() >= 1; });
        g.permits.release(3);
        std::this_thread::sleep_for(20ms);
        // Gated's destructor releases the worker while the pipeline is destroyed.
        g.permits.release(500);
        g.pipeline.reset();
        EXPECT_EQ(calls.load(), 1);
    }
    EXPECT_EQ(calls.load(), 1);
    EXPECT_TRUE(failed.load()) << "30 tiles cannot all have run: the image ends cancelled or shut down";
}

TEST(WindowedFeed, ShutdownLetsAWindowedImageCutAndRunAllItsTiles) {
    PipelineOptions o = windowed();
    o.batching.max_queue_delay = 0us;
    Pipeline p(one_backend(1ms), yolo_signature(), o);
    std::atomic<std::size_t> found{0};
    std::atomic<bool> failed{false};
    p.submit(row_of_tiles(15), SubmitOptions{}, [&](ImageResult&& r, std::exception_ptr e) {
        failed = e != nullptr;
        found = r.detections.size();
    });
    p.shutdown();
    EXPECT_FALSE(failed.load());
    EXPECT_EQ(found.load(), 15u);
}

TEST(WindowedFeed, AnImageSourceWithoutASizeIsRefused) {
    Pipeline p(one_backend(), yolo_signature(), windowed());
    auto src = std::make_shared<CountingSource>(cv::Mat());
    EXPECT_THROW(p.submit(src, SubmitOptions{}, [](ImageResult&&, std::exception_ptr) {}), InputError);
}

TEST(WindowedFeed, AnImageInMemoryHasItsFirstWindowQueuedWhenSubmitReturnsAndNoMore) {
    Gated g(windowed());
    // 10 tiles, window 4: submit() cuts and queues the first two groups on the calling thread.
    auto f = g.pipeline->submit(row_of_tiles(10), "in memory");
    EXPECT_EQ(g.pipeline->executor().stats().submitted, 4u);
    wait_until([&] { return g.backend->entered.load() >= 1; });
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(g.pipeline->executor().stats().submitted, 4u) << "nothing more is cut while the first batch is held";
    g.permits.release(100);
    EXPECT_EQ(f.get().detections.size(), 10u);
    EXPECT_EQ(g.pipeline->executor().stats().submitted, 10u);
}

TEST(WindowedFeed, APhotoFedThroughTheWindowMayBeReleasedByTheCallerAtOnce) {
    Pipeline p(one_backend(), yolo_signature(), windowed());
    std::future<ImageResult> f;
    {
        cv::Mat img = row_of_tiles(12);
        f = p.submit(img, "released");
    }  // the caller's Mat is gone; the pipeline holds the pixels until the last tile is cut
    EXPECT_EQ(f.get().detections.size(), 12u);
    // A Mat over a caller's buffer (no reference count) is copied: overwriting the buffer after
    // submit() does not change the result.
    cv::Mat owned = row_of_tiles(12);
    std::vector<std::uint8_t> buffer(owned.total() * 3);
    cv::Mat view(owned.rows, owned.cols, CV_8UC3, buffer.data());
    owned.copyTo(view);
    auto g = p.submit(view, "caller buffer");
    std::fill(buffer.begin(), buffer.end(), std::uint8_t{0});
    EXPECT_EQ(g.get().detections.size(), 12u);
}

TEST(WindowedFeed, ShutdownAfterManyWindowedImagesWaitedForOneByOneReturns) {
    // The bench's closed loop: submit, wait, repeat; then shutdown() must not wait for an image
    // that already ended.
    PipelineOptions o = windowed();
    o.max_tiles_in_flight = 0;  // two batches of 2: 4 tiles
    o.batching.max_queue_delay = 0us;
    Pipeline p(one_backend(), yolo_signature(), o);
    ASSERT_EQ(p.tiles_in_flight(), 4u);
    // 6 tiles: the caller cuts the first window (two groups); the first group's completions can
    // wake the feeder, which cuts the last group, before submit() hands the image to the feeder.
    // That image must still count as fed (it once did not, and shutdown() waited forever).
    const cv::Mat img = row_of_tiles(6);
    for (int i = 0; i < 100; ++i) EXPECT_EQ(p.submit(img, "loop").get().detections.size(), 6u);
    auto done = std::async(std::launch::async, [&] { p.shutdown(); });
    EXPECT_EQ(done.wait_for(10s), std::future_status::ready) << "shutdown() hangs";
}
