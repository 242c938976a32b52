// Image -> model input slot in one pass, and the geometry that maps boxes back.
#pragma once

#include <array>
#include <cstddef>
#include <opencv2/core.hpp>

#include "tiledet/detectors/detector.hpp"

namespace tiledet::detail {

// Where an orig_w x orig_h image lands in an input_w x input_h frame, plus the integer
// placement that preprocess writes (content size and top-left corner).
struct Placement {
    Geometry geometry;
    int content_w = 0, content_h = 0;
    int left = 0, top = 0;
};

// letterbox: Ultralytics LetterBox (ultralytics/data/augment.py): r = min(h'/h, w'/w),
// new_unpad = round(w*r), round(h*r); left = round(dw/2 - 0.1), top = round(dh/2 - 0.1), with
// Python's round (half to even). stretch: content fills the frame, scale per axis.
// LetterboxStyle::top_left: YOLOX preproc (yolox/data/data_augment.py, model-formats-more.md
// c(3)): the same r, content sized int(w*r), int(h*r) (truncation) and pasted at (0, 0).
// centred_floor: super-gradients DetectionLongestMaxSizeRescale + DetectionCenterPadding
// (model-formats-more.md e(3)): r = min((h'-inset)/h, (w'-inset)/w), size round(), left = dw // 2.
Placement plan_placement(int orig_w, int orig_h, int input_w, int input_h, ResizeMode mode,
                         LetterboxStyle style = LetterboxStyle::centred, int inset = 0);

// Per channel, in the model's channel order (R, G, B; B, G, R when `bgr`):
// value = (byte / divisor - mean) / std.
struct PixelTransform {
    std::array<float, 3> mean{0, 0, 0};
    std::array<float, 3> std{1, 1, 1};
    int pad_value = 114;
    bool bgr = false;
    float divisor = 255.0f;  // 1: raw bytes (YOLOX)
    int interpolation = 1;   // cv::InterpolationFlags: INTER_LINEAR (1) or INTER_CUBIC (2)
};

// Resizes `bgr` (8-bit, 3 channels, may be an ROI view) with cv::resize (t.interpolation) into an
// 8-bit buffer, then writes the NCHW planes of one item in a single pass: BGR -> RGB (unless bgr), /divisor,
// mean/std, pad. `dst` points at the item's first element; `T` is float, cv::float16_t or
// uint8_t (uint8 with the identity transform: divisor 1, mean 0, std 1). Every element of
// the item is written, the pad included.
// float32 on a CPU with AVX2 computes each row with vector arithmetic, bit-identical to the
// tables (see preprocess.cpp); otherwise it walks the per-channel byte -> value tables.
template <class T>
void write_planes(const cv::Mat& bgr, const Placement& p, const PixelTransform& t, T* dst);

// write_planes always through the tables: the reference the fast path is tested and benchmarked
// against (instantiated for float).
template <class T>
void write_planes_by_table(const cv::Mat& bgr, const Placement& p, const PixelTransform& t, T* dst);

// Whether the row-by-row bilinear stretch (only the height changes: write_planes, write_interleaved
// and write_grey blend two source rows per output row instead of calling cv::resize) gives
// cv::resize's bytes in this process's OpenCV. Checked once, on pseudo-random images, the first
// time it is asked; when false every stretch goes through cv::resize.
bool row_blend_matches_opencv();

// The same item as [H, W, 3] (NHWC): pixel-interleaved channels in the model's order.
template <class T>
void write_interleaved(const cv::Mat& bgr, const Placement& p, const PixelTransform& t, T* dst);

// One channel: grey = cv::cvtColor(bgr, COLOR_BGR2GRAY) (OpenCV's 0.299 R + 0.587 G + 0.114 B,
// fixed point), then resized; [H, W] is the same bytes in NCHW and NHWC. Uses mean[0], std[0].
template <class T>
void write_grey(const cv::Mat& bgr, const Placement& p, const PixelTransform& t, T* dst);

// One item of the image input as `format` says (channels, layout, element type), at `dst`
// (the item's first byte). Throws InputError for a type it cannot write.
void write_image(const cv::Mat& bgr, const Placement& p, const PixelFormat& format, std::byte* dst);

}  // namespace tiledet::detail
