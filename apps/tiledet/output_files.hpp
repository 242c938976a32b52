// Where a command writes its JSON Lines: standard output, a file, or nowhere.
#pragma once

#include <filesystem>
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

// `--annotate DIR`: DIR exists as a folder afterwards, or InputError says why (a file of that
// name, no permission) and what the flag expects.
inline void ensure_folder(const std::string& dir, const std::string& what) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (fs::exists(dir, ec) && !fs::is_directory(dir, ec))
        throw InputError(dir + ": is a file; --annotate expects a folder to write " + what + " into");
    fs::create_directories(dir, ec);
    if (ec || !fs::is_directory(dir, ec))
        throw InputError(dir + ": cannot create the folder for " + what + " (--annotate): " +
                         (ec ? ec.message() : std::string("not a folder")));
}

// After the last line: a stream that failed on the way (a full disk, /dev/full, a closed pipe)
// lost results, which must not end in exit 0. Throws InputError naming the path.
inline void check_written(std::ostream* out, const std::string& path, const std::string& what) {
    if (!out) return;
    out->flush();
    if (!*out)
        throw InputError((path == "-" ? std::string("standard output") : path) + ": writing " + what +
                         " failed (the disk is full, or the reader went away): results were lost");
}

}  // namespace tiledet::cli
