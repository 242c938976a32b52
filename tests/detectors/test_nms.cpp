// NMS as the Ultralytics reference runs it.
#include <gtest/gtest.h>

#include "nms.hpp"

namespace tiledet::detail {
namespace {

Detection det(float x1, float score, int cls) {
    return {Box{x1, 0, x1 + 10, 10}, score, cls};
}

TEST(Nms, SuppressesOverlapsWithinAClassButNotAcrossClasses) {
    // IoU of boxes shifted by 1 on a width of 10: 9/11 = 0.818.
    const Detections out = nms({det(0, 0.9f, 0), det(1, 0.8f, 0), det(1, 0.7f, 1)}, 0.7f, false, 300);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_FLOAT_EQ(out[0].score, 0.9f);
    EXPECT_EQ(out[1].class_id, 1);
}

TEST(Nms, AgnosticSuppressesAcrossClasses) {
    EXPECT_EQ(nms({det(0, 0.9f, 0), det(1, 0.8f, 0), det(1, 0.7f, 1)}, 0.7f, true, 300).size(), 1u);
}

TEST(Nms, IouEqualToTheThresholdIsKept) {
    // Boxes shifted by 5 on width 10: IoU 5/15 = 1/3; suppression needs IoU > threshold.
    EXPECT_EQ(nms({det(0, 0.9f, 0), det(5, 0.8f, 0)}, 1.0f / 3.0f, false, 300).size(), 2u);
    EXPECT_EQ(nms({det(0, 0.9f, 0), det(5, 0.8f, 0)}, 0.3f, false, 300).size(), 1u);
}

TEST(Nms, KeepsTheHighestScoresFirstAndStopsAtMaxDet) {
    const Detections out = nms({det(0, 0.2f, 0), det(100, 0.9f, 0), det(200, 0.5f, 0)}, 0.7f, false, 2);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_FLOAT_EQ(out[0].score, 0.9f);
    EXPECT_FLOAT_EQ(out[1].score, 0.5f);
}

TEST(SortFilterTruncate, KeepsOnlyListedClassesInScoreOrder) {
    const Detections out = sort_filter_truncate({det(0, 0.2f, 3), det(100, 0.9f, 1), det(200, 0.5f, 3)}, {3}, 300);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_FLOAT_EQ(out[0].score, 0.5f);
}

}  // namespace
}  // namespace tiledet::detail
