// The original pipeline's report, saying what ran:
//   CPU Batch Execution: 2 tiles in 1 batch (2) in 450.0 ms (4.4 FPS per tile)   (or "Sequential Execution")
//   Per-Tile End-to-End Latency (submission -> response):
//     Tile #0: 470.0ms (2.1 FPS) - 2 detections
//     Average: ...
#pragma once

#include <string>
#include <vector>

#include "tiledet/batching/stats.hpp"
#include "tiledet/pipeline/pipeline.hpp"

namespace tiledet {

// What ran for the tiles of `results`, from their batch ids (tiles of these results per batch,
// in the order the batches ran): "CPU Batch Execution: 2 tiles in 1 batch (2) in 81.7 ms (24.5 FPS
// per tile)"; "Sequential Execution" when every tile ran alone. One formatter for the executor's
// log and this report: tiledet::execution_line (batching/stats.hpp).
std::string execution_line(const std::string& device, const std::vector<ImageResult>& results, double total_ms);

// Per-tile latency lines for the tiles of `results`, numbered across all images in order.
std::string per_tile_report(const std::vector<ImageResult>& results);

}  // namespace tiledet
