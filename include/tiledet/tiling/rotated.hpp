// Geometry of oriented boxes for merging across tiles: exact overlap of two rotated rectangles
// (convex polygon clipping) and the enclosing box a merge keeps. Only the box types.
#pragma once

#include <vector>

#include "tiledet/detection.hpp"

namespace tiledet {

// Area of a simple polygon (shoelace formula), pixels^2, >= 0 for either winding.
float polygon_area(const std::vector<Point2>& polygon);

// The part of convex polygon `subject` inside convex polygon `clip` (Sutherland-Hodgman). Both
// in either winding; the result is empty when they do not overlap.
std::vector<Point2> clip_convex(const std::vector<Point2>& subject, const std::vector<Point2>& clip);

// Exact intersection area of two rotated rectangles, pixels^2.
float intersection_area(const RotatedBox& a, const RotatedBox& b);
// Intersection over union / over the smaller box's area (SAHI's IOS), of the exact polygons;
// 0 when a box has no area.
float iou(const RotatedBox& a, const RotatedBox& b);
float ios(const RotatedBox& a, const RotatedBox& b);

// The box a merge keeps: oriented like `keeper`, just large enough to hold every corner of both.
// The rotated counterpart of SAHI's enclosing box (which is oriented like the image): pieces of
// one object seen by different tiles share its orientation, so their enclosure at that angle is
// the whole object; an axis-aligned enclosure of a 30 degree object is not.
RotatedBox enclose_along(const RotatedBox& keeper, const RotatedBox& other);

// The rotated box at `angle` that tightly holds `points` (their extents along the angle's axes).
// Throws std::invalid_argument for no points.
RotatedBox bounding_box_at(const std::vector<Point2>& points, float angle);

}  // namespace tiledet
