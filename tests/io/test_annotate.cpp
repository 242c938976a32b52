// --annotate's drawing of oriented boxes (their corners, not the upright box) and masks.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <numbers>

#include "tiledet/io/image.hpp"

namespace tiledet {
namespace {

bool painted(const cv::Mat& img, int x, int y) {
    const cv::Vec3b p = img.at<cv::Vec3b>(y, x);
    return p[0] != 0 || p[1] != 0 || p[2] != 0;
}

bool painted_near(const cv::Mat& img, float x, float y) {  // within one pixel (rounding of the ends)
    for (int dy = -1; dy <= 1; ++dy)
        for (int dx = -1; dx <= 1; ++dx)
            if (painted(img, static_cast<int>(std::lround(x)) + dx, static_cast<int>(std::lround(y)) + dy)) return true;
    return false;
}

TEST(AnnotateGeometry, OrientedBoxesAreDrawnThroughTheirCornersNotTheirUprightBox) {
    cv::Mat img(400, 400, CV_8UC3, cv::Scalar::all(0));
    const RotatedBox r{200, 200, 200, 40, std::numbers::pi_v<float> / 4};
    draw_detections(img, {Detection{r.bounds(), 0.9f, 0, r}}, nullptr);
    const auto c = r.corners();
    for (std::size_t i = 0; i < 4; ++i) {
        const Point2 a = c[i], b = c[(i + 1) % 4];
        EXPECT_TRUE(painted_near(img, (a.x + b.x) / 2, (a.y + b.y) / 2)) << "the midpoint of rotated side " << i;
    }
    const Box b = r.bounds();
    EXPECT_FALSE(painted(img, static_cast<int>(b.x2) - 2, static_cast<int>(b.y2) - 2))
        << "the upright box's corner is not drawn";
}

TEST(AnnotateGeometry, MasksAreBlendedIntoTheirPixelsOnly) {
    cv::Mat img(100, 100, CV_8UC3, cv::Scalar::all(0));
    Detection d{Box{10, 10, 60, 60}, 0.9f, 0};
    Mask m{20, 30, 10, 10, std::vector<std::uint8_t>(100, 0)};
    m.data[55] = 1;  // pixel (25, 35)
    d.mask = std::make_shared<const Mask>(m);
    draw_detections(img, {d}, nullptr);
    EXPECT_TRUE(painted(img, 25, 35));
    EXPECT_FALSE(painted(img, 26, 35));
    EXPECT_FALSE(painted(img, 35, 45));
}

}  // namespace
}  // namespace tiledet
