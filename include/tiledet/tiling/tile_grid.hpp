// Where the tiles of one image lie: SAHI's slice placement (border tiles shifted back inside the
// image, never padded), an optional whole-image tile, and an automatic choice of tile size.
#pragma once

#include <cstdint>
#include <vector>

namespace tiledet {

// How to cut an image. Overlap is given either as a ratio of the tile size (SAHI's
// overlap_{width,height}_ratio) or in pixels (supervision's overlap_wh); pixels win when >= 0.
struct TileSpec {
    int tile_w = 0;
    int tile_h = 0;
    // SAHI get_sliced_prediction defaults (reference A1.1). Doubles, not floats: SAHI computes
    // int(ratio * size) in float64, and float32 ratios truncate differently (0.7f * 10 -> 6).
    double overlap_ratio_w = 0.2;
    double overlap_ratio_h = 0.2;
    int overlap_px_w = -1;
    int overlap_px_h = -1;
    // SAHI's perform_standard_pred: one more tile covering the whole image, resized by the
    // detector like a plain prediction. Appended only when the grid has more than one tile.
    bool add_full_image = false;

    // The overlap in pixels that placement uses: overlap_px_* when >= 0, otherwise
    // int(ratio * tile) truncated toward zero exactly as SAHI does.
    int overlap_w() const;
    int overlap_h() const;
};

struct Tile {
    int index = 0;  // position in the grid, row-major; the whole-image tile comes last
    int x = 0, y = 0, w = 0, h = 0;
    bool full_image = false;
};

// SAHI sahi/slicing.py::get_slice_bboxes placement (reference A1.2), row-major, per axis:
// starts at 0, steps by tile - overlap, and a tile that would cross the border is shifted back
// to end at the border. Every tile has the full tile size, except along a dimension where the
// image is no larger than the tile: there one tile spans the whole image. A tile ending exactly
// at the border ends the sweep, so exact multiples give no duplicate last tile.
// Throws std::invalid_argument for non-positive sizes, a ratio outside [0, 1), or an overlap
// that is not smaller than the tile.
std::vector<Tile> make_tile_grid(int image_w, int image_h, const TileSpec& spec);

// How many tiles make_tile_grid would place, counted without placing them (so a limit can be
// checked before a huge grid is built). Throws as make_tile_grid does.
std::int64_t tile_grid_count(int image_w, int image_h, const TileSpec& spec);

// tiledet's automatic mode, for a model with a fixed input size:
//  - tile = the model input size, so tiles reach the model at native resolution (no resize);
//  - overlap ratio 0.2, SAHI's default;
//  - add_full_image = true, SAHI's default perform_standard_pred: the whole-image pass catches
//    objects larger than a tile (the SAHI paper's FI gains are mostly on large objects, A1.4);
//    make_tile_grid adds it only when the image needs more than one tile.
// An image that fits inside the model input therefore gets exactly one tile.
// Throws std::invalid_argument for non-positive sizes.
TileSpec auto_tile_spec(int image_w, int image_h, int model_w, int model_h);

// SAHI's own automatic mode (sahi/slicing.py::get_auto_slice_params, reference A1.2), which
// ignores the model: the resolution class comes from floor(log2(w*h)) ("low" <= 18,
// "medium" < 21, "high" < 24, else "ultra-high"), splitting the image 1x1 / 1x1 / 2x2 / 4x4
// with overlap ratio 1 / 0.8 / 0.4 / 0.4, and the longer side split twice as often.
// The "low" class returns the whole image as one tile with zero overlap (SAHI writes
// overlap = tile, which places the same single tile but is rejected by make_tile_grid).
TileSpec sahi_auto_tile_spec(int image_w, int image_h);

}  // namespace tiledet
