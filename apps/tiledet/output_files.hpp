// Where a command writes its JSON Lines: standard output, a file, or nowhere.
#pragma once

#include <fstream>
#include <iostream>
#include <string>

#include "tiledet/error.hpp"

namespace tiledet::cli {

// `--jsonl PATH`: "-" is standard output, another path is opened (truncated) into `file`, empty is
// nullptr (not written). Throws InputError naming the path when it cannot be opened.
inline std::ostream* open_jsonl(const std::string& path, std::ofstream& file, const std::string& what) {
    if (path.empty()) return nullptr;
    if (path == "-") return &std::cout;
    file.open(path);
    if (!file) throw InputError(path + ": cannot open for writing " + what + " (--jsonl)");
    return &file;
}

}  // namespace tiledet::cli
