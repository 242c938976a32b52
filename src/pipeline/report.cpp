#include "tiledet/pipeline/report.hpp"

#include <cstdio>
#include <map>

namespace tiledet {

std::string execution_line(const std::string& device, const std::vector<ImageResult>& results, double total_ms) {
    std::map<std::uint64_t, int> tiles_per_batch;  // ordered by batch id: the order they ran
    bool alone = true;                             // every tile ran in a batch of one
    for (const ImageResult& r : results)
        for (const TileReport& t : r.tiles) {
            ++tiles_per_batch[t.batch_id];
            alone = alone && t.sequential;
        }
    std::vector<int> sizes;
    for (const auto& [id, n] : tiles_per_batch) sizes.push_back(n);
    return tiledet::execution_line(device, sizes, total_ms, "tile", alone);
}

std::string per_tile_report(const std::vector<ImageResult>& results) {
    std::string out = "Per-Tile End-to-End Latency (submission -> response):\n";
    char buf[256];
    int n = 0;
    double sum = 0;
    for (const ImageResult& r : results) {
        for (const TileReport& t : r.tiles) {
            const double fps = t.latency_ms > 0 ? 1000.0 / t.latency_ms : 0.0;
            std::snprintf(buf, sizeof buf, "  Tile #%d: %.1fms (%.1f FPS) - %zu detections\n", n, t.latency_ms, fps,
                          t.detections);
            out += buf;
            sum += t.latency_ms;
            ++n;
        }
    }
    if (n > 0) {
        const double avg = sum / n;
        std::snprintf(buf, sizeof buf, "  Average: %.1fms (%.1f FPS)\n", avg, avg > 0 ? 1000.0 / avg : 0.0);
        out += buf;
    }
    return out;
}

}  // namespace tiledet
