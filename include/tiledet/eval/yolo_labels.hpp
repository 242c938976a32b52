// Reading YOLO-format label files (Ultralytics' dataset layout): one object per line,
// `class cx cy w h` normalized to 0..1 by the image size, 80-class ids for COCO.
#pragma once

#include <filesystem>
#include <string>

#include "tiledet/eval/coco_eval.hpp"

namespace tiledet::eval {

// Ground-truth boxes of one label file, in pixels of an img_w x img_h image, in file order.
// Blank lines are skipped. A line with more than 5 numbers is a polygon (`class x1 y1 x2 y2 ...`)
// and becomes its bounding box (its outline kept in GroundTruth::polygon, pixels, for mask mAP), and rows repeated verbatim count once, both as Ultralytics'
// verify_image_label does. Throws InputError naming file and line for a missing file, a line
// that is not numbers, a negative or non-integer class, or coordinates outside 0..1.
GroundTruths load_yolo_labels(const std::filesystem::path& path, int img_w, int img_h);

// The text of one label file (YOLO or OBB). Throws InputError when it is not a regular file (a
// folder, a pipe that would block, a device) or cannot be opened.
std::string read_label_file(const std::filesystem::path& path);

// Parses label text (the body of a label file); `source` names it in error messages.
GroundTruths parse_yolo_labels(const std::string& text, int img_w, int img_h, const std::string& source);

// Where Ultralytics looks for an image's labels inside `labels_dir`: the image's stem + ".txt".
// Absent file means a background image.
std::filesystem::path yolo_label_path(const std::filesystem::path& image, const std::filesystem::path& labels_dir);

}  // namespace tiledet::eval
