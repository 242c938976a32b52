// COCO segm (mask mAP) on a small hand-computed set: mask IoU decides matches, not boxes.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "tiledet/eval/coco_eval.hpp"
#include "tiledet/eval/yolo_labels.hpp"
#include "tiledet/tiling/mask_ops.hpp"

namespace tiledet::eval {
namespace {

std::shared_ptr<const Mask> block(int x, int y, int w, int h) {
    return std::make_shared<const Mask>(
        Mask{x, y, w, h, std::vector<std::uint8_t>(static_cast<std::size_t>(w * h), 1)});
}

Detection masked(float score, std::shared_ptr<const Mask> m) {
    Detection d{Box{float(m->x), float(m->y), float(m->x + m->w), float(m->y + m->h)}, score, 0};
    d.mask = std::move(m);
    return d;
}

TEST(MaskEval, PolygonLabelsRasterizeByPixelCentres) {
    const Mask m = rasterize_polygon({10, 10, 30, 10, 30, 30, 10, 30}, 100, 100);
    EXPECT_EQ(m.area(), 400);
    EXPECT_TRUE(m.at(10, 10));
    EXPECT_TRUE(m.at(29, 29));
    EXPECT_FALSE(m.at(30, 29));
    const Mask tri = rasterize_polygon({0, 0, 10, 0, 0, 10}, 100, 100);  // half of 10x10, centres strictly inside
    EXPECT_EQ(tri.area(), 45);
    const GroundTruths g = parse_yolo_labels("0 0.1 0.1 0.3 0.1 0.3 0.3 0.1 0.3\n", 100, 100, "x.txt");
    ASSERT_EQ(g.size(), 1u);
    EXPECT_EQ(g[0].polygon, (std::vector<float>{10, 10, 30, 10, 30, 30, 10, 30}));
}

// Two 20x20 objects. Detection A (0.9) is object 1's mask exactly: IoU 1. Detection B (0.8)
// covers 21x15 pixels over object 2's top: IoU 300 / 415 = 0.723, a match at the thresholds
// 0.50 .. 0.70 and a false positive at 0.75 .. 0.95.
//   thresholds 0.50 .. 0.70: precision 1 at recall 0.5 and 1 -> AP 1
//   thresholds 0.75 .. 0.95: recall 0.5, 0.5; precision 1, 0.5 -> 51 of 101 recall points at 1
//   mAP = (5 * 1 + 5 * 51/101) / 10; mAP@0.5 = 1; mAP@0.75 = 51/101.
TEST(MaskEval, HandComputedSegmMapOnTwoObjects) {
    CocoEvalOptions opt;
    opt.segm = true;
    CocoEvaluator ev(opt);
    GroundTruth g1{Box{10, 10, 30, 30}, 0}, g2{Box{50, 50, 70, 70}, 0};
    g1.mask = std::make_shared<const Mask>(rasterize_polygon({10, 10, 30, 10, 30, 30, 10, 30}, 100, 100));
    g2.mask = std::make_shared<const Mask>(rasterize_polygon({50, 50, 70, 50, 70, 70, 50, 70}, 100, 100));
    ev.add_image({g1, g2}, {masked(0.9f, block(10, 10, 20, 20)), masked(0.8f, block(50, 50, 21, 15))});
    const CocoEvalResult r = ev.evaluate();
    EXPECT_NEAR(r.map50, 1.0, 1e-12);
    EXPECT_NEAR(r.map75, 51.0 / 101.0, 1e-12);
    EXPECT_NEAR(r.map, (5.0 + 5.0 * 51.0 / 101.0) / 10.0, 1e-12);
}

TEST(MaskEval, ADetectionWithoutAMaskMatchesNothingInSegm) {
    CocoEvalOptions opt;
    opt.segm = true;
    CocoEvaluator ev(opt);
    GroundTruth g{Box{10, 10, 30, 30}, 0};
    g.mask = block(10, 10, 20, 20);
    ev.add_image({g}, {Detection{Box{10, 10, 30, 30}, 0.9f, 0}});
    EXPECT_EQ(ev.evaluate().map, 0.0);
    CocoEvaluator boxes;  // the same detection is perfect in bbox mode
    boxes.add_image({g}, {Detection{Box{10, 10, 30, 30}, 0.9f, 0}});
    EXPECT_NEAR(boxes.evaluate().map, 1.0, 1e-12);
}

// A ground truth without a mask is its filled box (pixels whose centres are inside). The box is
// counted, not drawn: one far beyond any image costs nothing and still scores right.
TEST(MaskEval, AGroundTruthWithoutAMaskIsItsFilledBoxOfAnySize) {
    CocoEvalOptions opt;
    opt.segm = true;
    CocoEvaluator exact(opt);
    exact.add_image({GroundTruth{Box{10, 10, 30, 30}, 0}}, {masked(0.9f, block(10, 10, 20, 20))});
    EXPECT_NEAR(exact.evaluate().map, 1.0, 1e-12);
    // 400 mask pixels inside a 20 x 40 box: IoU 400 / 800 = 0.5, a match at 0.50 only.
    CocoEvaluator half(opt);
    half.add_image({GroundTruth{Box{10, 10, 30, 50}, 0}}, {masked(0.9f, block(10, 10, 20, 20))});
    EXPECT_NEAR(half.evaluate().map50, 1.0, 1e-12);
    EXPECT_NEAR(half.evaluate().map75, 0.0, 1e-12);
    // 90000 x 90000 pixels (8.1e9, as a drawn mask 8 GB): IoU about 5e-8, a false positive.
    CocoEvaluator huge(opt);
    huge.add_image({GroundTruth{Box{-45000, -45000, 45000, 45000}, 0}}, {masked(0.9f, block(10, 10, 20, 20))});
    EXPECT_EQ(huge.evaluate().map50, 0.0);
    // Coordinates beyond int: no overflow; its area is past COCO's "all" range, so no ground truth
    // counts and AP is COCO's -1.
    CocoEvaluator beyond(opt);
    beyond.add_image({GroundTruth{Box{-1e12f, -1e12f, 3e12f, 3e12f}, 0}}, {masked(0.9f, block(10, 10, 20, 20))});
    EXPECT_EQ(beyond.evaluate().map50, -1.0);
}

// In segm the area ranges look at mask pixels, not boxes (pycocotools' maskUtils.area): an L of
// 40 + 39 pixels in a 40 x 40 box (1600, "medium" as a box) is a small object.
TEST(MaskEval, AreaRangesUseTheMaskAreaInSegm) {
    Mask l{10, 10, 40, 40, std::vector<std::uint8_t>(1600, 0)};
    for (int i = 0; i < 40; ++i) l.data[static_cast<std::size_t>(39 * 40 + i)] = l.data[static_cast<std::size_t>(i * 40)] = 1;
    auto shape = std::make_shared<const Mask>(l);
    ASSERT_EQ(shape->area(), 79);
    GroundTruth g{Box{10, 10, 50, 50}, 0};
    g.mask = shape;
    CocoEvalOptions opt;
    opt.segm = true;
    opt.area_ranges = true;
    CocoEvaluator ev(opt);
    ev.add_image({g}, {masked(0.9f, shape)});
    const CocoEvalResult r = ev.evaluate();
    EXPECT_NEAR(r.map_small, 1.0, 1e-12);
    EXPECT_EQ(r.map_medium, -1.0);  // no ground truth there
    CocoEvalOptions boxes_opt;  // the same object as a box is medium
    boxes_opt.area_ranges = true;
    CocoEvaluator boxes(boxes_opt);
    boxes.add_image({g}, {masked(0.9f, shape)});
    EXPECT_EQ(boxes.evaluate().map_small, -1.0);
    EXPECT_NEAR(boxes.evaluate().map_medium, 1.0, 1e-12);
}

TEST(MaskEval, APolygonWithCoordinatesBeyondIntOrNotFiniteIsClippedOrEmpty) {
    const Mask wide = rasterize_polygon({-3e38f, 10, 3e38f, 10, 3e38f, 20, -3e38f, 20}, 100, 100);
    EXPECT_EQ(wide.x, 0);
    EXPECT_EQ(wide.w, 100);
    EXPECT_EQ(wide.area(), 1000);
    const Mask nan = rasterize_polygon({0, 0, std::nanf(""), 0, 10, 10}, 100, 100);
    EXPECT_EQ(nan.area(), 0);
}

}  // namespace
}  // namespace tiledet::eval
