// The JPEG photos of a folder, for the benchmarks that cycle through real photos
// (bench_decode, bench_preprocess): default ../shared/images/coco64/images.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace tiledet_bench {

// Paths of the .jpg/.jpeg/.JPG files directly in `dir` (none when it cannot be read).
inline std::vector<std::filesystem::path> jpeg_files(const std::string& dir) {
    std::vector<std::filesystem::path> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
        const auto ext = e.path().extension().string();
        if (ext == ".jpg" || ext == ".jpeg" || ext == ".JPG") out.push_back(e.path());
    }
    return out;
}

}  // namespace tiledet_bench
