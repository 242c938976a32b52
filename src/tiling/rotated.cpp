#include "tiledet/tiling/rotated.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace tiledet {
namespace {

double cross(const Point2& o, const Point2& a, const Point2& b) {
    return (static_cast<double>(a.x) - o.x) * (static_cast<double>(b.y) - o.y) -
           (static_cast<double>(a.y) - o.y) * (static_cast<double>(b.x) - o.x);
}

double signed_area(const std::vector<Point2>& p) {
    double s = 0;
    for (std::size_t i = 0, n = p.size(); i < n; ++i) {
        const Point2& a = p[i];
        const Point2& b = p[(i + 1) % n];
        s += static_cast<double>(a.x) * b.y - static_cast<double>(b.x) * a.y;
    }
    return s / 2;
}

std::vector<Point2> as_polygon(const RotatedBox& r) {
    const auto c = r.corners();
    return {c.begin(), c.end()};
}

}  // namespace

float polygon_area(const std::vector<Point2>& polygon) {
    return static_cast<float>(std::abs(signed_area(polygon)));
}

std::vector<Point2> clip_convex(const std::vector<Point2>& subject, const std::vector<Point2>& clip_in) {
    if (subject.size() < 3 || clip_in.size() < 3) return {};
    std::vector<Point2> clip = clip_in;
    if (signed_area(clip) < 0) std::reverse(clip.begin(), clip.end());  // counter-clockwise: inside is left
    std::vector<Point2> out = subject, in;
    for (std::size_t e = 0; e < clip.size() && !out.empty(); ++e) {
        const Point2& a = clip[e];
        const Point2& b = clip[(e + 1) % clip.size()];
        in.swap(out);
        out.clear();
        for (std::size_t i = 0; i < in.size(); ++i) {
            const Point2& p = in[i];
            const Point2& q = in[(i + 1) % in.size()];
            const double cp = cross(a, b, p), cq = cross(a, b, q);
            if (cp >= 0) out.push_back(p);
            if ((cp >= 0) != (cq >= 0)) {
                const double t = cp / (cp - cq);
                out.push_back(
                    Point2{static_cast<float>(p.x + t * (q.x - p.x)), static_cast<float>(p.y + t * (q.y - p.y))});
            }
        }
    }
    return out.size() >= 3 ? out : std::vector<Point2>{};
}

float intersection_area(const RotatedBox& a, const RotatedBox& b) {
    if (!(a.area() > 0) || !(b.area() > 0)) return 0.0f;
    return polygon_area(clip_convex(as_polygon(a), as_polygon(b)));
}

float iou(const RotatedBox& a, const RotatedBox& b) {
    const float inter = intersection_area(a, b);
    const float uni = a.area() + b.area() - inter;
    return uni > 0 ? std::min(1.0f, inter / uni) : 0.0f;
}

float ios(const RotatedBox& a, const RotatedBox& b) {
    const float inter = intersection_area(a, b);
    const float smaller = std::min(a.area(), b.area());
    return smaller > 0 ? std::min(1.0f, inter / smaller) : 0.0f;
}

RotatedBox bounding_box_at(const std::vector<Point2>& points, float angle) {
    if (points.empty()) throw std::invalid_argument("bounding_box_at: expected at least one point, got none");
    const double c = std::cos(angle), s = std::sin(angle);
    double u0 = 1e300, u1 = -1e300, v0 = 1e300, v1 = -1e300;
    for (const Point2& p : points) {
        const double u = p.x * c + p.y * s;   // along the w side
        const double v = -p.x * s + p.y * c;  // along the h side
        u0 = std::min(u0, u), u1 = std::max(u1, u), v0 = std::min(v0, v), v1 = std::max(v1, v);
    }
    const double um = (u0 + u1) / 2, vm = (v0 + v1) / 2;
    return RotatedBox{static_cast<float>(um * c - vm * s), static_cast<float>(um * s + vm * c),
                      static_cast<float>(u1 - u0), static_cast<float>(v1 - v0), angle};
}

RotatedBox enclose_along(const RotatedBox& keeper, const RotatedBox& other) {
    std::vector<Point2> pts;
    pts.reserve(8);
    for (const Point2& p : keeper.corners()) pts.push_back(p);
    for (const Point2& p : other.corners()) pts.push_back(p);
    return bounding_box_at(pts, keeper.angle);
}

}  // namespace tiledet
