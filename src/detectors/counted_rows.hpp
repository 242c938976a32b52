// The "count + padded rows" outputs of detectors with NMS in the graph: TensorRT's
// EfficientNMS_TRT (num_dets, det_boxes, det_scores, det_classes; model-formats-more.md b(1),
// e(4)) and YOLO-NAS's BATCH format (num_predictions, pred_boxes, pred_scores, pred_classes;
// e(4)). Only the first count rows of each item are valid; the rest is padding.
#pragma once

#include <optional>

#include "family_fit.hpp"

namespace tiledet::detail {

struct CountedRows {
    std::size_t count = 0, boxes = 0, scores = 0, classes = 0;  // output indices
};

// The four outputs by name, with ranks [B,1] or [B], [B,K,4], [B,K], [B,K]; nullopt otherwise.
std::optional<CountedRows> counted_rows(const ModelSignature& sig, const char* count, const char* boxes,
                                        const char* scores, const char* classes);

// One item's valid rows above `conf` (boxes x1,y1,x2,y2 in input-frame px, mapped back with
// `back`), classes filtered, sorted by score, cut to max_det.
Detections decode_counted_rows(const std::vector<Tensor>& outs, const CountedRows& rows, const Geometry& back,
                               float conf, const DecodeOptions& o, const std::string& what);

}  // namespace tiledet::detail
