// `tiledet detect` on generated GeoTIFFs with the generated model yolo_dynamic.onnx: planted
// objects at the right pixel and map coordinates, memory that does not grow with the raster,
// GeoJSON that GDAL reads back, and one clear line for what cannot be done.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "cli_runner.hpp"
#include "raster_paths.hpp"
#include "test_paths.hpp"

using namespace tiledet::testing;
using nlohmann::json;

namespace {

std::string model() { return generated_model("yolo_dynamic.onnx").string(); }
std::string out_path(const std::string& name) {
    return (std::filesystem::path(TILEDET_RASTERS_DIR) / ("out_" + name)).string();
}

json read_json(const std::string& path) {
    std::ifstream in(path);
    return json::parse(in);
}

// Twice the ring's signed area (shoelace): positive for counterclockwise, as RFC 7946 wants an
// exterior ring.
double twice_signed_area(const json& ring) {
    double sum = 0;
    for (std::size_t i = 0; i + 1 < ring.size(); ++i)
        sum += ring[i][0].get<double>() * ring[i + 1][1].get<double>() -
               ring[i + 1][0].get<double>() * ring[i][1].get<double>();
    return sum;
}

double peak_rss_mb(const std::string& output) {
    std::smatch m;
    if (!std::regex_search(output, m, std::regex("peak RSS: ([0-9]+) MB"))) return -1;
    return std::stod(m[1]);
}

// Each expected box [x1, y1, x2, y2] is among the image's detections (class 0), within 1 px.
void expect_boxes(const json& image, const json& boxes) {
    ASSERT_EQ(image["detections"].size(), boxes.size()) << image["detections"].dump();
    for (const auto& b : boxes) {
        bool found = false;
        for (const auto& d : image["detections"]) {
            const auto& x = d["box"];
            found = found || (std::abs(x[0].get<double>() - b[0].get<double>()) <= 1 &&
                              std::abs(x[1].get<double>() - b[1].get<double>()) <= 1 &&
                              std::abs(x[2].get<double>() - b[2].get<double>()) <= 1 &&
                              std::abs(x[3].get<double>() - b[3].get<double>()) <= 1 && d["class_id"] == 0);
        }
        EXPECT_TRUE(found) << "no detection at " << b.dump() << " in " << image["detections"].dump();
    }
}

}  // namespace

// The bound: ONNX Runtime with the model, a window of 16 tiles (two batches of 8) at 4.9 MB
// each, GDAL's block cache (256 MB at most) and the tile bookkeeping; measured about 0.5 GB for
// both rasters. The 30000 x 30000 raster (3481 tiles, 2.7 GB as 8-bit RGB) must not need more
// than the 12000 x 12000 one (576 tiles) beyond noise.
TEST(CliRaster, HugeGeoTiffFindsPlantedObjectsAtPixelAndMapCoordinatesInMemoryThatDoesNotGrowWithIt) {
    TILEDET_REQUIRE_RASTERS();
    TILEDET_REQUIRE_GENERATED("yolo_dynamic.onnx");
    const json manifest = raster_manifest();
    const auto& gt = manifest["geotransform"];
    constexpr double kBoundMb = 1000;
    double peak[2] = {0, 0};
    int k = 0;
    for (const std::string name : {"planted_12000", "planted_30000"}) {
        const std::string js = out_path(name + ".json"), gj = out_path(name + ".geojson");
        const CliResult r = run_cli("detect -m " + model() + " " + raster_path(name) +
                                    " --tile 640 --overlap 0.2 --json " + js + " --geojson " + gj);
        ASSERT_EQ(r.code, 0) << r.output;
        const json image = read_json(js)["images"][0];
        const json& boxes = manifest["rasters"][name]["boxes"];
        const int n = manifest["rasters"][name]["size"][0];
        const int per_side = (n - 640 + 511) / 512 + 1;
        EXPECT_EQ(image["tiles"].size(), static_cast<std::size_t>(per_side * per_side));
        expect_boxes(image, boxes);
        // Map coordinates: the polygon's corners are the pixel box through the geotransform.
        const json fc = read_json(gj);
        ASSERT_EQ(fc["features"].size(), boxes.size());
        EXPECT_EQ(fc["crs"]["properties"]["name"], "urn:ogc:def:crs:EPSG::32633");
        for (const auto& f : fc["features"]) {
            const auto& pb = f["properties"]["pixel_box"];
            const auto& ring = f["geometry"]["coordinates"][0];
            ASSERT_EQ(ring.size(), 5u);
            EXPECT_DOUBLE_EQ(ring[0][0].get<double>(), gt[0].get<double>() + pb[0].get<double>() * gt[1].get<double>());
            EXPECT_DOUBLE_EQ(ring[0][1].get<double>(), gt[3].get<double>() + pb[1].get<double>() * gt[5].get<double>());
            EXPECT_DOUBLE_EQ(ring[2][0].get<double>(), gt[0].get<double>() + pb[2].get<double>() * gt[1].get<double>());
            EXPECT_DOUBLE_EQ(ring[2][1].get<double>(), gt[3].get<double>() + pb[3].get<double>() * gt[5].get<double>());
            EXPECT_EQ(ring[4], ring[0]) << "closed ring";
            // North-up raster: after the top-left corner comes the bottom-left (counterclockwise).
            EXPECT_DOUBLE_EQ(ring[1][0].get<double>(), ring[0][0].get<double>());
            EXPECT_LT(ring[1][1].get<double>(), ring[0][1].get<double>());
            EXPECT_GT(twice_signed_area(ring), 0) << "RFC 7946: exterior rings are counterclockwise";
        }
        peak[k] = peak_rss_mb(r.output);
        ASSERT_GT(peak[k], 0) << r.output;
        EXPECT_LT(peak[k], kBoundMb) << name << ": peak RSS over the stated bound";
        ++k;
    }
    EXPECT_LT(peak[1], peak[0] + 200) << "peak RSS grew with the raster: 12000^2 " << peak[0] << " MB, 30000^2 "
                                      << peak[1] << " MB";
}

TEST(CliRaster, GeoJsonInWgs84ValidatesAndRoundTripsThroughOgrinfo) {
    TILEDET_REQUIRE_RASTERS();
    TILEDET_REQUIRE_GENERATED("yolo_dynamic.onnx");
    const std::string gj = out_path("wgs84.geojson");
    const CliResult r = run_cli("detect -m " + model() + " " + raster_path("nogeo") + " " + raster_path("planted_12000") +
                                " --tile 640 --overlap 0.2 --geojson " + gj + " --to-crs EPSG:4326");
    // nogeo.tif has no geotransform: that image fails with one line, the other is written.
    EXPECT_NE(r.code, 0);
    EXPECT_NE(r.output.find("nogeo.tif: has no geotransform"), std::string::npos) << r.output;
    const json fc = read_json(gj);
    EXPECT_EQ(fc["type"], "FeatureCollection");
    EXPECT_FALSE(fc.contains("crs")) << "RFC 7946: WGS 84 longitude/latitude needs no crs member";
    ASSERT_EQ(fc["features"].size(), 2u);
    for (const auto& f : fc["features"]) {
        EXPECT_EQ(f["geometry"]["type"], "Polygon");
        const auto& ring = f["geometry"]["coordinates"][0];
        ASSERT_EQ(ring.size(), 5u);
        EXPECT_EQ(ring.front(), ring.back());
        EXPECT_GT(twice_signed_area(ring), 0) << "RFC 7946: exterior rings are counterclockwise";
        for (const auto& p : ring) {
            // UTM 33N, 500 km east, 5000 km north: about 15 E, 45 N.
            EXPECT_NEAR(p[0].get<double>(), 15.0, 0.5);
            EXPECT_NEAR(p[1].get<double>(), 45.1, 0.5);
        }
        EXPECT_EQ(f["properties"]["class_name"], "person");
        EXPECT_GT(f["properties"]["score"].get<double>(), 0.9);
        EXPECT_EQ(f["properties"]["pixel_box"].size(), 4u);
    }
    const CliResult info = run_command("ogrinfo -ro -al -so " + gj);
    if (info.output.find("not found") != std::string::npos) GTEST_SKIP() << "ogrinfo (gdal-bin) not installed";
    EXPECT_EQ(info.code, 0) << info.output;
    EXPECT_NE(info.output.find("Feature Count: 2"), std::string::npos) << info.output;
    EXPECT_NE(info.output.find("Geometry: Polygon"), std::string::npos) << info.output;
    EXPECT_NE(info.output.find("class_name: String"), std::string::npos) << info.output;
}

TEST(CliRaster, SixteenBitFourBandRasterShowsTheChosenBands) {
    TILEDET_REQUIRE_RASTERS();
    TILEDET_REQUIRE_GENERATED("yolo_dynamic.onnx");
    const json manifest = raster_manifest();
    const std::string js = out_path("u16.json");
    // The object is in band 3 only: red (what the model scores) with --bands 3,2,1.
    CliResult r = run_cli("detect -m " + model() + " " + raster_path("uint16_4band") +
                          " --tile 640 --overlap 0.2 --bands 3,2,1 --json " + js);
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find("4 band(s) UInt16, bands 3,2,1, stretch percentile 2-98"), std::string::npos) << r.output;
    expect_boxes(read_json(js)["images"][0], manifest["rasters"]["uint16_4band"]["boxes"]);
    r = run_cli("detect -m " + model() + " " + raster_path("uint16_4band") +
                " --tile 640 --overlap 0.2 --stretch minmax --json " + js);
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_EQ(read_json(js)["images"][0]["detections"].size(), 0u) << "bands 1,2,3: the object is blue, not red";
    r = run_cli("detect -m " + model() + " " + raster_path("uint16_4band") + " --tile 640 --bands 3,9,1");
    EXPECT_NE(r.code, 0);
    EXPECT_NE(r.output.find("band 9 does not exist; the raster has 4 band(s)"), std::string::npos) << r.output;
}

TEST(CliRaster, TilesThatAreAllNodataAreNotRun) {
    TILEDET_REQUIRE_RASTERS();
    TILEDET_REQUIRE_GENERATED("yolo_dynamic.onnx");
    const json manifest = raster_manifest();
    const std::string js = out_path("nodata.json");
    const CliResult r = run_cli("detect -m " + model() + " " + raster_path("nodata") + " --tile 640 --overlap 0.2 --json " + js);
    ASSERT_EQ(r.code, 0) << r.output;
    const json image = read_json(js)["images"][0];
    expect_boxes(image, manifest["rasters"]["nodata"]["boxes"]);
    std::vector<int> skipped;
    for (const auto& t : image["tiles"])
        if (t.value("skipped", false)) skipped.push_back(t["x"]);
    EXPECT_EQ(skipped, manifest["rasters"]["nodata"]["nodata_tiles_x"].get<std::vector<int>>());
}

TEST(CliRaster, RasterWithoutGeoreferencingGivesPixelJsonAsForPhotos) {
    TILEDET_REQUIRE_RASTERS();
    TILEDET_REQUIRE_GENERATED("yolo_dynamic.onnx");
    const std::string js = out_path("nogeo.json");
    const CliResult r = run_cli("detect -m " + model() + " " + raster_path("nogeo") + " --tile 640 --overlap 0.2 --json " + js);
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find("no CRS, no geotransform"), std::string::npos) << r.output;
    expect_boxes(read_json(js)["images"][0], raster_manifest()["rasters"]["nogeo"]["boxes"]);
}

TEST(CliRaster, CorruptTiffIsOneClearErrorLineAndTheOtherInputsStillRun) {
    TILEDET_REQUIRE_RASTERS();
    TILEDET_REQUIRE_GENERATED("yolo_dynamic.onnx");
    const CliResult r = run_cli("detect -m " + model() + " " + raster_path("corrupt") + " " + raster_path("nogeo") +
                                " --tile 640 --overlap 0.2");
    EXPECT_EQ(r.code, 1) << r.output;
    std::istringstream lines(r.output);
    std::string line;
    int error_lines = 0;
    while (std::getline(lines, line))
        if (line.find("corrupt.tif") != std::string::npos && line.find("tiledet: ") == 0) {
            ++error_lines;
            EXPECT_TRUE(line.find("cannot open as a raster") != std::string::npos ||
                        line.find("cannot read") != std::string::npos)
                << line;
        }
    EXPECT_EQ(error_lines, 1) << r.output;
    EXPECT_NE(r.output.find("nogeo.tif 1152x640: 1 person"), std::string::npos) << r.output;
}

// Option mistakes are one line and exit 2 before any raster is read, not one failure per file.
TEST(CliRaster, ReversedPercentilesAndToCrsWithoutGeoOutputAreRefusedOnce) {
    TILEDET_REQUIRE_RASTERS();
    TILEDET_REQUIRE_GENERATED("yolo_dynamic.onnx");
    const std::string two = raster_path("nogeo") + " " + raster_path("nogeo");
    CliResult r = run_cli("detect -m " + model() + " " + two + " --stretch percentile --percentiles 98,2");
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_NE(r.output.find("--percentiles"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("0 <= LOW < HIGH <= 100"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("1 person"), std::string::npos) << r.output;  // nothing ran
    r = run_cli("detect -m " + model() + " " + two + " --to-crs EPSG:4326");
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_NE(r.output.find("--to-crs"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("--geojson or --vector"), std::string::npos) << r.output;
}

TEST(CliRaster, ABigRastersTileProgressIsDrawnOnATerminalOnly) {
    TILEDET_REQUIRE_RASTERS();
    TILEDET_REQUIRE_GENERATED("yolo_dynamic.onnx");
    const std::string args = "detect -m " + model() + " " + raster_path("planted_12000") + " --tile 640 --overlap 0.2";
    const CliResult piped = run_cli(args);
    ASSERT_EQ(piped.code, 0) << piped.output;
    EXPECT_EQ(piped.output.find('\r'), std::string::npos) << "no progress bar when stderr is not a terminal";
    // util-linux's script(1) gives the command a terminal.
    if (run_command("script --version").code != 0) GTEST_SKIP() << "script(1) not installed";
    const CliResult tty = run_command("script -qec '" + std::string(TILEDET_CLI_PATH) + " " + args + "' /dev/null");
    ASSERT_EQ(tty.code, 0) << tty.output;
    EXPECT_NE(tty.output.find("/576 tiles"), std::string::npos) << tty.output.substr(0, 2000);
    EXPECT_NE(tty.output.find("tiles/s  ETA "), std::string::npos) << tty.output.substr(0, 2000);
    EXPECT_NE(tty.output.find('\r'), std::string::npos);
}

TEST(CliRaster, StripedTiffAndJpeg2000AreReadByWindowLikeTiledGeoTiff) {
    TILEDET_REQUIRE_RASTERS();
    TILEDET_REQUIRE_GENERATED("yolo_dynamic.onnx");
    const json manifest = raster_manifest();
    for (const std::string name : {"nogeo_striped", "nogeo_jp2"}) {
        if (!manifest["rasters"].contains(name)) {
            ADD_FAILURE() << name << " was not generated (GDAL's JP2OpenJPEG driver missing?)";
            continue;
        }
        const std::string file = manifest["rasters"][name]["file"];
        const std::string js = out_path(name + ".json");
        const CliResult r = run_cli("detect -m " + model() + " " + file + " --tile 640 --overlap 0.2 --json " + js);
        ASSERT_EQ(r.code, 0) << r.output;
        EXPECT_NE(r.output.find(file + ": 1152x640, 3 band(s) Byte"), std::string::npos) << "read through GDAL: " << r.output;
        expect_boxes(read_json(js)["images"][0], manifest["rasters"][name]["boxes"]);
    }
}

TEST(CliRaster, GeoPackageAndShapefileThroughOgrKeepTheCrsAndProperties) {
    TILEDET_REQUIRE_RASTERS();
    TILEDET_REQUIRE_GENERATED("yolo_dynamic.onnx");
    for (const std::string ext : {".gpkg", ".shp"}) {
        const std::string out = out_path("vector" + ext);
        const CliResult r = run_cli("detect -m " + model() + " " + raster_path("planted_12000") +
                                    " --tile 640 --overlap 0.2 --vector " + out);
        ASSERT_EQ(r.code, 0) << r.output;
        const CliResult info = run_command("ogrinfo -ro -al -so " + out);
        if (info.output.find("not found") != std::string::npos) GTEST_SKIP() << "ogrinfo (gdal-bin) not installed";
        EXPECT_NE(info.output.find("Feature Count: 2"), std::string::npos) << info.output;
        EXPECT_NE(info.output.find("32633"), std::string::npos) << "the raster's CRS: " << info.output;
        EXPECT_NE(info.output.find("class_name: String"), std::string::npos) << info.output;
        // The first planted box, x 1120..1280 px -> 500560..500640 m.
        EXPECT_NE(info.output.find("500560"), std::string::npos) << info.output;
        // pixel_box survives: a list in GeoPackage, OGR's list text in a shapefile (no lists there).
        EXPECT_NE(info.output.find("pixel_box"), std::string::npos) << info.output;
        const CliResult features = run_command("ogrinfo -ro -al " + out);
        EXPECT_NE(features.output.find("1120"), std::string::npos) << features.output;
    }
    const CliResult bad = run_cli("detect -m " + model() + " " + raster_path("nogeo") + " --tile 640 --vector out.kml");
    EXPECT_EQ(bad.code, 2) << bad.output;
    EXPECT_NE(bad.output.find("--vector: expected a file name ending in .gpkg"), std::string::npos) << bad.output;
}
