// Tiling arithmetic: random image sizes, tile sizes and overlaps. Either make_tile_grid refuses
// (std::invalid_argument, as documented) or every tile lies inside the image, the tiles cover
// it, and the count equals tile_grid_count. The grid is only built when the count is small.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "tiledet/tiling/tile_grid.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider in(data, size);
    const auto pick_int = [&] {
        // Mostly small sizes (so grids get built), sometimes anything.
        switch (in.ConsumeIntegralInRange(0, 3)) {
            case 0: return in.ConsumeIntegralInRange(-4, 64);
            case 1: return in.ConsumeIntegralInRange(0, 5000);
            default: return in.ConsumeIntegral<int>();
        }
    };
    const int image_w = pick_int(), image_h = pick_int();
    tiledet::TileSpec spec;
    spec.tile_w = pick_int();
    spec.tile_h = pick_int();
    spec.overlap_ratio_w = in.ConsumeBool() ? in.ConsumeFloatingPoint<double>() : in.ConsumeProbability<double>();
    spec.overlap_ratio_h = in.ConsumeBool() ? in.ConsumeFloatingPoint<double>() : in.ConsumeProbability<double>();
    spec.overlap_px_w = in.ConsumeBool() ? pick_int() : -1;
    spec.overlap_px_h = in.ConsumeBool() ? pick_int() : -1;
    spec.add_full_image = in.ConsumeBool();

    std::int64_t count = 0;
    try {
        count = tiledet::tile_grid_count(image_w, image_h, spec);
    } catch (const std::invalid_argument&) {
        // make_tile_grid must refuse the same spec.
        try {
            (void)tiledet::make_tile_grid(image_w, image_h, spec);
        } catch (const std::invalid_argument&) {
            return 0;
        }
        __builtin_trap();
    }
    if (count < 1) __builtin_trap();
    // Bounded: at most one tile per pixel per axis (plus the whole-image tile).
    if (count > std::int64_t{image_w} * image_h + 1) __builtin_trap();
    if (count > 20000) return 0;
    const auto tiles = tiledet::make_tile_grid(image_w, image_h, spec);
    if (static_cast<std::int64_t>(tiles.size()) != count) __builtin_trap();
    // Coverage on a coarse grid of sample points when the image is big, every pixel when small
    // (64-bit arithmetic: sizes reach INT_MAX).
    const std::int64_t iw = image_w, ih = image_h;
    const std::int64_t step_x = iw > 512 ? iw / 512 : 1, step_y = ih > 512 ? ih / 512 : 1;
    const std::int64_t cols = (iw + step_x - 1) / step_x, rows = (ih + step_y - 1) / step_y;
    std::vector<std::uint8_t> covered(static_cast<std::size_t>(cols * rows));
    std::int64_t work = 0;  // sample points visited: bounded so that one input stays fast
    for (std::size_t i = 0; i < tiles.size(); ++i) {
        const auto& t = tiles[i];
        if (t.index != static_cast<int>(i)) __builtin_trap();
        if (t.x < 0 || t.y < 0 || t.w <= 0 || t.h <= 0) __builtin_trap();
        if (std::int64_t{t.x} + t.w > iw || std::int64_t{t.y} + t.h > ih) __builtin_trap();
        if (t.full_image && (t.x != 0 || t.y != 0 || t.w != image_w || t.h != image_h)) __builtin_trap();
        if (t.w > std::max(spec.tile_w, image_w) || t.h > std::max(spec.tile_h, image_h)) __builtin_trap();
        const std::int64_t x0 = (t.x + step_x - 1) / step_x, y0 = (t.y + step_y - 1) / step_y;
        const std::int64_t x1 = (std::int64_t{t.x} + t.w + step_x - 1) / step_x;
        const std::int64_t y1 = (std::int64_t{t.y} + t.h + step_y - 1) / step_y;
        work += (x1 - x0) * (y1 - y0);
        if (work > (std::int64_t{1} << 24)) return 0;
        for (std::int64_t y = y0; y < y1; ++y)
            for (std::int64_t x = x0; x < x1; ++x) covered[static_cast<std::size_t>(y * cols + x)] = 1;
    }
    for (auto c : covered)
        if (!c) __builtin_trap();  // a sampled pixel no tile covers
    return 0;
}
