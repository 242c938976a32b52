// Instance masks (detection.hpp Mask) for merging across tiles and for output: overlap, union,
// and COCO run-length encoding. Only the standard library.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tiledet/detection.hpp"

namespace tiledet {

// Pixels set in both masks (computed over the overlap of their extents only).
std::int64_t intersection_area(const Mask& a, const Mask& b);
// Mask IoU and intersection over the smaller mask's area; 0 when a mask is empty.
float iou(const Mask& a, const Mask& b);
float ios(const Mask& a, const Mask& b);

// Logical OR, held over the union of the two extents (supervision's NMM merges masks with OR).
Mask union_of(const Mask& a, const Mask& b);

// The same pixels with the extent shrunk to the set pixels' bounding box (empty mask: w = h = 0).
Mask tight(const Mask& m);

// A filled polygon (x1, y1, x2, y2, ... in pixels): pixel (x, y) is set when its centre
// (x + 0.5, y + 0.5) lies inside (even-odd rule), held over the polygon's bounds clipped to
// [0, image_w) x [0, image_h). Fewer than 3 points: an empty mask.
Mask rasterize_polygon(const std::vector<float>& xy, int image_w, int image_h);

// COCO RLE of `m` inside an image_w x image_h image: run lengths over the image in column-major
// (Fortran) order, starting with a run of zeros (pycocotools maskApi.c rleEncode). Pixels of the
// mask outside the image are dropped. Throws std::invalid_argument for a non-positive image size.
std::vector<std::uint32_t> rle_counts(const Mask& m, int image_w, int image_h);
// pycocotools' compressed counts string (maskApi.c rleToString): each count, minus the count two
// before it from the third on, in 5-bit groups with a continuation bit, offset by 48.
std::string rle_string(const std::vector<std::uint32_t>& counts);
// And back (rleFrString); throws std::invalid_argument for a malformed string.
std::vector<std::uint32_t> rle_from_string(const std::string& s);
// A full-image mask from counts (rleDecode); throws std::invalid_argument when the counts do not
// sum to image_w * image_h.
Mask mask_from_rle(const std::vector<std::uint32_t>& counts, int image_w, int image_h);

}  // namespace tiledet
