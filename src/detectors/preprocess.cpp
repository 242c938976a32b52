#include "preprocess.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>
#include <opencv2/imgproc.hpp>

#include "tiledet/error.hpp"

namespace tiledet::detail {
namespace {

// Python 3 round(): half to even (std::nearbyint in the default rounding mode).
int py_round(double v) {
    return static_cast<int>(std::nearbyint(v));
}

}  // namespace

Placement plan_placement(int orig_w, int orig_h, int input_w, int input_h, ResizeMode mode, LetterboxStyle style,
                         int inset) {
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
    if (style == LetterboxStyle::centred_floor) {
        const int fit_w = std::max(1, input_w - inset), fit_h = std::max(1, input_h - inset);
        const double r = std::min(static_cast<double>(fit_h) / orig_h, static_cast<double>(fit_w) / orig_w);
        p.content_w = std::clamp(py_round(orig_w * r), 1, input_w);
        p.content_h = std::clamp(py_round(orig_h * r), 1, input_h);
        p.left = (input_w - p.content_w) / 2;
        p.top = (input_h - p.content_h) / 2;
        g.scale_x = g.scale_y = static_cast<float>(r);
        g.pad_x = static_cast<float>(p.left);
        g.pad_y = static_cast<float>(p.top);
        return p;
    }
    const double r = std::min(static_cast<double>(input_h) / orig_h, static_cast<double>(input_w) / orig_w);
    if (style == LetterboxStyle::top_left) {
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

namespace {

// The stretch of a photo whose width already matches the model's (640 x 480 into 640 x 640, the
// RT-DETR and RF-DETR case) changes only the height: each output row is a blend of two source
// rows. Done row by row into a small buffer instead of cv::resize's whole intermediate image (and
// its horizontal pass, an identity here): the content never exists as a full image
// (BENCHMARKS.md, issue 17). The arithmetic is OpenCV 4.6's fixed-point INTER_LINEAR for 8-bit
// images (modules/imgproc/src/resize.cpp: coefficients of INTER_RESIZE_COEF_BITS = 11 bits,
// the rows' sum through VResizeLinearVec_32s8u: (((s0 * 128 * b0) >> 16) + ((s1 * 128 * b1) >> 16)
// + 2) >> 2), so the bytes are cv::resize's; a check at first use compares it with cv::resize and
// falls back to cv::resize for good if another OpenCV build rounds differently.
struct RowBlend {
    int r0 = 0, r1 = 0;    // source rows
    short b0 = 0, b1 = 0;  // their weights, in 1/2048
};

RowBlend plan_row_blend(int dy, int src_h, int dst_h) {
    // As cv::resize computes them: scale = 1 / (dst / src), fy = (dy + 0.5) * scale - 0.5 in float.
    const double scale = 1.0 / (static_cast<double>(dst_h) / src_h);
    float fy = static_cast<float>((dy + 0.5) * scale - 0.5);
    const int sy = cvFloor(fy);
    fy -= static_cast<float>(sy);
    RowBlend b;
    b.b0 = cv::saturate_cast<short>((1.0f - fy) * 2048.0f);
    b.b1 = cv::saturate_cast<short>(fy * 2048.0f);
    b.r0 = std::clamp(sy, 0, src_h - 1);
    b.r1 = std::clamp(sy + 1, 0, src_h - 1);
    return b;
}

// In 16-bit lanes, as OpenCV's vector code does it: s * 128 fits, the products' high halves are
// its v_mul_hi. GCC vectorizes this with AVX2 (vpmulhw) at 0.22 ms per 640 x 640 x 3 photo on
// the 2-core EPYC, against 0.62 ms for SSE2's 32-bit products and 0.47 ms for cv::resize on one
// thread (benchmarks/bench_preprocess.cpp).
inline void blend_rows_generic(const uchar* __restrict r0, const uchar* __restrict r1, int n, short b0, short b1,
                               uchar* __restrict out) {
    for (int x = 0; x < n; ++x) {
        const short a0 = static_cast<short>(r0[x] << 7), a1 = static_cast<short>(r1[x] << 7);
        const short h0 = static_cast<short>((a0 * b0) >> 16), h1 = static_cast<short>((a1 * b1) >> 16);
        const int v = (h0 + h1 + 2) >> 2;
        out[x] = static_cast<uchar>(v > 255 ? 255 : (v < 0 ? 0 : v));
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2"))) void blend_rows_avx2(const uchar* __restrict r0, const uchar* __restrict r1, int n,
                                                     short b0, short b1, uchar* __restrict out) {
    blend_rows_generic(r0, r1, n, b0, b1, out);
}
#endif

void blend_rows(const uchar* r0, const uchar* r1, int n, short b0, short b1, uchar* out) {
#if defined(__x86_64__) && defined(__GNUC__)
    static const bool avx2 = __builtin_cpu_supports("avx2");
    if (avx2) return blend_rows_avx2(r0, r1, n, b0, b1, out);
#endif
    blend_rows_generic(r0, r1, n, b0, b1, out);
}

void blend_into(const cv::Mat& src, int dst_h, int dy, uchar* out) {
    const RowBlend b = plan_row_blend(dy, src.rows, dst_h);
    const int n = src.cols * src.channels();
    if (b.b1 == 0) {  // exactly on a source row: ((s * 2048 * 128) >> 16 + 2) >> 2 is s
        std::copy_n(src.ptr<uchar>(b.r0), n, out);
        return;
    }
    blend_rows(src.ptr<uchar>(b.r0), src.ptr<uchar>(b.r1), n, b.b0, b.b1, out);
}

}  // namespace

bool row_blend_matches_opencv() {
    static const bool same = [] {
        std::uint32_t state = 12345;
        for (const int channels : {3, 1})
            for (const auto& [w, src_h, dst_h] : {std::array<int, 3>{640, 48, 64}, {77, 37, 100}, {101, 100, 37},
                                                 {5, 3, 7}}) {
                cv::Mat src(src_h, w, CV_8UC(channels));
                for (int y = 0; y < src_h; ++y)
                    for (int x = 0; x < w * channels; ++x) {
                        state = state * 1664525u + 1013904223u;
                        src.ptr<uchar>(y)[x] = static_cast<uchar>(state >> 24);
                    }
                cv::Mat want;
                cv::resize(src, want, cv::Size(w, dst_h), 0, 0, cv::INTER_LINEAR);
                std::vector<uchar> row(static_cast<std::size_t>(w * channels));
                for (int dy = 0; dy < dst_h; ++dy) {
                    blend_into(src, dst_h, dy, row.data());
                    if (!std::equal(row.begin(), row.end(), want.ptr<uchar>(dy))) return false;
                }
            }
        return true;
    }();
    return same;
}

namespace {

// The content (the image at the placement's content size), a row at a time: straight from the
// image when the size is already right, blended rows when only the height changes (bilinear,
// fused allowed), otherwise cv::resize's result.
class ContentRows {
public:
    ContentRows(const cv::Mat& img, const Placement& p, int interpolation, bool fused_allowed) : img_(img) {
        if (img.cols == p.content_w && img.rows == p.content_h) return;
        if (fused_allowed && interpolation == cv::INTER_LINEAR && img.cols == p.content_w && img.depth() == CV_8U &&
            row_blend_matches_opencv()) {
            dst_h_ = p.content_h;
            row_.resize(static_cast<std::size_t>(img.cols) * static_cast<std::size_t>(img.channels()));
            return;
        }
        cv::resize(img, resized_, cv::Size(p.content_w, p.content_h), 0, 0, interpolation);
    }
    const uchar* row(int cy) {
        if (dst_h_ > 0) {
            blend_into(img_, dst_h_, cy, row_.data());
            return row_.data();
        }
        return resized_.empty() ? img_.ptr<uchar>(cy) : resized_.ptr<uchar>(cy);
    }

private:
    const cv::Mat& img_;
    cv::Mat resized_;
    int dst_h_ = 0;  // > 0: blended rows
    std::vector<uchar> row_;
};

// The arithmetic row kernel: n pixels of 3 interleaved bytes -> one row of each plane,
// value = (byte / divisor - mean) / std in float, the very operations the tables are filled with.
// IEEE division and subtraction round a vector lane exactly as a scalar, so the result is
// bit-identical to the table walk (tests/detectors/test_pixel_formats.cpp compares them over every
// byte value); without -ffast-math GCC vectorizes the division as divps, never as an approximate
// reciprocal. With AVX2 this is 2.7x faster than the table's three loads per pixel
// (benchmarks/bench_preprocess.cpp); built for AVX2 only, picked at run time.
#if defined(__x86_64__) && defined(__GNUC__)
#define TILEDET_ROW_KERNEL 1
template <bool Swap, bool Plain>
__attribute__((target("avx2"))) void planes_row_avx2(const uchar* __restrict src, int n, const PixelTransform& t,
                                                     float* __restrict c0, float* __restrict c1,
                                                     float* __restrict c2) {
    const float d = t.divisor;
    const float m0 = t.mean[0], m1 = t.mean[1], m2 = t.mean[2];
    const float s0 = t.std[0], s1 = t.std[1], s2 = t.std[2];
    for (int x = 0; x < n; ++x) {
        // Model channel 0 is the image's R byte (BGR index 2), or its B byte when Swap (bgr).
        const float v0 = src[3 * x + (Swap ? 0 : 2)], v1 = src[3 * x + 1], v2 = src[3 * x + (Swap ? 2 : 0)];
        if constexpr (Plain) {
            c0[x] = v0 / d;
            c1[x] = v1 / d;
            c2[x] = v2 / d;
        } else {
            c0[x] = (v0 / d - m0) / s0;
            c1[x] = (v1 / d - m1) / s1;
            c2[x] = (v2 / d - m2) / s2;
        }
    }
}

using RowKernel = void (*)(const uchar*, int, const PixelTransform&, float*, float*, float*);

RowKernel pick_row_kernel(const PixelTransform& t) {
    static const bool avx2 = __builtin_cpu_supports("avx2");
    if (!avx2) return nullptr;
    // mean 0 and std 1: (v / d - 0) / 1 is v / d exactly, one division instead of two.
    const bool plain = t.mean == std::array<float, 3>{0, 0, 0} && t.std == std::array<float, 3>{1, 1, 1};
    if (t.bgr) return plain ? planes_row_avx2<true, true> : planes_row_avx2<true, false>;
    return plain ? planes_row_avx2<false, true> : planes_row_avx2<false, false>;
}
#endif

template <class T>
void write_planes_impl(const cv::Mat& bgr, const Placement& p, const PixelTransform& t, T* dst, bool by_table) {
    const Geometry& g = p.geometry;
    // One table per output channel turns a byte into its final value, so the pass below is a
    // load and a store per sample whatever the normalization.
    float lut[3][256];
    for (int c = 0; c < 3; ++c)
        for (int v = 0; v < 256; ++v) lut[c][v] = (static_cast<float>(v) / t.divisor - t.mean[c]) / t.std[c];
    const int pad = std::clamp(t.pad_value, 0, 255);
#ifdef TILEDET_ROW_KERNEL
    RowKernel kernel = nullptr;
    if constexpr (std::is_same_v<T, float>)
        if (!by_table) kernel = pick_row_kernel(t);
#else
    (void)by_table;
#endif

    // The tables' walk (the reference) keeps cv::resize, so comparing the two tests the blend too.
    ContentRows content(bgr, p, t.interpolation, /*fused_allowed=*/!by_table);

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
        const uchar* src = content.row(cy);
        T* c0 = planes[0] + row + p.left;
        T* c1 = planes[1] + row + p.left;
        T* c2 = planes[2] + row + p.left;
#ifdef TILEDET_ROW_KERNEL
        if constexpr (std::is_same_v<T, float>)
            if (kernel) {
                kernel(src, p.content_w, t, c0, c1, c2);
                continue;
            }
#endif
        // Model channel 0 reads the image's R byte (index 2 of BGR), or its B byte when bgr.
        const int first = t.bgr ? 0 : 2, last = 2 - first;
        for (int x = 0; x < p.content_w; ++x, src += 3) {
            c0[x] = T(lut[0][src[first]]);
            c1[x] = T(lut[1][src[1]]);
            c2[x] = T(lut[2][src[last]]);
        }
    }
}

}  // namespace

template <class T>
void write_planes(const cv::Mat& bgr, const Placement& p, const PixelTransform& t, T* dst) {
    write_planes_impl(bgr, p, t, dst, /*by_table=*/false);
}

template <class T>
void write_planes_by_table(const cv::Mat& bgr, const Placement& p, const PixelTransform& t, T* dst) {
    write_planes_impl(bgr, p, t, dst, /*by_table=*/true);
}

namespace {

// One table per channel, byte -> final value (see write_planes).
struct Tables {
    float lut[3][256];
    int pad;
};

void fill_tables(const PixelTransform& t, int channels, Tables& out) {
    for (int c = 0; c < channels; ++c)
        for (int v = 0; v < 256; ++v) out.lut[c][v] = (static_cast<float>(v) / t.divisor - t.mean[c]) / t.std[c];
    out.pad = std::clamp(t.pad_value, 0, 255);
}


}  // namespace

template <class T>
void write_interleaved(const cv::Mat& bgr, const Placement& p, const PixelTransform& t, T* dst) {
    const Geometry& g = p.geometry;
    Tables tab;
    fill_tables(t, 3, tab);
    ContentRows content(bgr, p, t.interpolation, /*fused_allowed=*/true);
    const T pad_px[3] = {T(tab.lut[0][tab.pad]), T(tab.lut[1][tab.pad]), T(tab.lut[2][tab.pad])};
    const auto fill_pad = [&](T* from, int pixels) {
        for (int x = 0; x < pixels; ++x, from += 3) {
            from[0] = pad_px[0];
            from[1] = pad_px[1];
            from[2] = pad_px[2];
        }
    };
    const int first = t.bgr ? 0 : 2, last = 2 - first;
    const std::size_t row_len = static_cast<std::size_t>(g.input_w) * 3;
    for (int y = 0; y < g.input_h; ++y) {
        T* row = dst + static_cast<std::size_t>(y) * row_len;
        const int cy = y - p.top;
        if (cy < 0 || cy >= p.content_h) {
            fill_pad(row, g.input_w);
            continue;
        }
        fill_pad(row, p.left);
        fill_pad(row + static_cast<std::size_t>(p.left + p.content_w) * 3, g.input_w - p.left - p.content_w);
        const uchar* src = content.row(cy);
        T* out = row + static_cast<std::size_t>(p.left) * 3;
        for (int x = 0; x < p.content_w; ++x, src += 3, out += 3) {
            out[0] = T(tab.lut[0][src[first]]);
            out[1] = T(tab.lut[1][src[1]]);
            out[2] = T(tab.lut[2][src[last]]);
        }
    }
}

template <class T>
void write_grey(const cv::Mat& bgr, const Placement& p, const PixelTransform& t, T* dst) {
    const Geometry& g = p.geometry;
    Tables tab;
    fill_tables(t, 1, tab);
    cv::Mat grey;
    cv::cvtColor(bgr, grey, cv::COLOR_BGR2GRAY);
    ContentRows content(grey, p, t.interpolation, /*fused_allowed=*/true);
    const T pad = T(tab.lut[0][tab.pad]);
    for (int y = 0; y < g.input_h; ++y) {
        T* row = dst + static_cast<std::size_t>(y) * static_cast<std::size_t>(g.input_w);
        const int cy = y - p.top;
        if (cy < 0 || cy >= p.content_h) {
            std::fill(row, row + g.input_w, pad);
            continue;
        }
        std::fill(row, row + p.left, pad);
        std::fill(row + p.left + p.content_w, row + g.input_w, pad);
        const uchar* src = content.row(cy);
        T* out = row + p.left;
        for (int x = 0; x < p.content_w; ++x) out[x] = T(tab.lut[0][src[x]]);
    }
}

namespace {

template <class T>
void write_typed(const cv::Mat& bgr, const Placement& p, const PixelFormat& f, const PixelTransform& t, T* dst) {
    if (f.channels == 1)
        write_grey(bgr, p, t, dst);
    else if (f.layout == TensorLayout::nhwc)
        write_interleaved(bgr, p, t, dst);
    else
        write_planes(bgr, p, t, dst);
}

}  // namespace

void write_image(const cv::Mat& bgr, const Placement& p, const PixelFormat& f, std::byte* dst) {
    if (f.channels != 1 && f.channels != 3)
        throw InputError("preprocess: expected 1 or 3 channels, the pixel format says " + std::to_string(f.channels));
    PixelTransform t;
    t.pad_value = f.pad_value;
    t.bgr = f.bgr;
    t.divisor = f.scale;
    t.mean = f.mean;
    t.std = f.std;
    t.interpolation = f.interpolation == Interpolation::cubic ? cv::INTER_CUBIC : cv::INTER_LINEAR;
    switch (f.type) {
        case ElementType::float32: return write_typed(bgr, p, f, t, reinterpret_cast<float*>(dst));
        case ElementType::float16: return write_typed(bgr, p, f, t, reinterpret_cast<cv::float16_t*>(dst));
        case ElementType::uint8: {
            // A uint8 input takes the bytes as they are: the model normalizes inside (YOLO-NAS).
            PixelTransform bytes;
            bytes.pad_value = f.pad_value;
            bytes.bgr = f.bgr;
            bytes.divisor = 1.0f;
            bytes.interpolation = t.interpolation;
            return write_typed(bgr, p, f, bytes, reinterpret_cast<std::uint8_t*>(dst));
        }
        default:
            throw InputError("preprocess: cannot write an image input of type " + to_string(f.type) +
                             " (float32, float16 or uint8)");
    }
}

template void write_planes<float>(const cv::Mat&, const Placement&, const PixelTransform&, float*);
template void write_planes<cv::float16_t>(const cv::Mat&, const Placement&, const PixelTransform&, cv::float16_t*);
template void write_planes<std::uint8_t>(const cv::Mat&, const Placement&, const PixelTransform&, std::uint8_t*);
template void write_planes_by_table<float>(const cv::Mat&, const Placement&, const PixelTransform&, float*);
template void write_interleaved<float>(const cv::Mat&, const Placement&, const PixelTransform&, float*);
template void write_interleaved<cv::float16_t>(const cv::Mat&, const Placement&, const PixelTransform&,
                                               cv::float16_t*);
template void write_interleaved<std::uint8_t>(const cv::Mat&, const Placement&, const PixelTransform&, std::uint8_t*);
template void write_grey<float>(const cv::Mat&, const Placement&, const PixelTransform&, float*);
template void write_grey<cv::float16_t>(const cv::Mat&, const Placement&, const PixelTransform&, cv::float16_t*);
template void write_grey<std::uint8_t>(const cv::Mat&, const Placement&, const PixelTransform&, std::uint8_t*);

}  // namespace tiledet::detail
