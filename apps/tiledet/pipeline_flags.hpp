// Command-line flags shared by every command that runs the pipeline (detect, bench, demo and
// examples/detect_pipeline), so each flag means the same everywhere.
#pragma once

#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli_errors.hpp"
#include "provider_flags.hpp"
#include "tiledet/error.hpp"
#include "tiledet/pipeline/pipeline.hpp"

namespace tiledet::cli {

struct PipelineFlags {
    // model / detector
    std::string provider = "cpu";
    int device_id = 0;
    std::string io_binding = "auto";
    bool cuda_graphs = false;
    int threads = 0;
    std::string family;
    std::string imgsz;  // "640" or "480,640" (h,w)
    std::string names;
    std::string resize;  // letterbox | stretch (default: the family's reference)
    int pad = -1;        // letterbox fill (default: the family's reference)
    // decode
    std::optional<float> conf;
    float iou = 0.7f;
    int max_det = 300;
    std::string classes;  // "0,2,5"
    bool agnostic = false;
    // tiling and merging
    std::string tile = "none";  // none | auto | SIZE | WxH
    double overlap = 0.2;       // < 1: ratio of the tile; >= 1: pixels
    bool full_image = false;
    std::string merge = "greedy-nmm";
    std::string match = "ios";
    float merge_threshold = 0.5f;
    bool merge_agnostic = false;
    // batching
    int batch = 8;
    double max_delay_ms = 2.0;
    int instances = 1;
    std::size_t queue_capacity = 1024;
    std::string probe_sizes = "2,3,max";
    bool verbose = false;
    // limits (tiledet::Limits)
    Limits limits;
};

inline std::vector<int> parse_int_list(const std::string& s, const char* what) {
    std::vector<int> out;
    std::stringstream ss(s);
    std::string tok;
    while (std::getline(ss, tok, ',')) {
        if (tok.empty()) continue;
        try {
            std::size_t used = 0;
            out.push_back(std::stoi(tok, &used));
            if (used != tok.size()) throw std::invalid_argument(tok);
        } catch (const std::exception&) {
            throw ConfigError(std::string(what) + ": expected comma-separated integers, got '" + s + "'");
        }
    }
    return out;
}

inline void add_pipeline_flags(CLI::App& app, PipelineFlags& f, bool with_tiling = true) {
    add_provider_flags(app, f.provider, f.device_id, f.io_binding, f.cuda_graphs);
    app.add_option("--threads", f.threads, "CPU threads in all (split between instances; 0: all cores)");
    std::string families;
    for (const Family k : all_families()) families += (families.empty() ? "" : ", ") + to_string(k);
    app.add_option("--family", f.family, "Force the model family (" + families + ")");
    app.add_option("--imgsz", f.imgsz, "Input size for models with dynamic H/W: 640 or H,W");
    app.add_option("--names", f.names, "Class names file, one per line");
    app.add_option("--resize", f.resize, "letterbox or stretch (default: the family's reference)");
    app.add_option("--pad", f.pad, "Letterbox fill value 0..255 (default: the family's reference)");
    app.add_option("--conf", f.conf, "Confidence threshold (default: the family's reference default)");
    app.add_option("--iou", f.iou, "NMS IoU threshold (families with NMS)")->capture_default_str();
    app.add_option("--max-det", f.max_det, "Maximum detections per image")->capture_default_str();
    app.add_option("--classes", f.classes, "Keep only these class ids, e.g. 0,2");
    app.add_flag("--agnostic", f.agnostic, "Class-agnostic NMS");
    if (with_tiling) {
        app.add_option("--tile", f.tile, "Tiles: none, auto, SIZE or WxH (SIZE 0: the model's input size)")->capture_default_str();
        app.add_option("--overlap", f.overlap, "Tile overlap: ratio (< 1) or pixels (>= 1)")->capture_default_str();
        app.add_flag("--full-image", f.full_image, "Also run the whole image as one more tile (SAHI's standard prediction)");
        app.add_option("--merge", f.merge, "Merge across tiles: nms, nmm, greedy-nmm")->capture_default_str();
        app.add_option("--match", f.match, "Merge match metric: iou or ios")->capture_default_str();
        app.add_option("--merge-threshold", f.merge_threshold, "Merge match threshold")->capture_default_str();
        app.add_flag("--merge-agnostic", f.merge_agnostic, "Merge boxes across classes");
    }
    app.add_option("--batch", f.batch, "Max batch size for a dynamic-batch model")->capture_default_str();
    app.add_option("--max-delay-ms", f.max_delay_ms, "How long a request may wait for a batch to fill")->capture_default_str();
    app.add_option("--instances", f.instances, "Model instances running batches concurrently")->capture_default_str();
    app.add_option("--queue", f.queue_capacity, "Queue capacity (requests)")->capture_default_str();
    app.add_option("--probe-sizes", f.probe_sizes,
                   "Warm-up probe batches of a dynamic model: sizes, 'max' (--batch), or 'none'")
        ->capture_default_str();
    app.add_flag("--verbose", f.verbose, "One log line per batch");
    app.add_option("--max-image-pixels", f.limits.max_image_pixels, "Refuse images of more pixels (0: no limit)")
        ->capture_default_str();
    app.add_option("--max-input-elements", f.limits.max_input_elements,
                   "Refuse models whose input takes more elements per item (0: no limit)")
        ->capture_default_str();
    app.add_option("--max-output-elements", f.limits.max_output_elements,
                   "Refuse models whose output gives more elements per item (0: no limit)")
        ->capture_default_str();
    if (with_tiling) {
        app.add_option("--max-tiles", f.limits.max_tiles_per_image, "Refuse images cut into more tiles (0: no limit)")
            ->capture_default_str();
        app.add_option("--min-tile-ratio", f.limits.min_tile_ratio,
                       "Refuse tiles smaller than this fraction of the model input side (0: no limit)")
            ->capture_default_str();
    }
}

// "2,3,max" -> {2, 3, 0} (0: the max batch); "none" or "" -> {}.
inline std::vector<int> parse_probe_sizes(const std::string& s) {
    if (s == "none" || s.empty()) return {};
    std::vector<int> out;
    std::stringstream ss(s);
    for (std::string tok; std::getline(ss, tok, ',');) {
        if (tok == "max") {
            out.push_back(0);
            continue;
        }
        const std::vector<int> v = parse_int_list(tok, "--probe-sizes");
        if (v.size() != 1 || v[0] < 1)
            throw ConfigError("--probe-sizes: expected sizes >= 1, 'max' or 'none' (e.g. 2,3,max), got '" + s + "'");
        out.push_back(v[0]);
    }
    return out;
}

inline PipelineOptions to_pipeline_options(const PipelineFlags& f) {
    PipelineOptions o;
    apply_provider_flags(o.model, f.provider, f.device_id, f.io_binding, f.cuda_graphs);
    o.model.intra_op_threads = f.threads;
    if (!f.family.empty()) {
        o.detector.family = parse_family(f.family);
        if (!o.detector.family) {
            std::string known;
            for (const Family k : all_families()) known += (known.empty() ? "" : ", ") + to_string(k);
            throw ConfigError("--family: unknown family '" + f.family + "'; expected one of: " + known);
        }
    }
    if (!f.imgsz.empty()) {
        const auto v = parse_int_list(f.imgsz, "--imgsz");
        if (v.size() == 1) o.detector.imgsz = std::make_pair(v[0], v[0]);
        else if (v.size() == 2) o.detector.imgsz = std::make_pair(v[0], v[1]);
        else throw ConfigError("--imgsz: expected SIZE or H,W, got '" + f.imgsz + "'");
    }
    o.detector.names_file = f.names;
    if (!f.resize.empty()) {
        o.detector.resize = parse_resize_mode(f.resize);
        if (!o.detector.resize) throw ConfigError("--resize: expected letterbox or stretch, got '" + f.resize + "'");
    }
    if (f.pad >= 0) o.detector.pad_value = f.pad;
    o.decode.conf = f.conf;
    o.decode.iou = f.iou;
    o.decode.max_det = f.max_det;
    o.decode.agnostic = f.agnostic;
    o.decode.classes = parse_int_list(f.classes, "--classes");

    if (f.tile == "none" || f.tile.empty()) {
        o.tile_mode = TileMode::none;
    } else if (f.tile == "auto") {
        o.tile_mode = TileMode::automatic;
    } else {
        o.tile_mode = TileMode::fixed;
        // SIZE or WxH, digits only: "64x" or "x64" are mistakes, not 64.
        const auto x = f.tile.find_first_of("xX");
        const std::string w = f.tile.substr(0, x), h = x == std::string::npos ? w : f.tile.substr(x + 1);
        const auto digits = [](const std::string& v) {
            return !v.empty() && v.size() < 7 && v.find_first_not_of("0123456789") == std::string::npos;
        };
        if (!digits(w) || !digits(h))
            throw ConfigError("--tile: expected none, auto, SIZE or WxH (e.g. 640 or 1024x768), got '" + f.tile + "'");
        o.tiles.tile_w = std::stoi(w);
        o.tiles.tile_h = std::stoi(h);
    }
    if (f.overlap < 0) throw ConfigError("--overlap: expected a ratio in [0,1) or pixels >= 1, got " + std::to_string(f.overlap));
    if (f.overlap < 1.0) {
        o.tiles.overlap_ratio_w = o.tiles.overlap_ratio_h = f.overlap;
    } else {
        o.tiles.overlap_px_w = o.tiles.overlap_px_h = static_cast<int>(f.overlap);
    }
    o.tiles.add_full_image = f.full_image;
    std::string merge = f.merge;
    for (char& c : merge) if (c == '-') c = '_';
    const auto alg = parse_merge_algorithm(merge);
    if (!alg) throw ConfigError("--merge: expected nms, nmm or greedy-nmm, got '" + f.merge + "'");
    const auto metric = parse_match_metric(f.match);
    if (!metric) throw ConfigError("--match: expected iou or ios, got '" + f.match + "'");
    o.merge.algorithm = *alg;
    o.merge.metric = *metric;
    o.merge.threshold = f.merge_threshold;
    o.merge.class_agnostic = f.merge_agnostic;

    if (f.batch < 1) throw ConfigError("--batch: expected >= 1, got " + std::to_string(f.batch));
    if (f.instances < 1) throw ConfigError("--instances: expected >= 1, got " + std::to_string(f.instances));
    o.batching.max_batch_size = f.batch;
    o.batching.max_queue_delay = std::chrono::microseconds(static_cast<long long>(f.max_delay_ms * 1000.0));
    o.batching.instances = f.instances;
    o.batching.queue_capacity = f.queue_capacity;
    o.batching.probe_batch_sizes = parse_probe_sizes(f.probe_sizes);
    o.batching.probe_dynamic_batch = !o.batching.probe_batch_sizes.empty();
    o.batching.verbose = f.verbose;
    o.limits = f.limits;
    return o;
}

}  // namespace tiledet::cli
