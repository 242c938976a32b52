// Ultralytics writes metadata as Python literal text ("{0: 'person', 1: 'bicycle'}",
// "[640, 640]"), not JSON. This parses that subset of Python literals.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

namespace tiledet {

// Parses a Python literal (dict, list, tuple, str, int, float, True/False/None) into JSON.
// Dict keys become strings. Throws tiledet::Error naming the position on malformed text.
nlohmann::json parse_python_literal(const std::string& text);

// Class names from an Ultralytics `names` entry: {0: 'person', ...} or ['person', ...].
std::map<int, std::string> parse_class_names(const std::string& text);

// (height, width) from an `imgsz` entry: [640, 640], (640, 640) or 640.
std::optional<std::pair<int, int>> parse_imgsz(const std::string& text);

}  // namespace tiledet
