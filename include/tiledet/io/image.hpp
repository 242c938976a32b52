// Image files in and out. Everything downstream (detectors, tiling, pipeline) takes 8-bit,
// 3-channel BGR cv::Mat, so every decode path ends there whatever the file held.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <opencv2/core.hpp>
#include <span>
#include <string>
#include <vector>

#include "tiledet/detection.hpp"
#include "tiledet/limits.hpp"

namespace tiledet {

// Reads and decodes an image file into 8-bit 3-channel BGR: gray is expanded, alpha dropped,
// 16-bit scaled to 8-bit (value / 257, so 65535 -> 255), EXIF orientation applied as
// cv::imread does. Throws InputError naming the file for a missing, unreadable, empty,
// corrupt, truncated (JPEG without its end-of-image marker) or non-image file, and
// OptionError ("limits.max_image_pixels") for an image of more than max_pixels pixels (0: no
// limit): from the header before decoding for JPEG and PNG, right after decoding otherwise.
cv::Mat load_image(const std::string& path, std::int64_t max_pixels = Limits{}.max_image_pixels);

// The same from bytes already in memory; `what` names the source in error messages.
cv::Mat decode_image(std::span<const std::byte> bytes, const std::string& what = "<memory>",
                     std::int64_t max_pixels = Limits{}.max_image_pixels);

// Writes `bgr` with each detection drawn (box, "name score" label) to `path`; the format
// follows the extension. Throws InputError when the file cannot be written.
void save_annotated(const std::string& path, const cv::Mat& bgr, const Detections& detections,
                    const std::function<std::string(int)>& class_name);

// Draws the detections onto `bgr` in place (what save_annotated writes).
void draw_detections(cv::Mat& bgr, const Detections& detections, const std::function<std::string(int)>& class_name);

// A file gives itself (whatever its extension, so a bad file is reported, not skipped); a
// folder gives its image files (by extension, case-insensitive, not recursive), sorted.
// Throws InputError when the path does not exist, is neither a regular file nor a folder (a
// FIFO), or is a folder without image files.
std::vector<std::string> list_images(const std::string& path_or_dir);

// The extensions list_images takes from folders: .jpg .jpeg .png .bmp .tif .tiff .webp ...
bool has_image_extension(const std::string& path);

}  // namespace tiledet
