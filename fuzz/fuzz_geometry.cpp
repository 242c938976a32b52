// Geometry of rotated boxes and instance masks (tiling/rotated.hpp, tiling/mask_ops.hpp) and
// their merge across tiles: the COCO RLE string parser (eval reads it from label files) must
// refuse or round-trip; overlaps stay within [0, 1] and within the smaller area; unions and
// enclosures hold what they join; merge_detections with rotated boxes and masks keeps its
// promises (no more detections than it got, best first). Sizes are bounded so a case stays small.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include "tiledet/tiling/mask_ops.hpp"
#include "tiledet/tiling/merge.hpp"
#include "tiledet/tiling/rotated.hpp"

namespace {

using namespace tiledet;

void check(bool ok) {
    if (!ok) __builtin_trap();
}

float coordinate(FuzzedDataProvider& in) {
    // Mostly small values so shapes overlap; sometimes anything a float can be (NaN, inf).
    return in.ConsumeBool() ? static_cast<float>(in.ConsumeIntegralInRange(-16, 96)) / 2.0f
                            : in.ConsumeFloatingPoint<float>();
}

RotatedBox rotated(FuzzedDataProvider& in) {
    return {coordinate(in), coordinate(in), coordinate(in), coordinate(in),
            static_cast<float>(in.ConsumeIntegralInRange(-700, 700)) / 100.0f};
}

Mask small_mask(FuzzedDataProvider& in) {
    Mask m;
    m.x = in.ConsumeIntegralInRange(-8, 64);
    m.y = in.ConsumeIntegralInRange(-8, 64);
    m.w = in.ConsumeIntegralInRange(0, 24);
    m.h = in.ConsumeIntegralInRange(0, 24);
    m.data.resize(static_cast<std::size_t>(m.w) * static_cast<std::size_t>(m.h));
    for (auto& v : m.data) v = in.ConsumeBool() ? 1 : 0;
    return m;
}

bool finite(const RotatedBox& b) {
    return std::isfinite(b.cx) && std::isfinite(b.cy) && std::isfinite(b.w) && std::isfinite(b.h) &&
           std::isfinite(b.angle) && std::abs(b.cx) < 1e4f && std::abs(b.cy) < 1e4f && std::abs(b.w) < 1e4f &&
           std::abs(b.h) < 1e4f;
}

void rle_case(FuzzedDataProvider& in) {
    const int w = in.ConsumeIntegralInRange(1, 64), h = in.ConsumeIntegralInRange(1, 64);
    const std::string s = in.ConsumeRandomLengthString(512);
    std::vector<std::uint32_t> counts;
    try {
        counts = rle_from_string(s);
    } catch (const std::invalid_argument&) {
        return;
    }
    // Any counts it accepts encode back to a string that parses to the same counts.
    check(rle_from_string(rle_string(counts)) == counts);
    Mask m;
    try {
        m = mask_from_rle(counts, w, h);
    } catch (const std::invalid_argument&) {
        return;
    }
    check(m.w == w && m.h == h && m.data.size() == static_cast<std::size_t>(w) * static_cast<std::size_t>(h));
    // The decoded mask encodes to counts that decode to the same pixels.
    check(mask_from_rle(rle_counts(m, w, h), w, h).data == m.data);
}

void rotated_case(FuzzedDataProvider& in) {
    const RotatedBox a = rotated(in), b = rotated(in);
    const float i = intersection_area(a, b), u = iou(a, b), s = ios(a, b);
    if (!finite(a) || !finite(b)) return;  // anything, but no crash
    const float tol = 1e-3f * std::max(1.0f, std::max(a.area(), b.area()));
    check(i >= -tol && i <= std::min(std::abs(a.area()), std::abs(b.area())) + tol);
    check(u >= 0.0f && u <= 1.0f + 1e-3f);
    check(s >= 0.0f && s <= 1.0f + 1e-3f);
    if (a.w > 0 && a.h > 0 && b.w > 0 && b.h > 0) {
        const RotatedBox e = enclose_along(a, b);
        // The enclosure holds both boxes: each one's overlap with it is its whole area.
        check(intersection_area(e, a) >= a.area() * 0.99f - tol);
        check(intersection_area(e, b) >= b.area() * 0.99f - tol);
    }
}

void mask_case(FuzzedDataProvider& in) {
    const Mask a = small_mask(in), b = small_mask(in);
    const std::int64_t i = intersection_area(a, b);
    check(i >= 0 && i <= std::min(a.area(), b.area()));
    const float u = iou(a, b), s = ios(a, b);
    check(u >= 0.0f && u <= 1.0f && s >= 0.0f && s <= 1.0f);
    const Mask un = union_of(a, b);
    check(un.area() == a.area() + b.area() - i);
    const Mask t = tight(un);
    check(t.area() == un.area());
    const int iw = in.ConsumeIntegralInRange(-2, 128), ih = in.ConsumeIntegralInRange(-2, 128);
    try {
        const Mask back = mask_from_rle(rle_counts(a, iw, ih), iw, ih);
        // Pixels of `a` inside the image come back, and no others.
        for (int y = 0; y < ih; ++y)
            for (int x = 0; x < iw; ++x) check(back.at(x, y) == a.at(x, y));
    } catch (const std::invalid_argument&) {
        check(iw <= 0 || ih <= 0);
    }
    std::vector<float> polygon;
    const int points = in.ConsumeIntegralInRange(0, 12);
    for (int k = 0; k < 2 * points; ++k) polygon.push_back(coordinate(in));
    const Mask p = rasterize_polygon(polygon, std::max(iw, 0), std::max(ih, 0));
    check(p.x >= 0 && p.y >= 0 && p.x + p.w <= std::max(iw, 0) && p.y + p.h <= std::max(ih, 0));
    check(p.data.size() == static_cast<std::size_t>(p.w) * static_cast<std::size_t>(p.h));
}

void merge_case(FuzzedDataProvider& in) {
    MergeOptions options;
    options.algorithm = static_cast<MergeAlgorithm>(in.ConsumeIntegralInRange(0, 2));
    options.metric = in.ConsumeBool() ? MatchMetric::iou : MatchMetric::ios;
    options.threshold = in.ConsumeProbability<float>();
    options.class_agnostic = in.ConsumeBool();
    const bool with_rbox = in.ConsumeBool(), with_mask = !with_rbox && in.ConsumeBool();
    Detections dets;
    while (in.remaining_bytes() > 0 && dets.size() < 64) {
        Detection d;
        if (with_rbox) {
            d.rbox = rotated(in);
            if (!finite(*d.rbox)) d.rbox = RotatedBox{1, 1, 1, 1, 0};
            d.box = d.rbox->bounds();
        } else {
            d.box = {coordinate(in), coordinate(in), coordinate(in), coordinate(in)};
        }
        if (with_mask) d.mask = std::make_shared<const Mask>(small_mask(in));
        d.score = in.ConsumeProbability<float>();
        d.class_id = in.ConsumeIntegralInRange(0, 3);
        dets.push_back(std::move(d));
    }
    try {
        const Detections merged = merge_detections(dets, options);
        check(merged.size() <= dets.size());
        for (std::size_t k = 1; k < merged.size(); ++k) check(merged[k - 1].score >= merged[k].score);
        for (const Detection& d : merged) {
            check(d.rbox.has_value() == with_rbox);
            check((d.mask != nullptr) == with_mask);
        }
    } catch (const std::invalid_argument&) {
        // documented for NaN coordinates
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider in(data, size);
    switch (in.ConsumeIntegralInRange(0, 3)) {
        case 0: rle_case(in); break;
        case 1: rotated_case(in); break;
        case 2: mask_case(in); break;
        default: merge_case(in); break;
    }
    return 0;
}
