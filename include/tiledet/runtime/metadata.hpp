// Ultralytics writes metadata as Python literal text ("{0: 'person', 1: 'bicycle'}",
// "[640, 640]"), not JSON. These read the entries tiledet uses (the literal parser itself is
// private: src/runtime/python_literal.hpp).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>

namespace tiledet {

// Class names from an Ultralytics `names` entry: {0: 'person', ...} or ['person', ...].
std::map<int, std::string> parse_class_names(const std::string& text);

// (height, width) from an `imgsz` entry: [640, 640], (640, 640) or 640.
std::optional<std::pair<int, int>> parse_imgsz(const std::string& text);

}  // namespace tiledet
