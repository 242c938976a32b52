// Tile placement pinned against SAHI's get_slice_bboxes (reference A1.2), worked out by hand from
// its loop: start at 0, step tile - int(ratio * tile), shift the border tile back inside.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "tiledet/tiling/tile_grid.hpp"

namespace tiledet {
namespace {

struct Span {
    int start, length;
};

TileSpec ratio_spec(int tile_w, int tile_h, double ratio_w, double ratio_h) {
    TileSpec s;
    s.tile_w = tile_w;
    s.tile_h = tile_h;
    s.overlap_ratio_w = ratio_w;
    s.overlap_ratio_h = ratio_h;
    return s;
}

TileSpec pixel_spec(int tile_w, int tile_h, int px_w, int px_h) {
    TileSpec s;
    s.tile_w = tile_w;
    s.tile_h = tile_h;
    s.overlap_px_w = px_w;
    s.overlap_px_h = px_h;
    return s;
}

struct PlacementCase {
    std::string what;
    int image_w, image_h;
    TileSpec spec;
    std::vector<Span> xs;  // column starts and widths
    std::vector<Span> ys;  // row starts and heights
};

// Expected spans per axis; the grid is their row-major product.
const std::vector<PlacementCase>& placement_table() {
    // clang-format off
    static const std::vector<PlacementCase> table = {
        // overlap int(0.2*512)=102, step 410; x: 1230+512=1742<1920, 1640+512>1920 -> 1408
        {"1920x1080 at 512, ratio 0.2 (reference: 15 slices, last [1408,568,1920,1080])",
         1920, 1080, ratio_spec(512, 512, 0.2, 0.2),
         {{0, 512}, {410, 512}, {820, 512}, {1230, 512}, {1408, 512}},
         {{0, 512}, {410, 512}, {568, 512}}},
        {"image smaller than the tile both ways",
         300, 200, ratio_spec(512, 512, 0.2, 0.2),
         {{0, 300}},
         {{0, 200}}},
        {"image equal to the tile",
         640, 640, ratio_spec(640, 640, 0.2, 0.2),
         {{0, 640}},
         {{0, 640}}},
        {"1x1 image",
         1, 1, ratio_spec(512, 512, 0.2, 0.2),
         {{0, 1}},
         {{0, 1}}},
        {"exact multiple of the tile, no overlap",
         1024, 512, pixel_spec(512, 512, 0, 0),
         {{0, 512}, {512, 512}},
         {{0, 512}}},
        // overlap 128, step 384: 384+512 = 896 ends exactly at the border
        {"exact multiple of the step",
         896, 896, ratio_spec(512, 512, 0.25, 0.25),
         {{0, 512}, {384, 512}},
         {{0, 512}, {384, 512}}},
        // step 384: 768+512 = 1280 > 1024 -> shifted back to 512
        {"exact multiple of the tile with overlap",
         1024, 1024, ratio_spec(512, 512, 0.25, 0.25),
         {{0, 512}, {384, 512}, {512, 512}},
         {{0, 512}, {384, 512}, {512, 512}}},
        // overlap 80 x 60, steps 320 x 240
        {"non-square tile",
         1000, 600, ratio_spec(400, 300, 0.2, 0.2),
         {{0, 400}, {320, 400}, {600, 400}},
         {{0, 300}, {240, 300}, {300, 300}}},
        // supervision 0.27 reference: x=[0,540,1080,1280], y=[0,440]
        {"pixel overlap, supervision 0.27's 1920x1080 at 640/100",
         1920, 1080, pixel_spec(640, 640, 100, 100),
         {{0, 640}, {540, 640}, {1080, 640}, {1280, 640}},
         {{0, 640}, {440, 640}}},
        {"smaller than the tile in height only",
         1000, 300, ratio_spec(512, 512, 0.2, 0.2),
         {{0, 512}, {410, 512}, {488, 512}},
         {{0, 300}}},
        // int(0.29 * 100) is 28 in float64 (28.999999999999996), so the step is 72, not 71
        {"ratio truncated like Python int()",
         250, 100, ratio_spec(100, 100, 0.29, 0.29),
         {{0, 100}, {72, 100}, {144, 100}, {150, 100}},
         {{0, 100}}},
        // different ratios per axis: overlap 320 along x (step 320), 80 along y (step 240)
        {"different overlap per axis, tall image",
         700, 1300, ratio_spec(640, 320, 0.5, 0.25),
         {{0, 640}, {60, 640}},
         {{0, 320}, {240, 320}, {480, 320}, {720, 320}, {960, 320}, {980, 320}}},
        {"overlap one pixel short of the tile",
         20, 10, pixel_spec(10, 10, 9, 9),
         {{0, 10}, {1, 10}, {2, 10}, {3, 10}, {4, 10}, {5, 10}, {6, 10}, {7, 10}, {8, 10}, {9, 10}, {10, 10}},
         {{0, 10}}},
    };
    // clang-format on
    return table;
}

TEST(TileGrid, PlacementMatchesSahiForTable) {
    for (const PlacementCase& c : placement_table()) {
        SCOPED_TRACE(c.what);
        const std::vector<Tile> tiles = make_tile_grid(c.image_w, c.image_h, c.spec);
        ASSERT_EQ(tiles.size(), c.xs.size() * c.ys.size());
        std::size_t i = 0;
        for (const Span& y : c.ys) {
            for (const Span& x : c.xs) {
                const Tile& t = tiles[i];
                EXPECT_EQ(t.index, static_cast<int>(i));
                EXPECT_EQ(t.x, x.start) << "tile " << i;
                EXPECT_EQ(t.w, x.length) << "tile " << i;
                EXPECT_EQ(t.y, y.start) << "tile " << i;
                EXPECT_EQ(t.h, y.length) << "tile " << i;
                EXPECT_FALSE(t.full_image);
                ++i;
            }
        }
    }
}

TEST(TileGrid, TilesAreRowMajorWithConsecutiveIndices) {
    const std::vector<Tile> tiles = make_tile_grid(1000, 600, ratio_spec(400, 300, 0.2, 0.2));
    struct Expected {
        int x, y;
    };
    const std::vector<Expected> expected = {{0, 0},     {320, 0}, {600, 0},   {0, 240},  {320, 240},
                                            {600, 240}, {0, 300}, {320, 300}, {600, 300}};
    ASSERT_EQ(tiles.size(), expected.size());
    for (std::size_t i = 0; i < tiles.size(); ++i) {
        EXPECT_EQ(tiles[i].index, static_cast<int>(i));
        EXPECT_EQ(tiles[i].x, expected[i].x) << i;
        EXPECT_EQ(tiles[i].y, expected[i].y) << i;
        EXPECT_EQ(tiles[i].w, 400);
        EXPECT_EQ(tiles[i].h, 300);
    }
}

TEST(TileGrid, BorderTilesAreShiftedBackInsideTheImage) {
    const std::vector<Tile> tiles = make_tile_grid(1920, 1080, ratio_spec(512, 512, 0.2, 0.2));
    for (const Tile& t : tiles) {
        EXPECT_GE(t.x, 0);
        EXPECT_GE(t.y, 0);
        EXPECT_LE(t.x + t.w, 1920);
        EXPECT_LE(t.y + t.h, 1080);
        EXPECT_EQ(t.w, 512) << "no tile is cut short at the border";
        EXPECT_EQ(t.h, 512);
    }
    EXPECT_EQ(tiles.back().x + tiles.back().w, 1920);
    EXPECT_EQ(tiles.back().y + tiles.back().h, 1080);
}

TEST(TileGrid, ExactMultipleGivesNoDuplicateTile) {
    for (int w : {512, 1024, 2048}) {
        const std::vector<Tile> tiles = make_tile_grid(w, 512, pixel_spec(512, 512, 0, 0));
        ASSERT_EQ(tiles.size(), static_cast<std::size_t>(w / 512)) << w;
        EXPECT_EQ(tiles.back().x, w - 512);
    }
    // Ending exactly on the border after a step also stops the sweep.
    const std::vector<Tile> stepped = make_tile_grid(896, 512, ratio_spec(512, 512, 0.25, 0.25));
    ASSERT_EQ(stepped.size(), 2u);
    EXPECT_EQ(stepped[1].x, 384);
}

TEST(TileGrid, ImageSmallerThanTileIsOneTile) {
    const std::vector<Tile> tiles = make_tile_grid(300, 200, ratio_spec(640, 640, 0.2, 0.2));
    ASSERT_EQ(tiles.size(), 1u);
    EXPECT_EQ(tiles[0].x, 0);
    EXPECT_EQ(tiles[0].y, 0);
    EXPECT_EQ(tiles[0].w, 300);
    EXPECT_EQ(tiles[0].h, 200);
}

TEST(TileGrid, LargeImageGivesTheReferenceSliceCount) {
    // reference A1.2: 4000x3000 at 512/0.2 -> 80 slices, all 512x512
    const std::vector<Tile> tiles = make_tile_grid(4000, 3000, ratio_spec(512, 512, 0.2, 0.2));
    EXPECT_EQ(tiles.size(), 80u);
    for (const Tile& t : tiles) {
        EXPECT_EQ(t.w, 512);
        EXPECT_EQ(t.h, 512);
    }
}

TEST(TileGrid, PixelOverlapWinsOverRatio) {
    TileSpec spec = ratio_spec(640, 640, 0.5, 0.5);
    spec.overlap_px_w = 100;
    spec.overlap_px_h = 100;
    EXPECT_EQ(spec.overlap_w(), 100);
    const std::vector<Tile> tiles = make_tile_grid(1920, 1080, spec);
    ASSERT_EQ(tiles.size(), 8u);
    EXPECT_EQ(tiles[1].x, 540);
    // A pixel overlap of 0 is a real value, not "unset".
    spec.overlap_px_w = 0;
    EXPECT_EQ(spec.overlap_w(), 0);
}

TEST(TileGrid, OverlapRatioIsTruncatedLikeSahi) {
    EXPECT_EQ(ratio_spec(512, 512, 0.2, 0.2).overlap_w(), 102);   // 102.4
    EXPECT_EQ(ratio_spec(100, 100, 0.29, 0.29).overlap_w(), 28);  // 28.999999999999996
    EXPECT_EQ(ratio_spec(10, 10, 0.7, 0.7).overlap_h(), 7);       // 7.000000000000001
}

TEST(TileGrid, FullImageTileIsAppendedLastWhenGridHasSeveralTiles) {
    TileSpec spec = ratio_spec(512, 512, 0.2, 0.2);
    spec.add_full_image = true;
    const std::vector<Tile> tiles = make_tile_grid(1920, 1080, spec);
    ASSERT_EQ(tiles.size(), 16u);
    const Tile& full = tiles.back();
    EXPECT_TRUE(full.full_image);
    EXPECT_EQ(full.index, 15);
    EXPECT_EQ(full.x, 0);
    EXPECT_EQ(full.y, 0);
    EXPECT_EQ(full.w, 1920);
    EXPECT_EQ(full.h, 1080);
    for (std::size_t i = 0; i + 1 < tiles.size(); ++i) EXPECT_FALSE(tiles[i].full_image);
}

TEST(TileGrid, FullImageTileIsSkippedWhenOneTileCoversTheImage) {
    TileSpec spec = ratio_spec(640, 640, 0.2, 0.2);
    spec.add_full_image = true;
    const std::vector<Tile> tiles = make_tile_grid(600, 400, spec);
    ASSERT_EQ(tiles.size(), 1u);
    EXPECT_FALSE(tiles[0].full_image);
}

void expect_invalid(int w, int h, const TileSpec& spec, const std::string& must_mention) {
    try {
        make_tile_grid(w, h, spec);
        ADD_FAILURE() << "expected std::invalid_argument mentioning '" << must_mention << "'";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find(must_mention), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("expected"), std::string::npos) << e.what();
    }
}

TEST(TileGrid, RejectsNonPositiveSizesSayingWhatWasGiven) {
    expect_invalid(0, 480, ratio_spec(512, 512, 0.2, 0.2), "0x480");
    expect_invalid(640, -1, ratio_spec(512, 512, 0.2, 0.2), "640x-1");
    expect_invalid(640, 480, ratio_spec(0, 512, 0.2, 0.2), "0x512");
    expect_invalid(640, 480, ratio_spec(512, -3, 0.2, 0.2), "512x-3");
}

TEST(TileGrid, RejectsOverlapNotSmallerThanTheTile) {
    expect_invalid(1000, 1000, pixel_spec(512, 512, 512, 0), "512 px");
    expect_invalid(1000, 1000, pixel_spec(512, 512, 0, 600), "600 px");
}

TEST(TileGrid, RejectsOverlapRatioOutsideZeroToOne) {
    expect_invalid(1000, 1000, ratio_spec(512, 512, 1.0, 0.2), "overlap_ratio_w");
    expect_invalid(1000, 1000, ratio_spec(512, 512, 0.2, -0.1), "overlap_ratio_h");
    // A pixel overlap makes the ratio irrelevant.
    TileSpec spec = ratio_spec(512, 512, 1.5, 0.2);
    spec.overlap_px_w = 10;
    EXPECT_NO_THROW(make_tile_grid(1000, 1000, spec));
}

TEST(AutoTileSpec, UsesModelInputSizeWithSahiDefaultOverlapAndWholeImagePass) {
    const TileSpec spec = auto_tile_spec(1920, 1080, 640, 640);
    EXPECT_EQ(spec.tile_w, 640);
    EXPECT_EQ(spec.tile_h, 640);
    EXPECT_EQ(spec.overlap_w(), 128);
    EXPECT_EQ(spec.overlap_h(), 128);
    EXPECT_TRUE(spec.add_full_image);
    const std::vector<Tile> tiles = make_tile_grid(1920, 1080, spec);
    // x: 0, 512, 1024, 1280 (shifted); y: 0, 440 (shifted); plus the whole image
    ASSERT_EQ(tiles.size(), 9u);
    EXPECT_EQ(tiles[3].x, 1280);
    EXPECT_EQ(tiles[4].y, 440);
    EXPECT_TRUE(tiles.back().full_image);
}

TEST(AutoTileSpec, ImageThatFitsTheModelIsOneTile) {
    const TileSpec spec = auto_tile_spec(600, 400, 640, 640);
    const std::vector<Tile> tiles = make_tile_grid(600, 400, spec);
    ASSERT_EQ(tiles.size(), 1u);
    EXPECT_EQ(tiles[0].w, 600);
    EXPECT_EQ(tiles[0].h, 400);
}

TEST(AutoTileSpec, NonSquareModelGivesNonSquareTiles) {
    const TileSpec spec = auto_tile_spec(2000, 2000, 800, 480);
    EXPECT_EQ(spec.tile_w, 800);
    EXPECT_EQ(spec.tile_h, 480);
    EXPECT_EQ(spec.overlap_w(), 160);
    EXPECT_EQ(spec.overlap_h(), 96);
}

TEST(AutoTileSpec, RejectsDynamicOrNonPositiveModelSize) {
    EXPECT_THROW(auto_tile_spec(1920, 1080, -1, 640), std::invalid_argument);
    EXPECT_THROW(auto_tile_spec(0, 1080, 640, 640), std::invalid_argument);
}

TEST(SahiAutoTileSpec, MatchesTheReferenceTable) {
    // reference A1.2, "Derived results of the function": (x_overlap, y_overlap, slice_w, slice_h), #slices
    struct Row {
        int image_w, image_h, overlap_w, overlap_h, tile_w, tile_h;
        std::size_t slices;
    };
    const std::vector<Row> rows = {
        {640, 640, 0, 0, 640, 640, 1},  // SAHI writes overlap 640 here; one slice either way
        {1920, 1080, 768, 864, 960, 1080, 6},   {2048, 2048, 409, 409, 1024, 1024, 9},
        {4000, 3000, 400, 600, 1000, 1500, 18}, {8000, 8000, 800, 800, 2000, 2000, 36},
    };
    for (const Row& r : rows) {
        SCOPED_TRACE(std::to_string(r.image_w) + "x" + std::to_string(r.image_h));
        const TileSpec spec = sahi_auto_tile_spec(r.image_w, r.image_h);
        EXPECT_EQ(spec.tile_w, r.tile_w);
        EXPECT_EQ(spec.tile_h, r.tile_h);
        EXPECT_EQ(spec.overlap_w(), r.overlap_w);
        EXPECT_EQ(spec.overlap_h(), r.overlap_h);
        EXPECT_EQ(make_tile_grid(r.image_w, r.image_h, spec).size(), r.slices);
    }
}

TEST(SahiAutoTileSpec, TallImagesSplitTwiceAlongTheHeight) {
    // 1080 wide, 1920 tall: "medium", vertical -> 1 split across, 2 down, overlap 0.8
    const TileSpec spec = sahi_auto_tile_spec(1080, 1920);
    EXPECT_EQ(spec.tile_w, 1080);
    EXPECT_EQ(spec.tile_h, 960);
    EXPECT_EQ(spec.overlap_w(), 864);
    EXPECT_EQ(spec.overlap_h(), 768);
}

}  // namespace
}  // namespace tiledet

namespace tiledet {

// The count is what lets a limit refuse a huge grid before it is placed; it must be exact.
TEST(TileGrid, CountWithoutPlacingEqualsThePlacedGridSize) {
    for (const int w : {1, 7, 640, 641, 1280, 1919})
        for (const int h : {1, 480, 1080})
            for (const int tile : {1, 64, 320, 640})
                for (const double ratio : {0.0, 0.2, 0.5, 0.9})
                    for (const bool full : {false, true}) {
                        TileSpec spec;
                        spec.tile_w = spec.tile_h = tile;
                        spec.overlap_ratio_w = spec.overlap_ratio_h = ratio;
                        spec.add_full_image = full;
                        if (std::int64_t{w} * h / (tile * tile) > 200000) continue;  // keep the test quick
                        EXPECT_EQ(tile_grid_count(w, h, spec),
                                  static_cast<std::int64_t>(make_tile_grid(w, h, spec).size()))
                            << w << "x" << h << " tile " << tile << " ratio " << ratio << " full " << full;
                    }
}

TEST(TileGrid, CountOfAHostileGridNeedsNoPlacement) {
    TileSpec spec;
    spec.tile_w = spec.tile_h = 320;
    spec.overlap_ratio_w = spec.overlap_ratio_h = 0.99;  // 316 px: a step of 4
    EXPECT_EQ(tile_grid_count(100000, 100000, spec), std::int64_t{24921} * 24921);
}

}  // namespace tiledet
