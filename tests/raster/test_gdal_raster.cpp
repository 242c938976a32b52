// GdalRaster read by window: band choice, 16-bit stretch, nodata, georeferencing, bad files.
#include <gtest/gtest.h>

#include "raster_paths.hpp"
#include "tiledet/error.hpp"
#include "tiledet/raster/raster.hpp"

using namespace tiledet;
using namespace tiledet::testing;

TEST(GdalRaster, ReadsARegionOfAByteRasterAsBgrWithItsGeoreference) {
    TILEDET_REQUIRE_RASTERS();
    auto r = GdalRaster::open(raster_path("planted_12000"));
    EXPECT_EQ(r->width(), 12000);
    EXPECT_EQ(r->height(), 12000);
    // Planted: band 1 (red) = 255 over x 1174..1224, y 1786..1866; background 0.
    const cv::Mat m = r->read(cv::Rect(1024, 1536, 640, 640));
    ASSERT_EQ(m.type(), CV_8UC3);
    ASSERT_EQ(m.size(), cv::Size(640, 640));
    EXPECT_EQ(m.at<cv::Vec3b>(250, 150), cv::Vec3b(0, 0, 255)) << "red in BGR's last channel";
    EXPECT_EQ(m.at<cv::Vec3b>(249, 150), cv::Vec3b(0, 0, 0));
    EXPECT_EQ(m.at<cv::Vec3b>(329, 199), cv::Vec3b(0, 0, 255));
    EXPECT_EQ(m.at<cv::Vec3b>(330, 199), cv::Vec3b(0, 0, 0));
    const GeoReference& g = r->georeference();
    ASSERT_TRUE(g.has_transform);
    EXPECT_EQ(g.crs_name, "EPSG:32633");
    const auto p = g.to_map(100, 200);
    EXPECT_DOUBLE_EQ(p[0], 500050.0);
    EXPECT_DOUBLE_EQ(p[1], 4999900.0);
}

TEST(GdalRaster, SixteenBitFourBandRasterIsStretchedAndItsBandsChosen) {
    TILEDET_REQUIRE_RASTERS();
    // Background 1000 in all 4 bands; band 3 holds 4000 over the planted region of tile x=512.
    RasterOptions o;
    o.bands = {3, 2, 1};
    o.stretch = Stretch::minmax;
    auto r = GdalRaster::open(raster_path("uint16_4band"), o);
    const cv::Mat m = r->read(cv::Rect(512, 0, 640, 640));
    EXPECT_EQ(m.at<cv::Vec3b>(260, 160), cv::Vec3b(0, 0, 255)) << "band 3 is shown as red, stretched to 255";
    EXPECT_EQ(m.at<cv::Vec3b>(10, 10), cv::Vec3b(0, 0, 0)) << "bands 2 and 1 are flat: min maps to 0";
    // Default bands 1,2,3: band 3 is shown as blue.
    RasterOptions d;
    d.stretch = Stretch::minmax;
    auto r2 = GdalRaster::open(raster_path("uint16_4band"), d);
    EXPECT_EQ(r2->read(cv::Rect(512, 0, 640, 640)).at<cv::Vec3b>(260, 160), cv::Vec3b(255, 0, 0));
    // No stretch: UInt16 / 257.
    RasterOptions n;
    n.stretch = Stretch::none;
    auto r3 = GdalRaster::open(raster_path("uint16_4band"), n);
    EXPECT_EQ(r3->read(cv::Rect(0, 0, 8, 8)).at<cv::Vec3b>(0, 0), cv::Vec3b(4, 4, 4)) << "1000 / 257 = 3.9";
    EXPECT_NE(r->describe().find("UInt16"), std::string::npos) << r->describe();
}

TEST(GdalRaster, PercentileStretchIsTheDefaultForSixteenBitBands) {
    TILEDET_REQUIRE_RASTERS();
    RasterOptions o;
    o.bands = {3, 2, 1};
    auto r = GdalRaster::open(raster_path("uint16_4band"), o);
    EXPECT_NE(r->describe().find("percentile 2-98"), std::string::npos) << r->describe();
    const cv::Mat m = r->read(cv::Rect(512, 0, 640, 640));
    // 98 % of band 3 is 1000, so the planted 4000 saturates and the background is black.
    EXPECT_EQ(m.at<cv::Vec3b>(260, 160)[2], 255);
    EXPECT_EQ(m.at<cv::Vec3b>(10, 10)[2], 0);
}

TEST(GdalRaster, RegionsWithNoDataAreEmptyAndPartlyNodataOnesAreBlackThere) {
    TILEDET_REQUIRE_RASTERS();
    auto r = GdalRaster::open(raster_path("nodata"));  // nodata 0 in x < 1024
    EXPECT_TRUE(r->read(cv::Rect(0, 0, 640, 640)).empty());
    EXPECT_TRUE(r->read(cv::Rect(384, 0, 640, 640)).empty());
    const cv::Mat part = r->read(cv::Rect(512, 0, 640, 640));
    ASSERT_FALSE(part.empty());
    EXPECT_EQ(part.at<cv::Vec3b>(0, 0), cv::Vec3b(0, 0, 0));
    EXPECT_EQ(part.at<cv::Vec3b>(0, 600), cv::Vec3b(40, 40, 40));
    // A nodata value given by the user: 40 is then nodata too, so only the planted red is data.
    RasterOptions o;
    o.nodata = 40;
    auto r2 = GdalRaster::open(raster_path("nodata"), o);
    EXPECT_TRUE(r2->read(cv::Rect(1024, 0, 640, 640)).empty());
    EXPECT_FALSE(r2->read(cv::Rect(1536, 0, 640, 640)).empty());
}

TEST(GdalRaster, ARasterWithoutGeoreferencingHasNoTransform) {
    TILEDET_REQUIRE_RASTERS();
    auto r = GdalRaster::open(raster_path("nogeo"));
    EXPECT_FALSE(r->georeference().has_transform);
    EXPECT_TRUE(r->georeference().crs_name.empty());
    GeoJsonWriter w;
    try {
        w.add("nogeo.tif", r->georeference(), {}, [](int) { return std::string(); });
        FAIL() << "expected an InputError";
    } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("has no geotransform"), std::string::npos) << e.what();
    }
}

TEST(GdalRaster, ACorruptOrMissingFileIsOneClearInputError) {
    TILEDET_REQUIRE_RASTERS();
    for (const std::string& f : {raster_path("corrupt"), raster_path("no_such_raster")}) {
        try {
            auto r = GdalRaster::open(f);
            // A header that opens may still fail on its first block.
            r->read(cv::Rect(0, 0, r->width(), r->height()));
            FAIL() << f << ": expected an InputError";
        } catch (const InputError& e) {
            const std::string m = e.what();
            EXPECT_EQ(m.rfind(f, 0), 0u) << "names the file first: " << m;
            EXPECT_EQ(m.find('\n'), std::string::npos) << "one line: " << m;
        }
    }
}

TEST(GdalRaster, BadBandsAreOptionErrors) {
    TILEDET_REQUIRE_RASTERS();
    RasterOptions o;
    o.bands = {5, 2, 1};
    EXPECT_THROW(GdalRaster::open(raster_path("uint16_4band"), o), OptionError);
    EXPECT_THROW(parse_bands("3,2"), OptionError);
    EXPECT_THROW(parse_bands("a,b,c"), OptionError);
    EXPECT_EQ(parse_bands("3,2,1"), (std::vector<int>{3, 2, 1}));
}

TEST(RasterPath, PhotosGoToOpenCvAndRasterFormatsToGdal) {
    EXPECT_FALSE(is_raster_path("a/b.JPG"));
    EXPECT_FALSE(is_raster_path("b.png"));
    EXPECT_TRUE(is_raster_path("scene.TIF"));
    EXPECT_TRUE(is_raster_path("s2.jp2"));
    EXPECT_TRUE(is_raster_path("mosaic.vrt"));
}
