// Merge behaviour pinned against SAHI's postprocess (sahi/postprocess/_numpy_backend.py for the
// candidate search, sahi/postprocess/utils.py for has_match and the pair merge; reference A1.3).
// Every case uses boxes whose overlaps are exact in float, and is built so that the algorithms or
// metrics it compares give different answers.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "tiledet/tiling/merge.hpp"

namespace tiledet {
namespace {

Detection det(float x1, float y1, float x2, float y2, float score, int class_id = 0) {
    return Detection{Box{x1, y1, x2, y2}, score, class_id};
}

std::string describe(const Detections& ds) {
    std::ostringstream out;
    out << "{";
    for (const Detection& d : ds) {
        out << " [" << d.box.x1 << "," << d.box.y1 << "," << d.box.x2 << "," << d.box.y2 << "] s=" << d.score
            << " c=" << d.class_id << ";";
    }
    out << " }";
    return out.str();
}

bool same(const Detections& a, const Detections& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const Detection& x = a[i];
        const Detection& y = b[i];
        if (x.box.x1 != y.box.x1 || x.box.y1 != y.box.y1 || x.box.x2 != y.box.x2 || x.box.y2 != y.box.y2 ||
            x.score != y.score || x.class_id != y.class_id) {
            return false;
        }
    }
    return true;
}

#define EXPECT_DETECTIONS(actual, expected) \
    EXPECT_TRUE(same((actual), (expected))) << "got      " << describe(actual) << "\nexpected " << describe(expected)

MergeOptions options(MergeAlgorithm algorithm, MatchMetric metric, float threshold, bool agnostic = false) {
    MergeOptions o;
    o.algorithm = algorithm;
    o.metric = metric;
    o.threshold = threshold;
    o.class_agnostic = agnostic;
    return o;
}

constexpr MergeAlgorithm kNms = MergeAlgorithm::nms;
constexpr MergeAlgorithm kNmm = MergeAlgorithm::nmm;
constexpr MergeAlgorithm kGreedy = MergeAlgorithm::greedy_nmm;
constexpr MatchMetric kIou = MatchMetric::iou;
constexpr MatchMetric kIos = MatchMetric::ios;

// A chain: A overlaps B, B overlaps C, A barely touches C.
//   IoU(A,B) = IoU(B,C) = 60/140 = 0.43, IoU(A,C) = 20/180 = 0.11
//   IoS(A,B) = IoS(B,C) = 0.6,           IoS(A,C) = 0.2
const Detection kA = det(0, 0, 10, 10, 0.9f);
const Detection kB = det(4, 0, 14, 10, 0.8f);
const Detection kC = det(8, 0, 18, 10, 0.7f);
// A small box poking out of A: IoS = 12/16 = 0.75, IoU = 12/104 = 0.115.
const Detection kSmall = det(7, 2, 11, 6, 0.8f);

TEST(MergeOptions, DefaultsAreSahiGetSlicedPrediction) {
    const MergeOptions o;
    EXPECT_EQ(o.algorithm, MergeAlgorithm::greedy_nmm);
    EXPECT_EQ(o.metric, MatchMetric::ios);
    EXPECT_EQ(o.threshold, 0.5f);
    EXPECT_FALSE(o.class_agnostic);
}

TEST(Merge, EachAlgorithmAndMetricGivesItsOwnAnswer) {
    const Detections chain = {kC, kA, kB};  // input order must not matter
    const Detections poke = {kSmall, kA};
    struct Row {
        MergeAlgorithm algorithm;
        MatchMetric metric;
        Detections chain;
        Detections poke;
    };
    const std::vector<Row> rows = {
        // NMS: B is suppressed by A, C survives (0.11 / 0.2 against A).
        {kNms, kIou, {kA, kC}, {kA, kSmall}},
        {kNms, kIos, {kA, kC}, {kA}},
        // Greedy NMM: A merges B only; C overlaps only B, which was not kept.
        {kGreedy, kIou, {det(0, 0, 14, 10, 0.9f), kC}, {kA, kSmall}},
        {kGreedy, kIos, {det(0, 0, 14, 10, 0.9f), kC}, {det(0, 0, 11, 10, 0.9f)}},
        // NMM: C joins A's group through B. With IoS the grown box [0,14] still matches C
        // (60/100 = 0.6) and takes it; with IoU it does not (60/180 = 0.33) and C is dropped.
        {kNmm, kIou, {det(0, 0, 14, 10, 0.9f)}, {kA, kSmall}},
        {kNmm, kIos, {det(0, 0, 18, 10, 0.9f)}, {det(0, 0, 11, 10, 0.9f)}},
    };
    for (const Row& r : rows) {
        SCOPED_TRACE(std::string(to_string(r.algorithm)) + " / " + std::string(to_string(r.metric)));
        EXPECT_DETECTIONS(merge_detections(chain, options(r.algorithm, r.metric, 0.4f)), r.chain);
        EXPECT_DETECTIONS(merge_detections(poke, options(r.algorithm, r.metric, 0.4f)), r.poke);
    }
}

TEST(Merge, GreedyNmmMergesChainOnlyThroughKeptBox) {
    // Default options (greedy NMM, IoS 0.5): C matches B (0.6) but not A (0.2).
    const Detections out = merge_detections({kA, kB, kC}, MergeOptions{});
    EXPECT_DETECTIONS(out, (Detections{det(0, 0, 14, 10, 0.9f), kC}));
}

TEST(Merge, NmmMergesChainTransitivelyThroughMergedBox) {
    const Detections out = merge_detections({kA, kB, kC}, options(kNmm, kIos, 0.5f));
    EXPECT_DETECTIONS(out, (Detections{det(0, 0, 18, 10, 0.9f)}));
}

TEST(Merge, NmmDropsTransitiveBoxThatNoLongerMatchesTheGrownBox) {
    // SAHI parity: C is taken into A's group through B, then fails has_match against A+B and
    // is neither merged nor kept.
    const Detections out = merge_detections({kA, kB, kC}, options(kNmm, kIou, 0.4f));
    EXPECT_DETECTIONS(out, (Detections{det(0, 0, 14, 10, 0.9f)}));
}

TEST(Merge, NmmOnlyPullsInBoxesThatScoreLowerThanTheLinkingBox) {
    // B links A and C, but C outscores B: B cannot take C, and C stays its own box.
    const Detection b = det(4, 0, 14, 10, 0.7f);
    const Detection c = det(8, 0, 18, 10, 0.8f);
    const Detections out = merge_detections({kA, b, c}, options(kNmm, kIos, 0.5f));
    // Order A(0.9), C(0.8), B(0.7): A takes B; C's only match, B, is already taken.
    EXPECT_DETECTIONS(out, (Detections{det(0, 0, 14, 10, 0.9f), c}));
}

TEST(Merge, ClassAwareMergesOnlyWithinAClass) {
    const Detection a = det(0, 0, 10, 10, 0.9f, 1);
    const Detection b = det(2, 0, 12, 10, 0.6f, 2);  // IoS 0.8 with a
    for (MergeAlgorithm algorithm : {kNms, kNmm, kGreedy}) {
        SCOPED_TRACE(std::string(to_string(algorithm)));
        EXPECT_DETECTIONS(merge_detections({b, a}, options(algorithm, kIos, 0.5f)), (Detections{a, b}));
    }
}

TEST(Merge, ClassAgnosticMergesAcrossClassesKeepingTheHigherScoringClass) {
    const Detection a = det(0, 0, 10, 10, 0.6f, 1);
    const Detection b = det(2, 0, 12, 10, 0.9f, 2);  // IoS 0.8 with a
    EXPECT_DETECTIONS(merge_detections({a, b}, options(kGreedy, kIos, 0.5f, true)),
                      (Detections{det(0, 0, 12, 10, 0.9f, 2)}));
    EXPECT_DETECTIONS(merge_detections({a, b}, options(kNmm, kIos, 0.5f, true)),
                      (Detections{det(0, 0, 12, 10, 0.9f, 2)}));
    EXPECT_DETECTIONS(merge_detections({a, b}, options(kNms, kIos, 0.5f, true)), (Detections{b}));
}

TEST(Merge, ClassAwareGroupsAreIndependentButOutputIsByScore) {
    // Two classes, each with a mergeable pair, interleaved in score.
    const Detections in = {det(100, 0, 110, 10, 0.85f, 7), det(0, 0, 10, 10, 0.9f, 3), det(102, 0, 112, 10, 0.5f, 7),
                           det(2, 0, 12, 10, 0.6f, 3)};
    EXPECT_DETECTIONS(merge_detections(in, MergeOptions{}),
                      (Detections{det(0, 0, 12, 10, 0.9f, 3), det(100, 0, 112, 10, 0.85f, 7)}));
}

TEST(Merge, MergedScoreIsTheMaxAndTheBoxEnclosesBoth) {
    const Detections out = merge_detections({det(0, 5, 10, 15, 0.4f), det(1, 0, 12, 14, 0.7f)}, MergeOptions{});
    EXPECT_DETECTIONS(out, (Detections{det(0, 0, 12, 15, 0.7f)}));
}

TEST(Merge, EqualScoresTakeTheAbsorbedBoxClassLikeSahi) {
    // get_merged_category keeps the keeper's class only when it scores strictly higher.
    const Detection a = det(0, 0, 10, 10, 0.8f, 1);  // ranks first: smaller x1
    const Detection b = det(2, 0, 12, 10, 0.8f, 2);
    EXPECT_DETECTIONS(merge_detections({b, a}, options(kGreedy, kIos, 0.5f, true)),
                      (Detections{det(0, 0, 12, 10, 0.8f, 2)}));
}

TEST(Merge, OverlapExactlyAtTheThresholdIsSuppressedOrDropped) {
    // IoS(A, B) = 50/100 = 0.5 exactly. SAHI selects candidates with >= but merges with >:
    // NMS suppresses B, and both NMM flavours take B and then drop it unmerged.
    const Detection a = det(0, 0, 10, 10, 0.9f);
    const Detection b = det(5, 0, 15, 10, 0.8f);
    for (MergeAlgorithm algorithm : {kNms, kNmm, kGreedy}) {
        SCOPED_TRACE(std::string(to_string(algorithm)));
        EXPECT_DETECTIONS(merge_detections({a, b}, options(algorithm, kIos, 0.5f)), (Detections{a}));
    }
}

TEST(Merge, OverlapJustBelowTheThresholdKeepsBothBoxes) {
    const Detection a = det(0, 0, 10, 10, 0.9f);
    const Detection b = det(5, 0, 15, 10, 0.8f);  // IoS 0.5
    for (MergeAlgorithm algorithm : {kNms, kNmm, kGreedy}) {
        SCOPED_TRACE(std::string(to_string(algorithm)));
        EXPECT_DETECTIONS(merge_detections({a, b}, options(algorithm, kIos, 0.51f)), (Detections{a, b}));
    }
}

TEST(Merge, OverlapJustAboveTheThresholdMergesOrSuppresses) {
    const Detection a = det(0, 0, 10, 10, 0.9f);
    const Detection b = det(5, 0, 15, 10, 0.8f);  // IoS 0.5
    EXPECT_DETECTIONS(merge_detections({a, b}, options(kNms, kIos, 0.49f)), (Detections{a}));
    EXPECT_DETECTIONS(merge_detections({a, b}, options(kNmm, kIos, 0.49f)), (Detections{det(0, 0, 15, 10, 0.9f)}));
    EXPECT_DETECTIONS(merge_detections({a, b}, options(kGreedy, kIos, 0.49f)), (Detections{det(0, 0, 15, 10, 0.9f)}));
}

TEST(Merge, EqualScoreTiesAreBrokenByCoordinatesNotInputOrder) {
    // SAHI sorts ties by (x1, y1, x2, y2): the left box is kept whichever comes first.
    const Detection left = det(0, 0, 10, 10, 0.8f);
    const Detection right = det(2, 0, 12, 10, 0.8f);
    EXPECT_DETECTIONS(merge_detections({right, left}, options(kNms, kIos, 0.5f)), (Detections{left}));
    EXPECT_DETECTIONS(merge_detections({left, right}, options(kNms, kIos, 0.5f)), (Detections{left}));
}

TEST(Merge, NmmLeavesEqualScoreBoxesAtDifferentPlacesUnmergedUnlikeGreedy) {
    // SAHI's NMM dominance rule: a box takes only boxes it outranks. With equal scores the box
    // that sorts first by coordinates cannot take the later one, and when the later one is
    // visited the first is already a keeper, which nothing can take.
    const Detection left = det(0, 0, 10, 10, 0.8f);
    const Detection right = det(2, 0, 12, 10, 0.8f);  // IoS 0.8
    EXPECT_DETECTIONS(merge_detections({left, right}, options(kNmm, kIos, 0.5f)), (Detections{left, right}));
    EXPECT_DETECTIONS(merge_detections({left, right}, options(kGreedy, kIos, 0.5f)),
                      (Detections{det(0, 0, 12, 10, 0.8f)}));
}

TEST(Merge, NmmMergesExactDuplicates) {
    const Detection a = det(0, 0, 10, 10, 0.8f, 0);
    EXPECT_DETECTIONS(merge_detections({a, a, a}, options(kNmm, kIou, 0.5f)), (Detections{a}));
}

TEST(Merge, EmptyInputGivesEmptyOutput) {
    for (MergeAlgorithm algorithm : {kNms, kNmm, kGreedy}) {
        EXPECT_TRUE(merge_detections({}, options(algorithm, kIos, 0.5f)).empty());
    }
}

TEST(Merge, SingleBoxIsReturnedUnchanged) {
    const Detection a = det(1.5f, 2.5f, 30, 40, 0.3f, 4);
    for (MergeAlgorithm algorithm : {kNms, kNmm, kGreedy}) {
        EXPECT_DETECTIONS(merge_detections({a}, options(algorithm, kIou, 0.5f)), (Detections{a}));
    }
}

TEST(Merge, DisjointBoxesAllSurviveSortedByScore) {
    const Detections in = {det(0, 0, 10, 10, 0.3f), det(20, 0, 30, 10, 0.9f), det(40, 0, 50, 10, 0.6f)};
    for (MergeAlgorithm algorithm : {kNms, kNmm, kGreedy}) {
        EXPECT_DETECTIONS(merge_detections(in, options(algorithm, kIou, 0.5f)), (Detections{in[1], in[2], in[0]}));
    }
}

TEST(Merge, DuplicatesFromOverlappingTilesCollapseToOneBox) {
    // One object seen whole by tile 0 and cut by the border of tile 1 (offset 410).
    const Tile t0{0, 0, 0, 512, 512, false};
    const Tile t1{1, 410, 0, 512, 512, false};
    Detections all = shift_to_image({det(400, 100, 480, 160, 0.9f, 2)}, t0);
    const Detections second = shift_to_image({det(0, 101, 70, 160, 0.7f, 2)}, t1);
    all.insert(all.end(), second.begin(), second.end());
    EXPECT_DETECTIONS(merge_detections(all, MergeOptions{}), (Detections{det(400, 100, 480, 160, 0.9f, 2)}));
}

TEST(Merge, RejectsNanScores) {
    EXPECT_THROW(merge_detections({det(0, 0, 1, 1, 0.5f), det(0, 0, 1, 1, std::nanf(""))}, MergeOptions{}),
                 std::invalid_argument);
}

TEST(ShiftToImage, OffsetsBoxesByTheTileOrigin) {
    const Tile tile{3, 410, 568, 512, 512, false};
    const Detections out = shift_to_image({det(1, 2, 3, 4, 0.5f, 9)}, tile);
    EXPECT_DETECTIONS(out, (Detections{det(411, 570, 413, 572, 0.5f, 9)}));
}

TEST(ShiftToImage, FullImageTileLeavesBoxesInPlace) {
    const Tile full{15, 0, 0, 1920, 1080, true};
    const Detections in = {det(5, 6, 7, 8, 0.5f)};
    EXPECT_DETECTIONS(shift_to_image(in, full), in);
}

TEST(ClipToImage, ClampsToTheImageAndDropsBoxesLeftWithNoArea) {
    const Detections in = {det(-5, -5, 20, 20, 0.9f), det(90, 40, 130, 60, 0.8f), det(120, 10, 140, 20, 0.7f)};
    EXPECT_DETECTIONS(clip_to_image(in, 100, 50), (Detections{det(0, 0, 20, 20, 0.9f), det(90, 40, 100, 50, 0.8f)}));
    EXPECT_THROW(clip_to_image(in, 0, 50), std::invalid_argument);
}

TEST(MergeNames, ParseAcceptsSahiAndSnakeCaseNames) {
    EXPECT_EQ(parse_merge_algorithm("GREEDYNMM"), MergeAlgorithm::greedy_nmm);
    EXPECT_EQ(parse_merge_algorithm("greedy_nmm"), MergeAlgorithm::greedy_nmm);
    EXPECT_EQ(parse_merge_algorithm("NMM"), MergeAlgorithm::nmm);
    EXPECT_EQ(parse_merge_algorithm("nms"), MergeAlgorithm::nms);
    EXPECT_FALSE(parse_merge_algorithm("lsnms").has_value());
    EXPECT_EQ(parse_match_metric("IOS"), MatchMetric::ios);
    EXPECT_EQ(parse_match_metric("iou"), MatchMetric::iou);
    EXPECT_FALSE(parse_match_metric("giou").has_value());
    for (MergeAlgorithm a : {kNms, kNmm, kGreedy}) EXPECT_EQ(parse_merge_algorithm(to_string(a)), a);
}

}  // namespace
}  // namespace tiledet
