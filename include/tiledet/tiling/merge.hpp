// Bringing tile detections back to the image and merging the duplicates that overlapping tiles
// produce: SAHI's NMS, NMM and greedy NMM (sahi/postprocess/combine.py, reference A1.3).
#pragma once

#include <optional>
#include <string_view>

#include "tiledet/detection.hpp"
#include "tiledet/tiling/tile_grid.hpp"

namespace tiledet {

enum class MergeAlgorithm {
    nms,         // keep the best box of each overlapping group, drop the rest
    nmm,         // non-maximum merging, transitive: A~B and B~C puts C into A's group
    greedy_nmm,  // each kept box merges only the boxes that overlap it directly
};

enum class MatchMetric {
    iou,  // intersection over union
    ios,  // intersection over the smaller box's area
};

// Defaults are SAHI's get_sliced_prediction defaults (sahi/predict.py, reference A1.1):
// postprocess_type "GREEDYNMM", postprocess_match_metric "IOS", postprocess_match_threshold 0.5,
// postprocess_class_agnostic False.
struct MergeOptions {
    MergeAlgorithm algorithm = MergeAlgorithm::greedy_nmm;
    MatchMetric metric = MatchMetric::ios;
    float threshold = 0.5f;
    bool class_agnostic = false;  // false: boxes merge or suppress only within their class_id
};

// Offsets boxes (and rotated boxes' centres) from tile coordinates to image coordinates (SAHI's
// shift_amount).
Detections shift_to_image(const Detections& in_tile, const Tile& tile);

// Clamps boxes to [0, image_w] x [0, image_h] and drops those left with no area (entirely
// outside the image, or degenerate). Throws std::invalid_argument for a non-positive size.
Detections clip_to_image(Detections detections, int image_w, int image_h);

// SAHI's postprocess, box for box:
//  - order: score descending, ties by (x1, y1, x2, y2) ascending (SAHI's np.lexsort), then by
//    input position;
//  - a box is a candidate for a kept box when metric >= threshold
//    (sahi/postprocess/_numpy_backend.py); NMS suppresses candidates;
//  - greedy NMM: each kept box takes the not-yet-taken candidates that overlap it directly;
//  - NMM: a kept box also takes what its taken boxes match, transitively, but a box only ever
//    takes boxes it outranks: lower score, or equal score and coordinates not after its own
//    (SAHI's dominance rule; equal-score overlapping boxes at different places stay separate);
//  - merging (NMM, greedy NMM): the kept box absorbs its taken boxes in order, each only when it
//    still matches the grown box strictly (metric > threshold, sahi has_match); a taken box that
//    fails this re-check is dropped, as in SAHI. A merge takes the enclosing box, the max score
//    and the class of the higher-scoring box (on equal scores, the absorbed box's class).
// Oriented detections (Detection::rbox set on both of a pair) are compared with the exact
// rotated-polygon IoU / IoS instead of their axis-aligned boxes, and a merge keeps the rotated box
// oriented like the higher-ranked (keeper) box that holds every corner of both
// (tiling/rotated.hpp enclose_along); `box` becomes that box's axis-aligned bounds. SAHI instead
// suppresses OBB on the axis-aligned boxes (model-formats-more.md k).
// Masked detections (Detection::mask on both) are compared by mask IoU / IoS (pixels set in both
// over the union / the smaller mask), and a merge keeps the union (logical OR) of the masks,
// held over the union of their extents; the box is the enclosing box as for plain boxes.
// class_agnostic=false runs each class on its own (SAHI's batched_*). The result is ordered by
// score descending (the order above). Throws std::invalid_argument for a NaN score or coordinate.
Detections merge_detections(Detections all, const MergeOptions& options);

// Names for the command line: "nms", "nmm", "greedy_nmm" and SAHI's "NMS", "NMM", "GREEDYNMM"
// (case-insensitive); "iou", "ios".
std::string_view to_string(MergeAlgorithm algorithm);
std::string_view to_string(MatchMetric metric);
std::optional<MergeAlgorithm> parse_merge_algorithm(std::string_view name);
std::optional<MatchMetric> parse_match_metric(std::string_view name);

}  // namespace tiledet
