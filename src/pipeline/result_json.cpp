#include "tiledet/pipeline/result_json.hpp"

#include <nlohmann/json.hpp>

#include "tiledet/pipeline/report.hpp"

namespace tiledet {

std::string image_json(const ImageResult& r, const Detector& det, const std::string& device, double load_ms,
                       int indent) {
    nlohmann::json j;
    j["file"] = r.source;
    j["width"] = r.width;
    j["height"] = r.height;
    auto& arr = j["detections"] = nlohmann::json::array();
    for (const auto& d : r.detections)
        arr.push_back({{"class_id", d.class_id},
                       {"class_name", det.class_name(d.class_id)},
                       {"score", d.score},
                       {"box", {d.box.x1, d.box.y1, d.box.x2, d.box.y2}}});
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
    return j.dump(indent);
}

std::string image_error_json(const std::string& source, const std::string& error, int indent) {
    return nlohmann::json{{"file", source}, {"error", error}}.dump(indent);
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
    auto& cells = c["cells"] = nlohmann::json::array();
    for (const AutoConfigCell& cell : config.cells)
        cells.push_back({{"instances", cell.instances}, {"threads", cell.threads}, {"batch", cell.batch},
                         {"tiles_per_s", cell.tiles_per_s}});
    return c.dump();
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
    return out.dump(indent);
}

}  // namespace tiledet
