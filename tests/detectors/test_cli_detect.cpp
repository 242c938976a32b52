// tiledet detect end to end: summaries, JSON records, annotated images, bad inputs that fail
// alone (exit 1), and the family line of tiledet inspect.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "planted_scene.hpp"

namespace {

namespace fs = std::filesystem;

struct CliResult {
    int code = -1;
    std::string out, err;
};

std::string slurp(const fs::path& p) {
    std::ifstream in(p);
    return {std::istreambuf_iterator<char>(in), {}};
}

class CliDetect : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("tiledet_cli_" + std::to_string(::getpid()) + "_" +
                                            ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::create_directories(dir_ / "images");
    }
    void TearDown() override { fs::remove_all(dir_); }

    CliResult run(const std::string& args) const {
        const fs::path err = dir_ / "stderr.txt";
        const std::string cmd = std::string(TILEDET_CLI_PATH) + " " + args + " 2>" + err.string();
        CliResult r;
        FILE* p = popen(cmd.c_str(), "r");
        if (!p) return r;
        std::array<char, 4096> buf{};
        while (fgets(buf.data(), buf.size(), p)) r.out += buf.data();
        const int status = pclose(p);
        r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        r.err = slurp(err);
        return r;
    }
    std::string model(const std::string& name) const { return tiledet::testing::generated_model(name).string(); }
    fs::path dir_;
};

TEST_F(CliDetect, FolderWithBadFilesReportsEachOnceKeepsGoingAndExitsOne) {
    TILEDET_REQUIRE_GENERATED("yolo_dynamic.onnx");
    const auto g = tiledet::testing::generated_entry("yolo_dynamic");
    cv::imwrite((dir_ / "images" / "a.png").string(), tiledet::testing::paint_scene(g, tiledet::testing::kSceneA));
    cv::imwrite((dir_ / "images" / "c.png").string(), tiledet::testing::paint_scene(g, tiledet::testing::kSceneB));
    std::ofstream(dir_ / "images" / "b.jpg") << "not an image";
    std::ofstream(dir_ / "images" / "empty.png");
    const fs::path json = dir_ / "out.json";
    const fs::path ann = dir_ / "annotated";
    const auto r = run("detect --model " + model("yolo_dynamic.onnx") + " " + (dir_ / "images").string() + " --json " +
                       json.string() + " --annotate " + ann.string());
    EXPECT_EQ(r.code, 1) << r.out << r.err;
    EXPECT_NE(r.out.find("a.png 640x640: 1 car, 1 dog, 1 person"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("c.png 640x640"), std::string::npos) << r.out;
    EXPECT_NE(r.err.find("b.jpg: not a decodable image"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("empty.png: empty file"), std::string::npos) << r.err;

    const auto j = nlohmann::json::parse(slurp(json));
    EXPECT_EQ(j["family"], "yolo");
    ASSERT_EQ(j["images"].size(), 4u);
    const auto& a = j["images"][0];
    EXPECT_EQ(fs::path(a["file"].get<std::string>()).filename(), "a.png");
    EXPECT_EQ(a["width"], 640);
    EXPECT_EQ(a["height"], 640);
    ASSERT_EQ(a["detections"].size(), 3u);
    const auto& top = a["detections"][0];
    EXPECT_EQ(top["class_name"], "person");
    EXPECT_EQ(top["class_id"], 0);
    EXPECT_NEAR(top["score"].get<double>(), 230 / 255.0, 1e-4);
    EXPECT_NEAR(top["box"][0].get<double>(), 96.0, 0.05);
    EXPECT_NEAR(top["box"][3].get<double>(), 448.0, 0.05);
    EXPECT_TRUE(a["timings_ms"].contains("inference"));
    EXPECT_TRUE(j["images"][1].contains("error"));
    EXPECT_TRUE(fs::exists(ann / "a.png"));
    EXPECT_TRUE(fs::exists(ann / "c.png"));
    EXPECT_FALSE(fs::exists(ann / "b.jpg"));
}

TEST_F(CliDetect, AllGoodInputsExitZeroAndOptionsReachTheDecoder) {
    TILEDET_REQUIRE_GENERATED("yolo_dynamic.onnx");
    const auto g = tiledet::testing::generated_entry("yolo_dynamic");
    const fs::path img = dir_ / "images" / "a.png";
    cv::imwrite(img.string(), tiledet::testing::paint_scene(g, tiledet::testing::kSceneA));
    const auto r = run("detect -m " + model("yolo_dynamic.onnx") + " " + img.string() + " --classes 2,16 --conf 0.6");
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("1 car"), std::string::npos) << r.out;  // dog (140/255 = 0.55) is under 0.6
    EXPECT_EQ(r.out.find("person"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("dog"), std::string::npos) << r.out;
}

TEST_F(CliDetect, UnknownLayoutIsABadModelExitTwo) {
    TILEDET_REQUIRE_GENERATED("no_batch_axis.onnx");
    cv::imwrite((dir_ / "images" / "a.png").string(), cv::Mat(8, 8, CV_8UC3, cv::Scalar::all(1)));
    const auto r = run("detect -m " + model("no_batch_axis.onnx") + " " + (dir_ / "images").string());
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("no detector family matches"), std::string::npos) << r.err;
}

TEST_F(CliDetect, MissingInputPathFailsThatInputOnly) {
    TILEDET_REQUIRE_GENERATED("yolo_dynamic.onnx");
    cv::imwrite((dir_ / "images" / "a.png").string(), cv::Mat(8, 8, CV_8UC3, cv::Scalar::all(1)));
    const auto r = run("detect -m " + model("yolo_dynamic.onnx") + " " + (dir_ / "nope.jpg").string() + " " +
                       (dir_ / "images" / "a.png").string());
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.out.find("a.png 8x8"), std::string::npos) << r.out;
}

TEST_F(CliDetect, NoUsableInputFailsAtOnceWithoutLoadingTheModel) {
    TILEDET_REQUIRE_GENERATED("yolo_dynamic.onnx");
    fs::create_directories(dir_ / "empty");
    const auto r = run("detect -m " + model("yolo_dynamic.onnx") + " " + (dir_ / "empty").string() + " " +
                       (dir_ / "nope.jpg").string());
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("a folder with no image files"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("nope.jpg"), std::string::npos) << r.err;
    // No configuration was measured for images that are not there.
    EXPECT_EQ(r.err.find("model:"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("config:"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("measured"), std::string::npos) << r.err;
    // A bad model still wins: its one line and exit 2.
    const auto bad = run("detect -m " + (dir_ / "nope.onnx").string() + " " + (dir_ / "empty").string());
    EXPECT_EQ(bad.code, 2);
    EXPECT_NE(bad.err.find("nope.onnx: cannot open"), std::string::npos) << bad.err;
}

// Two inputs of one file name (a/x.png and b/x.png, or one file given twice) are annotated into
// distinct files, in input order, and one line says so (a review found one overwriting the other).
TEST_F(CliDetect, AnnotatingInputsOfOneNameKeepsEveryOne) {
    TILEDET_REQUIRE_GENERATED("yolo_dynamic.onnx");
    fs::create_directories(dir_ / "a");
    fs::create_directories(dir_ / "b");
    cv::imwrite((dir_ / "a" / "x.png").string(), cv::Mat(8, 8, CV_8UC3, cv::Scalar::all(10)));
    cv::imwrite((dir_ / "b" / "x.png").string(), cv::Mat(12, 10, CV_8UC3, cv::Scalar::all(200)));
    cv::imwrite((dir_ / "b" / "x-2.png").string(), cv::Mat(6, 6, CV_8UC3, cv::Scalar::all(100)));
    const auto r = run("detect -m " + model("yolo_dynamic.onnx") + " " + (dir_ / "a" / "x.png").string() + " " +
                       (dir_ / "b" / "x.png").string() + " " + (dir_ / "b" / "x-2.png").string() + " " +
                       (dir_ / "a" / "x.png").string() + " --annotate " + (dir_ / "out").string());
    EXPECT_EQ(r.code, 0) << r.err;
    // b/x.png skips x-2.png (another input's own name); the second a/x.png takes x-4.png.
    const cv::Mat first = cv::imread((dir_ / "out" / "x.png").string());
    const cv::Mat second = cv::imread((dir_ / "out" / "x-3.png").string());
    const cv::Mat own = cv::imread((dir_ / "out" / "x-2.png").string());
    const cv::Mat again = cv::imread((dir_ / "out" / "x-4.png").string());
    ASSERT_FALSE(first.empty() || second.empty() || own.empty() || again.empty()) << r.err;
    EXPECT_EQ(first.size(), cv::Size(8, 8));
    EXPECT_EQ(second.size(), cv::Size(10, 12));
    EXPECT_EQ(own.size(), cv::Size(6, 6));
    EXPECT_EQ(again.size(), cv::Size(8, 8));
    EXPECT_NE(r.err.find("note: --annotate: 2 inputs share their file name with an earlier one"), std::string::npos)
        << r.err;
}

TEST_F(CliDetect, OutputsThatCannotBeWrittenAreErrorsNotExitZero) {
    // --jsonl /dev/full lost every line and exited 0; --annotate naming a file gave a raw
    // std::filesystem error.
    TILEDET_REQUIRE_GENERATED("yolo_dynamic.onnx");
    const fs::path img = dir_ / "images" / "a.png";
    cv::imwrite(img.string(), cv::Mat(8, 8, CV_8UC3, cv::Scalar::all(1)));
    if (fs::exists("/dev/full")) {
        const auto r = run("detect -m " + model("yolo_dynamic.onnx") + " " + img.string() + " --jsonl /dev/full");
        EXPECT_EQ(r.code, 2) << r.out << r.err;
        EXPECT_NE(r.err.find("/dev/full: writing the JSON Lines results failed (the disk is full, or the reader went "
                             "away): results were lost"),
                  std::string::npos)
            << r.err;
    }
    const auto r = run("detect -m " + model("yolo_dynamic.onnx") + " " + img.string() + " --annotate " + img.string());
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_NE(r.err.find(img.string() + ": is a file; --annotate expects a folder to write annotated images into"),
              std::string::npos)
        << r.err;
}

TEST_F(CliDetect, APipeGivenAsTheModelIsRefusedInsteadOfWaitedOn) {
    const fs::path fifo = dir_ / "model.onnx";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    const auto r = run("inspect " + fifo.string());
    EXPECT_EQ(r.code, 2) << r.out << r.err;
    EXPECT_NE(r.err.find("model.onnx: not a regular file (a pipe, socket or device); expected an .onnx file"),
              std::string::npos)
        << r.err;
}

TEST_F(CliDetect, InspectPrintsTheFamilyAndWhy) {
    TILEDET_REQUIRE_GENERATED("rfdetr_static.onnx");
    const auto r = run("inspect " + model("rfdetr_static.onnx"));
    EXPECT_EQ(r.code, 0);
    EXPECT_NE(r.out.find("family: rfdetr ("), std::string::npos) << r.out;
    const auto j = run("inspect --json " + model("rfdetr_static.onnx"));
    EXPECT_EQ(nlohmann::json::parse(j.out)["family"], "rfdetr");
}

TEST_F(CliDetect, InspectOfAModelMatchingNoFamilySaysUnknownAndExitsZero) {
    TILEDET_REQUIRE_GENERATED("no_batch_axis.onnx");
    const auto r = run("inspect " + model("no_batch_axis.onnx"));
    EXPECT_EQ(r.code, 0);
    EXPECT_NE(r.out.find("family: unknown ("), std::string::npos) << r.out;
}

TEST_F(CliDetect, InspectShowsTheGridEvidenceThatMakesA3549RowModelYolox) {
    TILEDET_REQUIRE_GENERATED("yolox_static.onnx");
    const auto r = run("inspect " + model("yolox_static.onnx"));
    EXPECT_EQ(r.code, 0);
    EXPECT_NE(r.out.find("family: yolox ("), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("3549 rows = the grid cells of a 416x416 input"), std::string::npos) << r.out;
    const auto j = run("inspect --json " + model("yolox_static.onnx"));
    EXPECT_EQ(nlohmann::json::parse(j.out)["family"], "yolox");
}

}  // namespace
