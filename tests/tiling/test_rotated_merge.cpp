// Oriented boxes through tiles: exact rotated overlap, shifting, and merging the pieces of one
// rotated object that several tiles saw into one rotated box.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numbers>

#include "tiledet/tiling/merge.hpp"
#include "tiledet/tiling/rotated.hpp"
#include "tiledet/tiling/tile_grid.hpp"

namespace tiledet {
namespace {

constexpr float kPi = std::numbers::pi_v<float>;

float deg(float d) {
    return d * kPi / 180.0f;
}

Detection oriented(const RotatedBox& r, float score, int class_id = 0) {
    return Detection{r.bounds(), score, class_id, r};
}

TEST(RotatedOverlap, CrossedBarsOverlapInTheirCommonSquare) {
    const RotatedBox a{100, 100, 100, 20, 0};
    const RotatedBox b{100, 100, 100, 20, kPi / 2};
    EXPECT_NEAR(intersection_area(a, b), 400.0f, 1e-2);
    EXPECT_NEAR(iou(a, b), 400.0f / 3600.0f, 1e-5);
    EXPECT_NEAR(ios(a, b), 400.0f / 2000.0f, 1e-5);
    EXPECT_NEAR(iou(a, a), 1.0f, 1e-5);
}

TEST(RotatedOverlap, AHalfShiftedRotatedBoxOverlapsByHalf) {
    // Shifted by half its length along its own 30 degree axis: half of it overlaps.
    const RotatedBox a{500, 500, 200, 40, deg(30)};
    RotatedBox b = a;
    b.cx += 100 * std::cos(a.angle);
    b.cy += 100 * std::sin(a.angle);
    EXPECT_NEAR(intersection_area(a, b), 4000.0f, 0.5f);
    EXPECT_NEAR(iou(a, b), 4000.0f / 12000.0f, 1e-4);
}

TEST(RotatedOverlap, ParallelDiagonalBarsDoNotOverlapThoughTheirAxisAlignedBoxesDo) {
    const RotatedBox a{500, 500, 300, 20, deg(45)};
    RotatedBox b = a;
    b.cx += 30 * std::cos(deg(135));  // 30 px apart across the bars
    b.cy += 30 * std::sin(deg(135));
    EXPECT_EQ(intersection_area(a, b), 0.0f);
    EXPECT_GT(iou(a.bounds(), b.bounds()), 0.6f);
    // NMS on the rotated boxes keeps both; on the axis-aligned boxes (SAHI's OBB NMS) it would not.
    MergeOptions nms{MergeAlgorithm::nms, MatchMetric::iou, 0.5f, false};
    EXPECT_EQ(merge_detections({oriented(a, 0.9f), oriented(b, 0.8f)}, nms).size(), 2u);
    EXPECT_EQ(merge_detections({Detection{a.bounds(), 0.9f, 0}, Detection{b.bounds(), 0.8f, 0}}, nms).size(), 1u);
}

TEST(RotatedMerge, ShiftMovesTheCentreOnly) {
    const Detections shifted =
        shift_to_image({oriented({10, 20, 30, 8, 0.5f}, 0.9f)}, Tile{0, 100, 200, 64, 64, false});
    ASSERT_TRUE(shifted[0].rbox);
    EXPECT_FLOAT_EQ(shifted[0].rbox->cx, 110);
    EXPECT_FLOAT_EQ(shifted[0].rbox->cy, 220);
    EXPECT_FLOAT_EQ(shifted[0].rbox->w, 30);
    EXPECT_FLOAT_EQ(shifted[0].rbox->angle, 0.5f);
    EXPECT_FLOAT_EQ(shifted[0].box.x1, shifted[0].rbox->bounds().x1);
}

TEST(RotatedMerge, EnclosureKeepsTheKeepersOrientation) {
    const RotatedBox a{100, 100, 60, 20, deg(30)};
    RotatedBox b = a;
    b.cx += 40 * std::cos(a.angle);
    b.cy += 40 * std::sin(a.angle);
    const RotatedBox m = enclose_along(a, b);
    EXPECT_NEAR(m.w, 100, 1e-3);
    EXPECT_NEAR(m.h, 20, 1e-3);
    EXPECT_NEAR(m.angle, a.angle, 1e-6);
    EXPECT_NEAR(m.cx, 100 + 20 * std::cos(a.angle), 1e-3);
    EXPECT_NEAR(m.cy, 100 + 20 * std::sin(a.angle), 1e-3);
}

// What a detector sees of `truth` in `tile`: the visible part, as the rotated box at the
// object's angle (plus `angle_error`) around it, in tile coordinates. Empty if not visible.
std::optional<RotatedBox> piece_in_tile(const RotatedBox& truth, const Tile& t, float angle_error) {
    const auto c = truth.corners();
    const std::vector<Point2> rect{{float(t.x), float(t.y)},
                                   {float(t.x + t.w), float(t.y)},
                                   {float(t.x + t.w), float(t.y + t.h)},
                                   {float(t.x), float(t.y + t.h)}};
    std::vector<Point2> visible = clip_convex({c.begin(), c.end()}, rect);
    if (polygon_area(visible) < 1) return std::nullopt;
    for (Point2& p : visible) p.x -= float(t.x), p.y -= float(t.y);
    return bounding_box_at(visible, truth.angle + angle_error);
}

float worst_corner_error(const RotatedBox& got, const RotatedBox& want) {
    float worst = 0;
    for (const Point2& w : want.corners()) {
        float best = 1e9f;
        for (const Point2& g : got.corners()) best = std::min(best, std::hypot(g.x - w.x, g.y - w.y));
        worst = std::max(worst, best);
    }
    return worst;
}

TEST(RotatedMerge, ThirtyDegreeObjectAcrossFourTilesMergesIntoOneRotatedBoxWithin2Px) {
    // 2000x2000 image, 640 px tiles with SAHI's 0.2 overlap: tiles start at 0, 512, 1024, 1360.
    // The object sits on the crossing of the 512 and 1024 rows and columns: four tiles see it cut.
    TileSpec spec;  // SAHI's default overlap ratio 0.2
    spec.tile_w = spec.tile_h = 640;
    const std::vector<Tile> grid = make_tile_grid(2000, 2000, spec);
    const RotatedBox truth{1088, 1088, 240, 90, deg(30)};
    Detections all;
    int seen = 0;
    for (const Tile& t : grid) {
        // Each tile's detector gets the angle slightly wrong (within 0.2 degrees) and scores differ.
        const float err = deg(0.2f) * static_cast<float>((seen % 3) - 1);
        const auto piece = piece_in_tile(truth, t, err);
        if (!piece) continue;
        ++seen;
        EXPECT_LT(piece->area(), truth.area() * 0.95f) << "tile " << t.index << " should see a cut piece";
        const Detections in_tile{oriented(*piece, 0.6f + 0.05f * static_cast<float>(seen), 3)};
        const Detections moved = shift_to_image(in_tile, t);
        all.insert(all.end(), moved.begin(), moved.end());
    }
    ASSERT_EQ(seen, 4);
    for (MergeAlgorithm algorithm : {MergeAlgorithm::greedy_nmm, MergeAlgorithm::nmm}) {
        MergeOptions opt;  // SAHI's defaults: IOS 0.5
        opt.algorithm = algorithm;
        const Detections merged = clip_to_image(merge_detections(all, opt), 2000, 2000);
        ASSERT_EQ(merged.size(), 1u) << to_string(algorithm);
        ASSERT_TRUE(merged[0].rbox);
        const float error = worst_corner_error(*merged[0].rbox, truth);
        EXPECT_LT(error, 2.0f) << to_string(algorithm);
        RecordProperty(std::string("corner_error_px_") + std::string(to_string(algorithm)), std::to_string(error));
        EXPECT_EQ(merged[0].class_id, 3);
        EXPECT_FLOAT_EQ(merged[0].score, 0.8f);
        // The axis-aligned merge of the same pieces is the upright box around them: its corners are
        // tens of pixels from the object's.
        Detections upright;
        for (const Detection& d : all) upright.push_back(Detection{d.box, d.score, d.class_id});
        const Detections aa = merge_detections(upright, opt);
        ASSERT_EQ(aa.size(), 1u);
        const Box& b = aa[0].box;
        const RotatedBox as_rotated{(b.x1 + b.x2) / 2, (b.y1 + b.y2) / 2, b.width(), b.height(), 0};
        const float upright_error = worst_corner_error(as_rotated, truth);
        EXPECT_GT(upright_error, 40.0f);
        RecordProperty("upright_corner_error_px", std::to_string(upright_error));
    }
    // NMS keeps only the best piece: a cut object, which is why NMM exists.
    MergeOptions nms;
    nms.algorithm = MergeAlgorithm::nms;
    const Detections kept = merge_detections(all, nms);
    ASSERT_EQ(kept.size(), 1u);
    EXPECT_GT(worst_corner_error(*kept[0].rbox, truth), 10.0f);
}

}  // namespace
}  // namespace tiledet
