#include "tiledet/tiling/mask_ops.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace tiledet {

std::int64_t intersection_area(const Mask& a, const Mask& b) {
    const int x0 = std::max(a.x, b.x), y0 = std::max(a.y, b.y);
    const int x1 = std::min(a.x + a.w, b.x + b.w), y1 = std::min(a.y + a.h, b.y + b.h);
    std::int64_t n = 0;
    for (int y = y0; y < y1; ++y)
        for (int x = x0; x < x1; ++x) n += a.at(x, y) && b.at(x, y);
    return n;
}

float iou(const Mask& a, const Mask& b) {
    const auto inter = static_cast<double>(intersection_area(a, b));
    const double uni = static_cast<double>(a.area() + b.area()) - inter;
    return uni > 0 ? static_cast<float>(inter / uni) : 0.0f;
}

float ios(const Mask& a, const Mask& b) {
    const auto smaller = static_cast<double>(std::min(a.area(), b.area()));
    return smaller > 0 ? static_cast<float>(static_cast<double>(intersection_area(a, b)) / smaller) : 0.0f;
}

Mask union_of(const Mask& a, const Mask& b) {
    if (a.w <= 0 || a.h <= 0) return b;
    if (b.w <= 0 || b.h <= 0) return a;
    Mask u;
    u.x = std::min(a.x, b.x);
    u.y = std::min(a.y, b.y);
    u.w = std::max(a.x + a.w, b.x + b.w) - u.x;
    u.h = std::max(a.y + a.h, b.y + b.h) - u.y;
    u.data.assign(static_cast<std::size_t>(u.w) * static_cast<std::size_t>(u.h), 0);
    for (const Mask* m : {&a, &b})
        for (int y = 0; y < m->h; ++y)
            for (int x = 0; x < m->w; ++x)
                if (m->data[static_cast<std::size_t>(y) * static_cast<std::size_t>(m->w) + static_cast<std::size_t>(x)])
                    u.data[static_cast<std::size_t>(y + m->y - u.y) * static_cast<std::size_t>(u.w) +
                           static_cast<std::size_t>(x + m->x - u.x)] = 1;
    return u;
}

Mask tight(const Mask& m) {
    int x0 = m.w, y0 = m.h, x1 = -1, y1 = -1;
    for (int y = 0; y < m.h; ++y)
        for (int x = 0; x < m.w; ++x)
            if (m.data[static_cast<std::size_t>(y) * static_cast<std::size_t>(m.w) + static_cast<std::size_t>(x)]) {
                x0 = std::min(x0, x), y0 = std::min(y0, y), x1 = std::max(x1, x), y1 = std::max(y1, y);
            }
    Mask t;
    if (x1 < 0) {
        t.x = m.x, t.y = m.y;
        return t;
    }
    t.x = m.x + x0, t.y = m.y + y0, t.w = x1 - x0 + 1, t.h = y1 - y0 + 1;
    t.data.resize(static_cast<std::size_t>(t.w) * static_cast<std::size_t>(t.h));
    for (int y = 0; y < t.h; ++y)
        for (int x = 0; x < t.w; ++x)
            t.data[static_cast<std::size_t>(y) * static_cast<std::size_t>(t.w) + static_cast<std::size_t>(x)] =
                m.data[static_cast<std::size_t>(y + y0) * static_cast<std::size_t>(m.w) +
                       static_cast<std::size_t>(x + x0)];
    return t;
}

Mask rasterize_polygon(const std::vector<float>& xy, int image_w, int image_h) {
    Mask m;
    const std::size_t n = xy.size() / 2;
    if (n < 3) return m;
    // A point that is not a finite number has no place: no pixel is inside such a polygon.
    if (!std::all_of(xy.begin(), xy.begin() + static_cast<std::ptrdiff_t>(2 * n), [](float v) { return std::isfinite(v); }))
        return m;
    float x0 = xy[0], x1 = xy[0], y0 = xy[1], y1 = xy[1];
    for (std::size_t i = 0; i < n; ++i) {
        x0 = std::min(x0, xy[2 * i]), x1 = std::max(x1, xy[2 * i]);
        y0 = std::min(y0, xy[2 * i + 1]), y1 = std::max(y1, xy[2 * i + 1]);
    }
    // Clamped as doubles first: a coordinate beyond int's range must not reach the conversion.
    const auto pixel = [](double v, int hi) { return static_cast<int>(std::clamp(v, 0.0, static_cast<double>(std::max(hi, 0)))); };
    m.x = pixel(std::floor(x0), image_w);
    m.y = pixel(std::floor(y0), image_h);
    m.w = pixel(std::ceil(x1), image_w) - m.x;
    m.h = pixel(std::ceil(y1), image_h) - m.y;
    if (m.w <= 0 || m.h <= 0) {
        m.w = m.h = 0;
        return m;
    }
    m.data.assign(static_cast<std::size_t>(m.w) * static_cast<std::size_t>(m.h), 0);
    for (int y = 0; y < m.h; ++y) {
        const double py = m.y + y + 0.5;
        for (int x = 0; x < m.w; ++x) {
            const double px = m.x + x + 0.5;
            bool inside = false;
            for (std::size_t i = 0, j = n - 1; i < n; j = i++) {
                const double xi = xy[2 * i], yi = xy[2 * i + 1], xj = xy[2 * j], yj = xy[2 * j + 1];
                if ((yi > py) != (yj > py) && px < (xj - xi) * (py - yi) / (yj - yi) + xi) inside = !inside;
            }
            m.data[static_cast<std::size_t>(y) * static_cast<std::size_t>(m.w) + static_cast<std::size_t>(x)] = inside;
        }
    }
    return m;
}

std::vector<std::uint32_t> rle_counts(const Mask& m, int image_w, int image_h) {
    if (image_w <= 0 || image_h <= 0)
        throw std::invalid_argument("rle_counts: expected a positive image size, got " + std::to_string(image_w) + "x" +
                                    std::to_string(image_h));
    std::vector<std::uint32_t> counts;
    std::uint64_t run = 0;   // current run length
    std::uint8_t value = 0;  // value of the current run; runs alternate starting with 0
    const auto push = [&](std::uint8_t v, std::uint64_t n) {
        if (n == 0) return;
        if (v != value) {
            counts.push_back(static_cast<std::uint32_t>(run));
            run = 0;
            value = v;
        }
        run += n;
    };
    const int cx0 = std::clamp(m.x, 0, image_w), cx1 = std::clamp(m.x + m.w, 0, image_w);
    const int cy0 = std::clamp(m.y, 0, image_h), cy1 = std::clamp(m.y + m.h, 0, image_h);
    push(0, static_cast<std::uint64_t>(cx0) * static_cast<std::uint64_t>(image_h));
    for (int x = cx0; x < cx1; ++x) {
        push(0, static_cast<std::uint64_t>(cy0));
        for (int y = cy0; y < cy1; ++y) push(m.at(x, y) ? 1 : 0, 1);
        push(0, static_cast<std::uint64_t>(image_h - cy1));
    }
    push(0, static_cast<std::uint64_t>(image_w - cx1) * static_cast<std::uint64_t>(image_h));
    counts.push_back(static_cast<std::uint32_t>(run));
    return counts;
}

std::string rle_string(const std::vector<std::uint32_t>& counts) {
    std::string s;
    for (std::size_t i = 0; i < counts.size(); ++i) {
        long long x = counts[i];
        if (i > 2) x -= static_cast<long long>(counts[i - 2]);
        bool more = true;
        while (more) {
            long long c = x & 0x1f;
            x >>= 5;  // arithmetic shift, as the C code on a signed long
            more = (c & 0x10) ? x != -1 : x != 0;
            if (more) c |= 0x20;
            s.push_back(static_cast<char>(c + 48));
        }
    }
    return s;
}

std::vector<std::uint32_t> rle_from_string(const std::string& s) {
    std::vector<std::uint32_t> counts;
    std::size_t p = 0;
    while (p < s.size()) {
        long long x = 0;
        int k = 0;
        bool more = true;
        while (more) {
            if (p >= s.size() || k > 10)
                throw std::invalid_argument("rle_from_string: truncated or malformed counts string");
            const long long c = static_cast<long long>(s[p]) - 48;
            if (c < 0 || c > 63) throw std::invalid_argument("rle_from_string: character outside the RLE alphabet");
            x |= (c & 0x1f) << (5 * k);
            more = (c & 0x20) != 0;
            ++p, ++k;
            if (!more && (c & 0x10)) x |= -1LL << (5 * k);
        }
        if (counts.size() > 2) x += static_cast<long long>(counts[counts.size() - 2]);
        if (x < 0 || x > 0xffffffffLL) throw std::invalid_argument("rle_from_string: a count is out of range");
        counts.push_back(static_cast<std::uint32_t>(x));
    }
    return counts;
}

Mask mask_from_rle(const std::vector<std::uint32_t>& counts, int image_w, int image_h) {
    std::uint64_t total = 0;
    for (std::uint32_t c : counts) total += c;
    if (image_w <= 0 || image_h <= 0 ||
        total != static_cast<std::uint64_t>(image_w) * static_cast<std::uint64_t>(image_h))
        throw std::invalid_argument("mask_from_rle: counts sum to " + std::to_string(total) + ", expected " +
                                    std::to_string(image_w) + "x" + std::to_string(image_h));
    Mask m{0, 0, image_w, image_h, std::vector<std::uint8_t>(static_cast<std::size_t>(total), 0)};
    std::uint64_t i = 0;
    for (std::size_t k = 0; k < counts.size(); ++k) {
        for (std::uint32_t n = 0; n < counts[k]; ++n, ++i)
            if (k % 2 == 1) {
                const auto col = i / static_cast<std::uint64_t>(image_h), row = i % static_cast<std::uint64_t>(image_h);
                m.data[row * static_cast<std::uint64_t>(image_w) + col] = 1;
            }
    }
    return m;
}

}  // namespace tiledet
