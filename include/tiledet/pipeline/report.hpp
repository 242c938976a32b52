// The original pipeline's report, line for line:
//   CPU Batch Execution: 2 images in 450.0ms (4.4 FPS per image)      (or "Sequential Execution")
//   Per-Tile End-to-End Latency (submission -> response):
//     Tile #0: 470.0ms (2.1 FPS) - 2 detections
//     Average: ...
#pragma once

#include <string>
#include <vector>

#include "tiledet/pipeline/pipeline.hpp"

namespace tiledet {

// `device`: "CPU", "CUDA", ...; `sequential`: the model ran tiles one at a time. "images" in the
// first line counts tiles, as the original pipeline submitted each tile as an image.
std::string execution_line(const std::string& device, bool sequential, std::size_t tiles, double total_ms);

// Per-tile latency lines for the tiles of `results`, numbered across all images in order.
std::string per_tile_report(const std::vector<ImageResult>& results);

}  // namespace tiledet
