// Plain value types shared by every stage: boxes and detections.
#pragma once

#include <cstdint>
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

struct Detection {
    Box box;
    float score = 0;
    int class_id = 0;  // the model's own class index (see the family for its convention)
};

using Detections = std::vector<Detection>;

}  // namespace tiledet
