// Every image file becomes 8-bit 3-channel BGR, and every bad file a clear InputError.
#include <gtest/gtest.h>

#include <tuple>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>

#include "tiledet/error.hpp"
#include "tiledet/io/image.hpp"
#include "test_paths.hpp"

namespace tiledet {
namespace {

namespace fs = std::filesystem;

class TempDir : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("tiledet_io_" + std::to_string(::getpid()) + "_" +
                                            ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }
    std::string path(const std::string& name) const { return (dir_ / name).string(); }
    std::string write(const std::string& name, const std::string& bytes) const {
        std::ofstream(path(name), std::ios::binary) << bytes;
        return path(name);
    }
    fs::path dir_;
};

using LoadImage = TempDir;
using ListImages = TempDir;
using Annotate = TempDir;

std::string message_of(const std::string& p) {
    try {
        load_image(p);
    } catch (const InputError& e) {
        return e.what();
    }
    return "<no error>";
}

TEST_F(LoadImage, GrayPngBecomesThreeEqualChannels) {
    cv::imwrite(path("gray.png"), cv::Mat(4, 6, CV_8UC1, cv::Scalar(77)));
    const cv::Mat m = load_image(path("gray.png"));
    EXPECT_EQ(m.type(), CV_8UC3);
    EXPECT_EQ(m.size(), cv::Size(6, 4));
    EXPECT_EQ(m.at<cv::Vec3b>(2, 3), cv::Vec3b(77, 77, 77));
}

TEST_F(LoadImage, SixteenBitPngIsScaledToEightBit) {
    cv::Mat m16(2, 3, CV_16UC3, cv::Scalar(65535, 257 * 100, 0));
    m16.at<cv::Vec3w>(1, 2) = cv::Vec3w(257 * 7, 0, 65535);
    cv::imwrite(path("deep.png"), m16);
    const cv::Mat m = load_image(path("deep.png"));
    EXPECT_EQ(m.type(), CV_8UC3);
    EXPECT_EQ(m.at<cv::Vec3b>(0, 0), cv::Vec3b(255, 100, 0));
    EXPECT_EQ(m.at<cv::Vec3b>(1, 2), cv::Vec3b(7, 0, 255));
}

TEST_F(LoadImage, SixteenBitGrayPngIsScaledToEightBitColour) {
    cv::imwrite(path("deep_gray.png"), cv::Mat(2, 2, CV_16UC1, cv::Scalar(257 * 200)));
    const cv::Mat m = load_image(path("deep_gray.png"));
    EXPECT_EQ(m.type(), CV_8UC3);
    EXPECT_EQ(m.at<cv::Vec3b>(1, 1), cv::Vec3b(200, 200, 200));
}

TEST_F(LoadImage, AlphaChannelIsDropped) {
    cv::imwrite(path("rgba.png"), cv::Mat(3, 3, CV_8UC4, cv::Scalar(10, 20, 30, 0)));
    const cv::Mat m = load_image(path("rgba.png"));
    EXPECT_EQ(m.type(), CV_8UC3);
    EXPECT_EQ(m.at<cv::Vec3b>(0, 0), cv::Vec3b(10, 20, 30));
}

TEST_F(LoadImage, TinyFiveByThreeImageLoads) {
    cv::imwrite(path("tiny.png"), cv::Mat(3, 5, CV_8UC3, cv::Scalar(1, 2, 3)));
    EXPECT_EQ(load_image(path("tiny.png")).size(), cv::Size(5, 3));
}

TEST_F(LoadImage, ZeroByteFileSaysEmpty) {
    const std::string msg = message_of(write("empty.jpg", ""));
    EXPECT_NE(msg.find("empty.jpg"), std::string::npos) << msg;
    EXPECT_NE(msg.find("empty file"), std::string::npos) << msg;
}

TEST_F(LoadImage, CorruptFileSaysNotDecodable) {
    std::vector<uchar> png;
    cv::imencode(".png", cv::Mat(20, 20, CV_8UC3, cv::Scalar::all(3)), png);
    png.resize(png.size() / 3);  // truncated
    for (std::size_t i = 16; i < png.size(); ++i) png[i] ^= 0x5a;
    const std::string msg = message_of(write("broken.png", std::string(png.begin(), png.end())));
    EXPECT_NE(msg.find("broken.png"), std::string::npos) << msg;
    EXPECT_NE(msg.find("not a decodable image"), std::string::npos) << msg;
}

TEST_F(LoadImage, TextFileWithAnImageExtensionSaysNotDecodable) {
    EXPECT_NE(message_of(write("notes.jpg", "just some text\n")).find("not a decodable image"), std::string::npos);
}

TEST_F(LoadImage, MissingFileAndFolderAreNamed) {
    EXPECT_NE(message_of(path("nope.png")).find("no such file"), std::string::npos);
    EXPECT_NE(message_of(dir_.string()).find("is a folder"), std::string::npos);
}

TEST(DecodeImage, BytesInMemoryDecodeLikeAFile) {
    std::vector<uchar> png;
    cv::imencode(".png", cv::Mat(2, 2, CV_8UC3, cv::Scalar(5, 6, 7)), png);
    const cv::Mat m = decode_image(std::as_bytes(std::span(png)));
    EXPECT_EQ(m.at<cv::Vec3b>(1, 1), cv::Vec3b(5, 6, 7));
    EXPECT_THROW(decode_image({}), InputError);
}

// A real 2x2 PNG whose IHDR claims w x h instead, its CRC recomputed (CRC-32, PNG spec annex D,
// over the chunk type and data) so that the header is trusted.
std::vector<uchar> png_claiming(std::uint32_t w, std::uint32_t h) {
    std::vector<uchar> png;
    cv::imencode(".png", cv::Mat(2, 2, CV_8UC3, cv::Scalar(1, 2, 3)), png);
    const auto put32 = [&](std::size_t at, std::uint32_t v) {
        for (int i = 0; i < 4; ++i) png[at + static_cast<std::size_t>(i)] = static_cast<uchar>(v >> (24 - 8 * i));
    };
    put32(16, w);  // IHDR data starts at 16: width, height
    put32(20, h);
    std::uint32_t crc = 0xFFFFFFFFu;
    for (std::size_t i = 12; i < 29; ++i) {
        crc ^= png[i];
        for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    put32(29, crc ^ 0xFFFFFFFFu);
    return png;
}

TEST(DecodeImage, AHeaderOverOpenCVsOwnBoundSaysSoWhenOurLimitIsOff) {
    // A 2x2 PNG whose IHDR claims 100000x100000 (CRC recomputed): with --max-image-pixels 0 the
    // message was OpenCV's "pixels <= CV_IO_MAX_IMAGE_PIXELS", an internal.
    const std::vector<uchar> png = png_claiming(100000, 100000);
    try {
        decode_image(std::as_bytes(std::span(png)), "huge.png", 0);
        FAIL() << "decoded";
    } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("huge.png: more pixels than OpenCV's decoders take (2^30 by default"),
                  std::string::npos)
            << e.what();
    }
}

// fuzz_image_decode found it (fuzz/regressions/fuzz_image_decode/): the PNG header's 32-bit
// sizes multiplied in signed 64 bits overflowed before the limit was checked.
TEST(DecodeImage, PngHeaderOfFourBillionSquaredPixelsIsRefusedByTheLimit) {
    const unsigned char png[] = {0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49,
                                 0x48, 0x44, 0x52, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x08, 0x02,
                                 0x00, 0x00, 0x00, 0x5d, 0x94, 0xb9, 0x69, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
                                 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};
    try {
        decode_image(std::as_bytes(std::span(png)), "huge.png");
        FAIL() << "expected the pixel limit to refuse the header";
    } catch (const OptionError& e) {
        EXPECT_EQ(e.option(), "limits.max_image_pixels");
        EXPECT_NE(std::string(e.what()).find("4294967295x4294967295 = 18446744065119617025 pixels (from the PNG header)"),
                  std::string::npos)
            << e.what();
    }
}

// A review found libpng's own lines ("PNG input buffer is incomplete", "Image width is zero in
// IHDR") on the terminal around our message: a cut-off PNG and a 0-pixel header are now refused
// from the chunks and the header, before libpng sees them, with one message.
TEST(DecodeImage, ATruncatedPngIsRefusedFromItsChunksAndAWholeOneDecodes) {
    std::vector<uchar> png;
    cv::imencode(".png", cv::Mat(40, 30, CV_8UC3, cv::Scalar(9, 8, 7)), png);
    EXPECT_EQ(decode_image(std::as_bytes(std::span(png))).size(), cv::Size(30, 40));
    for (const std::size_t keep : {png.size() - 1, png.size() - 12, std::size_t{40}, std::size_t{34}}) {
        const std::vector<uchar> cut(png.begin(), png.begin() + static_cast<std::ptrdiff_t>(keep));
        try {
            decode_image(std::as_bytes(std::span(cut)), "cut.png");
            FAIL() << keep << " bytes decoded";
        } catch (const InputError& e) {
            EXPECT_NE(std::string(e.what()).find("cut.png: truncated PNG (" + std::to_string(keep) + " bytes"),
                      std::string::npos)
                << e.what();
        }
    }
}

TEST(DecodeImage, APngHeaderOfZeroWidthIsRefusedAsCorrupt) {
    const std::vector<uchar> png = png_claiming(0, 2);
    try {
        decode_image(std::as_bytes(std::span(png)), "zero.png");
        FAIL() << "decoded";
    } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("zero.png: the PNG header says 0x2: an image without pixels"),
                  std::string::npos)
            << e.what();
    }
}

TEST(DecodeImage, APnmHeaderIsCheckedAgainstThePixelLimitBeforeOpenCV) {
    const std::string huge = "P5\n# a comment\n4294967295 4294967295\n255\n";
    try {
        decode_image(std::as_bytes(std::span(huge.data(), huge.size())), "huge.pgm");
        FAIL() << "decoded";
    } catch (const OptionError& e) {
        EXPECT_NE(std::string(e.what()).find("huge.pgm: 4294967295x4294967295 = 18446744065119617025 pixels (from the PNM header)"),
                  std::string::npos)
            << e.what();
    }
    const std::string small = "P6\n2 1\n255\n\x01\x02\x03\x04\x05\x06";
    const cv::Mat m = decode_image(std::as_bytes(std::span(small.data(), small.size())), "small.ppm");
    EXPECT_EQ(m.size(), cv::Size(2, 1));
    EXPECT_EQ(m.at<cv::Vec3b>(0, 1), cv::Vec3b(6, 5, 4));  // RGB in the file, BGR decoded
}

TEST_F(ListImages, FolderGivesImageFilesSortedByName) {
    for (const char* n : {"b.JPG", "a.png", "c.txt", "d.webp"}) write(n, "x");
    fs::create_directories(dir_ / "sub.png");
    const auto files = list_images(dir_.string());
    ASSERT_EQ(files.size(), 3u);
    EXPECT_EQ(fs::path(files[0]).filename(), "a.png");
    EXPECT_EQ(fs::path(files[1]).filename(), "b.JPG");
    EXPECT_EQ(fs::path(files[2]).filename(), "d.webp");
}

TEST_F(ListImages, AFileGivesItselfWhateverItsExtension) {
    EXPECT_EQ(list_images(write("c.txt", "x")), std::vector<std::string>{path("c.txt")});
    EXPECT_THROW(list_images(path("missing")), InputError);
}

TEST_F(ListImages, AFolderWithoutImagesAndAPipeAreErrorsNotNothing) {
    // Both once gave "0 image(s), 0 failed" and exit 0 (the pipe: a reader blocked forever).
    write("notes.txt", "x");
    fs::create_directories(dir_ / "sub.jpg");
    try {
        list_images(dir_.string());
        FAIL() << "a folder without image files was taken as no work";
    } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find(": a folder with no image files (expected .jpg"), std::string::npos)
            << e.what();
    }
    ASSERT_EQ(::mkfifo(path("pipe.jpg").c_str(), 0600), 0);
    try {
        list_images(path("pipe.jpg"));
        FAIL() << "a FIFO was taken as an image file";
    } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("pipe.jpg: not a regular file (a pipe, socket or device)"),
                  std::string::npos)
            << e.what();
    }
    // In a folder it is listed (by its name) and refused when read, without blocking.
    const auto files = list_images(dir_.string());
    ASSERT_EQ(files, std::vector<std::string>{path("pipe.jpg")});
    try {
        load_image(files[0]);
        FAIL() << "a FIFO was read";
    } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("not a regular file"), std::string::npos) << e.what();
    }
}

TEST_F(ListImages, AFileLargerThanAnyImageWithinThePixelLimitIsRefusedBeforeItIsRead) {
    const std::string big = write("big.jpg", std::string(2 * 1024 * 1024, 'x'));
    // 2 MB against a limit of 1000 pixels: at most 8 kB of pixels + 64 MB of headers: read.
    EXPECT_THROW(load_image(big, 1000), InputError);  // read, then not decodable
    fs::resize_file(big, 200ll * 1024 * 1024);  // sparse: no disk used
    try {
        load_image(big, 1000);
        FAIL() << "200 MB were read for a 1000-pixel limit";
    } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("a file of 209715200 bytes, more than any image within "
                                             "limits.max_image_pixels (1000) takes; raise it with --max-image-pixels"),
                  std::string::npos)
            << e.what();
    }
}

TEST_F(Annotate, SavedImageHasTheSameSizeAndDrawnBoxes) {
    const cv::Mat img(100, 120, CV_8UC3, cv::Scalar::all(0));
    save_annotated(path("out.png"), img, {{Box{10, 30, 60, 90}, 0.9f, 0}}, [](int) { return std::string("person"); });
    const cv::Mat out = load_image(path("out.png"));
    EXPECT_EQ(out.size(), img.size());
    EXPECT_NE(out.at<cv::Vec3b>(60, 10), cv::Vec3b(0, 0, 0));   // left edge of the box
    EXPECT_EQ(out.at<cv::Vec3b>(60, 100), cv::Vec3b(0, 0, 0));  // outside
    EXPECT_EQ(img.at<cv::Vec3b>(60, 10), cv::Vec3b(0, 0, 0));   // the input is untouched
    EXPECT_THROW(save_annotated(path("no/such/dir/out.png"), img, {}, {}), InputError);
}

}  // namespace
}  // namespace tiledet

// JPEG goes through TurboJPEG straight to BGR (src/io/image.cpp): the pixels must be exactly
// OpenCV's (same libjpeg-turbo, same IDCT and upsampling), EXIF orientation included.
namespace tiledet {
namespace {

namespace fs = std::filesystem;

std::vector<uchar> file_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

cv::Mat opencv_decode(const std::vector<uchar>& b) { return cv::imdecode(b, cv::IMREAD_COLOR); }

bool same_pixels(const cv::Mat& a, const cv::Mat& b) {
    return a.size() == b.size() && a.type() == b.type() && cv::norm(a, b, cv::NORM_INF) == 0;
}

// An asymmetric test picture (a different colour in each corner region), JPEG at quality 95.
std::vector<uchar> test_jpeg(int w = 48, int h = 32) {
    cv::Mat img(h, w, CV_8UC3, cv::Scalar(40, 40, 40));
    img(cv::Rect(0, 0, w / 3, h / 2)).setTo(cv::Scalar(250, 0, 0));
    img(cv::Rect(w - w / 4, 0, w / 4, h / 3)).setTo(cv::Scalar(0, 250, 0));
    img(cv::Rect(0, h - h / 4, w / 2, h / 4)).setTo(cv::Scalar(0, 0, 250));
    std::vector<uchar> out;
    cv::imencode(".jpg", img, out, {cv::IMWRITE_JPEG_QUALITY, 95});
    return out;
}

// The JPEG with an APP1 Exif segment right after SOI whose IFD0 holds only Orientation = v.
std::vector<uchar> with_orientation(const std::vector<uchar>& jpeg, int v, bool big_endian) {
    std::vector<uchar> tiff = big_endian ? std::vector<uchar>{'M', 'M', 0, 42, 0, 0, 0, 8}
                                         : std::vector<uchar>{'I', 'I', 42, 0, 8, 0, 0, 0};
    const auto put16 = [&](unsigned x) {
        if (big_endian) {
            tiff.push_back(static_cast<uchar>(x >> 8)), tiff.push_back(static_cast<uchar>(x));
        } else {
            tiff.push_back(static_cast<uchar>(x)), tiff.push_back(static_cast<uchar>(x >> 8));
        }
    };
    const auto put32 = [&](unsigned x) {
        if (big_endian) {
            put16(x >> 16), put16(x & 0xFFFF);
        } else {
            put16(x & 0xFFFF), put16(x >> 16);
        }
    };
    put16(1);                                   // one entry
    put16(0x0112), put16(3), put32(1);          // Orientation, SHORT, count 1
    put16(static_cast<unsigned>(v)), put16(0);  // value in the first two bytes
    put32(0);                                   // no next IFD
    std::vector<uchar> app1 = {0xFF, 0xE1, 0, 0, 'E', 'x', 'i', 'f', 0, 0};
    app1.insert(app1.end(), tiff.begin(), tiff.end());
    const std::size_t len = app1.size() - 2;
    app1[2] = static_cast<uchar>(len >> 8), app1[3] = static_cast<uchar>(len);
    std::vector<uchar> out(jpeg.begin(), jpeg.begin() + 2);
    out.insert(out.end(), app1.begin(), app1.end());
    out.insert(out.end(), jpeg.begin() + 2, jpeg.end());
    return out;
}

cv::Mat ours(const std::vector<uchar>& b, const std::string& what = "<bytes>") {
    return decode_image(std::as_bytes(std::span(b)), what);
}

}  // namespace

TEST(DecodeJpeg, RealPhotosDecodeToExactlyOpenCVsPixels) {
    TILEDET_REQUIRE_SHARED("images/coco64/images");
    int n = 0;
    for (const auto& e : fs::directory_iterator(tiledet::testing::shared_path("images/coco64/images"))) {
        const auto b = file_bytes(e.path());
        EXPECT_TRUE(same_pixels(ours(b), opencv_decode(b))) << e.path();
        ++n;
    }
    EXPECT_EQ(n, 64);
}

TEST(DecodeJpeg, EveryExifOrientationTurnsTheImageAsOpenCVDoes) {
    const auto jpeg = test_jpeg();
    const cv::Mat stored = ours(jpeg);
    for (const bool big_endian : {false, true}) {
        for (int v = 1; v <= 8; ++v) {
            const auto b = with_orientation(jpeg, v, big_endian);
            const cv::Mat upright = ours(b);
            EXPECT_TRUE(same_pixels(upright, opencv_decode(b))) << "orientation " << v << (big_endian ? " MM" : " II");
            EXPECT_EQ(upright.size(), v >= 5 ? cv::Size(32, 48) : cv::Size(48, 32)) << v;
            if (v == 1) EXPECT_TRUE(same_pixels(upright, stored));
            if (v != 1) EXPECT_FALSE(same_pixels(upright, stored)) << v;
        }
    }
}

TEST(DecodeJpeg, ADamagedScanFailsInsteadOfDecodingWithGreyInIt) {
    cv::Mat noise(256, 256, CV_8UC3);
    cv::randu(noise, cv::Scalar::all(0), cv::Scalar::all(255));
    std::vector<uchar> jpeg;
    cv::imencode(".jpg", noise, jpeg, {cv::IMWRITE_JPEG_QUALITY, 90});
    // Cut in the middle of the scan and end with EOI: the end-of-image check passes, the data
    // ends early ("premature end of data segment").
    std::vector<uchar> cut(jpeg.begin(), jpeg.begin() + static_cast<std::ptrdiff_t>(jpeg.size() / 2));
    cut.push_back(0xFF), cut.push_back(0xD9);
    try {
        ours(cut, "cut.jpg");
        FAIL() << "decoded";
    } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("cut.jpg: damaged JPEG (Corrupt JPEG data"), std::string::npos) << e.what();
    }
}

TEST(DecodeJpeg, JunkBeforeTheEndMarkerIsDecodedPastAsOpenCVDoes) {
    // "Corrupt JPEG data: N extraneous bytes before marker 0xd9": common in camera files, harmless.
    const auto jpeg = test_jpeg();
    std::vector<uchar> junk(jpeg.begin(), jpeg.end() - 2);
    for (uchar c : {0x12, 0x34, 0x56}) junk.push_back(c);
    junk.push_back(0xFF), junk.push_back(0xD9);
    EXPECT_TRUE(same_pixels(ours(junk), ours(jpeg)));
}

}  // namespace tiledet

namespace tiledet {

// A second review found OpenCV's own "imdecode_(''): can't read header" lines above ours for
// these: the headers are now read and refused (or checked against the limit) before OpenCV.
TEST(DecodeImage, MalformedPnmPfmAndHugeBmpHeadersAreRefusedBeforeOpenCV) {
    const auto message = [](const std::string& bytes) {
        try {
            decode_image(std::as_bytes(std::span(bytes.data(), bytes.size())), "f");
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string("decoded");
    };
    EXPECT_NE(message("P6\n10 -10\n255\n").find("a PNM/PFM header that does not parse"), std::string::npos);
    EXPECT_NE(message("P6\n10 10\n99999999\n").find("a PNM/PFM header that does not parse"), std::string::npos);
    EXPECT_NE(message("PF\n4 4\nnan\n").find("a non-zero scale"), std::string::npos);
    // A comment before the maximum value is valid PNM (pnm(5)), as OpenCV reads it.
    const std::string commented = "P5\n2 1\n# maxval next\n255\n\x01\x02";
    EXPECT_EQ(message(commented), "decoded");
    std::string bmp(54, '\0');
    bmp[0] = 'B', bmp[1] = 'M', bmp[14] = 40;
    const auto put32 = [&](std::size_t at, std::uint32_t v) {
        for (int i = 0; i < 4; ++i) bmp[at + static_cast<std::size_t>(i)] = static_cast<char>(v >> (8 * i));
    };
    put32(18, 30000), put32(22, static_cast<std::uint32_t>(-30000));  // top-down
    EXPECT_NE(message(bmp).find("30000x30000 = 900,000,000 pixels (from the BMP header) exceeds"), std::string::npos)
        << message(bmp);
    put32(18, 20000), put32(22, 20000);
    try {
        decode_image(std::as_bytes(std::span(bmp.data(), bmp.size())), "big.bmp", 0);
        FAIL() << "decoded";
    } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("more than OpenCV's BMP reader takes"), std::string::npos) << e.what();
    }
}

TEST(DecodeJpeg, AJpegNeitherDecoderTakesSaysLibjpegTurbosReason) {
    auto jpeg = test_jpeg();
    // Corrupt the Huffman table definition (DHT, FF C4): its class/id byte and counts.
    for (std::size_t i = 2; i + 1 < jpeg.size(); ++i)
        if (jpeg[i] == 0xFF && jpeg[i + 1] == 0xC4) {
            for (std::size_t k = i + 4; k < i + 21 && k < jpeg.size(); ++k) jpeg[k] = 0xFF;
            break;
        }
    try {
        ours(jpeg, "dht.jpg");
        FAIL() << "decoded";
    } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("dht.jpg: not a decodable JPEG ("), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("libjpeg-turbo: "), std::string::npos) << e.what();
    }
}

}  // namespace tiledet

namespace tiledet {

// fuzz_image_decode: Debian's OpenCV hands bytes with "DICM" at offset 128 to GDCM, whose
// reader asserts (aborting the process) on a crafted header; and a progressive JPEG's SOF behind
// junk that our marker walk stops at reached OpenCV with an unchecked 840-megapixel size. Only
// known formats reach OpenCV now, and a JPEG whose header libjpeg-turbo cannot read fails here.
TEST(DecodeImage, UnknownFormatsNeverReachOpenCVsOtherDecoders) {
    std::string dicom(128, '\0');
    dicom += "DICM";
    dicom += std::string(64, '\x01');
    try {
        decode_image(std::as_bytes(std::span(dicom.data(), dicom.size())), "scan.dcm");
        FAIL() << "decoded";
    } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("scan.dcm: not a decodable image (196 bytes; its first bytes are not"),
                  std::string::npos)
            << e.what();
    }
}

// fuzz_image_decode again: an OpenEXR magic with "DICM" at byte 128 passed the magic check and
// still reached GDCM (imdecode takes the first decoder whose signature matches, and OpenCV's
// DICOM decoder comes before its EXR one); likewise GDAL's "DTED" at byte 140. Refused, naming
// the signature, whatever the first bytes say.
TEST(DecodeImage, ADicomOrDtedSignatureBehindAKnownMagicIsRefused) {
    for (const auto& [pos, sig, words] : {std::tuple{std::size_t{128}, std::string("DICM"), std::string("DICOM signature")},
                                         std::tuple{std::size_t{140}, std::string("DTED"), std::string("DTED signature")}}) {
        std::string data("\x76\x2F\x31\x01\x02\x02", 6);  // OpenEXR's magic and version
        data.resize(pos, '\x01');
        data += sig;
        data += std::string(16, '\x0a');
        try {
            decode_image(std::as_bytes(std::span(data.data(), data.size())), "x.exr");
            FAIL() << "decoded";
        } catch (const InputError& e) {
            EXPECT_NE(std::string(e.what()).find("x.exr: not a decodable image (" + std::to_string(data.size()) +
                                                 " bytes with a " + words),
                      std::string::npos)
                << e.what();
        }
    }
}

}  // namespace tiledet
