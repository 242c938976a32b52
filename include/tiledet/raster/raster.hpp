// Rasters of any size read by window through GDAL (GeoTIFF, tiled or striped TIFF, COG,
// JPEG2000, VRT and anything else GDAL opens): an ImageSource whose read() fetches only a
// tile's region, maps the chosen bands and bit depth to the 8-bit BGR the detectors take, and
// says when a region is all nodata so its tile is not run. Also the raster's georeferencing,
// and detections written as GeoJSON in map coordinates. Only this module includes GDAL.
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tiledet/detection.hpp"
#include "tiledet/pipeline/image_source.hpp"

namespace tiledet {

// How values of bands deeper than 8 bits (or an 8-bit band one wants stretched) become bytes:
//   none:       8-bit as is; UInt16 value / 257; other types clamped to [0, 255]
//   minmax:     (v - min) / (max - min) * 255, min and max of each band (sampled, nodata excluded)
//   percentile: the same between the band's low and high percentiles (sampled, nodata excluded)
enum class Stretch { none, minmax, percentile };
std::optional<Stretch> parse_stretch(const std::string& name);  // "none" | "minmax" | "percentile"
std::string to_string(Stretch s);

struct RasterOptions {
    // 1-based band numbers shown as R,G,B (3 of them), or one band shown as grey. Empty: 1,2,3
    // for rasters of 3 or more bands (a 4th band, alpha or NIR, is left out), 1 for fewer.
    std::vector<int> bands;
    // Unset: none for 8-bit bands, percentile for deeper ones.
    std::optional<Stretch> stretch;
    double percentile_low = 2, percentile_high = 98;  // in [0, 100], low < high
    // A value that marks nodata in every chosen band; unset: the bands' own nodata value or mask.
    std::optional<double> nodata;
};

// Parses "3,2,1" (or "1"): 1-based band numbers. Throws OptionError("bands") otherwise.
std::vector<int> parse_bands(const std::string& text);

// Pixel -> map coordinates: x = gt[0] + px gt[1] + py gt[2], y = gt[3] + px gt[4] + py gt[5]
// (GDAL's geotransform; px, py in pixels from the top-left corner of the raster).
struct GeoReference {
    bool has_transform = false;  // false: pixel coordinates only
    std::array<double, 6> transform{0, 1, 0, 0, 0, 1};
    std::string crs_wkt;   // empty: no CRS
    std::string crs_name;  // "EPSG:32633" when the CRS has an EPSG code, else its name

    std::array<double, 2> to_map(double px, double py) const {
        return {transform[0] + px * transform[1] + py * transform[2], transform[3] + px * transform[4] + py * transform[5]};
    }
};

class GdalRaster final : public ImageSource {
public:
    // Opens `path` for reading by window and, for a stretch, samples each chosen band (an
    // overview when the file has one). Throws InputError naming the file for a file GDAL cannot
    // open (missing, corrupt, not a raster), and OptionError ("bands", "stretch") for a band
    // number outside 1..band count, not 1 or 3 bands, or bad percentiles.
    static std::shared_ptr<GdalRaster> open(const std::string& path, const RasterOptions& options = {});
    ~GdalRaster() override;

    int width() const override;
    int height() const override;
    // The region as 8-bit BGR (nodata pixels black), or an empty Mat when every pixel of it is
    // nodata. Throws InputError naming the file and the region when GDAL cannot read it.
    cv::Mat read(const cv::Rect& region) override;

    const GeoReference& georeference() const;
    // One line: "30000x30000, 4 bands UInt16, bands 3,2,1, stretch percentile 2-98, nodata 0, EPSG:32633".
    std::string describe() const;

private:
    struct Impl;
    explicit GdalRaster(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// Whether `path` is for GDAL rather than OpenCV: photos (.jpg .jpeg .png .bmp .webp ...) go to
// OpenCV; TIFF, JPEG2000, VRT, ERDAS .img, NITF and other raster formats to GDAL.
bool is_raster_path(const std::string& path);

// Detections as a GeoJSON FeatureCollection of polygons (closed rings: the pixel box's four
// corners and the first again) in the raster's CRS, or in `to_crs` ("EPSG:4326": longitude,
// latitude) when given. Properties: file, class_id, class_name, score, pixel box [x1, y1, x2, y2].
class GeoJsonWriter {
public:
    explicit GeoJsonWriter(std::string to_crs = {});
    ~GeoJsonWriter();
    // Throws InputError naming `file` when `geo` has no geotransform (or no CRS to transform from
    // for to_crs), or the transform fails.
    void add(const std::string& file, const GeoReference& geo, const Detections& detections,
             const std::function<std::string(int)>& class_name);
    std::size_t features() const;
    std::string str(int indent = 1) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Writes `geojson` (GeoJsonWriter::str) to `path` through OGR in the format its extension names:
// .gpkg (GeoPackage), .shp (ESRI shapefile, with its .dbf/.shx/.prj), .geojson/.json (GeoJSON).
// The CRS and the properties carry over. Throws InputError naming `path` for another extension or
// when OGR cannot write it (an existing GeoPackage or shapefile is replaced).
void write_vector(const std::string& geojson, const std::string& path);

}  // namespace tiledet
