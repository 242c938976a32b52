// Class-name lists: COCO in its two numberings, and user names files.
#pragma once

#include <map>
#include <string>

namespace tiledet::detail {

// 0..79, ultralytics/cfg/datasets/coco.yaml (also official RT-DETR/D-FINE/DEIM labels and HF
// id2label; see shared/reference/model-formats.md, "COCO class-name conventions").
const std::map<int, std::string>& coco80_names();

// COCO category ids 1..90 with gaps (12, 26, 29, 30, 45, 66, 68, 69, 71, 83 missing):
// rfdetr/util/coco_classes.py COCO_CLASSES; RF-DETR COCO logit slot = category id.
const std::map<int, std::string>& coco91_names();

// One name per line, line i (from 0) = class id i; trailing \r and spaces trimmed, blank lines
// keep their id. Throws InputError for a missing or empty file.
std::map<int, std::string> read_names_file(const std::string& path);

}  // namespace tiledet::detail
