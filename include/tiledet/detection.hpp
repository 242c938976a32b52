// Plain value types shared by every stage: boxes and detections.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace tiledet {

// Axis-aligned box, corners in pixels (x1,y1 top-left; x2,y2 bottom-right, exclusive edge).
struct Box {
    float x1 = 0, y1 = 0, x2 = 0, y2 = 0;

    float width() const { return x2 > x1 ? x2 - x1 : 0.0f; }
    float height() const { return y2 > y1 ? y2 - y1 : 0.0f; }
    float area() const { return width() * height(); }
};

inline float intersection_area(const Box& a, const Box& b) {
    const float w = (a.x2 < b.x2 ? a.x2 : b.x2) - (a.x1 > b.x1 ? a.x1 : b.x1);
    const float h = (a.y2 < b.y2 ? a.y2 : b.y2) - (a.y1 > b.y1 ? a.y1 : b.y1);
    return (w > 0 && h > 0) ? w * h : 0.0f;
}

inline float iou(const Box& a, const Box& b) {
    const float inter = intersection_area(a, b);
    const float uni = a.area() + b.area() - inter;
    return uni > 0 ? inter / uni : 0.0f;
}

// Intersection over the smaller box (SAHI's "IOS" match metric).
inline float ios(const Box& a, const Box& b) {
    const float inter = intersection_area(a, b);
    const float smaller = a.area() < b.area() ? a.area() : b.area();
    return smaller > 0 ? inter / smaller : 0.0f;
}

struct Point2 {
    float x = 0, y = 0;
};

// Oriented (rotated) box in Ultralytics' xywhr form: centre (cx, cy) and sides (w, h) in pixels,
// `angle` in radians, measured from the image x axis towards +y (clockwise on screen, y down).
// The w side runs along (cos angle, sin angle). Ultralytics reports angle in [0, pi/2) after
// regularize_rboxes (model-formats-more.md h(5)); any angle is accepted here.
struct RotatedBox {
    float cx = 0, cy = 0, w = 0, h = 0, angle = 0;

    float area() const { return w * h; }
    // Corners in Ultralytics' xywhr2xyxyxyxy order (ultralytics/utils/ops.py):
    // c + v1 + v2, c + v1 - v2, c - v1 - v2, c - v1 + v2 with v1 = w/2 (cos, sin),
    // v2 = h/2 (-sin, cos). DOTA's x1 y1 ... x4 y4 label order is the same walk round the box.
    std::array<Point2, 4> corners() const {
        const float c = std::cos(angle), s = std::sin(angle);
        const float v1x = w / 2 * c, v1y = w / 2 * s, v2x = -h / 2 * s, v2y = h / 2 * c;
        return {Point2{cx + v1x + v2x, cy + v1y + v2y}, Point2{cx + v1x - v2x, cy + v1y - v2y},
                Point2{cx - v1x - v2x, cy - v1y - v2y}, Point2{cx - v1x + v2x, cy - v1y + v2y}};
    }
    // The axis-aligned box around the corners (what Ultralytics' obb.xyxy reports).
    Box bounds() const {
        const auto p = corners();
        Box b{p[0].x, p[0].y, p[0].x, p[0].y};
        for (const Point2& q : p) {
            b.x1 = q.x < b.x1 ? q.x : b.x1;
            b.y1 = q.y < b.y1 ? q.y : b.y1;
            b.x2 = q.x > b.x2 ? q.x : b.x2;
            b.y2 = q.y > b.y2 ? q.y : b.y2;
        }
        return b;
    }
};

// A binary instance mask, held only over its own extent: `data` is w x h bytes (0 or 1),
// row-major, whose first byte is image pixel (x, y). A mask covering a 40x30 box costs 1200 bytes
// whatever the image size (supervision instead holds every mask at full image size).
struct Mask {
    int x = 0, y = 0, w = 0, h = 0;
    std::vector<std::uint8_t> data;

    // Pixel (px, py) in image coordinates; false outside the extent.
    bool at(int px, int py) const {
        return px >= x && py >= y && px < x + w && py < y + h &&
               data[static_cast<std::size_t>(py - y) * static_cast<std::size_t>(w) +
                    static_cast<std::size_t>(px - x)] != 0;
    }
    std::int64_t area() const {
        std::int64_t n = 0;
        for (std::uint8_t v : data) n += v != 0;
        return n;
    }
};

struct Detection {
    Detection() = default;
    // Brace forms {box, score, class_id} and {box, score, class_id, rbox} (not an aggregate, so
    // the optional fields need not be spelled out by plain box families).
    Detection(const Box& b, float s, int c, std::optional<RotatedBox> r = std::nullopt)
        : box(b), score(s), class_id(c), rbox(r) {}

    Box box;  // for an oriented detection: rbox->bounds() (clipped to the image after a merge)
    float score = 0;
    int class_id = 0;  // the model's own class index (see the family for its convention)
    // Set by oriented-box families (yolo_obb); empty for plain box families. Tile merging then
    // compares and encloses the rotated boxes instead of `box` (tiling/merge.hpp).
    std::optional<RotatedBox> rbox;
    // Set by segmentation families (yolo_seg), in image pixels; shared because merging and
    // result copies never modify a mask in place (a merge makes a new one). Empty otherwise.
    std::shared_ptr<const Mask> mask;
};

using Detections = std::vector<Detection>;

}  // namespace tiledet
