// One processed stream frame as a JSON Lines record (`tiledet stream --jsonl`):
//   {"stream": "cam1", "frame": 17, "pts": 0.68, "capture_time": "2026-11-30T02:31:07.412Z",
//    "width": 1920, "height": 1080, "latency_ms": 41.2,
//    "detections": [...]               (as `tiledet detect --json`: class_id, class_name, score, box)
//    "tiles": 6, "batch_ids": [311, 312], "batch_sizes": [8, 4]}
// "pts" is null when the source has no timestamps (an image folder). batch_ids are the
// executor batches the frame's tiles ran in: equal ids in two streams' lines ran together.
#pragma once

#include <string>

#include "tiledet/detectors/detector.hpp"
#include "tiledet/streams/stream_runner.hpp"

namespace tiledet {

std::string stream_result_json(const StreamResult& result, const Detector& detector);

// "2026-11-30T02:31:07.412Z"
std::string iso8601_utc(std::chrono::system_clock::time_point t);

}  // namespace tiledet
