// YOLO label files become pixel boxes; malformed ones fail with the file and line named.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "test_paths.hpp"
#include "tiledet/error.hpp"
#include "tiledet/eval/yolo_labels.hpp"

namespace {

using tiledet::eval::load_yolo_labels;
using tiledet::eval::parse_yolo_labels;

std::filesystem::path write_temp(const std::string& name, const std::string& content) {
    auto p = std::filesystem::temp_directory_path() / ("tiledet_eval_" + std::to_string(::getpid()) + "_" + name);
    std::ofstream(p, std::ios::binary) << content;
    return p;
}

std::string error_of(const std::string& text) {
    try {
        parse_yolo_labels(text, 640, 480, "x.txt");
    } catch (const tiledet::InputError& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST(YoloLabels, CenterSizeNormalizedBecomesCornerPixels) {
    const auto p = write_temp("a.txt", "45 0.5 0.25 0.5 0.25\n\n3 0.1 0.9 0.2 0.2\n");
    const auto g = load_yolo_labels(p, 640, 480);
    std::filesystem::remove(p);
    ASSERT_EQ(g.size(), 2u);
    EXPECT_EQ(g[0].class_id, 45);
    EXPECT_FLOAT_EQ(g[0].box.x1, 160);
    EXPECT_FLOAT_EQ(g[0].box.y1, 60);
    EXPECT_FLOAT_EQ(g[0].box.x2, 480);
    EXPECT_FLOAT_EQ(g[0].box.y2, 180);
    EXPECT_EQ(g[1].class_id, 3);
    EXPECT_FLOAT_EQ(g[1].box.x1, 0);
    EXPECT_FLOAT_EQ(g[1].box.y2, 480);
}

TEST(YoloLabels, PolygonRowBecomesItsBoundingBox) {
    const auto g = parse_yolo_labels("2 0.1 0.2 0.5 0.1 0.3 0.6\n", 100, 200, "poly.txt");
    ASSERT_EQ(g.size(), 1u);
    EXPECT_EQ(g[0].class_id, 2);
    EXPECT_FLOAT_EQ(g[0].box.x1, 10);
    EXPECT_FLOAT_EQ(g[0].box.y1, 20);
    EXPECT_FLOAT_EQ(g[0].box.x2, 50);
    EXPECT_FLOAT_EQ(g[0].box.y2, 120);
}

TEST(YoloLabels, RepeatedRowCountsOnce) {
    const auto g = parse_yolo_labels("0 0.5 0.5 0.2 0.2\n0 0.5 0.5 0.2 0.2\n1 0.5 0.5 0.2 0.2\n", 100, 100, "dup.txt");
    ASSERT_EQ(g.size(), 2u);
    EXPECT_EQ(g[1].class_id, 1);
}

TEST(YoloLabels, EmptyFileIsABackgroundImage) {
    EXPECT_TRUE(parse_yolo_labels("", 10, 10, "empty.txt").empty());
    EXPECT_TRUE(parse_yolo_labels("\n  \n", 10, 10, "blank.txt").empty());
}

TEST(YoloLabels, MalformedLinesNameFileAndLine) {
    EXPECT_NE(error_of("0 0.5 0.5 0.2 0.2\n0 0.5 0.5 0.2\n").find("x.txt line 2: 4 numbers"), std::string::npos);
    EXPECT_NE(error_of("zero 0.5 0.5 0.2 0.2\n").find("'zero' is not a number"), std::string::npos);
    EXPECT_NE(error_of("1.5 0.5 0.5 0.2 0.2\n").find("not an integer"), std::string::npos);
    EXPECT_NE(error_of("-1 0.5 0.5 0.2 0.2\n").find("not an integer >= 0"), std::string::npos);
    EXPECT_NE(error_of("0 0.5 0.5 1.2 0.2\n").find("outside 0..1"), std::string::npos);
    EXPECT_NE(error_of("0 120 80 40 40\n").find("outside 0..1"), std::string::npos);  // pixels, not normalized
}

TEST(YoloLabels, BinaryBytesOfABadTokenAreEscapedAndCutNotEchoed) {
    const std::string bad = std::string("\x1b[2J\xff\x01") + std::string(100, 'A');
    const std::string e = error_of(bad + " 0.5 0.5 0.2 0.2\n");
    EXPECT_NE(e.find("'\\x1B[2J\\xFF\\x01" + std::string(34, 'A') + "...' is not a number"), std::string::npos) << e;
    EXPECT_EQ(e.find('\x1b'), std::string::npos) << "no escape sequence reaches the terminal";
}

TEST(YoloLabels, NumbersInMessagesAreWrittenAsTheFileCouldHave) {
    EXPECT_NE(error_of("2.5 0.5 0.5 0.2 0.2\n").find("class 2.5 is not an integer >= 0"), std::string::npos);
    const std::string e = error_of("0 1e308 0.5 0.2 0.2\n");
    EXPECT_NE(e.find("coordinate 1e+308 is outside 0..1"), std::string::npos) << e;
    EXPECT_LT(e.size(), 300u) << e;
}

TEST(Printable, EscapesC1ControlsAndBidiOverridesButKeepsOtherText) {
    // U+009B (CSI), U+202E (right-to-left override), U+2066 (left-to-right isolate).
    EXPECT_EQ(tiledet::printable("a\xc2\x9b" "31mb"), "a\\xC2\\x9B" "31mb");
    EXPECT_EQ(tiledet::printable("x\xe2\x80\xaegpj.exe"), "x\\xE2\\x80\\xAEgpj.exe");
    EXPECT_EQ(tiledet::message_text("y\xe2\x81\xa6z"), "y\\xE2\\x81\\xA6z");
    EXPECT_EQ(tiledet::printable("\xc2\xa0\xe2\x80\x94 \xc3\xa9"), "\xc2\xa0\xe2\x80\x94 \xc3\xa9");  // nbsp, em dash, e-acute kept
}

TEST(Printable, KeepsTextInAnyScriptAndEscapesControlAndInvalidBytes) {
    EXPECT_EQ(tiledet::printable("caméra 桃 ok"), "caméra 桃 ok");
    EXPECT_EQ(tiledet::printable("a\x1b[31mb\n"), "a\\x1B[31mb\\x0A");
    EXPECT_EQ(tiledet::printable("\xc3\x28 \xed\xa0\x80"), "\\xC3( \\xED\\xA0\\x80");  // bad sequence, a surrogate
    EXPECT_EQ(tiledet::printable(std::string(50, 'x'), 10), "xxxxxxxxxx...");
}

TEST(Printable, ErrorMessagesKeepTheirLinesAndTextButNoControlOrInvalidBytes) {
    EXPECT_EQ(tiledet::message_text("layout:\n  caméra\tx"), "layout:\n  caméra\tx");
    EXPECT_EQ(tiledet::message_text("in \x1b]0;pwned\x07 \xc3\x28"), "in \\x1B]0;pwned\\x07 \\xC3(");
    const tiledet::UnknownLayoutError e(std::string("input '\x1b[31mimages' \xff"));
    EXPECT_STREQ(e.what(), "input '\\x1B[31mimages' \\xFF");
    const tiledet::OptionError o("limits.max_tiles_per_image", "a\x1b", ": b");
    EXPECT_EQ(o.with_name("--max-tiles\x01"), "a\\x1B--max-tiles\\x01: b");
}

TEST(YoloLabels, ALabelPathThatIsAFolderIsAnErrorNotABackgroundImage) {
    const auto dir = std::filesystem::temp_directory_path() / ("tiledet_label_dir_" + std::to_string(::getpid()) + ".txt");
    std::filesystem::create_directories(dir);
    try {
        (void)tiledet::eval::load_yolo_labels(dir, 10, 10);
        FAIL() << "a folder was read as labels";
    } catch (const tiledet::InputError& e) {
        EXPECT_NE(std::string(e.what()).find("is not a regular file"), std::string::npos) << e.what();
    }
    std::filesystem::remove_all(dir);
}

// fuzz_eval found it (fuzz/regressions/fuzz_eval/): a class id beyond int was converted anyway.
TEST(YoloLabels, ClassIdBeyondIntIsAClearError) {
    EXPECT_NE(error_of("26666666666666666666666666600 0.5 0.5 0.2 0.2\n").find("x.txt line 1: class"),
              std::string::npos);
    EXPECT_NE(error_of("2147483648 0.5 0.5 0.2 0.2\n").find("larger than the largest class id 2147483647"),
              std::string::npos);
    EXPECT_EQ(parse_yolo_labels("2147483647 0.5 0.5 0.2 0.2\n", 10, 10, "x.txt").at(0).class_id, 2147483647);
}

TEST(YoloLabels, MissingFileThrowsInputError) {
    EXPECT_THROW(load_yolo_labels("/nonexistent/labels/a.txt", 10, 10), tiledet::InputError);
    EXPECT_THROW(parse_yolo_labels("0 0.5 0.5 0.2 0.2", 0, 10, "zero.txt"), tiledet::InputError);
}

TEST(YoloLabels, LabelPathIsTheImageStemInTheLabelsFolder) {
    EXPECT_EQ(tiledet::eval::yolo_label_path("/data/images/000000000009.jpg", "/data/labels"),
              std::filesystem::path("/data/labels/000000000009.txt"));
}

TEST(YoloLabels, Coco64LabelsParseWithEightyClassIds) {
    TILEDET_REQUIRE_SHARED("images/coco64/labels");
    const auto dir = tiledet::testing::shared_path("images/coco64/labels");
    int files = 0, boxes = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
        if (e.path().extension() != ".txt") continue;
        for (const auto& g : load_yolo_labels(e.path(), 640, 480)) {
            EXPECT_GE(g.class_id, 0);
            EXPECT_LT(g.class_id, 80);
            EXPECT_GT(g.box.area(), 0.0f);
            ++boxes;
        }
        ++files;
    }
    EXPECT_GT(files, 50);
    EXPECT_GT(boxes, files);
}
