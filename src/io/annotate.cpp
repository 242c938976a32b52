#include <cmath>
#include <cstdio>
#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "tiledet/error.hpp"
#include "tiledet/io/image.hpp"

namespace tiledet {
namespace {

// A fixed palette so one class keeps its colour across images and runs.
cv::Scalar class_color(int id) {
    static const cv::Scalar kPalette[] = {
        {56, 56, 255},  {151, 157, 255}, {31, 112, 255}, {29, 178, 255}, {49, 210, 207}, {10, 249, 72},
        {23, 204, 146}, {134, 219, 61},  {52, 147, 26},  {187, 212, 0},  {168, 153, 44}, {255, 194, 0},
        {147, 69, 52},  {255, 115, 100}, {236, 24, 0},   {255, 56, 132}, {133, 0, 82},   {255, 56, 203}};
    constexpr int n = sizeof(kPalette) / sizeof(kPalette[0]);
    return kPalette[((id % n) + n) % n];
}

}  // namespace

void draw_detections(cv::Mat& bgr, const Detections& detections, const std::function<std::string(int)>& class_name) {
    const int thickness = std::max(1, static_cast<int>(std::lround((bgr.cols + bgr.rows) * 0.001)));
    const double font_scale = std::max(0.35, thickness / 3.0);
    // Masks first, blended at 40%, so the outlines and labels stay readable on top.
    for (const Detection& d : detections) {
        if (!d.mask) continue;
        const cv::Scalar color = class_color(d.class_id);
        const Mask& m = *d.mask;
        for (int y = std::max(0, m.y); y < std::min(bgr.rows, m.y + m.h); ++y)
            for (int x = std::max(0, m.x); x < std::min(bgr.cols, m.x + m.w); ++x)
                if (m.at(x, y)) {
                    cv::Vec3b& px = bgr.at<cv::Vec3b>(y, x);
                    for (int c = 0; c < 3; ++c) px[c] = static_cast<uchar>(std::lround(0.6 * px[c] + 0.4 * color[c]));
                }
    }
    for (const Detection& d : detections) {
        const cv::Scalar color = class_color(d.class_id);
        const cv::Point p1(static_cast<int>(std::lround(d.box.x1)), static_cast<int>(std::lround(d.box.y1)));
        const cv::Point p2(static_cast<int>(std::lround(d.box.x2)), static_cast<int>(std::lround(d.box.y2)));
        if (d.rbox) {
            std::vector<cv::Point> quad;
            for (const Point2& p : d.rbox->corners())
                quad.emplace_back(static_cast<int>(std::lround(p.x)), static_cast<int>(std::lround(p.y)));
            cv::polylines(bgr, quad, true, color, thickness, cv::LINE_AA);
        } else {
            cv::rectangle(bgr, p1, p2, color, thickness, cv::LINE_AA);
        }
        char score[16];
        std::snprintf(score, sizeof(score), " %.2f", static_cast<double>(d.score));
        const std::string label = (class_name ? class_name(d.class_id) : std::to_string(d.class_id)) + score;
        int baseline = 0;
        const cv::Size ts = cv::getTextSize(label, cv::FONT_HERSHEY_SIMPLEX, font_scale, 1, &baseline);
        // The label sits above the box, or inside it when the box touches the top edge.
        const bool above = p1.y - ts.height - baseline >= 0;
        const cv::Point t1(p1.x, above ? p1.y - ts.height - baseline : p1.y);
        const cv::Point t2(p1.x + ts.width, above ? p1.y : p1.y + ts.height + baseline);
        cv::rectangle(bgr, t1, t2, color, cv::FILLED);
        cv::putText(bgr, label, cv::Point(t1.x, t2.y - baseline), cv::FONT_HERSHEY_SIMPLEX, font_scale,
                    cv::Scalar(255, 255, 255), 1, cv::LINE_AA);
    }
}

void save_annotated(const std::string& path, const cv::Mat& bgr, const Detections& detections,
                    const std::function<std::string(int)>& class_name) {
    std::error_code ec;
    if (std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec))  // a pipe would block
        throw InputError(path + ": not a regular file (a folder, pipe or device); cannot write the annotated image "
                                "there");
    cv::Mat canvas = bgr.clone();
    draw_detections(canvas, detections, class_name);
    bool ok = false;
    try {
        ok = cv::imwrite(path, canvas);
    } catch (const cv::Exception& e) {
        throw InputError(path + ": cannot write annotated image (" + e.err + ")");
    }
    if (!ok) throw InputError(path + ": cannot write annotated image (unknown extension or unwritable folder)");
}

}  // namespace tiledet
