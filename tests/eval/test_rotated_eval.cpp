// DOTA-style rotated-box AP on a small hand-computed set, and the two OBB label formats.
#include <gtest/gtest.h>

#include <numbers>

#include "tiledet/error.hpp"
#include "tiledet/eval/rotated_eval.hpp"

namespace tiledet::eval {
namespace {

constexpr float kPi = std::numbers::pi_v<float>;

RotatedGroundTruth gt(const RotatedBox& r, int cls, bool difficult = false) {
    return {r.corners(), cls, difficult};
}
Detection det(const RotatedBox& r, float score, int cls) {
    return Detection{r.bounds(), score, cls, r};
}

// Class 0: three objects (A, B in image 1; D in image 2). Ranked detections: .9 on A (TP), .85
// on D (TP), .8 on A again at IoU 90/110 (FP, A is taken), .7 on nothing (FP); B is missed.
//   recall 1/3, 2/3, 2/3, 2/3; precision 1, 1, 2/3, 1/2
//   VOC07: max precision at recall >= 0, .1, ..., .6 is 1, at .7 .. 1 it is 0 -> 7/11
//   VOC12: area under the envelope = 1/3 * 1 + 1/3 * 1 = 2/3
// Class 1: C (difficult) and E. .95 on C is ignored (neither TP nor FP), .4 on E at IoU
//   75/125 = 0.6 is a TP -> recall 0 then 1, precision 0 then 1: AP 1 either way.
// Class 2: a detection with no ground truth: not in the mean.
void add_set(RotatedEvaluator& ev) {
    const RotatedBox A{500, 500, 200, 60, kPi / 6}, B{900, 200, 80, 80, 0.3f}, C{100, 700, 50, 30, 1.0f};
    RotatedBox A_dup = A;
    A_dup.cx += 10 * std::cos(A.angle);
    A_dup.cy += 10 * std::sin(A.angle);
    ev.add_image({gt(A, 0), gt(B, 0), gt(C, 1, true)},
                 {det(A, 0.9f, 0), det(A_dup, 0.8f, 0), det({50, 50, 20, 20, 0}, 0.7f, 0), det(C, 0.95f, 1),
                  det({700, 700, 30, 30, 0}, 0.5f, 2)});
    const RotatedBox D{300, 600, 120, 40, 1.2f}, E{300, 300, 100, 40, 0};
    ev.add_image({gt(D, 0), gt(E, 1)}, {det(D, 0.85f, 0), det({325, 300, 100, 40, 0}, 0.4f, 1)});
}

TEST(RotatedEval, HandComputedVoc07ApOnASmallSet) {
    RotatedEvaluator ev;  // VOC07 11-point, IoU 0.5 (DOTA_devkit defaults)
    add_set(ev);
    const RotatedEvalResult r = ev.evaluate();
    ASSERT_EQ(r.per_class.size(), 2u);
    EXPECT_EQ(r.per_class[0].gt_count, 3);
    EXPECT_EQ(r.per_class[1].gt_count, 1);
    EXPECT_NEAR(r.per_class[0].ap, 7.0 / 11.0, 1e-9);
    EXPECT_NEAR(r.per_class[1].ap, 1.0, 1e-9);
    EXPECT_NEAR(r.map, (7.0 / 11.0 + 1.0) / 2, 1e-9);
    EXPECT_EQ(r.gt_objects, 4);
    EXPECT_EQ(r.detections, 7);
}

TEST(RotatedEval, HandComputedVoc12ApOnTheSameSet) {
    RotatedEvaluator ev({0.5, VocAp::voc12_all_points});
    add_set(ev);
    const RotatedEvalResult r = ev.evaluate();
    ASSERT_EQ(r.per_class.size(), 2u);
    EXPECT_NEAR(r.per_class[0].ap, 2.0 / 3.0, 1e-9);
    EXPECT_NEAR(r.map, (2.0 / 3.0 + 1.0) / 2, 1e-9);
}

TEST(RotatedEval, TheAxisAlignedBoxOfA30DegreeObjectIsNotAMatch) {
    // The upright box around a thin 30 degree bar overlaps it by IoU ~0.3: rotated AP is 0 for it.
    const RotatedBox bar{500, 500, 300, 30, kPi / 6};
    RotatedEvaluator ev;
    ev.add_image({gt(bar, 0)}, {Detection{bar.bounds(), 0.9f, 0}});
    EXPECT_LT(
        polygon_iou(bar.corners(), RotatedBox{500, 500, bar.bounds().width(), bar.bounds().height(), 0}.corners()),
        0.5);
    EXPECT_EQ(ev.evaluate().map, 0.0);
}

TEST(RotatedEval, ReadsDotaAndYoloObbLabelLines) {
    const auto id_of = [](const std::string& name) -> std::optional<int> {
        if (name == "plane") return 0;
        if (name == "small-vehicle") return 10;
        return std::nullopt;
    };
    const std::string text =
        "imagesource:GoogleEarth\ngsd:0.146343590398\n"
        "10 20 110 20 110 60 10 60 plane 0\n"
        "200 200 240 200 240 220 200 220 small-vehicle 1\n"
        "3 0.5 0.25 0.75 0.25 0.75 0.5 0.5 0.5\n";
    const RotatedGroundTruths g = parse_obb_labels(text, 400, 200, "x.txt", id_of);
    ASSERT_EQ(g.size(), 3u);
    EXPECT_EQ(g[0].class_id, 0);
    EXPECT_FALSE(g[0].difficult);
    EXPECT_FLOAT_EQ(g[0].polygon[2].x, 110);
    EXPECT_EQ(g[1].class_id, 10);
    EXPECT_TRUE(g[1].difficult);
    EXPECT_EQ(g[2].class_id, 3);
    EXPECT_FLOAT_EQ(g[2].polygon[0].x, 200);  // 0.5 * 400
    EXPECT_FLOAT_EQ(g[2].polygon[0].y, 50);   // 0.25 * 200
}

TEST(RotatedEval, BadLabelLinesAreRefusedWithTheFileAndLine) {
    const auto none = [](const std::string&) -> std::optional<int> { return std::nullopt; };
    const auto refuses = [&](const std::string& text, const std::string& what) {
        try {
            parse_obb_labels(text, 100, 100, "bad.txt", none);
            ADD_FAILURE() << "accepted: " << text;
        } catch (const InputError& e) {
            EXPECT_NE(std::string(e.what()).find("bad.txt line 1"), std::string::npos) << e.what();
            EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
        }
    };
    refuses("1 2 3 4 5 6 7 8 tank 0\n", "not one of the model's classes");
    refuses("0 0.1 0.1 0.2 0.1 0.2 0.2 0.1 1.5\n", "outside 0..1");
    refuses("0 0.1 0.1 0.2\n", "4 fields");
}

}  // namespace
}  // namespace tiledet::eval
