// tiledet detect --model M [options] INPUT...: detections per image, as text, JSON and
// annotated images. Every image goes through the pipeline: whole, or cut into tiles (--tile)
// whose batches mix tiles of several images.
#if TILEDET_HAS_PIPELINE && TILEDET_HAS_IO
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <new>
#include <optional>
#include <set>
#include <sstream>

#include "command.hpp"
#include "output_files.hpp"
#include "pipeline_flags.hpp"
#include "progress_bar.hpp"
#include "tiledet/error.hpp"
#include "tiledet/io/image.hpp"
#include "tiledet/pipeline/report.hpp"
#include "tiledet/pipeline/result_json.hpp"
#if TILEDET_HAS_RASTER
#include "tiledet/raster/raster.hpp"
#endif

namespace tiledet::cli {
namespace {

namespace fs = std::filesystem;

double ms_since(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

struct DetectArgs {
    std::string model;
    std::vector<std::string> inputs;
    std::string json_path, jsonl_path, annotate_dir;
    std::string masks = "rle";
    PipelineFlags flags;
    // Rasters (GDAL): bands shown as R,G,B, stretch of deeper bands, nodata, GeoJSON out.
    std::string bands, stretch, percentiles, nodata, geojson_path, to_crs, vector_path;
};

// The process's peak resident memory (VmHWM) in MB, or -1 where /proc is not there.
double peak_rss_mb() {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
    return -1;
}

// One input's outcome: the pipeline's result, or why it failed.
struct ImageRecord {
    std::string file;
    std::string annotated;  // --annotate: the file written (names unique within the run)
    double load_ms = 0;
    std::optional<ImageResult> result;
    std::string error;
#if TILEDET_HAS_RASTER
    std::shared_ptr<GdalRaster> raster;  // read by window; its georeference for --geojson
#endif
};

std::string summary(const ImageResult& r, const Detector& det) {
    std::ostringstream os;
    os << r.source << " " << r.width << "x" << r.height << ": ";
    std::map<std::string, int> counts;
    for (const auto& d : r.detections) ++counts[det.class_name(d.class_id)];
    if (counts.empty()) os << "no detections";
    bool first = true;
    for (const auto& [name, n] : counts) {
        os << (first ? "" : ", ") << n << " " << name;
        first = false;
    }
    char buf[64];
    std::snprintf(buf, sizeof(buf), " (%zu tile%s, %.1f ms)", r.tiles.size(), r.tiles.size() == 1 ? "" : "s",
                  r.end_to_end_ms);
    os << buf;
    return one_line(os.str());  // file and class names come from files
}

std::string record_json(const ImageRecord& rec, const Detector& det, const std::string& device, int indent,
                        MaskFormat masks) {
    return rec.result ? image_json(*rec.result, det, device, rec.load_ms, indent, masks)
                      : image_error_json(rec.file, rec.error, indent);
}

// One line naming the image: the library's errors already do; anything else gets the name added.
std::string image_error(const std::string& file, const std::exception& e) {
    if (dynamic_cast<const Error*>(&e)) return cli_message(e);
    if (dynamic_cast<const std::bad_alloc*>(&e)) return file + ": out of memory (std::bad_alloc) while processing it";
    return file + ": " + e.what();
}

int run_detect(const DetectArgs& a) {
    const auto masks = parse_mask_format(a.masks);
    if (!masks) throw ConfigError("--masks: expected rle, polygon or none, got '" + a.masks + "'");
    PipelineOptions options = to_pipeline_options(a.flags);
    // Every input resolves first, so a missing path is reported before any work starts (after
    // the model's lines, below), and the count is known when the model opens.
    std::vector<std::string> files, input_errors;
    bool from_folder = false;
    for (const auto& in : a.inputs) {
        try {
            auto list = list_images(in);
            from_folder = from_folder || fs::is_directory(in);
            files.insert(files.end(), list.begin(), list.end());
        } catch (const InputError& e) {
            input_errors.push_back(e.what());
        }
    }
    std::optional<Pipeline> loaded;
    const auto load = [&](const PipelineOptions& with) {
        try {
            loaded.emplace(a.model, with);
        } catch (const std::bad_alloc&) {
            throw InputError(a.model + ": out of memory while loading the model (std::bad_alloc)");
        }
    };
    // Nothing usable (an empty folder, a missing file): say so without measuring a configuration
    // or probing batch sizes for images that are not there. The model still opens, so a bad model
    // is still the one line and exit 2 that wins over the inputs (as with usable ones).
    if (files.empty() && !input_errors.empty()) {
        PipelineOptions check = options;
        check.auto_config.expected_tiles = 1;
        check.batching.probe_dynamic_batch = false;
        check.batching.probe_batch_sizes.clear();
        load(check);
        for (const std::string& e : input_errors) std::cerr << "tiledet: " << one_line(e) << "\n";
        return kExitSomeInputsFailed;
    }
    // One image run whole is one tile: no measurement can pay for itself (auto_config.hpp).
    if (options.tile_mode == TileMode::none && files.size() == 1) options.auto_config.expected_tiles = 1;
    load(options);
    Pipeline& pipeline = *loaded;
    const Detector& detector = pipeline.detector();
    const std::string device = pipeline.executor().stats().device;

    int failed = static_cast<int>(input_errors.size());
    for (const std::string& e : input_errors) std::cerr << "tiledet: " << one_line(e) << "\n";
    if (!a.annotate_dir.empty()) cli::ensure_folder(a.annotate_dir, "annotated images");
    // --annotate names the output after the input; two inputs with one name (a/x.jpg and b/x.jpg,
    // or one file given twice) would overwrite each other: later ones get -2, -3, ... before the
    // extension, in input order, and one line says so.
    std::vector<std::string> annotated_names;
    if (!a.annotate_dir.empty()) {
        std::set<std::string> used;
        for (const std::string& f : files) used.insert(fs::path(f).filename().string());
        std::set<std::string> taken;
        std::size_t renamed = 0;
        std::string example;
        for (const std::string& f : files) {
            const fs::path name = fs::path(f).filename();
            std::string out = name.string();
            if (taken.count(out))  // a number no input is named with and none took
                for (int k = 2; taken.count(out) || used.count(out); ++k)
                    out = name.stem().string() + "-" + std::to_string(k) + name.extension().string();
            if (out != name.string()) {
                ++renamed;
                if (example.empty()) example = f + " -> " + out;
            }
            taken.insert(out);
            annotated_names.push_back((fs::path(a.annotate_dir) / out).string());
        }
        if (renamed > 0)
            std::cerr << "note: --annotate: " << renamed << " input" << (renamed == 1 ? " shares its" : "s share their")
                      << " file name with an earlier one and " << (renamed == 1 ? "is" : "are")
                      << " written with a number added (" << one_line(example) << ")\n";
    }

    // A forced family that the signature does not fit decodes numbers that mean something else:
    // say so where the user looks, not only in the JSON's family_reason.
    if (options.detector.family) {
        const FamilyMatch fit = match_family(pipeline.signature());
        const bool fits = std::find(fit.candidates.begin(), fit.candidates.end(), *options.detector.family) !=
                          fit.candidates.end();
        if (!fits)
            std::cerr << "warning: --family " << to_string(*options.detector.family)
                      << " is forced, but the model's signature does not fit that layout"
                      << (fit.family ? " (it suggests " + to_string(*fit.family) + ")" : std::string())
                      << ": its detections are likely meaningless; `tiledet inspect` shows the evidence\n";
    }
    std::cerr << "model: " << a.model << " (family " << to_string(detector.family()) << ", input "
              << detector.input_size().second << "x" << detector.input_size().first << ", "
              << to_string(detector.resize_mode()) << "; "
              << (pipeline.executor().sequential() ? std::string("runs one image or tile at a time: see the warning above")
                                                   : pipeline.signature().batch_kind().describe())
              << ")\n";
    std::cerr << "config: " << pipeline.config().describe() << "\n";
    // --provider auto: say what it passed over and why.
    if (const auto* mb = dynamic_cast<const ModelBackend*>(&pipeline.executor().backend(0)))
        for (const std::string& skipped : mb->model().providers_skipped()) std::cerr << "provider auto: " << skipped << "\n";
    // A folder of many images: images done; otherwise an image of many tiles (a big raster):
    // its tiles done. Only on a terminal.
    ProgressBar bar("images", from_folder && files.size() >= 10);
    ProgressBar tile_bar("tiles", !bar.enabled());
    constexpr std::size_t kTilesForABar = 64;
    const auto tile_progress = [&](const std::string& file) {
        return [&tile_bar, name = fs::path(file).filename().string()](std::size_t done, std::size_t total) {
            if (total >= kTilesForABar) tile_bar.update(done, total, name);
        };
    };
    std::vector<std::string> records;
    // --json is written at the end, but a path that cannot be written fails now, before any work.
    std::ofstream json_file;
    if (!a.json_path.empty() && a.json_path != "-") {
        json_file.open(a.json_path);
        if (!json_file) throw InputError(a.json_path + ": cannot open for writing the JSON results (--json)");
    }
    // --jsonl: one line per image, written as soon as it is reported.
    std::ofstream jsonl_file;
    std::ostream* const jsonl = cli::open_jsonl(a.jsonl_path, jsonl_file, "the JSON Lines results");
    std::size_t total_dets = 0, done = 0;
#if TILEDET_HAS_RASTER
    RasterOptions raster_options;
    if (!a.bands.empty()) raster_options.bands = parse_bands(a.bands);
    if (!a.stretch.empty()) {
        raster_options.stretch = parse_stretch(a.stretch);
        if (!raster_options.stretch)
            throw OptionError("--stretch", "", ": expected none, minmax or percentile, got '" + a.stretch + "'");
    }
    if (!a.percentiles.empty()) {
        const auto comma = a.percentiles.find(',');
        try {
            if (comma == std::string::npos) throw std::invalid_argument(a.percentiles);
            raster_options.percentile_low = std::stod(a.percentiles.substr(0, comma));
            raster_options.percentile_high = std::stod(a.percentiles.substr(comma + 1));
        } catch (const std::exception&) {
            throw OptionError("--percentiles", "", ": expected LOW,HIGH in percent (\"2,98\"), got '" + a.percentiles + "'");
        }
        // Checked here too (the raster module checks again per file) so the mistake is one line
        // before any model loads, not one failure per raster.
        if (!(raster_options.percentile_low >= 0 && raster_options.percentile_low < raster_options.percentile_high &&
              raster_options.percentile_high <= 100))
            throw OptionError("--percentiles", "",
                              ": expected 0 <= LOW < HIGH <= 100 (\"2,98\"), got '" + a.percentiles + "'");
    }
    if (!a.nodata.empty()) {
        try {
            raster_options.nodata = std::stod(a.nodata);
        } catch (const std::exception&) {
            throw OptionError("--nodata", "", ": expected a number, got '" + a.nodata + "'");
        }
    }
    std::optional<GeoJsonWriter> geojson;
    std::ofstream geojson_file;
    if (!a.geojson_path.empty() || !a.vector_path.empty()) {
        geojson.emplace(a.to_crs);
    } else if (!a.to_crs.empty()) {
        throw OptionError("--to-crs", "", ": only changes the coordinates of --geojson or --vector output; add one of "
                                          "them, or drop --to-crs");
    }
    if (!a.vector_path.empty()) {
        std::string ext = fs::path(a.vector_path).extension().string();
        std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
        if (ext != ".gpkg" && ext != ".shp" && ext != ".geojson" && ext != ".json")
            throw OptionError("--vector", "", ": expected a file name ending in .gpkg (GeoPackage) or .shp (shapefile), got '" +
                                                  a.vector_path + "'");
    }
    if (!a.geojson_path.empty()) {
        geojson_file.open(a.geojson_path);
        if (!geojson_file) throw InputError(a.geojson_path + ": cannot open for writing the GeoJSON results (--geojson)");
    }
#else
    if (!a.geojson_path.empty() || !a.vector_path.empty() || !a.bands.empty() || !a.stretch.empty() ||
        !a.nodata.empty())
        throw InputError("--geojson, --vector, --bands, --stretch and --nodata need the raster module, which this build left out "
                         "(GDAL was not found: install libgdal-dev and re-run cmake)");
#endif

    // Keep a window of images in flight so tiles of several images can share batches, and
    // report each image in input order as soon as it is ready.
    // Deep enough to fill every instance's batch twice over, with the batch the executor forms
    // (a static batch-1 model: 1, whatever max batch says) and the instances it runs.
    const std::size_t window =
        std::max<std::size_t>(2, 2 * static_cast<std::size_t>(pipeline.executor().max_batch_size()) *
                                         pipeline.executor().instances());
    std::deque<std::pair<ImageRecord, std::future<ImageResult>>> in_flight;
    std::deque<cv::Mat> images;  // kept for --annotate until the image is reported
    // Decoded pixels in flight are bounded in bytes too: at most kHeldBytes (or one image, however
    // large), so ten 16000x16000 photos (768 MB each decoded) are not all held at once.
    constexpr std::size_t kHeldBytes = std::size_t{1} << 30;
    std::size_t held_bytes = 0;
    const auto bytes_of = [](const cv::Mat& m) { return m.empty() ? std::size_t{0} : m.total() * m.elemSize(); };
    const auto finish_one = [&] {
        auto [rec, fut] = std::move(in_flight.front());
        in_flight.pop_front();
        cv::Mat img = std::move(images.front());
        images.pop_front();
        held_bytes -= bytes_of(img);
        if (fut.valid()) {
            try {
                rec.result = fut.get();
                if (!a.annotate_dir.empty() && !img.empty())
                    save_annotated(rec.annotated, img,
                                   rec.result->detections, [&](int id) { return detector.class_name(id); });
            } catch (const std::exception& e) {
                rec.error = image_error(rec.file, e);
                rec.result.reset();
            }
        }
        bar.clear();
        tile_bar.clear();
        if (rec.result && jsonl != &std::cout && a.json_path != "-") {
            std::cout << summary(*rec.result, detector) << "\n" << std::flush;
        }
#if TILEDET_HAS_RASTER
        if (rec.result && geojson) {
            try {
                geojson->add(rec.file, rec.raster ? rec.raster->georeference() : GeoReference{},
                             rec.result->detections, [&](int id) { return detector.class_name(id); });
            } catch (const std::exception& e) {
                std::cerr << "tiledet: " << one_line(image_error(rec.file, e)) << "\n";
                ++failed;
            }
        }
        rec.raster.reset();
#endif
        if (rec.result) {
            total_dets += rec.result->detections.size();
        } else {
            std::cerr << "tiledet: " << one_line(rec.error) << "\n";
            ++failed;
        }
        if (!a.json_path.empty()) records.push_back(record_json(rec, detector, device, -1, *masks));
        if (jsonl) *jsonl << record_json(rec, detector, device, -1, *masks) << "\n" << std::flush;
        bar.update(++done, files.size());
    };
    for (std::size_t fi = 0; fi < files.size(); ++fi) {
        const std::string& file = files[fi];
        ImageRecord rec;
        rec.file = file;
        if (!annotated_names.empty()) rec.annotated = annotated_names[fi];
        const auto t0 = Clock::now();
        std::future<ImageResult> fut;
        cv::Mat img;
        try {
#if TILEDET_HAS_RASTER
            if (is_raster_path(file)) {
                // Read by window: the pipeline reads each tile's region as it cuts it.
                rec.raster = GdalRaster::open(file, raster_options);
                rec.load_ms = ms_since(t0);
                std::cerr << file << ": " << rec.raster->describe() << "\n";
                if (geojson) {
                    // Refused before any tile runs: an hour of inference must not end in this error.
                    const GeoReference& g = rec.raster->georeference();
                    if (!g.has_transform)
                        throw InputError(file + ": has no geotransform, so its detections have no map coordinates; "
                                                "--geojson/--vector need a georeferenced raster (use --json for pixel boxes)");
                    if (g.crs_wkt.empty())
                        throw InputError(file + ": has a geotransform but no CRS, so GeoJSON readers would take its "
                                                "coordinates for longitude/latitude; assign one (gdal_edit.py -a_srs "
                                                "EPSG:N FILE) or use --json for pixel boxes");
                }
                if (!a.annotate_dir.empty())
                    std::cerr << file << ": not annotated (--annotate): a raster is read by window and never held "
                                         "whole; use --geojson or --vector and a GIS to view its detections\n";
                const std::int64_t pixels = std::int64_t{rec.raster->width()} * rec.raster->height();
                if (options.tile_mode == TileMode::none && options.limits.max_image_pixels > 0 &&
                    pixels > options.limits.max_image_pixels)
                    throw InputError(file + ": a raster of " + std::to_string(rec.raster->width()) + "x" +
                                     std::to_string(rec.raster->height()) +
                                     " cannot run as one whole-image tile; give --tile (e.g. --tile 640 --overlap 0.2) "
                                     "to cut it into tiles read by window");
                SubmitOptions so;
                so.label = file;
                so.on_progress = tile_progress(file);
                fut = pipeline.submit(rec.raster, std::move(so));
                in_flight.emplace_back(std::move(rec), std::move(fut));
                images.emplace_back();  // a raster is never held whole: no --annotate for it
                while (in_flight.size() >= window) finish_one();
                continue;
            }
#endif
            img = load_image(file, options.limits.max_image_pixels);
            rec.load_ms = ms_since(t0);
            SubmitOptions so;
            so.label = file;
            so.on_progress = tile_progress(file);
            fut = pipeline.submit(img, std::move(so));
        } catch (const std::exception& e) {
            rec.error = image_error(file, e);
            img.release();
        }
        in_flight.emplace_back(std::move(rec), std::move(fut));
        held_bytes += bytes_of(img);
        images.push_back(std::move(img));
        while (in_flight.size() >= window || (held_bytes > kHeldBytes && in_flight.size() > 1)) finish_one();
    }
    while (!in_flight.empty()) finish_one();
    bar.clear();
    tile_bar.clear();
    std::cerr << files.size() + input_errors.size() << " image(s), " << total_dets << " detection(s), " << failed << " failed\n";
    if (const double mb = peak_rss_mb(); mb >= 0) std::cerr << "peak RSS: " << static_cast<long>(mb + 0.5) << " MB\n";
#if TILEDET_HAS_RASTER
    if (geojson) {
        if (!a.geojson_path.empty()) {
            if (!(geojson_file << geojson->str(1) << "\n" << std::flush))
                throw InputError(a.geojson_path + ": cannot write the GeoJSON results");
            std::cerr << "wrote " << geojson->features() << " feature(s) to " << a.geojson_path << "\n";
        }
        if (!a.vector_path.empty()) {
            write_vector(geojson->str(-1), a.vector_path);
            std::cerr << "wrote " << geojson->features() << " feature(s) to " << a.vector_path << "\n";
        }
    }
#endif
    // --verbose: the executor prints its statistics block itself when it shuts down.

    if (!a.json_path.empty()) {
        std::ostream& f = a.json_path == "-" ? std::cout : json_file;
        if (!(f << results_json(a.model, detector, records, 2, &pipeline.config()) << "\n" << std::flush)) throw InputError(a.json_path + ": cannot write the JSON results");
    }
    cli::check_written(jsonl, a.jsonl_path, "the JSON Lines results");
    return failed > 0 ? kExitSomeInputsFailed : kExitOk;
}

const CommandRegistrar reg{Command{"detect", 20, [](CLI::App& app) {
    auto* sub = app.add_subcommand("detect", "Detect objects in images (files or folders), optionally tiled and batched");
    auto a = std::make_shared<DetectArgs>();
    sub->add_option("--model,-m", a->model, "ONNX model file")->required();
    sub->add_option("inputs", a->inputs, "Image files or folders of images")->required();
    sub->add_option("--json", a->json_path,
                    "Write results as JSON to this file at the end ('-': standard output, instead of the text summary)");
    sub->add_option("--jsonl", a->jsonl_path,
                    "Write one JSON line per image to this file as each is done ('-': standard output, instead "
                    "of the text summary)");
    sub->add_option("--annotate", a->annotate_dir, "Write annotated images into this folder");
    sub->add_option("--masks", a->masks,
                    "Segmentation masks in the JSON: rle (COCO compressed RLE, default), polygon (COCO polygons) or none");
    add_pipeline_flags(*sub, a->flags);
    // Rasters: files GDAL reads (.tif .tiff .jp2 .vrt ...) are read by window, tile by tile.
    sub->add_option("--bands", a->bands,
                    "Raster bands shown to the model as R,G,B (\"3,2,1\"), or one band as grey; default 1,2,3 (1 for "
                    "fewer than 3 bands)");
    sub->add_option("--stretch", a->stretch,
                    "Raster values to bytes: none (8-bit as is, UInt16 / 257), minmax or percentile (per band, "
                    "sampled); default none for 8-bit, percentile for deeper bands");
    sub->add_option("--percentiles", a->percentiles, "LOW,HIGH percent for --stretch percentile")->default_str("2,98");
    sub->add_option("--nodata", a->nodata,
                    "Raster value that marks nodata in every chosen band (default: the bands' own nodata or mask); "
                    "tiles with no data are not run");
    sub->add_option("--geojson", a->geojson_path,
                    "Write detections of georeferenced rasters as GeoJSON polygons in the raster's CRS to this file");
    sub->add_option("--vector", a->vector_path,
                    "Also write the georeferenced detections through OGR: FILE.gpkg (GeoPackage) or FILE.shp (shapefile)");
    sub->add_option("--to-crs", a->to_crs,
                    "With --geojson/--vector: write coordinates in this CRS instead (\"EPSG:4326\")");
    return std::function<int()>([a] { return run_detect(*a); });
}}};

}  // namespace
}  // namespace tiledet::cli
#endif
