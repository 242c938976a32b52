// `tiledet stream` as a user runs it, on a generated model: ordered JSON Lines per stream,
// annotated MP4s, per-source errors with exit code 1, a live UDP source beside files and a folder.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <utility>
#include <vector>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "bright_box.hpp"
#include "cli_runner.hpp"
#include "stream_fixtures.hpp"
#include "test_paths.hpp"
#include "tiledet/streams/frame_reader.hpp"

using namespace tiledet;
using namespace tiledet::testing;
using namespace tiledet::testing_streams;

namespace {

// Frame indices of each stream's lines, in file order.
std::map<std::string, std::vector<std::int64_t>> frames_by_stream(const fs::path& jsonl) {
    std::map<std::string, std::vector<std::int64_t>> out;
    std::ifstream in(jsonl);
    std::string line;
    while (std::getline(in, line)) {
        // A line still being written (the file is read while the command runs) is not counted.
        const auto j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_discarded()) continue;
        EXPECT_TRUE(j.contains("detections") && j.contains("pts") && j.contains("capture_time") &&
                    j.contains("latency_ms") && j.contains("batch_ids"))
            << line;
        out[j["stream"].get<std::string>()].push_back(j["frame"].get<std::int64_t>());
    }
    return out;
}

std::int64_t count_frames(const fs::path& video) {
    auto r = open_frame_reader(video.string(), {});
    StreamFrame f;
    std::string err;
    std::int64_t n = 0;
    while (r->read(f, err) == ReadStatus::frame) ++n;
    return n;
}

fs::path fresh_dir(const std::string& name) {
    const fs::path d = work_dir() / (std::to_string(::getpid()) + "_" + name);
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
}

}  // namespace

TEST(StreamCli, TwoFilesAndAFolderWriteOrderedJsonLinesAndAnAnnotatedVideoEach) {
    TILEDET_REQUIRE_FFMPEG();
    TILEDET_REQUIRE_GENERATED("yolo_dynamic.onnx");
    const auto clip = moving_square_clip("square30.mp4", 30);
    ASSERT_FALSE(clip.empty());
    const fs::path dir = fresh_dir("cli_a");
    fs::create_directories(dir / "imgs");
    for (int i = 0; i < 3; ++i)
        cv::imwrite((dir / "imgs" / ("i" + std::to_string(i) + ".png")).string(),
                    testing_bright_box::scene(640, 480, {{40 * i, 100, 200, 200}}));
    const auto r =
        run_cli("stream -m " + generated_model("yolo_dynamic.onnx").string() + " --source a=" + clip.string() +
                " --source b=" + clip.string() + " --source imgs=" + (dir / "imgs").string() + " --jsonl " +
                (dir / "out.jsonl").string() + " --annotate " + (dir / "video").string() + " --tile 320");
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find("stream summary"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("mean batch size"), std::string::npos) << r.output;
    const auto frames = frames_by_stream(dir / "out.jsonl");
    ASSERT_EQ(frames.size(), 3u);
    for (const auto& [stream, idx] : frames) {
        ASSERT_EQ(idx.size(), stream == "imgs" ? 3u : 30u) << stream;
        for (std::size_t i = 0; i < idx.size(); ++i) EXPECT_EQ(idx[i], static_cast<std::int64_t>(i)) << stream;
    }
    for (const char* s : {"a", "b"}) {
        ASSERT_TRUE(fs::exists(dir / "video" / (std::string(s) + ".mp4"))) << r.output;
        EXPECT_EQ(count_frames(dir / "video" / (std::string(s) + ".mp4")), 30) << s;
    }
    EXPECT_EQ(count_frames(dir / "video" / "imgs.mp4"), 3);
    fs::remove_all(dir);
}

TEST(StreamCli, AMissingSourceAndATruncatedOneFailWithOneLineEachAndExitOneWhileTheOtherRuns) {
    TILEDET_REQUIRE_FFMPEG();
    TILEDET_REQUIRE_GENERATED("yolo_dynamic.onnx");
    const auto clip = moving_square_clip("square30.mp4", 30);
    ASSERT_FALSE(clip.empty());
    const fs::path dir = fresh_dir("cli_b");
    fs::copy_file(clip, dir / "cut.mp4");
    fs::resize_file(dir / "cut.mp4", fs::file_size(clip) / 2);
    const auto r = run_cli("stream -m " + generated_model("yolo_dynamic.onnx").string() + " --source " +
                           (dir / "nope.mp4").string() + " --source " + (dir / "cut.mp4").string() +
                           " --source ok=" + clip.string() + " --jsonl " + (dir / "out.jsonl").string());
    EXPECT_EQ(r.code, 1) << r.output;
    EXPECT_NE(r.output.find((dir / "nope.mp4").string() + ": no such file"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find((dir / "cut.mp4").string() + ": cannot open"), std::string::npos) << r.output;
    const auto frames = frames_by_stream(dir / "out.jsonl");
    ASSERT_EQ(frames.count("ok"), 1u);
    EXPECT_EQ(frames.at("ok").size(), 30u);
    EXPECT_EQ(frames.size(), 1u);
    fs::remove_all(dir);
}

TEST(StreamCli, ABadPolicyOrNoSourceIsRefusedWithWhatWasExpected) {
    TILEDET_REQUIRE_GENERATED("yolo_dynamic.onnx");
    const std::string m = generated_model("yolo_dynamic.onnx").string();
    auto r = run_cli("stream -m " + m + " --source x.mp4 --policy sometimes");
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_NE(r.output.find("expected every, latest or staleness=S"), std::string::npos) << r.output;
    r = run_cli("stream -m " + m);
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_NE(r.output.find("no sources"), std::string::npos) << r.output;
    // A bad number is named by its flag, with what it expects.
    for (const auto& [args, line] : std::vector<std::pair<std::string, std::string>>{
             {"--max-fps -3", "--max-fps: expected frames per second >= 0 (0: no limit), got -3"},
             {"--io-timeout 0", "--io-timeout: expected seconds from 1e-6 to 1e6, got 0"},
             {"--evict-after 1e300", "--evict-after: expected seconds from 1e-6 to 1e6, got 1e+300"},
             {"--frame-buffer 5000", "--frame-buffer: expected a whole number of frames from 0 to 1024"},
             {"--frames-in-flight 0", "--frames-in-flight: expected a whole number of frames from 1 to 1024, got 0"},
             {"--max-frames=-2", "--max-frames: expected a whole number of frames >= 0 (0: no limit), got -2"},
             {"--max-frames -2", "--max-frames: expected a whole number of frames >= 0 (0: no limit), got -2"}}) {
        r = run_cli("stream -m " + m + " --source x.mp4 " + args);
        EXPECT_EQ(r.code, 2) << args << ": " << r.output;
        EXPECT_NE(r.output.find(line), std::string::npos) << args << ": " << r.output;
    }
}

TEST(StreamCli, FourSourcesAtOnceIncludingALiveUdpStreamForAFixedDuration) {
    TILEDET_REQUIRE_FFMPEG();
    TILEDET_REQUIRE_GENERATED("yolo_dynamic.onnx");
    const auto clip = moving_square_clip("square30.mp4", 30);
    const auto ts = moving_square_clip("square30.ts", 30);
    ASSERT_FALSE(clip.empty());
    ASSERT_FALSE(ts.empty());
    const fs::path dir = fresh_dir("cli_c");
    fs::create_directories(dir / "imgs");
    for (int i = 0; i < 2; ++i)
        cv::imwrite((dir / "imgs" / ("i" + std::to_string(i) + ".png")).string(),
                    testing_bright_box::scene(320, 240, {{10, 10, 50, 50}}));
    const int port = test_port(1);
    Process sender(udp_sender_args(ts, port));
    const auto r =
        run_cli("stream -m " + generated_model("yolo_dynamic.onnx").string() + " --source f1=" + clip.string() +
                " --source f2=" + clip.string() + " --source live=udp://127.0.0.1:" + std::to_string(port) +
                " --source imgs=" + (dir / "imgs").string() + " --duration 4 --jsonl " + (dir / "out.jsonl").string());
    sender.stop();
    EXPECT_EQ(r.code, 0) << r.output;
    const auto frames = frames_by_stream(dir / "out.jsonl");
    EXPECT_EQ(frames.at("f1").size(), 30u);
    EXPECT_EQ(frames.at("f2").size(), 30u);
    EXPECT_EQ(frames.at("imgs").size(), 2u);
    ASSERT_EQ(frames.count("live"), 1u) << r.output;
    EXPECT_GT(frames.at("live").size(), 5u) << r.output;
    for (std::size_t i = 1; i < frames.at("live").size(); ++i)
        EXPECT_GT(frames.at("live")[i], frames.at("live")[i - 1]);
    EXPECT_NE(r.output.find("latest"), std::string::npos) << "the live source's policy in the summary";
    fs::remove_all(dir);
}

TEST(StreamCli, SighupReReadsTheSourcesFileStartingNewLinesAndStoppingRemovedOnes) {
    TILEDET_REQUIRE_FFMPEG();
    TILEDET_REQUIRE_GENERATED("yolo_dynamic.onnx");
    const auto clip = moving_square_clip("square30.mp4", 30);
    ASSERT_FALSE(clip.empty());
    const fs::path dir = fresh_dir("cli_hup");
    const fs::path list = dir / "sources.txt";
    std::ofstream(list) << "# cameras\nfirst=" << clip.string() << "\n";
    Process cli({TILEDET_CLI_PATH, "stream", "-m", generated_model("yolo_dynamic.onnx").string(), "--sources-file",
                 list.string(), "--realtime", "--duration", "8", "--no-progress", "--jsonl",
                 (dir / "out.jsonl").string()});
    // Once `first` has results (its 30 frames take 3 s at 10 fps), swap it for `second`.
    ASSERT_TRUE(
        wait_until([&] { return frames_by_stream(dir / "out.jsonl")["first"].size() >= 3; }, std::chrono::seconds(20)));
    std::ofstream(list) << "second=" << clip.string() << "\n";
    cli.signal(SIGHUP);
    EXPECT_EQ(cli.wait(), 0);
    const auto frames = frames_by_stream(dir / "out.jsonl");
    ASSERT_EQ(frames.count("second"), 1u) << "the new line did not start";
    EXPECT_EQ(frames.at("second").size(), 30u);
    EXPECT_LT(frames.at("first").size(), 30u) << "the removed line was not stopped";
    fs::remove_all(dir);
}

TEST(StreamCli, AFolderWithABadImageNamesItAndSaysHowManyFramesFailedInTheSummary) {
    // The summary once printed an empty "error: " line for such a folder.
    TILEDET_REQUIRE_GENERATED("yolo_dynamic.onnx");
    const fs::path dir = fresh_dir("cli_badimg");
    fs::create_directories(dir / "imgs");
    for (int i = 0; i < 2; ++i)
        cv::imwrite((dir / "imgs" / ("i" + std::to_string(i) + ".png")).string(),
                    testing_bright_box::scene(320, 240, {{40 * i, 50, 100, 100}}));
    std::ofstream(dir / "imgs" / "i2.png") << "not a png";
    const auto r = run_cli("stream -m " + generated_model("yolo_dynamic.onnx").string() + " --source imgs=" +
                           (dir / "imgs").string());
    EXPECT_EQ(r.code, 1) << r.output;
    EXPECT_NE(r.output.find("i2.png: not a decodable image"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("    1 frame(s) could not be read (named above)"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("error: \n"), std::string::npos) << r.output;
    fs::remove_all(dir);
}

TEST(StreamCli, TwoSourcesOfOneNameAreRefusedBeforeEitherStarts) {
    TILEDET_REQUIRE_FFMPEG();
    TILEDET_REQUIRE_GENERATED("yolo_dynamic.onnx");
    const auto clip = moving_square_clip("square30.mp4", 30);
    ASSERT_FALSE(clip.empty());
    const auto r = run_cli("stream -m " + generated_model("yolo_dynamic.onnx").string() + " --source a=" +
                           clip.string() + " --source a=" + clip.string());
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_NE(r.output.find("two sources are named 'a' (a=...): give each --source its own NAME"), std::string::npos)
        << r.output;
    EXPECT_EQ(r.output.find("a: opened"), std::string::npos) << "nothing started: " << r.output;
}
