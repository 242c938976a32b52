#include "tiledet/pipeline/result_json.hpp"

#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include "tiledet/pipeline/report.hpp"
#include "tiledet/tiling/mask_ops.hpp"

namespace tiledet {

std::optional<MaskFormat> parse_mask_format(const std::string& name) {
    if (name == "rle") return MaskFormat::rle;
    if (name == "polygon" || name == "polygons") return MaskFormat::polygon;
    if (name == "none") return MaskFormat::none;
    return std::nullopt;
}

std::vector<std::vector<float>> mask_polygons(const Mask& mask) {
    std::vector<std::vector<float>> out;
    if (mask.w <= 0 || mask.h <= 0) return out;
    // One pixel of border so contours touching the extent's edge close properly.
    cv::Mat m(mask.h + 2, mask.w + 2, CV_8U, cv::Scalar(0));
    for (int y = 0; y < mask.h; ++y)
        for (int x = 0; x < mask.w; ++x)
            m.at<std::uint8_t>(y + 1, x + 1) =
                mask.data[static_cast<std::size_t>(y) * static_cast<std::size_t>(mask.w) + static_cast<std::size_t>(x)];
    std::vector<std::vector<cv::Point>> contours;
    cv::findContours(m, contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_SIMPLE);
    for (const auto& c : contours) {
        if (c.size() < 3) continue;
        std::vector<float> poly;
        for (const cv::Point& p : c) {
            poly.push_back(static_cast<float>(p.x - 1 + mask.x));
            poly.push_back(static_cast<float>(p.y - 1 + mask.y));
        }
        out.push_back(std::move(poly));
    }
    return out;
}

std::string image_json(const ImageResult& r, const Detector& det, const std::string& device, double load_ms,
                       int indent, MaskFormat masks) {
    nlohmann::json j;
    j["file"] = r.source;
    j["width"] = r.width;
    j["height"] = r.height;
    auto& arr = j["detections"] = nlohmann::json::array();
    for (const auto& d : r.detections) {
        nlohmann::json one{{"class_id", d.class_id},
                           {"class_name", det.class_name(d.class_id)},
                           {"score", d.score},
                           {"box", {d.box.x1, d.box.y1, d.box.x2, d.box.y2}}};
        if (d.rbox) {
            const RotatedBox& rb = *d.rbox;
            one["xywhr"] = {rb.cx, rb.cy, rb.w, rb.h, rb.angle};
            auto& pts = one["xyxyxyxy"] = nlohmann::json::array();
            for (const Point2& p : rb.corners()) pts.push_back({p.x, p.y});
        }
        if (d.mask && masks == MaskFormat::rle) {
            one["segmentation"] = {{"size", {r.height, r.width}},
                                   {"counts", rle_string(rle_counts(*d.mask, r.width, r.height))}};
        } else if (d.mask && masks == MaskFormat::polygon) {
            one["segmentation"] = mask_polygons(*d.mask);
        }
        arr.push_back(std::move(one));
    }
    double queue = 0, infer = 0, decode = 0;
    auto& tiles = j["tiles"] = nlohmann::json::array();
    for (const TileReport& t : r.tiles) {
        queue += t.queue_ms;
        infer += t.inference_ms;
        decode += t.decode_ms;
        tiles.push_back({{"x", t.tile.x},
                         {"y", t.tile.y},
                         {"w", t.tile.w},
                         {"h", t.tile.h},
                         {"full_image", t.tile.full_image},
                         {"detections", t.detections},
                         {"batch_size", t.batch_size},
                         {"batch_id", t.batch_id},
                         {"latency_ms", t.latency_ms}});
        if (t.skipped) tiles.back()["skipped"] = true;  // no data in its region: not run
    }
    // What ran for this image's tiles, from their batch ids (other images' tiles may share them).
    j["execution"] = execution_line(device, {r}, r.end_to_end_ms);
    // Sums over tiles for queue/inference/decode: tiles of one image may overlap in time.
    j["timings_ms"] = {{"load", load_ms},    {"preprocess", r.preprocess_ms}, {"queue", queue},
                       {"inference", infer}, {"decode", decode},              {"merge", r.merge_ms},
                       {"end_to_end", r.end_to_end_ms}};
    return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string image_error_json(const std::string& source, const std::string& error, int indent) {
    return nlohmann::json{{"file", source}, {"error", error}}.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string config_json(const AutoConfigChoice& config) {
    nlohmann::json c;
    c["source"] = to_string(config.source);
    c["description"] = config.describe();
    c["instances"] = config.instances;
    c["threads_per_instance"] = config.threads;
    c["max_batch_size"] = config.max_batch_size;
    c["static_batch"] = config.static_batch;
    c["cores"] = config.cores;
    c["measure_ms"] = config.measure_ms;
    c["complete"] = config.complete;
    c["batches_cut"] = config.batches_cut;
    c["pinned_cpus"] = config.pinned_cpus;
    c["failed_batch"] = config.failed_batch;
    c["failure"] = config.failure;
    c["note"] = config.note;
    if (config.other_load >= 0)
        c["other_load"] = config.other_load;
    else
        c["other_load"] = nullptr;
    auto& cells = c["cells"] = nlohmann::json::array();
    for (const AutoConfigCell& cell : config.cells)
        cells.push_back({{"instances", cell.instances}, {"threads", cell.threads}, {"batch", cell.batch},
                         {"tiles_per_s", cell.tiles_per_s}});
    return c.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string results_json(const std::string& model, const Detector& det, const std::vector<std::string>& images,
                         int indent, const AutoConfigChoice* config) {
    nlohmann::json out;
    out["model"] = model;
    out["family"] = to_string(det.family());
    out["family_reason"] = det.reason();
    if (config) out["config"] = nlohmann::json::parse(config_json(*config));
    auto& arr = out["images"] = nlohmann::json::array();
    for (const std::string& s : images) arr.push_back(nlohmann::json::parse(s));
    return out.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace tiledet
