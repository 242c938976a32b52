// Decoding goes through cv::imdecode on bytes we read ourselves, so that "missing", "empty"
// and "not an image" each get their own message instead of imread's silent empty Mat. JPEG, the
// common case, goes through libjpeg-turbo's TurboJPEG API instead: straight to BGR (OpenCV 4.6
// decodes RGB and swaps it, 1.2-1.4 % of a detect run's CPU), with its warnings as errors so a
// damaged file fails instead of decoding with grey in it; CMYK and what TurboJPEG cannot decode
// go on to OpenCV.
#include "tiledet/io/image.hpp"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <optional>
#include <turbojpeg.h>

#include "tiledet/error.hpp"
#include "tiledet/limits.hpp"

namespace tiledet {
namespace {

std::vector<std::byte> read_bytes(const std::string& path, std::int64_t max_pixels) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (path.find('\0') != std::string::npos)  // the file system would read it cut at the NUL: another file
        throw InputError(printable(path, 200) + ": a path with a NUL byte in it; expected an image file's path");
    const fs::file_status st = fs::status(path, ec);  // one stat per image
    if (!fs::exists(st))
        throw InputError(path + ": no such file (expected an image file: jpg, png, bmp, tiff, webp)");
    if (fs::is_directory(st)) throw InputError(path + ": is a folder, expected an image file");
    if (!fs::is_regular_file(st))
        throw InputError(path + ": not a regular file (a pipe, socket or device); expected an image file");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw InputError(path + ": cannot open for reading (" + std::strerror(errno) + ")");
    in.seekg(0, std::ios::end);
    const auto size = static_cast<std::size_t>(in.tellg());
    // Read whole into memory, so bounded by what an image within the pixel limit can take on
    // disk: 8 bytes a pixel (16-bit RGBA, uncompressed) plus 64 MB of headers and metadata.
    if (max_pixels > 0 && static_cast<double>(size) > static_cast<double>(max_pixels) * 8 + 64.0 * (1 << 20))
        throw InputError(path + ": a file of " + std::to_string(size) +
                         " bytes, more than any image within limits.max_image_pixels (" + std::to_string(max_pixels) +
                         ") takes; raise it with --max-image-pixels, or check that this is an image");
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

struct HeaderSize {
    std::int64_t width = 0, height = 0;
};

std::uint32_t be16(std::span<const std::byte> b, std::size_t i) {
    return (std::to_integer<std::uint32_t>(b[i]) << 8) | std::to_integer<std::uint32_t>(b[i + 1]);
}

// PNG: the IHDR chunk is always first, its width and height at bytes 16..23. Trusted only when
// the chunk's CRC holds, so a corrupt header is left to the decoder's own message.
std::optional<HeaderSize> png_size(std::span<const std::byte> b) {
    static constexpr unsigned char sig[8] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};
    if (b.size() < 33 || std::memcmp(b.data(), sig, 8) != 0) return std::nullopt;
    std::uint32_t crc = 0xFFFFFFFFu;  // CRC-32 of the chunk type and data (PNG spec, ISO 3309)
    for (std::size_t i = 12; i < 29; ++i) {
        crc ^= std::to_integer<std::uint32_t>(b[i]);
        for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    if ((crc ^ 0xFFFFFFFFu) != ((be16(b, 29) << 16) | be16(b, 31))) return std::nullopt;
    return HeaderSize{(std::int64_t{be16(b, 16)} << 16) | be16(b, 18), (std::int64_t{be16(b, 20)} << 16) | be16(b, 22)};
}

// JPEG: walks the marker segments (ITU T.81 B.1) to the frame header (SOFn) for the size, and
// on through the entropy-coded data to the end-of-image marker. libjpeg fills a truncated scan
// with grey and OpenCV only logs a warning, so a missing EOI is how a cut-off file shows. The
// first Exif APP1 segment before the first scan gives the orientation.
struct JpegScan {
    std::optional<HeaderSize> size;
    bool complete = false;
    int orientation = 1;
};

// EXIF orientation, 1 to 8, from an APP1 segment's data (after its length field): "Exif\0\0",
// then a TIFF structure whose IFD0 holds tag 0x0112 (EXIF 2.3; TIFF 6.0 section 2 for the byte
// order and IFD layout). 1 when absent or unreadable.
int exif_orientation(std::span<const std::byte> app1) {
    if (app1.size() < 6 + 8 || std::memcmp(app1.data(), "Exif\0\0", 6) != 0) return 1;
    const std::span<const std::byte> t = app1.subspan(6);
    const bool le = std::to_integer<char>(t[0]) == 'I' && std::to_integer<char>(t[1]) == 'I';
    const bool be = std::to_integer<char>(t[0]) == 'M' && std::to_integer<char>(t[1]) == 'M';
    if (!le && !be) return 1;
    const auto u16 = [&](std::size_t k) -> unsigned {
        const unsigned x = std::to_integer<unsigned>(t[k]), y = std::to_integer<unsigned>(t[k + 1]);
        return le ? x | (y << 8) : (x << 8) | y;
    };
    const auto u32 = [&](std::size_t k) -> std::uint64_t {
        return le ? u16(k) | (std::uint64_t{u16(k + 2)} << 16) : (std::uint64_t{u16(k)} << 16) | u16(k + 2);
    };
    if (u16(2) != 42) return 1;
    const std::uint64_t ifd = u32(4);
    if (ifd + 2 > t.size()) return 1;
    const unsigned count = u16(static_cast<std::size_t>(ifd));
    for (unsigned k = 0; k < count; ++k) {
        const std::uint64_t e = ifd + 2 + 12 * std::uint64_t{k};
        if (e + 12 > t.size()) return 1;
        const auto entry = static_cast<std::size_t>(e);
        if (u16(entry) != 0x0112) continue;
        const unsigned v = u16(entry + 8);  // type SHORT, count 1: the value sits in the first 2 bytes
        return u16(entry + 2) == 3 && v >= 1 && v <= 8 ? static_cast<int>(v) : 1;
    }
    return 1;
}

JpegScan jpeg_scan(std::span<const std::byte> b) {
    JpegScan out;
    const auto at = [&](std::size_t i) { return std::to_integer<unsigned>(b[i]); };
    bool exif_seen = false;
    std::size_t i = 2;
    while (i + 1 < b.size()) {
        if (at(i) != 0xFF) return out;  // not where a marker must be: leave it to the decoder
        const unsigned m = at(i + 1);
        if (m == 0xFF) {
            ++i;
            continue;
        }  // fill byte
        if (m == 0xD9) {
            out.complete = true;
            return out;
        }
        if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) {
            i += 2;
            continue;
        }  // no length
        if (i + 3 >= b.size()) return out;
        const std::size_t len = be16(b, i + 2);
        const bool sof = m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
        if (sof && i + 8 < b.size()) out.size = HeaderSize{be16(b, i + 7), be16(b, i + 5)};
        if (m == 0xE1 && !exif_seen && len >= 2 && i + 2 + len <= b.size()) {
            const auto app1 = b.subspan(i + 4, len - 2);
            if (app1.size() >= 6 && std::memcmp(app1.data(), "Exif\0\0", 6) == 0) {
                exif_seen = true;
                out.orientation = exif_orientation(app1);
            }
        }
        i += 2 + len;
        if (m == 0xDA) {  // start of scan: entropy data runs to the next marker other than RSTn
            exif_seen = true;  // an Exif segment after the first scan is not the image's
            while (i + 1 < b.size() &&
                   !(at(i) == 0xFF && at(i + 1) != 0x00 && !(at(i + 1) >= 0xD0 && at(i + 1) <= 0xD7)))
                ++i;
        }
    }
    return out;
}

// PNG: walks the chunks (length, type, data, CRC; PNG spec 5.3) from the signature to IEND.
// libpng meets a cut-off file only while decoding and prints its own lines ("PNG input buffer
// is incomplete") around OpenCV's empty result; this says it once, as a truncated file. 0 when
// the chunks reach IEND, else the offset where the file ran out.
std::size_t png_truncated_at(std::span<const std::byte> b) {
    std::size_t i = 8;
    while (i + 8 <= b.size()) {
        const std::uint64_t len = (std::uint64_t{be16(b, i)} << 16) | be16(b, i + 2);
        if (len > b.size() || i + 12 + len > b.size()) return i;
        if (std::memcmp(b.data() + i + 4, "IEND", 4) == 0) return 0;
        i += 12 + static_cast<std::size_t>(len);
    }
    return i;
}

// Netpbm (P1-P6) and PFM: a file that starts like one (the magic, then whitespace).
bool is_pnm(std::span<const std::byte> b) {
    if (b.size() < 3 || std::to_integer<char>(b[0]) != 'P') return false;
    const char k = std::to_integer<char>(b[1]), sp = std::to_integer<char>(b[2]);
    return ((k >= '1' && k <= '6') || k == 'F' || k == 'f') && (sp == ' ' || sp == '\t' || sp == '\r' || sp == '\n');
}

// Its header: width and height, then the maximum value (1 to 65535; not in P1/P4) or, for PFM,
// a non-zero scale, as text separated by whitespace and '#' comments anywhere between them
// (netpbm's pnm(5), pfm; OpenCV reads them so too).
// nullopt when it does not parse: OpenCV printed its own "imdecode_(''): can't read header"
// lines for those, so the caller refuses them first.
std::optional<HeaderSize> pnm_size(std::span<const std::byte> b) {
    if (!is_pnm(b)) return std::nullopt;
    const char k = std::to_integer<char>(b[1]);
    std::size_t i = 2;
    const auto ch = [&](std::size_t at) { return std::to_integer<char>(b[at]); };
    const auto skip_space = [&] {
        while (i < b.size()) {
            if (ch(i) == '#') {
                while (i < b.size() && ch(i) != '\n') ++i;
            } else if (std::isspace(static_cast<unsigned char>(ch(i)))) {
                ++i;
            } else {
                break;
            }
        }
    };
    // A decimal number of at most `max_digits` digits; -1 when there is none.
    const auto number = [&](std::size_t max_digits) -> std::int64_t {
        std::int64_t v = 0;
        std::size_t digits = 0;
        while (i < b.size() && digits < max_digits && ch(i) >= '0' && ch(i) <= '9') {
            v = v * 10 + (ch(i++) - '0');
            ++digits;
        }
        return digits == 0 ? -1 : v;
    };
    std::int64_t v[2] = {0, 0};
    for (std::int64_t& out : v) {  // width, height
        skip_space();
        out = number(13);
        if (out < 0) return std::nullopt;
        if (out >= 1'000'000'000'000) return HeaderSize{std::int64_t{1} << 40, std::int64_t{1} << 40};  // absurd: refused
    }
    if (k != '1' && k != '4' && k != 'F' && k != 'f') {  // maxval: 1 to 65535 (pnm(5))
        skip_space();
        const std::int64_t maxval = number(7);
        if (maxval < 1 || maxval > 65535) return std::nullopt;
    }
    if (k == 'F' || k == 'f') {  // the scale: a non-zero number (its sign is the byte order)
        skip_space();
        std::string token;
        while (i < b.size() && token.size() < 32 && !std::isspace(static_cast<unsigned char>(ch(i)))) token += ch(i++);
        char* end = nullptr;
        const double scale = std::strtod(token.c_str(), &end);
        if (token.empty() || end != token.c_str() + token.size() || !std::isfinite(scale) || scale == 0)
            return std::nullopt;
    }
    return HeaderSize{v[0], v[1]};
}

// The stored image turned upright by its EXIF orientation, as OpenCV's imdecode does
// (2 mirrored left-right, 3 turned 180, 4 mirrored top-bottom, 5 transposed, 6 turned 90
// clockwise to be upright, 7 transversed, 8 turned 90 counter-clockwise; EXIF 2.3 table 6).
cv::Mat apply_orientation(cv::Mat img, int orientation) {
    cv::Mat out;
    switch (orientation) {
        case 2: cv::flip(img, out, 1); return out;
        case 3: cv::flip(img, out, -1); return out;
        case 4: cv::flip(img, out, 0); return out;
        case 5: cv::transpose(img, out); return out;
        case 6: cv::transpose(img, out); cv::flip(out, out, 1); return out;
        case 7: cv::transpose(img, out); cv::flip(out, out, -1); return out;
        case 8: cv::transpose(img, out); cv::flip(out, out, 0); return out;
        default: return img;
    }
}

// count_text for an unsigned count (w x h of a PNG can pass INT64_MAX).
std::string count_text_u(std::uint64_t n) {
    return n <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())
               ? count_text(static_cast<std::int64_t>(n))
               : std::to_string(n);
}

// w and h are below 2^32 (PNG stores 32-bit sizes), so their product fits in 64 unsigned bits;
// in signed 64 bits 4294967295 x 4294967295 overflowed (found by fuzz_image_decode).
void check_pixels(std::int64_t w, std::int64_t h, std::int64_t max_pixels, const std::string& what, const char* when) {
    const std::uint64_t pixels = static_cast<std::uint64_t>(w) * static_cast<std::uint64_t>(h);
    if (max_pixels > 0 && pixels > static_cast<std::uint64_t>(max_pixels))
        throw OptionError("limits.max_image_pixels",
                          what + ": " + std::to_string(w) + "x" + std::to_string(h) + " = " + count_text_u(pixels) +
                              " pixels " + when + " exceeds the limit of " + count_text(max_pixels) + " (",
                          "); downscale the image, or raise the limit");
}

// A size read from a PNG or PNM header: within the pixel limit, and not empty.
void check_header_size(const HeaderSize& size, std::int64_t max_pixels, const std::string& what, const char* format) {
    check_pixels(size.width, size.height, max_pixels, what, (std::string("(from the ") + format + " header)").c_str());
    if (size.width == 0 || size.height == 0)
        throw InputError(what + ": the " + format + " header says " + std::to_string(size.width) + "x" +
                         std::to_string(size.height) + ": an image without pixels (corrupt file); export it again");
}

// A JPEG decoded by TurboJPEG straight to 8-bit BGR and turned upright; an empty Mat when
// TurboJPEG cannot decode it past its header (CMYK/YCCK, 12-bit): OpenCV then tries, and
// `tj_error` says why. A header TurboJPEG cannot read is an InputError. A
// "Corrupt JPEG data" warning (data that ends early, a bad Huffman code, a lost restart marker)
// is an InputError; "extraneous bytes before marker" (junk between segments, common in camera
// files and harmless) and other warnings are decoded past, as OpenCV would.
cv::Mat decode_jpeg(std::span<const std::byte> bytes, int orientation, const std::string& what,
                    std::int64_t max_pixels, std::string& tj_error) {
    const std::unique_ptr<void, int (*)(tjhandle)> tj(tjInitDecompress(), tjDestroy);
    if (!tj) return {};
    const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
    const auto size = static_cast<unsigned long>(bytes.size());
    int w = 0, h = 0, subsampling = 0, colorspace = 0;
    // No OpenCV fallback without a header: it would decode a size no one has checked (an 840-
    // megapixel progressive JPEG behind junk our marker walk stops at: fuzz_image_decode's OOM),
    // and OpenCV reads JPEG with this same libjpeg-turbo.
    if (tjDecompressHeader3(tj.get(), data, size, &w, &h, &subsampling, &colorspace) != 0)
        throw InputError(what + ": not a decodable JPEG (" + std::to_string(bytes.size()) + " bytes; libjpeg-turbo: " +
                         printable(tjGetErrorStr2(tj.get()), 200) + "); export or convert the image again");
    if (w <= 0 || h <= 0) return {};
    check_pixels(w, h, max_pixels, what, "(from the JPEG header)");  // before any allocation, OpenCV's too
    if (colorspace == TJCS_CMYK || colorspace == TJCS_YCCK) return {};
    cv::Mat out(h, w, CV_8UC3);
    const auto decode = [&](int flags) {
        return tjDecompress2(tj.get(), data, size, out.data, w, static_cast<int>(out.step), h, TJPF_BGR, flags);
    };
    if (decode(TJFLAG_STOPONWARNING) != 0) {
        if (tjGetErrorCode(tj.get()) != TJERR_WARNING) {
            tj_error = tjGetErrorStr2(tj.get());
            return {};
        }
        const std::string warning = tjGetErrorStr2(tj.get());
        if (warning.rfind("Corrupt JPEG data", 0) == 0 && warning.find("extraneous bytes") == std::string::npos)
            throw InputError(what + ": damaged JPEG (" + warning +
                             "): decoding would fill the damaged part with grey; copy or export the file again");
        if (decode(0) != 0 && tjGetErrorCode(tj.get()) != TJERR_WARNING) {
            tj_error = tjGetErrorStr2(tj.get());
            return {};
        }
    }
    return apply_orientation(out, orientation);
}

// The formats tiledet reads, by their magic numbers (each format's specification). Only these
// reach cv::imdecode: Debian's OpenCV also tries DICOM (GDCM), GDAL's formats (through temporary
// files) and JPEG 2000 on whatever it is given, and GDCM aborts the process on a crafted header
// ("DICM" at byte 128; fuzz_image_decode).
bool is_known_image_format(std::span<const std::byte> b) {
    const auto starts = [&](std::string_view magic, std::size_t at = 0) {
        return b.size() >= at + magic.size() && std::memcmp(b.data() + at, magic.data(), magic.size()) == 0;
    };
    return starts("\xFF\xD8\xFF") || starts("\x89PNG\r\n\x1A\n") || starts("BM") || starts("II*\0", 0) ||
           starts(std::string_view("MM\0*", 4)) || (starts("RIFF") && starts("WEBP", 8)) || is_pnm(b) ||
           starts("#?RADIANCE") || starts("#?RGBE") || starts("\x59\xA6\x6A\x95") || starts("\x76\x2F\x31\x01");
}

// Signatures OpenCV's DICOM (GDCM) and GDAL decoders look for away from the start of the data:
// "DICM" at byte 128 (DICOM part 10 preamble) and "DTED" at byte 140 (OpenCV's grfmt_gdal.cpp,
// checkSignature). imdecode gives the data to the first decoder in its list whose signature
// matches, and these two come before OpenEXR's, so an EXR magic with "DICM" at 128 still reached
// GDCM and aborted the process (fuzz_image_decode). Neither is a format tiledet reads.
const char* foreign_signature(std::span<const std::byte> b) {
    const auto at = [&](std::string_view magic, std::size_t pos) {
        return b.size() >= pos + magic.size() && std::memcmp(b.data() + pos, magic.data(), magic.size()) == 0;
    };
    if (at("DICM", 128)) return "a DICOM signature (\"DICM\" at byte 128)";
    if (at("DTED", 140)) return "a DTED signature (\"DTED\" at byte 140)";
    return nullptr;
}

bool is_jpeg(std::span<const std::byte> b) {
    return b.size() >= 3 && std::to_integer<unsigned>(b[0]) == 0xFF && std::to_integer<unsigned>(b[1]) == 0xD8 &&
           std::to_integer<unsigned>(b[2]) == 0xFF;
}

}  // namespace

cv::Mat decode_image(std::span<const std::byte> bytes, const std::string& what, std::int64_t max_pixels) {
    if (bytes.empty()) throw InputError(what + ": empty file (0 bytes), expected an image");
    // Sizes from the header, so a huge image is refused before the decoder allocates it.
    std::string tj_error;  // why TurboJPEG left a JPEG to OpenCV
    if (is_jpeg(bytes)) {
        const JpegScan scan = jpeg_scan(bytes);
        if (scan.size) check_pixels(scan.size->width, scan.size->height, max_pixels, what, "(from the JPEG header)");
        // The walk can lose its way in damaged data; a file that still ends with EOI is not cut
        // off, and the decoder below says whether it is damaged.
        const bool ends_with_eoi = bytes.size() >= 2 && std::to_integer<unsigned>(bytes[bytes.size() - 2]) == 0xFF &&
                                   std::to_integer<unsigned>(bytes[bytes.size() - 1]) == 0xD9;
        if (scan.size && !scan.complete && !ends_with_eoi)
            throw InputError(what + ": truncated JPEG (" + std::to_string(bytes.size()) +
                             " bytes, no end-of-image marker): decoding would fill the missing part with grey; "
                             "copy or export the file again");
        if (cv::Mat img = decode_jpeg(bytes, scan.orientation, what, max_pixels, tj_error); !img.empty()) return img;
    } else if (const auto png = png_size(bytes)) {
        check_header_size(*png, max_pixels, what, "PNG");
        if (const std::size_t at = png_truncated_at(bytes))
            throw InputError(what + ": truncated PNG (" + std::to_string(bytes.size()) + " bytes, cut inside the chunk at byte " +
                             std::to_string(at) + ", no IEND chunk); copy or export the file again");
    } else if (bytes.size() >= 26 && std::to_integer<char>(bytes[0]) == 'B' && std::to_integer<char>(bytes[1]) == 'M' &&
               std::to_integer<unsigned>(bytes[14]) >= 40) {
        // BMP with a BITMAPINFOHEADER or later (header size >= 40 at byte 14): width and height
        // at 18 and 22 (int32, little-endian; a negative height is top-down). OS/2's 12-byte
        // header is left to OpenCV.
        const auto le32 = [&](std::size_t i) {
            return static_cast<std::int32_t>(std::to_integer<std::uint32_t>(bytes[i]) |
                                             (std::to_integer<std::uint32_t>(bytes[i + 1]) << 8) |
                                             (std::to_integer<std::uint32_t>(bytes[i + 2]) << 16) |
                                             (std::to_integer<std::uint32_t>(bytes[i + 3]) << 24));
        };
        const std::int64_t w = std::abs(std::int64_t{le32(18)}), h = std::abs(std::int64_t{le32(22)});
        check_pixels(w, h, max_pixels, what, "(from the BMP header)");
        // OpenCV's BMP reader takes at most 2^30 bytes of pixels (grfmt_bmp.cpp, readData).
        if (static_cast<std::uint64_t>(w) * static_cast<std::uint64_t>(h) * 3 >= (std::uint64_t{1} << 30))  // < 2^64: w, h <= 2^31
            throw InputError(what + ": a BMP of " + std::to_string(w) + "x" + std::to_string(h) +
                             " is more than OpenCV's BMP reader takes (2^30 bytes of pixels); convert it to PNG or TIFF");
    } else if (is_pnm(bytes)) {
        const auto pnm = pnm_size(bytes);
        if (!pnm)
            throw InputError(what + ": a PNM/PFM header that does not parse (expected the magic P1-P6 or PF/Pf, then "
                                    "width, height and a maximum value of 1 to 65535 as decimal numbers" +
                             std::string(std::to_integer<char>(bytes[1]) == 'F' || std::to_integer<char>(bytes[1]) == 'f'
                                             ? " (PFM: a non-zero scale instead of the maximum)"
                                             : "") +
                             "); the file is corrupt: export it again");
        check_header_size(*pnm, max_pixels, what, "PNM");
    }
    if (!is_known_image_format(bytes))
        throw InputError(what + ": not a decodable image (" + std::to_string(bytes.size()) +
                         " bytes; its first bytes are not those of a format tiledet reads: jpg, png, bmp, tiff, "
                         "webp, pbm/pgm/ppm/pfm, hdr, sun raster, exr); convert it to one of them (PNG or JPEG)");
    if (const char* sig = foreign_signature(bytes))
        throw InputError(what + ": not a decodable image (" + std::to_string(bytes.size()) + " bytes with " + sig +
                         ", a format tiledet does not read, inside); convert it to PNG or JPEG");
    if (bytes.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()))
        throw InputError(what + ": " + std::to_string(bytes.size()) +
                         " bytes, more than OpenCV decodes from memory (2^31 - 1 bytes); split or recompress it");
    // imdecode takes a non-const Mat header but does not write through it.
    const cv::Mat buf(1, static_cast<int>(bytes.size()), CV_8UC1, const_cast<std::byte*>(bytes.data()));
    cv::Mat img;
    try {
        // ANYDEPTH keeps 16-bit samples so we scale them ourselves; COLOR gives 3 channels
        // (gray expanded, alpha dropped) and applies EXIF orientation.
        img = cv::imdecode(buf, cv::IMREAD_COLOR | cv::IMREAD_ANYDEPTH);
    } catch (const cv::Exception& e) {
        // OpenCV's own bound, under ours (0 turns ours off, not OpenCV's): its check reads
        // "pixels <= CV_IO_MAX_IMAGE_PIXELS" (modules/imgcodecs/src/loadsave.cpp, validateInputImageSize).
        if (e.err.find("CV_IO_MAX_IMAGE_PIXELS") != std::string::npos)
            throw InputError(what + ": more pixels than OpenCV's decoders take (2^30 by default; its environment "
                                    "variable CV_IO_MAX_IMAGE_PIXELS raises that bound, which --max-image-pixels 0 "
                                    "does not lift)");
        throw InputError(what + ": not a decodable image (" + e.err + ")");
    }
    if (img.empty() && !tj_error.empty())
        throw InputError(what + ": not a decodable JPEG (" + std::to_string(bytes.size()) + " bytes; libjpeg-turbo: " +
                         printable(tj_error, 200) + "); export or convert the image again");
    if (img.empty())
        throw InputError(what + ": not a decodable image (" + std::to_string(bytes.size()) +
                         " bytes; corrupt, truncated, or not a format it reads: jpg, png, bmp, tiff, webp, "
                         "pbm/pgm/ppm/pfm, hdr, sun raster, exr)");
    check_pixels(img.cols, img.rows, max_pixels, what, "(decoded)");
    img = to_8bit(img);
    if (img.channels() == 1) {
        cv::Mat out;
        cv::merge(std::vector<cv::Mat>{img, img, img}, out);
        img = out;
    }
    return img;
}

cv::Mat load_image(const std::string& path, std::int64_t max_pixels) {
    const auto bytes = read_bytes(path, max_pixels);
    return decode_image(bytes, path, max_pixels);
}

}  // namespace tiledet
