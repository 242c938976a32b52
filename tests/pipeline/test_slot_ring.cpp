// The slot ring (src/pipeline/image_job.hpp): single-tile images take consecutive items of shared
// input buffers, so a batch of images submitted one after another is a view of one buffer, not a
// copy; and through a pipeline every image still gets its own detections.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <string>
#include <vector>

#include "bright_box.hpp"
#include "image_job.hpp"
#include "tiledet/detectors/detector.hpp"
#include "tiledet/pipeline/pipeline.hpp"

using namespace tiledet;
using namespace tiledet::testing_bright_box;

namespace {

TEST(SlotRing, ConsecutiveTakesAreAdjacentItemsOfOneBufferSoTheirBatchIsAView) {
    const auto det = make_detector(yolo_signature());
    std::size_t capacity = 3;
    pipeline_detail::SlotRing ring(*det, [&] { return capacity; });
    std::vector<Tensor> items;
    for (int k = 0; k < 3; ++k) {
        auto [slots, index] = ring.take();
        ASSERT_EQ(slots.size(), 1u);
        EXPECT_EQ(slots[0].dim(0), 3) << "one buffer of `capacity` items";
        EXPECT_EQ(index, k);
        items.push_back(slots[0].item(index));
    }
    const Tensor batch = concat_leading(items);
    EXPECT_EQ(batch.dim(0), 3);
    EXPECT_EQ(batch.bytes(), items[0].bytes()) << "a view of the ring's buffer, no copy";
    // The fourth take starts a new buffer; a batch across the two buffers is copied, correctly.
    auto [next, index] = ring.take();
    EXPECT_EQ(index, 0);
    const Tensor across = concat_leading({items[2], next[0].item(0)});
    EXPECT_NE(across.bytes(), items[2].bytes());
    // A capacity of 1 (a static batch-1 model, or one that fell back to sequential) gives every
    // image slots of its own.
    capacity = 1;
    ring.take();
    ring.take();  // uses up the second buffer (3 items)
    auto [own, own_index] = ring.take();
    EXPECT_EQ(own[0].dim(0), 1);
    EXPECT_EQ(own_index, 0);
}

TEST(SlotRing, ABufferIsCappedAt64MiB) {
    const auto det = make_detector(yolo_signature());  // 3 x 640 x 640 float32: 4.9 MB per item
    pipeline_detail::SlotRing ring(*det, [] { return std::size_t{1000}; });
    auto [slots, index] = ring.take();
    EXPECT_EQ(slots[0].dim(0), (std::int64_t{64} << 20) / (3 * 640 * 640 * 4));
}

TEST(SlotRing, SingleTileImagesBatchedTogetherKeepTheirOwnDetections) {
    // One image per distinct scene; at max batch 4 they share batches. The scenes are drawn first
    // and the queue delay is long (a batch leaves when 4 are queued, 12 = 3 x 4), so batches form
    // however slowly each submission runs (ThreadSanitizer, a loaded machine).
    PipelineOptions o;
    o.batching.max_batch_size = 4;
    o.batching.max_queue_delay = std::chrono::milliseconds(2000);
    Pipeline pipeline(one_backend(std::chrono::milliseconds(20)), yolo_signature(), o);
    std::vector<cv::Mat> images;
    std::vector<cv::Rect> boxes;
    for (int i = 0; i < 12; ++i) {
        const cv::Rect r(20 + 30 * i, 40 + 20 * i, 60 + 5 * i, 80);
        boxes.push_back(r);
        images.push_back(scene(kSize, kSize, {r}));
    }
    std::vector<std::future<ImageResult>> futures;
    for (int i = 0; i < 12; ++i) {
        futures.push_back(pipeline.submit(images[static_cast<std::size_t>(i)], "image " + std::to_string(i)));
    }
    int batched = 0;
    for (int i = 0; i < 12; ++i) {
        const ImageResult res = futures[static_cast<std::size_t>(i)].get();
        ASSERT_EQ(res.detections.size(), 1u) << "image " << i;
        const auto& d = res.detections[0];
        const cv::Rect& want = boxes[static_cast<std::size_t>(i)];
        EXPECT_NEAR(d.box.x1, want.x, 1.0f) << "image " << i;
        EXPECT_NEAR(d.box.y1, want.y, 1.0f) << "image " << i;
        EXPECT_NEAR(d.box.x2, want.br().x, 1.0f) << "image " << i;
        if (res.tiles.at(0).batch_size > 1) ++batched;
    }
    EXPECT_GT(batched, 0) << "the images should have shared batches";
}

}  // namespace
