#include "preprocess.hpp"

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>

namespace tiledet::detail {
namespace {

// Python 3 round(): half to even (std::nearbyint in the default rounding mode).
int py_round(double v) {
    return static_cast<int>(std::nearbyint(v));
}

}  // namespace

Placement plan_placement(int orig_w, int orig_h, int input_w, int input_h, ResizeMode mode, LetterboxStyle style) {
    Placement p;
    Geometry& g = p.geometry;
    g.orig_w = orig_w;
    g.orig_h = orig_h;
    g.input_w = input_w;
    g.input_h = input_h;
    if (mode == ResizeMode::stretch) {
        p.content_w = input_w;
        p.content_h = input_h;
        g.scale_x = static_cast<float>(input_w) / static_cast<float>(orig_w);
        g.scale_y = static_cast<float>(input_h) / static_cast<float>(orig_h);
        return p;
    }
    const double r = std::min(static_cast<double>(input_h) / orig_h, static_cast<double>(input_w) / orig_w);
    if (style == LetterboxStyle::top_left_truncated) {
        // YOLOX preproc: cv2.resize to (int(w*r), int(h*r)), pasted at the top-left; boxes / r.
        p.content_w = std::clamp(static_cast<int>(orig_w * r), 1, input_w);
        p.content_h = std::clamp(static_cast<int>(orig_h * r), 1, input_h);
        g.scale_x = g.scale_y = static_cast<float>(r);
        return p;
    }
    p.content_w = std::clamp(py_round(orig_w * r), 1, input_w);
    p.content_h = std::clamp(py_round(orig_h * r), 1, input_h);
    const double dw = (input_w - p.content_w) / 2.0;
    const double dh = (input_h - p.content_h) / 2.0;
    p.left = py_round(dw - 0.1);
    p.top = py_round(dh - 0.1);
    g.scale_x = g.scale_y = static_cast<float>(r);
    g.pad_x = static_cast<float>(p.left);
    g.pad_y = static_cast<float>(p.top);
    return p;
}

template <class T>
void write_planes(const cv::Mat& bgr, const Placement& p, const PixelTransform& t, T* dst) {
    const Geometry& g = p.geometry;
    // One table per output channel turns a byte into its final value, so the pass below is a
    // load and a store per sample whatever the normalization.
    float lut[3][256];
    for (int c = 0; c < 3; ++c)
        for (int v = 0; v < 256; ++v) lut[c][v] = (static_cast<float>(v) / t.divisor - t.mean[c]) / t.std[c];
    const int pad = std::clamp(t.pad_value, 0, 255);

    cv::Mat content = bgr;
    if (bgr.cols != p.content_w || bgr.rows != p.content_h)
        cv::resize(bgr, content, cv::Size(p.content_w, p.content_h), 0, 0, cv::INTER_LINEAR);

    const std::size_t plane = static_cast<std::size_t>(g.input_w) * static_cast<std::size_t>(g.input_h);
    T* planes[3] = {dst, dst + plane, dst + 2 * plane};  // R, G, B (B, G, R when bgr)
    const T pad_rgb[3] = {T(lut[0][pad]), T(lut[1][pad]), T(lut[2][pad])};
    for (int y = 0; y < g.input_h; ++y) {
        const std::size_t row = static_cast<std::size_t>(y) * static_cast<std::size_t>(g.input_w);
        const int cy = y - p.top;
        if (cy < 0 || cy >= p.content_h) {
            for (int c = 0; c < 3; ++c) std::fill(planes[c] + row, planes[c] + row + g.input_w, pad_rgb[c]);
            continue;
        }
        for (int c = 0; c < 3; ++c) {
            std::fill(planes[c] + row, planes[c] + row + p.left, pad_rgb[c]);
            std::fill(planes[c] + row + p.left + p.content_w, planes[c] + row + g.input_w, pad_rgb[c]);
        }
        const uchar* src = content.ptr<uchar>(cy);
        // Model channel 0 reads the image's R byte (index 2 of BGR), or its B byte when bgr.
        const int first = t.bgr ? 0 : 2, last = 2 - first;
        T* c0 = planes[0] + row + p.left;
        T* c1 = planes[1] + row + p.left;
        T* c2 = planes[2] + row + p.left;
        for (int x = 0; x < p.content_w; ++x, src += 3) {
            c0[x] = T(lut[0][src[first]]);
            c1[x] = T(lut[1][src[1]]);
            c2[x] = T(lut[2][src[last]]);
        }
    }
}

template void write_planes<float>(const cv::Mat&, const Placement&, const PixelTransform&, float*);
template void write_planes<cv::float16_t>(const cv::Mat&, const Placement&, const PixelTransform&, cv::float16_t*);

}  // namespace tiledet::detail
