#include "tiledet/pipeline/report.hpp"

#include <cstdio>

namespace tiledet {

std::string execution_line(const std::string& device, bool sequential, std::size_t tiles, double total_ms) {
    char buf[256];
    const double fps = total_ms > 0 ? 1000.0 * static_cast<double>(tiles) / total_ms : 0.0;
    if (sequential)
        std::snprintf(buf, sizeof buf, "Sequential Execution: %zu images in %.1fms (%.1f FPS per image)", tiles, total_ms,
                      fps);
    else
        std::snprintf(buf, sizeof buf, "%s Batch Execution: %zu images in %.1fms (%.1f FPS per image)", device.c_str(),
                      tiles, total_ms, fps);
    return buf;
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
