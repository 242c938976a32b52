// Masks through tiles: overlap, union, COCO RLE, and one object cut by a tile seam coming back as
// one mask.
#include <gtest/gtest.h>

#include <memory>

#include "tiledet/tiling/mask_ops.hpp"
#include "tiledet/tiling/merge.hpp"
#include "tiledet/tiling/tile_grid.hpp"

namespace tiledet {
namespace {

bool in_disk(int x, int y, int cx, int cy, int r) {
    return (x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r;
}

// What a segmenter sees of the disk in `tile`: the visible pixels, held over their own extent,
// in tile coordinates; its box is that extent.
std::optional<Detection> piece(const Tile& t, int cx, int cy, int r, float score) {
    Mask m;
    m.x = 0, m.y = 0, m.w = t.w, m.h = t.h;
    m.data.assign(static_cast<std::size_t>(t.w * t.h), 0);
    for (int y = 0; y < t.h; ++y)
        for (int x = 0; x < t.w; ++x)
            m.data[static_cast<std::size_t>(y * t.w + x)] = in_disk(x + t.x, y + t.y, cx, cy, r);
    Mask crop = tight(m);
    if (crop.w == 0) return std::nullopt;
    Detection d{Box{float(crop.x), float(crop.y), float(crop.x + crop.w), float(crop.y + crop.h)}, score, 5};
    d.mask = std::make_shared<const Mask>(std::move(crop));
    return d;
}

TEST(MaskMerge, ADiskCutByATileSeamComesBackAsOneMaskEqualToTheDisk) {
    // 1216x640 with 640 tiles and 64 px overlap: tiles at x = 0 and 576. The disk (radius 50 at
    // x = 608) is cut by both tile edges; each tile sees about 82% of it.
    TileSpec spec;
    spec.tile_w = spec.tile_h = 640;
    spec.overlap_px_w = spec.overlap_px_h = 64;
    const std::vector<Tile> grid = make_tile_grid(1216, 640, spec);
    ASSERT_EQ(grid.size(), 2u);
    const int cx = 608, cy = 300, r = 50;
    Detections all;
    for (const Tile& t : grid) {
        const auto d = piece(t, cx, cy, r, 0.7f + 0.1f * static_cast<float>(t.index));
        ASSERT_TRUE(d);
        EXPECT_LE(d->mask->w, 2 * r + 1) << "a mask is held over its own extent, not the tile";
        const Detections moved = shift_to_image({*d}, t);
        all.insert(all.end(), moved.begin(), moved.end());
    }
    ASSERT_LT(all[0].mask->area(), all[1].mask->area() + 1000);
    for (MergeAlgorithm algorithm : {MergeAlgorithm::greedy_nmm, MergeAlgorithm::nmm}) {
        MergeOptions opt;  // SAHI defaults: IOS 0.5
        opt.algorithm = algorithm;
        const Detections merged = clip_to_image(merge_detections(all, opt), 1216, 640);
        ASSERT_EQ(merged.size(), 1u) << to_string(algorithm);
        ASSERT_TRUE(merged[0].mask);
        const Mask& m = *merged[0].mask;
        int wrong = 0;
        for (int y = cy - r - 2; y <= cy + r + 2; ++y)
            for (int x = cx - r - 2; x <= cx + r + 2; ++x) wrong += m.at(x, y) != in_disk(x, y, cx, cy, r);
        EXPECT_EQ(wrong, 0) << to_string(algorithm);
        EXPECT_FLOAT_EQ(merged[0].box.x1, cx - r);
        EXPECT_FLOAT_EQ(merged[0].box.x2, cx + r + 1);
        EXPECT_FLOAT_EQ(merged[0].score, 0.8f);
    }
}

TEST(MaskMerge, MaskOverlapDecidesNotTheBoxes) {
    // Two L-shaped halves of a square share a box but no pixel: box IoU 1, mask IoU 0.
    Mask a{0, 0, 10, 10, std::vector<std::uint8_t>(100, 0)}, b = a;
    for (int y = 0; y < 10; ++y)
        for (int x = 0; x < 10; ++x) (x > y ? a : b).data[static_cast<std::size_t>(y * 10 + x)] = 1;
    EXPECT_EQ(intersection_area(a, b), 0);
    Detection da{Box{0, 0, 10, 10}, 0.9f, 0}, db{Box{0, 0, 10, 10}, 0.8f, 0};
    da.mask = std::make_shared<const Mask>(a);
    db.mask = std::make_shared<const Mask>(b);
    MergeOptions nms{MergeAlgorithm::nms, MatchMetric::iou, 0.5f, false};
    EXPECT_EQ(merge_detections({da, db}, nms).size(), 2u);
    EXPECT_EQ(merge_detections({Detection{da.box, 0.9f, 0}, Detection{db.box, 0.8f, 0}}, nms).size(), 1u);
    EXPECT_NEAR(iou(a, a), 1.0f, 1e-6);
    EXPECT_NEAR(ios(a, union_of(a, b)), 1.0f, 1e-6);
}

TEST(MaskRle, MatchesPycocotoolsOnASmallMaskAndRoundTrips) {
    // [[0, 1], [1, 1]]: column-major 0,1,1,1 -> counts [1, 3] -> "13" (pycocotools mask.encode).
    const Mask m{0, 0, 2, 2, {0, 1, 1, 1}};
    EXPECT_EQ(rle_counts(m, 2, 2), (std::vector<std::uint32_t>{1, 3}));
    EXPECT_EQ(rle_string({1, 3}), "13");
    // A mask held over part of a bigger image, long runs (multi-character counts, differences).
    Mask part{30, 7, 25, 40, std::vector<std::uint8_t>(1000, 0)};
    for (int i = 0; i < 1000; ++i) part.data[static_cast<std::size_t>(i)] = (i * 7919 % 13) < 5;
    const auto counts = rle_counts(part, 100, 60);
    std::uint64_t total = 0;
    for (auto c : counts) total += c;
    EXPECT_EQ(total, 6000u);
    EXPECT_EQ(rle_from_string(rle_string(counts)), counts);
    const Mask back = mask_from_rle(counts, 100, 60);
    for (int y = 0; y < 60; ++y)
        for (int x = 0; x < 100; ++x) ASSERT_EQ(back.at(x, y), part.at(x, y)) << x << "," << y;
    EXPECT_THROW(rle_from_string("1\x7f"), std::invalid_argument);
    EXPECT_THROW(mask_from_rle({1, 2}, 2, 2), std::invalid_argument);
}

}  // namespace
}  // namespace tiledet
