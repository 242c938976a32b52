#include "tiledet/tiling/tile_grid.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace tiledet {
namespace {

// Python's int(ratio * size): float64 product truncated toward zero.
int sahi_overlap(double ratio, int size) {
    return static_cast<int>(ratio * size);
}

int resolve_overlap(int px, double ratio, int tile) {
    return px >= 0 ? px : sahi_overlap(ratio, tile);
}

std::string size_text(int w, int h) {
    return std::to_string(w) + "x" + std::to_string(h);
}

void check_axis(const char* axis, int tile, int overlap_px, double ratio) {
    const std::string a(axis);
    if (overlap_px < 0 && !(ratio >= 0.0 && ratio < 1.0)) {  // also rejects NaN
        throw std::invalid_argument("make_tile_grid: expected overlap_ratio_" + a + " in [0, 1), got " +
                                    std::to_string(ratio) + "; give a smaller ratio or overlap_px_" + a);
    }
    const int overlap = resolve_overlap(overlap_px, ratio, tile);
    if (overlap >= tile) {
        throw std::invalid_argument("make_tile_grid: expected an overlap smaller than the tile (" +
                                    std::to_string(tile) + " px) along " + a + ", got " + std::to_string(overlap) +
                                    " px; the grid would never advance");
    }
}

struct Span {
    int start;
    int length;
};

// One axis of sahi/slicing.py::get_slice_bboxes. The loop tests the unclipped end, and the next
// start is that unclipped end minus the overlap, exactly as SAHI does.
std::vector<Span> axis_spans(int image, int tile, int overlap) {
    std::vector<Span> spans;
    int64_t start = 0;
    int64_t end = 0;
    while (end < image) {
        end = start + tile;
        if (end > image) {
            const int64_t clipped_end = image;
            const int64_t shifted_start = std::max<int64_t>(0, clipped_end - tile);
            spans.push_back({static_cast<int>(shifted_start), static_cast<int>(clipped_end - shifted_start)});
        } else {
            spans.push_back({static_cast<int>(start), tile});
        }
        start = end - overlap;
    }
    return spans;
}

// calc_resolution_factor: the largest n with 2^n < pixels (SAHI loops up from 2^0).
int sahi_resolution_factor(int64_t pixels) {
    int expo = 0;
    while ((int64_t{1} << expo) < pixels) ++expo;
    return expo - 1;
}

// The arguments make_tile_grid and tile_grid_count share, checked once for both; `fn` names
// the caller in the message.
void check_grid_args(const char* fn, int image_w, int image_h, const TileSpec& spec) {
    if (image_w <= 0 || image_h <= 0) {
        throw std::invalid_argument(std::string(fn) + ": expected a positive image size, got " +
                                    size_text(image_w, image_h));
    }
    if (spec.tile_w <= 0 || spec.tile_h <= 0) {
        throw std::invalid_argument(std::string(fn) + ": expected a positive tile size, got " +
                                    size_text(spec.tile_w, spec.tile_h));
    }
    check_axis("w", spec.tile_w, spec.overlap_px_w, spec.overlap_ratio_w);
    check_axis("h", spec.tile_h, spec.overlap_px_h, spec.overlap_ratio_h);
}

}  // namespace

int TileSpec::overlap_w() const {
    return resolve_overlap(overlap_px_w, overlap_ratio_w, tile_w);
}
int TileSpec::overlap_h() const {
    return resolve_overlap(overlap_px_h, overlap_ratio_h, tile_h);
}

std::vector<Tile> make_tile_grid(int image_w, int image_h, const TileSpec& spec) {
    check_grid_args("make_tile_grid", image_w, image_h, spec);

    const std::vector<Span> xs = axis_spans(image_w, spec.tile_w, spec.overlap_w());
    const std::vector<Span> ys = axis_spans(image_h, spec.tile_h, spec.overlap_h());

    std::vector<Tile> tiles;
    tiles.reserve(xs.size() * ys.size() + 1);
    for (const Span& y : ys) {
        for (const Span& x : xs) {
            tiles.push_back(Tile{static_cast<int>(tiles.size()), x.start, y.start, x.length, y.length, false});
        }
    }
    // SAHI runs the standard (whole-image) prediction only when num_slices > 1 (reference A1.1):
    // a single tile already is the whole image.
    if (spec.add_full_image && tiles.size() > 1) {
        tiles.push_back(Tile{static_cast<int>(tiles.size()), 0, 0, image_w, image_h, true});
    }
    return tiles;
}

std::int64_t tile_grid_count(int image_w, int image_h, const TileSpec& spec) {
    check_grid_args("tile_grid_count", image_w, image_h, spec);
    // axis_spans places tiles at 0, step, 2 step, ... until one reaches the border.
    const auto axis = [](int64_t image, int64_t tile, int64_t overlap) -> int64_t {
        if (image <= tile) return 1;
        const int64_t step = tile - overlap;
        return (image - tile + step - 1) / step + 1;
    };
    const int64_t n = axis(image_w, spec.tile_w, spec.overlap_w()) * axis(image_h, spec.tile_h, spec.overlap_h());
    return spec.add_full_image && n > 1 ? n + 1 : n;
}

TileSpec auto_tile_spec(int image_w, int image_h, int model_w, int model_h) {
    if (image_w <= 0 || image_h <= 0) {
        throw std::invalid_argument("auto_tile_spec: expected a positive image size, got " +
                                    size_text(image_w, image_h));
    }
    if (model_w <= 0 || model_h <= 0) {
        throw std::invalid_argument("auto_tile_spec: expected a fixed, positive model input size, got " +
                                    size_text(model_w, model_h) +
                                    "; give the tile size explicitly for models with dynamic input size");
    }
    TileSpec spec;
    spec.tile_w = model_w;
    spec.tile_h = model_h;
    spec.overlap_ratio_w = 0.2;
    spec.overlap_ratio_h = 0.2;
    spec.add_full_image = true;
    return spec;
}

TileSpec sahi_auto_tile_spec(int image_w, int image_h) {
    if (image_w <= 0 || image_h <= 0) {
        throw std::invalid_argument("sahi_auto_tile_spec: expected a positive image size, got " +
                                    size_text(image_w, image_h));
    }
    const int factor = sahi_resolution_factor(int64_t{image_w} * image_h);
    int slide = 0;  // 0: the "low" class, one tile
    double ratio = 1.0;
    if (factor <= 18) {
        slide = 0;
    } else if (factor < 21) {
        slide = 1, ratio = 0.8;
    } else if (factor < 24) {
        slide = 2, ratio = 0.4;
    } else {
        slide = 4, ratio = 0.4;
    }
    TileSpec spec;
    if (slide == 0) {
        spec.tile_w = image_w;
        spec.tile_h = image_h;
        spec.overlap_px_w = 0;
        spec.overlap_px_h = 0;
        return spec;
    }
    // calc_ratio_and_slice: the longer side gets twice the splits; a square image gets slide both ways.
    const int splits_w = image_w > image_h ? 2 * slide : slide;
    const int splits_h = image_h > image_w ? 2 * slide : slide;
    // SAHI floors (height // split); at least 1 px so a 3-px-wide giant strip stays valid.
    spec.tile_w = std::max(1, image_w / splits_w);
    spec.tile_h = std::max(1, image_h / splits_h);
    spec.overlap_ratio_w = ratio;
    spec.overlap_ratio_h = ratio;
    spec.overlap_px_w = sahi_overlap(ratio, spec.tile_w);
    spec.overlap_px_h = sahi_overlap(ratio, spec.tile_h);
    return spec;
}

}  // namespace tiledet
