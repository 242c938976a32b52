// Greedy non-maximum suppression as Ultralytics runs it (torchvision.ops.nms on boxes offset
// by class): highest score first, a box is dropped when its IoU with a kept box is > iou.
#pragma once

#include "tiledet/detection.hpp"

namespace tiledet::detail {

// Sorts `dets` by score (highest first, stable) and keeps the survivors, at most max_det.
// Class-aware unless `agnostic`.
Detections nms(Detections dets, float iou_threshold, bool agnostic, int max_det);

// Sorted by score (stable), classes filtered (empty: all), cut to max_det.
Detections sort_filter_truncate(Detections dets, const std::vector<int>& classes, int max_det);

bool class_allowed(int id, const std::vector<int>& classes);

}  // namespace tiledet::detail
