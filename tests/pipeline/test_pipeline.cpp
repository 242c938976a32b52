// The pipeline end to end with a fake YOLO-layout backend that "detects" bright rectangles in
// each tile's input tensor: boxes then depend on what each tile really sees, so objects cut by
// tile seams come back as partial boxes that the merge must join.
#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>
#include <set>
#include <thread>

#include "tiledet/pipeline/pipeline.hpp"
#include "tiledet/pipeline/report.hpp"
#include "bright_box.hpp"

using namespace tiledet;
using namespace tiledet::testing_bright_box;

namespace {

PipelineOptions tiled_options() {
    PipelineOptions o;
    o.tile_mode = TileMode::fixed;  // 640 tiles, SAHI's default overlap 0.2 -> step 512
    o.batching.probe_dynamic_batch = false;
    o.log = [](LogLevel, std::string_view) {};
    return o;
}

void expect_box(const Detection& d, const cv::Rect& r) {
    EXPECT_NEAR(d.box.x1, r.x, 1.5);
    EXPECT_NEAR(d.box.y1, r.y, 1.5);
    EXPECT_NEAR(d.box.x2, r.x + r.width, 1.5);
    EXPECT_NEAR(d.box.y2, r.y + r.height, 1.5);
}

}  // namespace

TEST(Pipeline, ObjectsStraddlingTileSeamsComeBackAsOneMergedBoxEach) {
    Pipeline p(one_backend(), yolo_signature(), tiled_options());
    // Tiles of 1600x640 at x = 0, 512, 960. A: cut by tile 0's right edge; B: cut by tile 1's;
    // C: wider than the overlap, seen in part by tiles 0 and 1; D: inside tile 0 only.
    const std::vector<cv::Rect> objects = {{580, 100, 120, 100}, {1100, 300, 150, 120}, {400, 450, 500, 100}, {50, 50, 50, 50}};
    const ImageResult r = p.detect(scene(1600, 640, objects), "seams");
    ASSERT_EQ(r.tiles.size(), 3u);
    EXPECT_EQ(r.tiles[1].tile.x, 512);
    EXPECT_EQ(r.tiles[2].tile.x, 960);
    ASSERT_EQ(r.detections.size(), objects.size());
    // Merged boxes are the true objects: match each by its left edge.
    for (const cv::Rect& obj : objects) {
        auto it = std::find_if(r.detections.begin(), r.detections.end(),
                               [&](const Detection& d) { return std::abs(d.box.x1 - obj.x) < 2 && std::abs(d.box.y1 - obj.y) < 2; });
        ASSERT_NE(it, r.detections.end()) << "no box for object at " << obj.x << "," << obj.y;
        expect_box(*it, obj);
    }
    std::size_t per_tile = 0;
    for (const auto& t : r.tiles) per_tile += t.detections;
    EXPECT_GT(per_tile, objects.size()) << "the seam objects must have been seen by two tiles each";
}

TEST(Pipeline, ImageNoLargerThanATileIsOneTile) {
    Pipeline p(one_backend(), yolo_signature(), tiled_options());
    const ImageResult r = p.detect(scene(300, 200, {{10, 20, 30, 40}}), "small");
    ASSERT_EQ(r.tiles.size(), 1u);
    ASSERT_EQ(r.detections.size(), 1u);
    // Letterboxed into 640: the box maps back to original pixels.
    expect_box(r.detections[0], {10, 20, 30, 40});
}

TEST(Pipeline, TilesForFollowsTheModeAndDefaultsToTheModelInputSize) {
    PipelineOptions o = tiled_options();
    o.tile_mode = TileMode::none;
    Pipeline whole(one_backend(), yolo_signature(), o);
    ASSERT_EQ(whole.tiles_for(4000, 3000).size(), 1u);
    EXPECT_EQ(whole.tiles_for(4000, 3000)[0].w, 4000);
    Pipeline tiled(one_backend(), yolo_signature(), tiled_options());
    const auto tiles = tiled.tiles_for(1280, 640);
    ASSERT_EQ(tiles.size(), 3u);  // step 512: x = 0, 512, 640 (shifted back inside)
    EXPECT_EQ(tiles[0].w, 640);
    EXPECT_EQ(tiles[2].x, 640);
    o.tile_mode = TileMode::fixed;
    o.tiles.add_full_image = true;
    Pipeline with_full(one_backend(), yolo_signature(), o);
    const auto t2 = with_full.tiles_for(1280, 640);
    ASSERT_EQ(t2.size(), 4u);
    EXPECT_TRUE(t2.back().full_image);
}

TEST(Pipeline, TilesOfImagesFromManyThreadsShareBatchesAndEachImageGetsItsOwnResult) {
    PipelineOptions o = tiled_options();
    o.batching.max_batch_size = 8;
    o.batching.max_queue_delay = std::chrono::milliseconds(40);
    Pipeline p(one_backend(std::chrono::milliseconds(15)), yolo_signature(), o);
    constexpr int kThreads = 4, kImagesPerThread = 3;
    std::vector<std::vector<ImageResult>> results(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            std::vector<std::future<ImageResult>> futures;
            for (int i = 0; i < kImagesPerThread; ++i) {
                // Image (t, i) holds 1 + (t + i) % 4 objects, one per 300 px, so a result handed
                // to the wrong image has the wrong count.
                std::vector<cv::Rect> objs;
                for (int k = 0; k < 1 + (t + i) % 4; ++k) objs.push_back({20 + 300 * k, 100 + 40 * t, 60, 60});
                futures.push_back(p.submit(scene(1280, 640, objs), std::to_string(t) + "/" + std::to_string(i)));
            }
            for (auto& f : futures) results[t].push_back(f.get());
        });
    }
    for (auto& th : threads) th.join();

    std::map<uint64_t, std::set<std::string>> images_per_batch;
    for (int t = 0; t < kThreads; ++t) {
        ASSERT_EQ(results[t].size(), static_cast<std::size_t>(kImagesPerThread));
        for (int i = 0; i < kImagesPerThread; ++i) {
            const ImageResult& r = results[t][i];
            EXPECT_EQ(r.source, std::to_string(t) + "/" + std::to_string(i)) << "results must come back in submission order";
            EXPECT_EQ(r.detections.size(), static_cast<std::size_t>(1 + (t + i) % 4)) << r.source;
            for (const Detection& d : r.detections) EXPECT_NEAR(d.box.y1, 100 + 40 * t, 1.5) << r.source;
            for (const TileReport& t : r.tiles) images_per_batch[t.batch_id].insert(r.source);
        }
    }
    std::size_t shared = 0;
    for (const auto& [batch, images] : images_per_batch) shared += images.size() > 1;
    EXPECT_GT(shared, 0u) << "no batch held tiles of more than one image";
    EXPECT_GT(p.executor().stats().mean_batch_size, 1.0);
}

TEST(Pipeline, TimingsAreConsistentPerTileAndPerImage) {
    Pipeline p(one_backend(std::chrono::milliseconds(5)), yolo_signature(), tiled_options());
    const ImageResult r = p.detect(scene(1280, 640, {{100, 100, 50, 50}}), "t");
    ASSERT_FALSE(r.tiles.empty());
    double pre = 0;
    for (const TileReport& t : r.tiles) {
        EXPECT_GE(t.inference_ms, 4.0);  // the backend sleeps 5 ms per batch
        EXPECT_GE(t.latency_ms + 1e-6, t.queue_ms + t.inference_ms);
        EXPECT_GE(t.batch_size, 1);
        pre += t.preprocess_ms;
    }
    EXPECT_NEAR(r.preprocess_ms, pre, 1e-9);
    EXPECT_GE(r.end_to_end_ms, r.tiles.back().latency_ms);
}

TEST(Pipeline, TwoTilesOfAnImageAlwaysShareOneBatchEvenWhenPreprocessingOutlastsTheQueueDelay) {
    // Preprocessing a 640 tile takes about a millisecond, ten times the queue delay: submitted
    // one at a time, the first tile's batch would often leave alone.
    PipelineOptions o = tiled_options();
    o.tiles.overlap_ratio_w = o.tiles.overlap_ratio_h = 0.0;  // 1280x640: exactly two tiles
    o.batching.max_queue_delay = std::chrono::microseconds(100);
    Pipeline p(one_backend(std::chrono::milliseconds(3)), yolo_signature(), o);
    const cv::Mat img = scene(1280, 640, {{100, 100, 50, 50}, {800, 300, 60, 40}});
    for (int run = 0; run < 300; ++run) {
        const ImageResult r = p.detect(img, "two tiles");
        ASSERT_EQ(r.tiles.size(), 2u);
        ASSERT_EQ(r.tiles.size(), 2u);
        ASSERT_EQ(r.tiles[0].batch_id, r.tiles[1].batch_id) << "run " << run;
        ASSERT_EQ(r.tiles[0].batch_size, 2) << "run " << run;
        // Tiles of one batch enter and leave the queue together: equal latencies.
        ASSERT_DOUBLE_EQ(r.tiles[0].latency_ms, r.tiles[1].latency_ms) << "run " << run;
    }
    const ExecutorStats s = p.executor().stats();
    EXPECT_EQ(s.batches, 300u);
    EXPECT_EQ(s.batch_size_histogram.at(2), 300u);
}

TEST(Pipeline, ExecutionLineSaysHowManyBatchesTheTilesRanIn) {
    ImageResult r;
    r.tiles.resize(3);
    r.tiles[0].batch_id = r.tiles[1].batch_id = 4;
    r.tiles[2].batch_id = 5;
    r.tiles[2].sequential = true;
    EXPECT_EQ(execution_line("CPU", {r}, 100.0),
              "CPU Batch Execution: 3 tiles in 2 batches (2+1) in 100.0 ms (30.0 FPS per tile)");
    r.tiles.resize(2);
    r.tiles[1].batch_id = 4;
    EXPECT_EQ(execution_line("CPU", {r}, 50.0),
              "CPU Batch Execution: 2 tiles in 1 batch (2) in 50.0 ms (40.0 FPS per tile)");
    r.tiles[0].sequential = r.tiles[1].sequential = true;
    r.tiles[1].batch_id = 6;
    EXPECT_EQ(execution_line("CPU", {r}, 50.0),
              "CPU Sequential Execution: 2 tiles in 2 batches (1+1) in 50.0 ms (40.0 FPS per tile)");
}

TEST(Pipeline, ExecutionLineOfOneImageSaysWhenItsBatchesAlsoHeldOtherImagesTiles) {
    ImageResult r;
    r.tiles.resize(4);
    for (TileReport& t : r.tiles) {
        t.batch_id = 7;
        t.batch_size = 8;  // four more tiles of another image rode along
    }
    EXPECT_EQ(execution_line("CPU", {r}, 100.0),
              "CPU Batch Execution: 4 tiles in 1 batch (4) in 100.0 ms (40.0 FPS per tile); with other images' "
              "tiles the batch held 8");
    r.tiles[3].batch_id = 9;
    r.tiles[3].batch_size = 1;
    EXPECT_EQ(execution_line("CPU", {r}, 100.0),
              "CPU Batch Execution: 4 tiles in 2 batches (3+1) in 100.0 ms (40.0 FPS per tile); with other images' "
              "tiles the batches held 8+1");
}

TEST(Pipeline, EmptyOrWrongTypeImageIsAClearInputError) {
    Pipeline p(one_backend(), yolo_signature(), tiled_options());
    EXPECT_THROW(p.submit(cv::Mat(), "empty"), InputError);
    EXPECT_THROW(p.submit(cv::Mat(10, 10, CV_8UC1), "gray"), InputError);
    // The pipeline still works after refusing bad input.
    EXPECT_EQ(p.detect(scene(640, 640, {{10, 10, 20, 20}})).detections.size(), 1u);
}

TEST(Pipeline, AModelInputWithADimOfZeroIsRefusedAtLoad) {
    // [0, 3, 640, 640] loaded, said "max batch 8", and failed every image at run time.
    ModelSignature sig = yolo_signature();
    sig.inputs[0].dims[0] = Dim::fixed_at(0);
    try {
        Pipeline p(one_backend(), sig, tiled_options());
        FAIL() << "a batch of 0 was taken";
    } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("model input 'images' [0, 3, 640, 640] has a dim of 0, so no image can be fed"),
                  std::string::npos)
            << e.what();
    }
}
