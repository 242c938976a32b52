// The evaluator on hand-made cases whose AP is worked out by hand with pycocotools' rules:
// 101 recall thresholds r = 0, 0.01, ..., 1; precision made non-increasing from the right; at
// each r the precision at the first rank whose recall >= r (0 if none); AP = mean over r.
// A class whose recall tops out at R with precision 1 therefore scores (#r <= R) / 101.
#include <gtest/gtest.h>

#include "tiledet/eval/coco_eval.hpp"

namespace {

using tiledet::Box;
using tiledet::Detection;
using tiledet::Detections;
using tiledet::eval::CocoEvalOptions;
using tiledet::eval::CocoEvaluator;
using tiledet::eval::GroundTruth;
using tiledet::eval::GroundTruths;

GroundTruth gt(int cls, Box b) {
    return GroundTruth{b, cls};
}
Detection det(int cls, Box b, float score) {
    return Detection{b, score, cls};
}

const Box kSquare{0, 0, 100, 100};
const Box kFar{500, 500, 600, 600};           // overlaps nothing near the origin
constexpr double kHalfRecall = 51.0 / 101.0;  // thresholds 0.00..0.50 are 51 of 101

}  // namespace

TEST(CocoEval, ThresholdsAreBuiltAsNumpyLinspaceBuildsThem) {
    const auto& r = tiledet::eval::recall_thresholds();
    const auto& t = tiledet::eval::iou_thresholds();
    EXPECT_EQ(r.front(), 0.0);
    EXPECT_EQ(r.back(), 1.0);
    EXPECT_EQ(r[35], 35 * 0.01);  // 0.35000000000000003, above the double nearest 0.35
    EXPECT_GT(r[35], 0.35);
    EXPECT_EQ(t[0], 0.5);
    EXPECT_EQ(t[9], 0.95);
    EXPECT_LT(t[8], 0.9);  // 8 * 0.05 + 0.5 = 0.8999999999999999
}

TEST(CocoEval, PerfectDetectionsScoreOne) {
    CocoEvaluator ev;
    ev.add_image({gt(0, kSquare), gt(1, {200, 200, 260, 300})},
                 {det(0, kSquare, 0.9f), det(1, {200, 200, 260, 300}, 0.8f)});
    ev.add_image({gt(0, {10, 20, 50, 80})}, {det(0, {10, 20, 50, 80}, 0.3f)});
    const auto r = ev.evaluate();
    EXPECT_EQ(r.images, 2);
    EXPECT_EQ(r.gt_boxes, 3);
    EXPECT_EQ(r.detections, 3);
    EXPECT_DOUBLE_EQ(r.map, 1.0);
    EXPECT_DOUBLE_EQ(r.map50, 1.0);
    EXPECT_DOUBLE_EQ(r.map75, 1.0);
    EXPECT_DOUBLE_EQ(r.mar, 1.0);
    ASSERT_EQ(r.per_class.size(), 2u);
    EXPECT_EQ(r.per_class[0].class_id, 0);
    EXPECT_EQ(r.per_class[0].gt_count, 2);
    EXPECT_EQ(r.per_class[0].det_count, 2);
    EXPECT_EQ(r.per_class[1].gt_count, 1);
}

TEST(CocoEval, NoDetectionsScoreZero) {
    CocoEvaluator ev;
    ev.add_image({gt(0, kSquare), gt(3, kFar)}, {});
    const auto r = ev.evaluate();
    EXPECT_DOUBLE_EQ(r.map, 0.0);
    EXPECT_DOUBLE_EQ(r.map50, 0.0);
    EXPECT_DOUBLE_EQ(r.mar, 0.0);
    ASSERT_EQ(r.per_class.size(), 2u);
    EXPECT_EQ(r.per_class[1].class_id, 3);
}

TEST(CocoEval, NoGroundTruthAnywhereGivesMinusOneLikePycocotools) {
    CocoEvaluator ev;
    ev.add_image({}, {det(0, kSquare, 0.9f)});
    const auto r = ev.evaluate();
    EXPECT_EQ(r.map, -1.0);
    EXPECT_EQ(r.map50, -1.0);
    EXPECT_TRUE(r.per_class.empty());
    EXPECT_EQ(r.detections, 1);
}

// 2 GT, one found exactly: ranks give recall [0.5], precision [1] -> 51/101 at every IoU.
TEST(CocoEval, HalfTheGroundTruthFoundScoresFiftyOneOverOneHundredOne) {
    CocoEvaluator ev;
    ev.add_image({gt(0, kSquare), gt(0, kFar)}, {det(0, kSquare, 0.9f)});
    const auto r = ev.evaluate();
    EXPECT_NEAR(r.map, 0.504950495049505, 1e-12);
    EXPECT_DOUBLE_EQ(r.map, kHalfRecall);
    EXPECT_DOUBLE_EQ(r.map50, kHalfRecall);
    EXPECT_DOUBLE_EQ(r.mar, 0.5);
}

// A false positive ranked below the hit: recall [0.5, 0.5], precision [1, 0.5] -> still 51/101.
TEST(CocoEval, MissRankedBelowTheHitDoesNotLowerAp) {
    CocoEvaluator ev;
    ev.add_image({gt(0, kSquare), gt(0, kFar)}, {det(0, kSquare, 0.9f), det(0, {300, 0, 400, 100}, 0.2f)});
    EXPECT_DOUBLE_EQ(ev.evaluate().map, kHalfRecall);
}

// The false positive ranked first: recall [0, 0.5], precision [0, 0.5] -> [0.5, 0.5] after the
// right-to-left max; r = 0 reads rank 0, r = 0.01..0.5 rank 1: 51 * 0.5 / 101.
TEST(CocoEval, MissRankedAboveTheHitHalvesPrecision) {
    CocoEvaluator ev;
    ev.add_image({gt(0, kSquare), gt(0, kFar)}, {det(0, kSquare, 0.2f), det(0, {300, 0, 400, 100}, 0.9f)});
    EXPECT_DOUBLE_EQ(ev.evaluate().map, 25.5 / 101.0);
}

// Duplicate below the true match: recall [1, 1], precision [1, 0.5]; every r reads rank 0 -> 1.
TEST(CocoEval, DuplicateWithLowerScoreLeavesApAtOne) {
    CocoEvaluator ev;
    ev.add_image({gt(0, kSquare)}, {det(0, kSquare, 0.9f), det(0, {0, 0, 100, 90}, 0.5f)});
    const auto r = ev.evaluate();
    EXPECT_DOUBLE_EQ(r.map, 1.0);
    EXPECT_EQ(r.per_class[0].det_count, 2);
}

// The duplicate with the higher score has IoU 0.64: at IoU 0.50, 0.55, 0.60 it takes the GT and
// the exact box is a false positive ranked second (AP 1); at 0.65..0.95 it is the false positive
// ranked first (AP 0.5, as in MissRankedAboveTheHit with recall reaching 1). (3*1 + 7*0.5)/10.
TEST(CocoEval, DuplicateWithHigherScoreAndWorseIouLowersStrictThresholds) {
    CocoEvaluator ev;
    ev.add_image({gt(0, kSquare)}, {det(0, {0, 0, 100, 64}, 0.9f), det(0, kSquare, 0.8f)});
    const auto r = ev.evaluate();
    EXPECT_DOUBLE_EQ(r.map50, 1.0);
    EXPECT_DOUBLE_EQ(r.map75, 0.5);
    EXPECT_DOUBLE_EQ(r.map, 0.65);
}

// IoU 0.72 passes thresholds 0.50..0.70 (5 of 10) with AP 1 and fails the rest with AP 0.
TEST(CocoEval, IouOfPointSevenTwoCountsAtFiveThresholdsOfTen) {
    CocoEvaluator ev;
    ev.add_image({gt(0, kSquare)}, {det(0, {0, 0, 100, 72}, 0.9f)});
    const auto r = ev.evaluate();
    EXPECT_DOUBLE_EQ(r.map, 0.5);
    EXPECT_DOUBLE_EQ(r.map50, 1.0);
    EXPECT_DOUBLE_EQ(r.map75, 0.0);
    EXPECT_DOUBLE_EQ(r.map_per_iou[4], 1.0);  // 0.70
    EXPECT_DOUBLE_EQ(r.map_per_iou[5], 0.0);  // 0.75
}

// IoU exactly 0.9 meets the 9th threshold, which numpy builds as 0.8999999999999999: 9 of 10.
TEST(CocoEval, IouOfExactlyPointNineCountsAtNineThresholds) {
    CocoEvaluator ev;
    ev.add_image({gt(0, kSquare)}, {det(0, {0, 0, 100, 90}, 0.9f)});
    EXPECT_DOUBLE_EQ(ev.evaluate().map, 0.9);
}

// GT A [0,100] and B [20,120] (x); det1 = B exactly (IoU with A 0.667), det2 = [30,130]
// (IoU B 0.818, A 0.538). Best-IoU matching gives det1 B; det2 then only has A, good at 0.50
// only. At 0.50 both hit (AP 1); at 0.55..0.95 det2 is a false positive below a hit with 2 GT
// (51/101). Taking the first GT above the threshold instead would give det1 A and det2 B.
TEST(CocoEval, DetectionTakesTheBestIouUnmatchedGroundTruth) {
    CocoEvaluator ev;
    ev.add_image({gt(0, kSquare), gt(0, {20, 0, 120, 100})},
                 {det(0, {20, 0, 120, 100}, 0.9f), det(0, {30, 0, 130, 100}, 0.8f)});
    const auto r = ev.evaluate();
    EXPECT_DOUBLE_EQ(r.map50, 1.0);
    EXPECT_DOUBLE_EQ(r.map_per_iou[1], kHalfRecall);
    EXPECT_NEAR(r.map, (1.0 + 9 * kHalfRecall) / 10, 1e-12);
}

// Class 0 perfect (1.0), class 1 half found (51/101), class 7 has detections but no GT: the
// mean is over classes 0 and 1 only.
TEST(CocoEval, MapAveragesOnlyClassesWithGroundTruth) {
    CocoEvaluator ev;
    ev.add_image({gt(0, kSquare), gt(1, kFar), gt(1, {300, 0, 400, 100})},
                 {det(0, kSquare, 0.9f), det(1, kFar, 0.8f), det(7, {0, 300, 50, 350}, 0.99f)});
    const auto r = ev.evaluate();
    EXPECT_DOUBLE_EQ(r.map, (1.0 + kHalfRecall) / 2);
    ASSERT_EQ(r.per_class.size(), 2u);
    EXPECT_DOUBLE_EQ(r.per_class[0].ap, 1.0);
    EXPECT_DOUBLE_EQ(r.per_class[1].ap, kHalfRecall);
    EXPECT_DOUBLE_EQ(r.per_class[1].ap50, kHalfRecall);
    EXPECT_EQ(r.detections, 3);
}

// A background image's false positive scored above the only hit: recall [0, 1], precision
// [0, 0.5] -> 0.5 everywhere. Scored below the hit, it costs nothing.
TEST(CocoEval, BackgroundImageFalsePositiveCountsOnlyWhenRankedAboveHits) {
    CocoEvaluator above;
    above.add_image({gt(0, kSquare)}, {det(0, kSquare, 0.5f)});
    above.add_image({}, {det(0, kSquare, 0.9f)});
    EXPECT_DOUBLE_EQ(above.evaluate().map, 0.5);
    CocoEvaluator below;
    below.add_image({gt(0, kSquare)}, {det(0, kSquare, 0.5f)});
    below.add_image({}, {det(0, kSquare, 0.1f)});
    const auto r = below.evaluate();
    EXPECT_DOUBLE_EQ(r.map, 1.0);
    EXPECT_EQ(r.images, 2);
}

// Equal scores across images keep image order (pycocotools: image-id order, stable sort).
// Miss first: as MissRankedAboveTheHit (25.5/101); hit first: 51/101.
TEST(CocoEval, ScoreTiesAcrossImagesKeepImageOrder) {
    CocoEvaluator miss_first;
    miss_first.add_image({gt(0, kSquare)}, {det(0, kFar, 0.5f)});
    miss_first.add_image({gt(0, kSquare)}, {det(0, kSquare, 0.5f)});
    EXPECT_DOUBLE_EQ(miss_first.evaluate().map, 25.5 / 101.0);
    CocoEvaluator hit_first;
    hit_first.add_image({gt(0, kSquare)}, {det(0, kSquare, 0.5f)});
    hit_first.add_image({gt(0, kSquare)}, {det(0, kFar, 0.5f)});
    EXPECT_DOUBLE_EQ(hit_first.evaluate().map, kHalfRecall);
}

// N false positives scored above one hit on one GT: the hit at rank N+1 gives precision
// 1/(N+1) everywhere. With 99 it is rank 100 and counts (AP 0.01); with 100 it is cut by
// maxDets = 100 (AP 0) unless max_dets is raised to 101 (AP 1/101).
TEST(CocoEval, MaxDetsKeepsTheHundredHighestScoresPerImageAndClass) {
    auto image_dets = [](int false_positives) {
        Detections d;
        for (int i = 0; i < false_positives; ++i)
            d.push_back(det(0, {1000.0f + 10 * i, 0, 1005.0f + 10 * i, 5}, 0.9f - 0.001f * i));
        d.push_back(det(0, kSquare, 0.01f));
        return d;
    };
    CocoEvaluator ninety_nine;
    ninety_nine.add_image({gt(0, kSquare)}, image_dets(99));
    EXPECT_NEAR(ninety_nine.evaluate().map, 0.01, 1e-12);
    CocoEvaluator hundred;
    hundred.add_image({gt(0, kSquare)}, image_dets(100));
    const auto cut = hundred.evaluate();
    EXPECT_DOUBLE_EQ(cut.map, 0.0);
    EXPECT_EQ(cut.per_class[0].det_count, 100);
    EXPECT_EQ(cut.detections, 101);
    CocoEvaluator raised(CocoEvalOptions{101, false});
    raised.add_image({gt(0, kSquare)}, image_dets(100));
    EXPECT_NEAR(raised.evaluate().map, 1.0 / 101, 1e-12);
}

// Recall 6/20 = 0.3 reaches threshold 0.30 (31 thresholds); recall 7/20 = 0.35 misses the
// threshold numpy builds as 0.35000000000000003, so 35 thresholds count, not 36.
TEST(CocoEval, RecallIsComparedWithThresholdsAsNumpyBuildsThem) {
    auto ap_with_hits = [](int hits) {
        GroundTruths g;
        Detections d;
        for (int i = 0; i < 20; ++i) {
            const Box b{10.0f * i * 3, 0, 10.0f * i * 3 + 20, 20};
            g.push_back(gt(0, b));
            if (i < hits) d.push_back(det(0, b, 0.9f));
        }
        CocoEvaluator ev;
        ev.add_image(g, d);
        return ev.evaluate().map;
    };
    EXPECT_DOUBLE_EQ(ap_with_hits(6), 31.0 / 101);
    EXPECT_DOUBLE_EQ(ap_with_hits(7), 35.0 / 101);
}

// Small 20x20 box found, large 200x200 box missed, no medium GT (-1). Areas use the box.
TEST(CocoEval, AreaRangesSplitByBoxArea) {
    CocoEvaluator ev(CocoEvalOptions{100, true});
    ev.add_image({gt(0, {0, 0, 20, 20}), gt(0, {300, 300, 500, 500})}, {det(0, {0, 0, 20, 20}, 0.9f)});
    const auto r = ev.evaluate();
    EXPECT_DOUBLE_EQ(r.map_small, 1.0);
    EXPECT_EQ(r.map_medium, -1.0);
    EXPECT_DOUBLE_EQ(r.map_large, 0.0);
    EXPECT_DOUBLE_EQ(r.map, kHalfRecall);
    CocoEvaluator plain;
    plain.add_image({gt(0, {0, 0, 20, 20})}, {det(0, {0, 0, 20, 20}, 0.9f)});
    EXPECT_EQ(plain.evaluate().map_small, -1.0);
}

// A large detection matched to nothing is ignored in the 'small' range, not a false positive.
TEST(CocoEval, UnmatchedDetectionOutsideTheAreaRangeIsIgnoredThere) {
    CocoEvaluator ev(CocoEvalOptions{100, true});
    ev.add_image({gt(0, {0, 0, 20, 20})}, {det(0, {300, 300, 500, 500}, 0.9f), det(0, {0, 0, 20, 20}, 0.5f)});
    const auto r = ev.evaluate();
    EXPECT_DOUBLE_EQ(r.map_small, 1.0);
    EXPECT_DOUBLE_EQ(r.map, 0.5);  // in 'all' it is a false positive ranked first
}
