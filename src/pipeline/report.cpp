#include "tiledet/pipeline/report.hpp"

#include <cstdio>
#include <map>

namespace tiledet {

std::string execution_line(const std::string& device, const std::vector<ImageResult>& results, double total_ms) {
    std::map<std::uint64_t, int> tiles_per_batch;  // ordered by batch id: the order they ran
    std::map<std::uint64_t, int> batch_size;       // the whole batch, tiles of other images included
    bool alone = true;                             // every tile ran in a batch of one
    for (const ImageResult& r : results)
        for (const TileReport& t : r.tiles) {
            if (t.skipped) continue;  // no data: it ran in no batch
            ++tiles_per_batch[t.batch_id];
            batch_size[t.batch_id] = t.batch_size;
            alone = alone && t.sequential;
        }
    std::vector<int> sizes;
    bool shared = false;
    std::string whole;
    for (const auto& [id, n] : tiles_per_batch) {
        sizes.push_back(n);
        shared = shared || batch_size[id] > n;
        whole += (whole.empty() ? "" : "+") + std::to_string(batch_size[id]);
    }
    std::string line = tiledet::execution_line(device, sizes, total_ms, "tile", alone);
    // The counts above are these results' own tiles; say when their batches also carried tiles of
    // other images, so the line never contradicts the per-tile batch_size.
    if (shared && sizes.size() <= 8)
        line += std::string("; with other images' tiles the ") + (sizes.size() == 1 ? "batch" : "batches") +
                " held " + whole;
    else if (shared)
        line += "; the batches also held other images' tiles";
    return line;
}

std::string per_tile_report(const std::vector<ImageResult>& results) {
    std::string out = "Per-Tile End-to-End Latency (submission -> response):\n";
    char buf[256];
    int n = 0;
    double sum = 0;
    for (const ImageResult& r : results) {
        for (const TileReport& t : r.tiles) {
            if (t.skipped) continue;
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
