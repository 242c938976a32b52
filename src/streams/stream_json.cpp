#include "tiledet/streams/stream_json.hpp"

#include <cmath>
#include <ctime>
#include <nlohmann/json.hpp>

#include "tiledet/pipeline/result_json.hpp"

namespace tiledet {

std::string iso8601_utc(std::chrono::system_clock::time_point t) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
    const std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[40];
    std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
    char out[48];
    std::snprintf(out, sizeof(out), "%s.%03dZ", buf, static_cast<int>(ms % 1000));
    return out;
}

std::string stream_result_json(const StreamResult& r, const Detector& detector) {
    using json = nlohmann::ordered_json;
    // The detections exactly as `tiledet detect` writes them (one writer for every sink).
    const json image = json::parse(image_json(r.result, detector, "", 0, -1, MaskFormat::rle));
    json j;
    j["stream"] = r.stream;
    j["frame"] = r.frame_index;
    j["pts"] = std::isfinite(r.pts_s) ? json(std::round(r.pts_s * 1e6) / 1e6) : json(nullptr);
    if (!r.file.empty()) j["file"] = r.file;
    j["capture_time"] = iso8601_utc(r.capture_time);
    j["width"] = r.result.width;
    j["height"] = r.result.height;
    j["latency_ms"] = std::round(r.latency_ms * 100) / 100;
    j["detections"] = image.contains("detections") ? image["detections"] : json::array();
    j["tiles"] = r.result.tiles.size();
    json ids = json::array(), sizes = json::array();
    for (const TileReport& t : r.result.tiles) {
        if (t.skipped) continue;
        bool seen = false;
        for (const auto& v : ids)
            if (v.get<std::uint64_t>() == t.batch_id) seen = true;
        if (!seen) {
            ids.push_back(t.batch_id);
            sizes.push_back(t.batch_size);
        }
    }
    j["batch_ids"] = ids;
    j["batch_sizes"] = sizes;
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace tiledet
