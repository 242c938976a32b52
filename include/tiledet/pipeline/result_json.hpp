// Results as JSON, the schema of `tiledet detect --json` (one writer for the CLI, the examples,
// and later the server and the streams' JSON Lines). Per image:
//   {"file": "bus.jpg", "width": 810, "height": 1080,
//    "detections": [{"class_id": 0, "class_name": "person", "score": 0.91,
//                    "box": [x1, y1, x2, y2]}, ...],       // original image pixels, best first
//    oriented-box families (yolo_obb) add to each detection
//      "xywhr": [cx, cy, w, h, angle]      (pixels; radians, x axis towards +y, Ultralytics' form)
//      "xyxyxyxy": [[x, y] x 4]            (the corners, Ultralytics/supervision order), and "box"
//                                          is their axis-aligned bounds clipped to the image;
//    segmentation families (yolo_seg) add "segmentation", as in COCO results:
//      MaskFormat::rle      {"size": [height, width], "counts": "..."}   COCO compressed RLE
//                           (column-major over the whole image; pycocotools mask.decode reads it)
//      MaskFormat::polygon  [[x1, y1, x2, y2, ...], ...]   outer contours of the mask (OpenCV
//                           findContours RETR_EXTERNAL, CHAIN_APPROX_SIMPLE), pixel centres
//      MaskFormat::none     no "segmentation"
//    "tiles": [{"x", "y", "w", "h", "full_image", "detections", "batch_size", "batch_id",
//               "latency_ms", "skipped": true only for a tile whose region had no data}, ...],
//    "execution": "CPU Batch Execution: 2 tiles in 1 batch (2) in ...",
//    "timings_ms": {"load", "preprocess", "queue", "inference", "decode", "merge", "end_to_end"}}
// or, for an image that failed, {"file": ..., "error": "one line"}.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "tiledet/pipeline/auto_config.hpp"
#include "tiledet/pipeline/pipeline.hpp"

namespace tiledet {

enum class MaskFormat { rle, polygon, none };
std::optional<MaskFormat> parse_mask_format(const std::string& name);  // "rle" | "polygon" | "none"

// Outer contours of a mask as COCO polygons (flat x, y lists, image pixels), those with >= 3 points.
std::vector<std::vector<float>> mask_polygons(const Mask& mask);

// indent < 0: one line (a JSON Lines record); >= 0: pretty, with that many spaces.
// `device`: the executor's device label for the execution line ("CPU"); `load_ms`: time spent
// reading and decoding the file, if the caller measured it.
std::string image_json(const ImageResult& result, const Detector& detector, const std::string& device,
                       double load_ms = 0, int indent = -1, MaskFormat masks = MaskFormat::rle);
std::string image_error_json(const std::string& source, const std::string& error, int indent = -1);

// How instances, threads and max batch were chosen, as one JSON object: source (manual, one-tile,
// measured, cached, fallback), description (the CLI's config line), instances,
// threads_per_instance, max_batch_size, static_batch (0: dynamic), cores, measure_ms, complete,
// batches_cut, cells [{instances, threads, batch, tiles_per_s}] (what was measured).
std::string config_json(const AutoConfigChoice& config);

// The whole run: {"model": ..., "family": ..., "family_reason": ..., "config": {...},
// "images": [...]}, from image_json / image_error_json records (in that order). "config" (when
// `config` is given): config_json's object.
std::string results_json(const std::string& model, const Detector& detector, const std::vector<std::string>& images,
                         int indent = 2, const AutoConfigChoice* config = nullptr);

}  // namespace tiledet
