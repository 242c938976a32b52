#include <cpl_conv.h>
#include <cpl_error.h>
#include <gdal_priv.h>
#include <ogr_spatialref.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <mutex>
#include <opencv2/imgproc.hpp>
#include <sstream>

#include "tiledet/error.hpp"
#include "tiledet/raster/raster.hpp"

namespace tiledet {
namespace {

void register_gdal() {
    static std::once_flag once;
    std::call_once(once, [] {
        GDALAllRegister();
        // GDAL's block cache defaults to 5 % of the machine's memory, which a raster larger than
        // that fills as its tiles are read (1.5 GB peak RSS for a 30000 x 30000 raster on a 32 GB
        // machine): bounded here instead, unless the user set GDAL_CACHEMAX. 256 MB holds two
        // rows of 512-pixel RGB blocks across a 80000-pixel-wide raster, so a row of tiles with
        // overlap reads each block once.
        if (!CPLGetConfigOption("GDAL_CACHEMAX", nullptr)) GDALSetCacheMax64(std::int64_t{256} << 20);
        // Errors reach the user as exceptions carrying CPLGetLastErrorMsg, not as stderr noise.
        CPLSetErrorHandler(CPLQuietErrorHandler);
    });
}

std::string last_gdal_error() {
    std::string m = CPLGetLastErrorMsg();
    std::replace(m.begin(), m.end(), '\n', ' ');
    return m.empty() ? std::string("no detail from GDAL") : m;
}

std::string lower_ext(const std::string& path) {
    std::string ext = std::filesystem::path(path).extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    return ext;
}

}  // namespace

std::optional<Stretch> parse_stretch(const std::string& name) {
    if (name == "none") return Stretch::none;
    if (name == "minmax" || name == "min-max") return Stretch::minmax;
    if (name == "percentile") return Stretch::percentile;
    return std::nullopt;
}

std::string to_string(Stretch s) {
    switch (s) {
        case Stretch::none: return "none";
        case Stretch::minmax: return "minmax";
        case Stretch::percentile: return "percentile";
    }
    return "?";
}

std::vector<int> parse_bands(const std::string& text) {
    std::vector<int> out;
    std::stringstream ss(text);
    std::string item;
    while (std::getline(ss, item, ',')) {
        try {
            std::size_t used = 0;
            const int b = std::stoi(item, &used);
            if (used != item.size() || b < 1) throw std::invalid_argument(item);
            out.push_back(b);
        } catch (const std::exception&) {
            out.clear();
            break;
        }
    }
    if (out.size() != 1 && out.size() != 3)
        throw OptionError("bands", "",
                          ": expected 3 band numbers shown as R,G,B (\"3,2,1\") or 1 shown as grey (\"4\"), "
                          "each from 1, got '" + text + "'");
    return out;
}

bool is_raster_path(const std::string& path) {
    static const char* kPhotos[] = {".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".dib", ".webp", ".pbm", ".pgm", ".ppm"};
    static const char* kRasters[] = {".tif", ".tiff", ".gtif", ".jp2", ".j2k", ".vrt", ".img", ".ntf", ".nitf", ".hdr",
                                     ".dem", ".ecw", ".sid", ".kea", ".nc", ".hgt", ".asc", ".bil"};
    const std::string ext = lower_ext(path);
    for (const char* e : kPhotos)
        if (ext == e) return false;
    for (const char* e : kRasters)
        if (ext == e) return true;
    return false;
}

struct GdalRaster::Impl {
    std::string path;
    GDALDataset* ds = nullptr;
    std::vector<int> bands;  // 1-based, as shown R,G,B (or one grey)
    GDALDataType type = GDT_Byte;
    Stretch stretch = Stretch::none;
    std::vector<double> lo, hi;  // per chosen band, for minmax and percentile
    RasterOptions options;
    GeoReference geo;
    bool has_mask = false;  // the first chosen band has nodata or a mask

    ~Impl() {
        if (ds) GDALClose(ds);
    }

    // Values of each chosen band on a grid of at most 1024 on the long side (GDAL takes an
    // overview when there is one), nodata excluded.
    void sample_ranges() {
        const int w = ds->GetRasterXSize(), h = ds->GetRasterYSize();
        const double f = std::min(1.0, 1024.0 / std::max(w, h));
        const int sw = std::max(1, static_cast<int>(w * f)), sh = std::max(1, static_cast<int>(h * f));
        for (int b : bands) {
            GDALRasterBand* band = ds->GetRasterBand(b);
            std::vector<float> v(static_cast<std::size_t>(sw) * sh);
            std::vector<std::uint8_t> mask(v.size(), 255);
            if (band->RasterIO(GF_Read, 0, 0, w, h, v.data(), sw, sh, GDT_Float32, 0, 0) != CE_None)
                throw InputError(path + ": cannot sample band " + std::to_string(b) + " for the stretch (" +
                                 last_gdal_error() + ")");
            if (options.nodata) {
                for (std::size_t i = 0; i < v.size(); ++i) mask[i] = v[i] == static_cast<float>(*options.nodata) ? 0 : 255;
            } else if (!(band->GetMaskFlags() & GMF_ALL_VALID)) {
                if (band->GetMaskBand()->RasterIO(GF_Read, 0, 0, w, h, mask.data(), sw, sh, GDT_Byte, 0, 0) != CE_None)
                    throw InputError(path + ": cannot read the nodata mask of band " + std::to_string(b) + " (" +
                                     last_gdal_error() + ")");
            }
            std::vector<float> valid;
            valid.reserve(v.size());
            for (std::size_t i = 0; i < v.size(); ++i)
                if (mask[i] && std::isfinite(v[i])) valid.push_back(v[i]);
            double l = 0, u = 255;
            if (!valid.empty()) {
                std::sort(valid.begin(), valid.end());
                const auto at = [&](double pct) {
                    const double pos = pct / 100.0 * static_cast<double>(valid.size() - 1);
                    return static_cast<double>(valid[static_cast<std::size_t>(std::lround(pos))]);
                };
                if (stretch == Stretch::minmax) {
                    l = valid.front();
                    u = valid.back();
                } else {
                    l = at(options.percentile_low);
                    u = at(options.percentile_high);
                }
            }
            if (u <= l) u = l + 1;  // a flat band maps to black rather than dividing by zero
            lo.push_back(l);
            hi.push_back(u);
        }
    }
};

GdalRaster::GdalRaster(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GdalRaster::~GdalRaster() = default;

std::shared_ptr<GdalRaster> GdalRaster::open(const std::string& path, const RasterOptions& options) {
    register_gdal();
    auto m = std::make_unique<Impl>();
    m->path = path;
    m->options = options;
    CPLErrorReset();
    m->ds = static_cast<GDALDataset*>(GDALOpenEx(path.c_str(), GDAL_OF_RASTER | GDAL_OF_READONLY, nullptr, nullptr, nullptr));
    if (!m->ds)
        throw InputError(path + ": cannot open as a raster (" + last_gdal_error() +
                         "); expected a GeoTIFF, COG, JPEG2000 or another format GDAL reads: check that the file is "
                         "complete and not corrupt");
    const int n = m->ds->GetRasterCount();
    if (n < 1) throw InputError(path + ": holds no raster bands (expected 1 or more)");
    m->bands = options.bands;
    if (m->bands.empty()) m->bands = n >= 3 ? std::vector<int>{1, 2, 3} : std::vector<int>{1};
    if (m->bands.size() != 1 && m->bands.size() != 3)
        throw OptionError("bands", path + ": ", ": expected 3 band numbers (R,G,B) or 1 (grey), got " +
                                                    std::to_string(m->bands.size()));
    for (int b : m->bands)
        if (b < 1 || b > n)
            throw OptionError("bands", path + ": ", ": band " + std::to_string(b) + " does not exist; the raster has " +
                                                        std::to_string(n) + " band(s), numbered from 1");
    if (!(options.percentile_low >= 0 && options.percentile_low < options.percentile_high &&
          options.percentile_high <= 100))
        throw OptionError("stretch", path + ": ", ": expected percentiles 0 <= low < high <= 100, got " +
                                                      std::to_string(options.percentile_low) + " and " +
                                                      std::to_string(options.percentile_high));
    m->type = m->ds->GetRasterBand(m->bands[0])->GetRasterDataType();
    m->stretch = options.stretch.value_or(m->type == GDT_Byte ? Stretch::none : Stretch::percentile);
    if (m->stretch != Stretch::none) m->sample_ranges();
    m->has_mask = options.nodata || !(m->ds->GetRasterBand(m->bands[0])->GetMaskFlags() & GMF_ALL_VALID);

    double gt[6];
    if (m->ds->GetGeoTransform(gt) == CE_None && !(gt[0] == 0 && gt[1] == 1 && gt[2] == 0 && gt[3] == 0 && gt[4] == 0 && gt[5] == 1)) {
        m->geo.has_transform = true;
        std::copy(gt, gt + 6, m->geo.transform.begin());
    }
    if (const OGRSpatialReference* srs = m->ds->GetSpatialRef()) {
        char* wkt = nullptr;
        srs->exportToWkt(&wkt);
        m->geo.crs_wkt = wkt ? wkt : "";
        CPLFree(wkt);
        const char* auth = srs->GetAuthorityName(nullptr);
        const char* code = srs->GetAuthorityCode(nullptr);
        m->geo.crs_name = auth && code ? std::string(auth) + ":" + code : (srs->GetName() ? srs->GetName() : "");
    }
    return std::shared_ptr<GdalRaster>(new GdalRaster(std::move(m)));
}

int GdalRaster::width() const { return impl_->ds->GetRasterXSize(); }
int GdalRaster::height() const { return impl_->ds->GetRasterYSize(); }
const GeoReference& GdalRaster::georeference() const { return impl_->geo; }

cv::Mat GdalRaster::read(const cv::Rect& r) {
    Impl& m = *impl_;
    const auto fail = [&](const std::string& what) {
        throw InputError(m.path + ": cannot read " + what + " of the region x=" + std::to_string(r.x) + " y=" +
                         std::to_string(r.y) + " " + std::to_string(r.width) + "x" + std::to_string(r.height) + " (" +
                         last_gdal_error() + "); the file may be truncated or corrupt");
    };
    if (r.x < 0 || r.y < 0 || r.width <= 0 || r.height <= 0 || r.x + r.width > width() || r.y + r.height > height())
        throw InputError(m.path + ": region outside the raster");
    const std::size_t px = static_cast<std::size_t>(r.width) * r.height;
    CPLErrorReset();
    // The nodata mask first: a region with no data is not read at all.
    cv::Mat mask;
    if (m.has_mask && !m.options.nodata) {
        mask.create(r.height, r.width, CV_8U);
        if (m.ds->GetRasterBand(m.bands[0])->GetMaskBand()->RasterIO(GF_Read, r.x, r.y, r.width, r.height, mask.data,
                                                                     r.width, r.height, GDT_Byte, 0, 0) != CE_None)
            fail("the nodata mask");
        if (cv::countNonZero(mask) == 0) return {};
    }
    const int nb = static_cast<int>(m.bands.size());
    // Bands in B,G,R order, pixel-interleaved, as OpenCV lays out BGR.
    std::vector<int> order(m.bands.rbegin(), m.bands.rend());
    cv::Mat out;
    if (m.stretch == Stretch::none && m.type == GDT_Byte && !m.options.nodata) {
        out.create(r.height, r.width, nb == 3 ? CV_8UC3 : CV_8U);
        if (m.ds->RasterIO(GF_Read, r.x, r.y, r.width, r.height, out.data, r.width, r.height, GDT_Byte, nb, order.data(),
                           nb, static_cast<GSpacing>(nb) * r.width, 1, nullptr) != CE_None)
            fail("the pixels");
    } else {
        cv::Mat values(r.height, r.width, nb == 3 ? CV_32FC3 : CV_32F);
        if (m.ds->RasterIO(GF_Read, r.x, r.y, r.width, r.height, values.data, r.width, r.height, GDT_Float32, nb,
                           order.data(), 4 * nb, static_cast<GSpacing>(4 * nb) * r.width, 4, nullptr) != CE_None)
            fail("the pixels");
        if (m.options.nodata) {
            mask = cv::Mat(r.height, r.width, CV_8U, cv::Scalar(0));
            const float nd = static_cast<float>(*m.options.nodata);
            const float* v = values.ptr<float>();
            std::uint8_t* mk = mask.ptr<std::uint8_t>();
            for (std::size_t i = 0; i < px; ++i)
                for (int c = 0; c < nb; ++c)
                    if (v[i * nb + c] != nd) {
                        mk[i] = 255;
                        break;
                    }
            if (cv::countNonZero(mask) == 0) return {};
        }
        // value -> byte per channel: (v - lo) * 255 / (hi - lo), or the type's fixed mapping.
        std::vector<double> scale(nb), shift(nb);
        for (int c = 0; c < nb; ++c) {
            const int band_index = nb - 1 - c;  // channel c holds order[c] = bands[nb-1-c]
            if (m.stretch == Stretch::none) {
                scale[c] = m.type == GDT_UInt16 ? 1.0 / 257.0 : 1.0;
                shift[c] = 0;
            } else {
                scale[c] = 255.0 / (m.hi[band_index] - m.lo[band_index]);
                shift[c] = -m.lo[band_index] * scale[c];
            }
        }
        std::vector<cv::Mat> planes;
        cv::split(values, planes);
        for (int c = 0; c < nb; ++c) planes[c].convertTo(planes[c], CV_8U, scale[c], shift[c]);  // saturates
        cv::merge(planes, out);
    }
    if (nb == 1) cv::cvtColor(out, out, cv::COLOR_GRAY2BGR);
    if (!mask.empty()) out.setTo(cv::Scalar::all(0), mask == 0);
    return out;
}

std::string GdalRaster::describe() const {
    const Impl& m = *impl_;
    std::ostringstream os;
    os << width() << "x" << height() << ", " << m.ds->GetRasterCount() << " band(s) " << GDALGetDataTypeName(m.type)
       << ", bands ";
    for (std::size_t i = 0; i < m.bands.size(); ++i) os << (i ? "," : "") << m.bands[i];
    os << ", stretch " << to_string(m.stretch);
    if (m.stretch == Stretch::percentile) os << " " << m.options.percentile_low << "-" << m.options.percentile_high;
    if (m.options.nodata)
        os << ", nodata " << *m.options.nodata;
    else if (m.has_mask)
        os << ", nodata mask";
    os << ", " << (m.geo.crs_name.empty() ? std::string("no CRS") : m.geo.crs_name);
    if (!m.geo.has_transform) os << ", no geotransform";
    return os.str();
}

}  // namespace tiledet
