#include <algorithm>
#include <array>
#include <cctype>
#include <filesystem>

#include "tiledet/error.hpp"
#include "tiledet/io/image.hpp"

namespace tiledet {

bool has_image_extension(const std::string& path) {
    // The formats OpenCV's imgcodecs reads in a default build.
    static const std::array<std::string, 12> kExtensions = {".jpg", ".jpeg", ".jpe",  ".png", ".bmp", ".dib",
                                                            ".tif", ".tiff", ".webp", ".pbm", ".pgm", ".ppm"};
    std::string ext = std::filesystem::path(path).extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    return std::find(kExtensions.begin(), kExtensions.end(), ext) != kExtensions.end();
}

std::vector<std::string> list_images(const std::string& path_or_dir) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (path_or_dir.find('\0') != std::string::npos)
        throw InputError(printable(path_or_dir, 200) + ": a path with a NUL byte in it; expected an image file or folder");
    if (!fs::exists(path_or_dir, ec))
        throw InputError(path_or_dir + ": no such file or folder (expected an image file or a folder of images)");
    if (!fs::is_directory(path_or_dir, ec)) {
        if (!fs::is_regular_file(path_or_dir, ec))  // a FIFO would block the reader until someone writes
            throw InputError(path_or_dir + ": not a regular file (a pipe, socket or device); expected an image file or a "
                                           "folder of images");
        return {path_or_dir};
    }
    std::vector<std::string> out;
    for (const auto& entry : fs::directory_iterator(path_or_dir, ec)) {
        if (entry.is_directory(ec)) continue;
        // A broken link named .jpg is listed, so that it is reported as missing, not skipped.
        if (has_image_extension(entry.path().string())) out.push_back(entry.path().string());
    }
    if (ec) throw InputError(path_or_dir + ": cannot list folder (" + ec.message() + ")");
    if (out.empty())
        throw InputError(path_or_dir +
                         ": a folder with no image files (expected .jpg, .jpeg, .png, .bmp, .tif, .tiff, .webp, .pbm, "
                         ".pgm or .ppm files; sub-folders are not searched)");
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace tiledet
