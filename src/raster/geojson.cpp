#include <cpl_vsi.h>
#include <gdal_priv.h>
#include <gdal_utils.h>
#include <cpl_error.h>
#include <ogr_spatialref.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "tiledet/error.hpp"
#include "tiledet/raster/raster.hpp"

namespace tiledet {

struct GeoJsonWriter::Impl {
    std::string to_crs;
    nlohmann::json features = nlohmann::json::array();
    std::string crs_name;  // of the coordinates written; the first raster's when not to_crs
    // One transformation per source CRS (by WKT), made on first use.
    std::map<std::string, std::unique_ptr<OGRCoordinateTransformation>> transforms;

    OGRCoordinateTransformation* transform_from(const std::string& file, const std::string& wkt) {
        auto it = transforms.find(wkt);
        if (it != transforms.end()) return it->second.get();
        OGRSpatialReference src, dst;
        if (src.importFromWkt(wkt.c_str()) != OGRERR_NONE)
            throw InputError(file + ": the raster's CRS cannot be read by OGR; --to-crs needs one it knows");
        if (dst.SetFromUserInput(to_crs.c_str()) != OGRERR_NONE)
            throw OptionError("to-crs", "", ": expected a CRS OGR knows (\"EPSG:4326\"), got '" + to_crs + "'");
        // Longitude, latitude order (GeoJSON's), whatever the CRS's official axis order.
        src.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
        dst.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
        std::unique_ptr<OGRCoordinateTransformation> t(OGRCreateCoordinateTransformation(&src, &dst));
        if (!t) throw InputError(file + ": no transformation from the raster's CRS to " + to_crs);
        return transforms.emplace(wkt, std::move(t)).first->second.get();
    }
};

GeoJsonWriter::GeoJsonWriter(std::string to_crs) : impl_(std::make_unique<Impl>()) {
    impl_->to_crs = std::move(to_crs);
    if (!impl_->to_crs.empty()) {
        OGRSpatialReference dst;
        // PROJ's "crs not found" would otherwise print on stderr before the one-line error.
        CPLPushErrorHandler(CPLQuietErrorHandler);
        const OGRErr parsed = dst.SetFromUserInput(impl_->to_crs.c_str());
        CPLPopErrorHandler();
        if (parsed != OGRERR_NONE)
            throw OptionError("to-crs", "", ": expected a CRS OGR knows (\"EPSG:4326\"), got '" + impl_->to_crs + "'");
        impl_->crs_name = impl_->to_crs;
    }
}
GeoJsonWriter::~GeoJsonWriter() = default;

void GeoJsonWriter::add(const std::string& file, const GeoReference& geo, const Detections& detections,
                        const std::function<std::string(int)>& class_name) {
    Impl& m = *impl_;
    if (!geo.has_transform)
        throw InputError(file + ": has no geotransform, so its detections have no map coordinates; --geojson needs a "
                                "georeferenced raster (use --json for pixel boxes)");
    OGRCoordinateTransformation* t = nullptr;
    if (!m.to_crs.empty()) {
        if (geo.crs_wkt.empty())
            throw InputError(file + ": has no CRS to transform from; --to-crs needs a raster with one (drop --to-crs "
                                    "to write the raster's own coordinates)");
        t = m.transform_from(file, geo.crs_wkt);
    } else if (m.crs_name.empty()) {
        m.crs_name = geo.crs_name;
    }
    for (const Detection& d : detections) {
        const double px[5] = {d.box.x1, d.box.x2, d.box.x2, d.box.x1, d.box.x1};
        const double py[5] = {d.box.y1, d.box.y1, d.box.y2, d.box.y2, d.box.y1};
        double x[5], y[5];
        for (int i = 0; i < 5; ++i) {
            const auto p = geo.to_map(px[i], py[i]);
            x[i] = p[0];
            y[i] = p[1];
        }
        if (t && !t->Transform(5, x, y))
            throw InputError(file + ": a detection's corners cannot be transformed to " + m.to_crs);
        // RFC 7946 section 3.1.6: an exterior ring is counterclockwise. Pixel rows grow downward
        // and map northings upward, so the pixel order's turn depends on the geotransform's signs:
        // the shoelace sum decides, and a clockwise ring is written backwards.
        double twice_area = 0;
        for (int i = 0; i < 4; ++i) twice_area += x[i] * y[i + 1] - x[i + 1] * y[i];
        nlohmann::json ring = nlohmann::json::array();
        for (int k = 0; k < 4; ++k) {
            const int i = twice_area >= 0 ? k : (4 - k) % 4;
            ring.push_back({x[i], y[i]});
        }
        ring.push_back(ring[0]);  // closed exactly, whatever the transform's rounding
        m.features.push_back({
            {"type", "Feature"},
            {"geometry", {{"type", "Polygon"}, {"coordinates", nlohmann::json::array({ring})}}},
            {"properties",
             {{"file", file},
              {"class_id", d.class_id},
              {"class_name", class_name(d.class_id)},
              {"score", d.score},
              {"pixel_box", {d.box.x1, d.box.y1, d.box.x2, d.box.y2}}}},
        });
    }
}

std::size_t GeoJsonWriter::features() const { return impl_->features.size(); }

std::string GeoJsonWriter::str(int indent) const {
    nlohmann::json fc = {{"type", "FeatureCollection"}, {"features", impl_->features}};
    // RFC 7946 GeoJSON is WGS 84 longitude/latitude; coordinates in another CRS carry the
    // (2008 GeoJSON) "crs" member, which GDAL/OGR and QGIS read.
    const std::string& crs = impl_->crs_name;
    if (!crs.empty() && crs != "EPSG:4326" && crs != "OGC:CRS84") {
        const auto colon = crs.find(':');
        const std::string urn = colon == std::string::npos
                                    ? crs
                                    : "urn:ogc:def:crs:" + crs.substr(0, colon) + "::" + crs.substr(colon + 1);
        fc["crs"] = {{"type", "name"}, {"properties", {{"name", urn}}}};
    }
    return fc.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace tiledet

namespace tiledet {

void write_vector(const std::string& geojson, const std::string& path) {
    std::string ext = std::filesystem::path(path).extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    const char* format = ext == ".gpkg"                       ? "GPKG"
                         : ext == ".shp"                      ? "ESRI Shapefile"
                         : (ext == ".geojson" || ext == ".json") ? "GeoJSON"
                                                              : nullptr;
    if (!format)
        throw InputError(path + ": expected a .gpkg (GeoPackage), .shp (shapefile) or .geojson file name, got '" + ext +
                         "'");
    GDALAllRegister();
    // The GeoJSON text as an in-memory file that OGR opens like any other.
    const std::string mem = "/vsimem/tiledet_" + std::to_string(reinterpret_cast<std::uintptr_t>(&geojson)) + ".geojson";
    VSILFILE* f = VSIFileFromMemBuffer(mem.c_str(), reinterpret_cast<GByte*>(const_cast<char*>(geojson.data())),
                                       static_cast<vsi_l_offset>(geojson.size()), FALSE);
    if (!f) throw InputError(path + ": cannot stage the detections for OGR");
    VSIFCloseL(f);
    struct Unlink {
        std::string p;
        ~Unlink() { VSIUnlink(p.c_str()); }
    } unlink_mem{mem};
    GDALDatasetH src = GDALOpenEx(mem.c_str(), GDAL_OF_VECTOR, nullptr, nullptr, nullptr);
    if (!src) throw InputError(path + ": OGR cannot read the detections (" + std::string(CPLGetLastErrorMsg()) + ")");
    std::error_code ec;
    if (std::string(format) != "GeoJSON") std::filesystem::remove(path, ec);  // replace, as the GeoJSON writer does
    // A shapefile (dBASE) has no list fields: pixel_box would be dropped, so it is written as
    // OGR's list text "(4:x1,y1,x2,y2)" (ogr2ogr's -fieldTypeToString RealList).
    std::vector<char*> argv = {const_cast<char*>("-f"), const_cast<char*>(format), const_cast<char*>("-nln"),
                               const_cast<char*>("detections")};
    if (std::string(format) == "ESRI Shapefile") {
        argv.push_back(const_cast<char*>("-fieldTypeToString"));
        argv.push_back(const_cast<char*>("RealList"));
    }
    argv.push_back(nullptr);
    GDALVectorTranslateOptions* opts = GDALVectorTranslateOptionsNew(argv.data(), nullptr);
    int usage_error = 0;
    CPLErrorReset();
    GDALDatasetH out = GDALVectorTranslate(path.c_str(), nullptr, 1, &src, opts, &usage_error);
    GDALVectorTranslateOptionsFree(opts);
    GDALClose(src);
    if (!out) throw InputError(path + ": OGR cannot write it as " + format + " (" + std::string(CPLGetLastErrorMsg()) + ")");
    GDALClose(out);
}

}  // namespace tiledet
