// The Python-literal parser behind metadata.hpp, private to the library (it speaks nlohmann::json,
// which the public headers do not expose).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace tiledet {

// Parses a Python literal (dict, list, tuple, str, int, float, True/False/None) into JSON.
// Dict keys become strings. Throws tiledet::Error naming the position on malformed text.
nlohmann::json parse_python_literal(const std::string& text);

}  // namespace tiledet
