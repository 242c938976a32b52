// Decoding goes through cv::imdecode on bytes we read ourselves, so that "missing", "empty"
// and "not an image" each get their own message instead of imread's silent empty Mat.
#include "tiledet/io/image.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>

#include "tiledet/error.hpp"

namespace tiledet {
namespace {

std::vector<std::byte> read_bytes(const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::exists(path, ec))
        throw InputError(path + ": no such file (expected an image file: jpg, png, bmp, tiff, webp)");
    if (fs::is_directory(path, ec)) throw InputError(path + ": is a folder, expected an image file");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw InputError(path + ": cannot open for reading (" + std::strerror(errno) + ")");
    in.seekg(0, std::ios::end);
    const auto size = static_cast<std::size_t>(in.tellg());
    in.seekg(0);
    std::vector<std::byte> bytes(size);
    if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size)))
        throw InputError(path + ": read failed after " + std::to_string(in.gcount()) + " of " + std::to_string(size) +
                         " bytes");
    return bytes;
}

// 16-bit files use the full 0..65535 range; 65535/257 = 255 keeps white white (a shift by 8,
// which IMREAD_COLOR alone does, maps 65535 to 255 too but 257*k to k-1 for some k).
cv::Mat to_8bit(const cv::Mat& m) {
    switch (m.depth()) {
        case CV_8U:
            return m;
        case CV_8S: {
            cv::Mat out;
            m.convertTo(out, CV_8U, 1.0, 128.0);
            return out;
        }
        case CV_16U: {
            cv::Mat out;
            m.convertTo(out, CV_8U, 1.0 / 257.0);
            return out;
        }
        case CV_16S: {
            cv::Mat out;
            m.convertTo(out, CV_8U, 1.0 / 257.0, 128.0);
            return out;
        }
        default: {
            cv::Mat out;
            m.convertTo(out, CV_8U, 255.0);
            return out;
        }  // float: 0..1 range
    }
}

}  // namespace

cv::Mat decode_image(std::span<const std::byte> bytes, const std::string& what) {
    if (bytes.empty()) throw InputError(what + ": empty file (0 bytes), expected an image");
    // imdecode takes a non-const Mat header but does not write through it.
    const cv::Mat buf(1, static_cast<int>(bytes.size()), CV_8UC1, const_cast<std::byte*>(bytes.data()));
    cv::Mat img;
    try {
        // ANYDEPTH keeps 16-bit samples so we scale them ourselves; COLOR gives 3 channels
        // (gray expanded, alpha dropped) and applies EXIF orientation.
        img = cv::imdecode(buf, cv::IMREAD_COLOR | cv::IMREAD_ANYDEPTH);
    } catch (const cv::Exception& e) {
        throw InputError(what + ": not a decodable image (" + e.err + ")");
    }
    if (img.empty())
        throw InputError(what + ": not a decodable image (" + std::to_string(bytes.size()) +
                         " bytes; corrupt, truncated, or not jpg/png/bmp/tiff/webp)");
    img = to_8bit(img);
    if (img.channels() == 1) {
        cv::Mat out;
        cv::merge(std::vector<cv::Mat>{img, img, img}, out);
        img = out;
    }
    return img;
}

cv::Mat load_image(const std::string& path) {
    const auto bytes = read_bytes(path);
    return decode_image(bytes, path);
}

}  // namespace tiledet
