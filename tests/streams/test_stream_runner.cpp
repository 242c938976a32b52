// StreamRunner over a fake YOLO-layout backend that "detects" bright rectangles (tests/pipeline/
// bright_box.hpp): on the moving-square clips every frame's box is known, so order, loss and
// drops are checked frame by frame.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <fstream>
#include <map>
#include <mutex>
#include <opencv2/imgcodecs.hpp>
#include <optional>
#include <set>
#include <tuple>
#include <sstream>
#include <limits>

#include "bright_box.hpp"
#include "stream_fixtures.hpp"
#include "tiledet/io/image.hpp"
#include "tiledet/streams/stream_json.hpp"
#include "tiledet/streams/stream_runner.hpp"

using namespace tiledet;
using namespace tiledet::testing_bright_box;
using namespace tiledet::testing_streams;

namespace {

PipelineOptions options(TileMode mode = TileMode::none) {
    PipelineOptions o;
    o.tile_mode = mode;
    o.batching.probe_dynamic_batch = false;
    o.log = [](LogLevel, std::string_view) {};
    return o;
}

// Everything a runner delivered, by stream, in delivery order; and its events.
struct Collected {
    std::mutex mu;
    std::map<std::string, std::vector<StreamResult>> results;
    std::vector<SourceEvent> events;

    StreamRunnerOptions runner_options(bool keep_frames = false) {
        StreamRunnerOptions o;
        o.keep_frames = keep_frames;
        o.on_result = [this](StreamResult&& r) {
            std::lock_guard lk(mu);
            results[r.stream].push_back(std::move(r));
        };
        o.on_event = [this](const SourceEvent& e) {
            std::lock_guard lk(mu);
            events.push_back(e);
        };
        return o;
    }
    std::size_t count(const std::string& s) {
        std::lock_guard lk(mu);
        return results[s].size();
    }
    bool saw(SourceEvent::Kind k, const std::string& s) {
        std::lock_guard lk(mu);
        for (const auto& e : events)
            if (e.kind == k && e.stream == s) return true;
        return false;
    }
};

StreamStats stats_of(const StreamRunner& r, const std::string& id) {
    for (const auto& s : r.stats())
        if (s.stream == id) return s;
    ADD_FAILURE() << "no stats for " << id;
    return {};
}

// The frame's one box is the square of frame n (codec edges blur by a pixel or two).
void expect_square_of_frame(const StreamResult& r, std::int64_t n) {
    ASSERT_EQ(r.result.detections.size(), 1u) << r.stream << " frame " << r.frame_index;
    const auto& b = r.result.detections[0].box;
    EXPECT_NEAR(b.x1, kStartX + kStepX * n, 3) << r.stream << " frame " << r.frame_index;
    EXPECT_NEAR(b.y1, kY, 3);
    EXPECT_NEAR(b.x2 - b.x1, kSquare, 4);
}

}  // namespace

TEST(FramePolicy, ParsesEveryLatestAndStalenessAndRefusesAnythingElse) {
    EXPECT_EQ(FramePolicy::parse("every").kind, FramePolicy::Kind::every);
    EXPECT_EQ(FramePolicy::parse("latest").kind, FramePolicy::Kind::latest);
    const FramePolicy s = FramePolicy::parse("staleness=0.25");
    EXPECT_EQ(s.kind, FramePolicy::Kind::staleness);
    EXPECT_DOUBLE_EQ(s.staleness_s, 0.25);
    EXPECT_EQ(s.str(), "staleness=0.25");
    for (const char* bad : {"", "all", "staleness=", "staleness=-1", "staleness=0", "staleness=1x", "staleness=nan",
                            "staleness=inf", "staleness=1e300", "staleness=1e-9"}) {
        try {
            FramePolicy::parse(bad);
            ADD_FAILURE() << "accepted '" << bad << "'";
        } catch (const OptionError& e) {
            EXPECT_NE(std::string(e.what()).find("expected"), std::string::npos) << e.what();
        }
    }
}

TEST(SourceSpec, NameEqualsUrlNamesTheStreamButAUrlsOwnEqualsSignDoesNot) {
    EXPECT_EQ(split_source_spec("cam1=rtsp://10.0.0.5/live"), std::make_pair(std::string("cam1"), std::string("rtsp://10.0.0.5/live")));
    EXPECT_EQ(split_source_spec("rtsp://10.0.0.5/live?a=b"), std::make_pair(std::string(), std::string("rtsp://10.0.0.5/live?a=b")));
    EXPECT_EQ(split_source_spec("clip.mp4"), std::make_pair(std::string(), std::string("clip.mp4")));
    EXPECT_EQ(split_source_spec("dir/x=y.mp4"), std::make_pair(std::string(), std::string("dir/x=y.mp4")));
    EXPECT_EQ(split_source_spec("=clip.mp4"), std::make_pair(std::string(), std::string("=clip.mp4")));
    EXPECT_EQ(split_source_spec("name="), std::make_pair(std::string(), std::string("name=")));
}

TEST(SourceSpec, ASourcesListSkipsBlankLinesAndCommentsAndTrimsTheRest) {
    std::istringstream in("# cameras\n\n  cam1=rtsp://a/b \r\n\t# off=udp://x\nclip.mp4\n   \n");
    EXPECT_EQ(parse_sources_list(in), (std::vector<std::string>{"cam1=rtsp://a/b", "clip.mp4"}));
}

TEST(SourceSpec, ASourcesListLineThatIsNotTextIsRefusedWithoutEchoingIt) {
    // 2000 random bytes given as --sources-file became sources, and their bytes reached the terminal.
    std::istringstream in("clip.mp4\n\x1b[2J\xff\xfe\x01garbage\n");
    try {
        (void)parse_sources_list(in);
        FAIL() << "binary lines were taken as sources";
    } catch (const InputError& e) {
        const std::string m = e.what();
        EXPECT_NE(m.find("line 2 of the sources list is not text (control bytes or invalid UTF-8: "
                         "'\\x1B[2J\\xFF\\xFE\\x01garbage')"),
                  std::string::npos)
            << m;
        EXPECT_EQ(m.find('\x1b'), std::string::npos) << m;
    }
    std::istringstream utf8("caméra=rtsp://cam/1\r\n");  // text in UTF-8, a CRLF line end
    EXPECT_EQ(parse_sources_list(utf8), std::vector<std::string>{"caméra=rtsp://cam/1"});
}

TEST(StreamRunner, DurationsThatWouldOverflowTheClocksAreRefusedByName) {
    Pipeline p(one_backend(), yolo_signature(), options());
    StreamRunner runner(p, {});
    const auto refused = [&](SourceOptions o, const std::string& name) {
        try {
            runner.add_source(std::move(o));
            ADD_FAILURE() << "accepted " << name;
        } catch (const OptionError& e) {
            EXPECT_EQ(e.option(), name) << e.what();
        }
    };
    SourceOptions o{.id = "x", .url = "clip.mp4"};
    o.reader.io_timeout_s = 1e300;
    refused(o, "io_timeout_s");
    try {
        runner.add_source(o);
    } catch (const OptionError& e) {
        EXPECT_EQ(std::string(e.what()), "io_timeout_s: must be from 1e-6 to 1e6 seconds, got 1e+300");
    }
    o = {.id = "x", .url = "clip.mp4"};
    o.reconnect_max_s = std::numeric_limits<double>::infinity();
    refused(o, "reconnect_max_s");
    o = {.id = "x", .url = "clip.mp4"};
    o.policy = FramePolicy{FramePolicy::Kind::staleness, 1e300};
    refused(o, "policy staleness");
    o = {.id = "x", .url = "clip.mp4"};
    o.max_fps = std::nan("");
    refused(o, "max_fps");
}

TEST(StreamRunner, FramesOverThePixelLimitFailTheirSourceFromTheHeaderWhileTheOthersRun) {
    TILEDET_REQUIRE_FFMPEG();
    const auto clip = moving_square_clip("square30.mp4", 30);
    ASSERT_FALSE(clip.empty());
    PipelineOptions po = options();
    Pipeline p(one_backend(), yolo_signature(), po);
    Collected c;
    StreamRunner runner(p, c.runner_options());
    SourceOptions big{.id = "big", .url = clip.string()};
    big.reader.max_pixels = 1000;  // the clip's frames are far larger
    runner.add_source(big);
    runner.add_source({.id = "good", .url = clip.string()});
    runner.wait();
    const StreamStats bs = stats_of(runner, "big"), gs = stats_of(runner, "good");
    EXPECT_EQ(bs.state, "failed");
    EXPECT_EQ(bs.decoded, 0u) << "refused from the header, before a frame was decoded";
    EXPECT_NE(bs.error.find("limits.max_image_pixels (1000)"), std::string::npos) << bs.error;
    EXPECT_NE(bs.error.find("--max-image-pixels"), std::string::npos) << bs.error;
    EXPECT_EQ(gs.state, "ended");
    EXPECT_EQ(gs.processed, 30u);
}

TEST(StreamRunner, ThePipelinesPixelLimitAppliesToVideoFrames) {
    TILEDET_REQUIRE_FFMPEG();
    const auto clip = moving_square_clip("square30.mp4", 30);
    ASSERT_FALSE(clip.empty());
    PipelineOptions po = options();
    po.limits.max_image_pixels = 1000;
    Pipeline p(one_backend(), yolo_signature(), po);
    Collected c;
    StreamRunner runner(p, c.runner_options());
    runner.add_source({.id = "clip", .url = clip.string()});
    runner.wait();
    const StreamStats cs = stats_of(runner, "clip");
    EXPECT_EQ(cs.state, "failed");
    EXPECT_NE(cs.error.find("limits.max_image_pixels (1000)"), std::string::npos) << cs.error;
}

TEST(FrameReader, FramesOfAnyWidthLeaveRoomForSwscalesBlockWritesAndKeepTheirColour) {
    // swscale's SIMD YUV-to-BGR writes whole 16-pixel blocks: up to 45 bytes past the last row of
    // a frame whose width is not a multiple of 16, which an exact-size buffer does not have (the
    // heap corruption fuzz_streams found). yuv420p frames 58, 56 and 6 wide overran by 18, 24 and
    // 30 bytes there (FFmpeg 5.1).
    TILEDET_REQUIRE_FFMPEG();
    for (const int w : {58, 56, 6}) {
        const fs::path clip = work_dir() / ("red_" + std::to_string(w) + ".mkv");
        const std::string cmd = "ffmpeg -nostdin -loglevel error -y -f lavfi -i color=c=0xff0000:s=" +
                                std::to_string(w) + "x10:r=5 -frames:v 3 -pix_fmt yuv420p -c:v ffv1 '" +
                                clip.string() + "'";
        ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
        auto reader = open_frame_reader(clip.string(), ReaderOptions{});
        std::string error;
        int frames = 0;
        StreamFrame f;
        while (reader->read(f, error) == ReadStatus::frame) {
            ++frames;
            ASSERT_EQ(f.bgr.cols, w);
            ASSERT_EQ(f.bgr.rows, 10);
            EXPECT_TRUE(f.bgr.isContinuous());
            cv::Size whole;
            cv::Point offset;
            f.bgr.locateROI(whole, offset);  // the matrix the frame's rows were taken from
            EXPECT_EQ(offset, cv::Point(0, 0));
            EXPECT_GE(static_cast<std::size_t>(whole.height - f.bgr.rows) * f.bgr.step[0], 256u) << "width " << w;
            const cv::Vec3b px = f.bgr.at<cv::Vec3b>(9, w - 1);  // the last pixel: BGR of pure red
            EXPECT_LE(px[0], 8);
            EXPECT_LE(px[1], 8);
            EXPECT_GE(px[2], 245);
        }
        EXPECT_EQ(frames, 3) << error;
    }
}

TEST(FrameReader, AFrameThatGrowsPastThePixelLimitMidStreamFailsTheSourceByNameInsteadOfEndingIt) {
    // 60 frames of 320x240, then 5 of 1280x720 in one MPEG-TS: FFmpeg's own size check refuses the
    // big frames' packets, which were skipped as damage and the file "ended" after 5 frames.
    TILEDET_REQUIRE_FFMPEG();
    const fs::path a = work_dir() / "grow_a.ts", b = work_dir() / "grow_b.ts", both = work_dir() / "grow.ts";
    // The small part is 12 s long, so that FFmpeg's probing (5 s) sees only 320x240.
    for (const auto& [out, size, n] : {std::tuple{a, "320x240", 60}, std::tuple{b, "1280x720", 5}}) {
        const std::string cmd = "ffmpeg -nostdin -loglevel error -y -f lavfi -i testsrc=s=" + std::string(size) +
                                ":r=5 -frames:v " + std::to_string(n) + " -c:v libx264 -preset ultrafast -f mpegts '" +
                                out.string() + "'";
        ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    }
    ASSERT_EQ(std::system(("cat '" + a.string() + "' '" + b.string() + "' > '" + both.string() + "'").c_str()), 0);
    ReaderOptions o;
    o.max_pixels = 100000;
    auto reader = open_frame_reader(both.string(), o);
    std::string error;
    StreamFrame f;
    int frames = 0;
    ReadStatus st;
    while ((st = reader->read(f, error)) == ReadStatus::frame) ++frames;
    EXPECT_EQ(frames, 60);
    ASSERT_EQ(st, ReadStatus::error) << error;
    EXPECT_NE(error.find("a frame of 1280x720 = 921600 pixels, over limits.max_image_pixels (100000)"),
              std::string::npos)
        << error;
    // Without the limit every frame is read.
    auto all = open_frame_reader(both.string(), ReaderOptions{.max_pixels = 0});
    frames = 0;
    while (all->read(f, error) == ReadStatus::frame) ++frames;
    EXPECT_EQ(frames, 65);
}

TEST(FrameReader, FramesUnderThePixelLimitAreReadWhateverPaddingTheDecoderAllocates) {
    // mpeg2video's buffers are padded: FFmpeg's max_pixels set to the limit itself refused every
    // packet of this 76,800-pixel clip at a limit of 100,000, and the file "ended" with 0 frames.
    TILEDET_REQUIRE_FFMPEG();
    const fs::path clip = work_dir() / "small_mpeg2.mpg";
    const std::string cmd = "ffmpeg -nostdin -loglevel error -y -f lavfi -i testsrc=s=320x240:r=5 -frames:v 5 "
                            "-c:v mpeg2video '" + clip.string() + "'";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    for (const std::int64_t limit : {76800, 100000}) {
        auto reader = open_frame_reader(clip.string(), ReaderOptions{.max_pixels = limit});
        std::string error;
        StreamFrame f;
        int frames = 0;
        ReadStatus st;
        while ((st = reader->read(f, error)) == ReadStatus::frame) ++frames;
        EXPECT_EQ(frames, 5) << "limit " << limit;
        EXPECT_EQ(st, ReadStatus::end);
        EXPECT_EQ(error, "") << "nothing was skipped";
    }
}

TEST(FrameReader, PacketsTheDecoderRefusedAreNamedAtTheEnd) {
    // An MJPEG AVI whose 4th, 5th and 6th JPEGs lost their first 400 bytes: the decoder refuses
    // those three packets; the others are read, and the end says what was skipped.
    TILEDET_REQUIRE_FFMPEG();
    const fs::path clip = work_dir() / "mjpeg10.avi";
    const std::string cmd = "ffmpeg -nostdin -loglevel error -y -f lavfi -i testsrc=s=160x120:r=5 -frames:v 10 "
                            "-c:v mjpeg '" + clip.string() + "'";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    std::ifstream in(clip, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::size_t> soi;
    for (std::size_t i = 0; i + 1 < bytes.size(); ++i)
        if (static_cast<unsigned char>(bytes[i]) == 0xFF && static_cast<unsigned char>(bytes[i + 1]) == 0xD8)
            soi.push_back(i);
    ASSERT_EQ(soi.size(), 10u);
    for (const int k : {3, 4, 5}) std::fill_n(bytes.begin() + static_cast<std::ptrdiff_t>(soi[k]), 400, 'Z');
    const fs::path damaged = work_dir() / "mjpeg10_damaged.avi";
    std::ofstream(damaged, std::ios::binary) << bytes;
    auto reader = open_frame_reader(damaged.string(), ReaderOptions{});
    std::string error;
    StreamFrame f;
    ReadStatus st;
    int frames = 0;
    while ((st = reader->read(f, error)) == ReadStatus::frame) ++frames;
    EXPECT_EQ(frames, 7);
    ASSERT_EQ(st, ReadStatus::end) << error;
    EXPECT_NE(error.find("3 packet(s) could not be decoded and were skipped (last: Invalid data"), std::string::npos)
        << error;
}

TEST(SourceKind, FromTheAddress) {
    EXPECT_EQ(source_kind("rtsp://10.0.0.2/live"), SourceKind::network);
    EXPECT_EQ(source_kind("udp://127.0.0.1:5000"), SourceKind::network);
    EXPECT_EQ(source_kind("/dev/video0"), SourceKind::device);
    EXPECT_EQ(source_kind("clip.mp4"), SourceKind::file);
}


// libavdevice is loaded when the first /dev/videoN source opens (it is not linked): a camera that
// is not there must fail as FFmpeg's V4L2 input says (the device could not be opened), which
// needs that input registered; an unloaded libavdevice would fail as "no video4linux2 input" or
// name libavdevice instead.
TEST(FrameReader, ACameraThatIsNotThereFailsInFfmpegsV4l2InputWithLibavdeviceLoadedOnDemand) {
    std::error_code ec;
    ASSERT_FALSE(std::filesystem::exists("/dev/video97", ec));
    try {
        open_frame_reader("/dev/video97", ReaderOptions{.io_timeout_s = 2});
        FAIL() << "a missing camera opened";
    } catch (const InputError& e) {
        const std::string what = e.what();
        EXPECT_EQ(what.find("video4linux2 input"), std::string::npos) << what;
        EXPECT_EQ(what.find("libavdevice"), std::string::npos) << what;
        EXPECT_NE(what.find("/dev/video97: cannot open: "), std::string::npos) << what;
        EXPECT_NE(what.find("No such file or directory"), std::string::npos) << what;
    }
}
TEST(StreamRunner, EveryPolicyDeliversEveryFrameOfAFileInOrderWithItsOwnBox) {
    TILEDET_REQUIRE_FFMPEG();
    const auto clip = moving_square_clip("square30.mp4", 30);
    ASSERT_FALSE(clip.empty());
    Pipeline p(one_backend(), yolo_signature(), options());
    Collected c;
    {
        StreamRunner runner(p, c.runner_options());
        const std::string id = runner.add_source({.id = "a", .url = clip.string()});
        EXPECT_EQ(id, "a");
        runner.wait();
        const StreamStats s = stats_of(runner, "a");
        EXPECT_EQ(s.state, "ended");
        EXPECT_EQ(s.policy.kind, FramePolicy::Kind::every) << "a file defaults to every";
        EXPECT_EQ(s.decoded, 30u);
        EXPECT_EQ(s.processed, 30u);
        EXPECT_EQ(s.dropped(), 0u);
        EXPECT_GT(s.latency_p99_ms, 0);
    }
    ASSERT_EQ(c.results["a"].size(), 30u);
    for (std::size_t i = 0; i < 30; ++i) {
        const StreamResult& r = c.results["a"][i];
        EXPECT_EQ(r.frame_index, static_cast<std::int64_t>(i));
        EXPECT_NEAR(r.pts_s, i / 10.0, 1e-6);
        EXPECT_NEAR(r.source_fps, 10, 1e-6);
        expect_square_of_frame(r, static_cast<std::int64_t>(i));
    }
}

TEST(StreamRunner, AnMpegTsFilesPtsCountFromItsStart) {
    TILEDET_REQUIRE_FFMPEG();
    const auto ts = moving_square_clip("square30.ts", 30);
    ASSERT_FALSE(ts.empty());
    Pipeline p(one_backend(), yolo_signature(), options());
    Collected c;
    StreamRunner runner(p, c.runner_options());
    runner.add_source({.id = "ts", .url = ts.string(), .max_frames = 5});
    runner.wait();
    ASSERT_EQ(c.results["ts"].size(), 5u);
    for (int i = 0; i < 5; ++i) EXPECT_NEAR(c.results["ts"][i].pts_s, i / 10.0, 1e-6) << "MPEG-TS starts at 1.4 s";
}

TEST(StreamRunner, FramesOfSeveralStreamsShareBatchesAndEachFramesTilesShareOne) {
    TILEDET_REQUIRE_FFMPEG();
    const auto clip = moving_square_clip("square30.mp4", 30);
    ASSERT_FALSE(clip.empty());
    PipelineOptions o = options(TileMode::fixed);
    o.tiles.tile_w = o.tiles.tile_h = 320;  // 640x640 frames, overlap 0.2: 3x3 tiles
    o.batching.max_batch_size = 32;
    o.batching.max_queue_delay = std::chrono::milliseconds(20);
    o.batching.instances = 1;
    Pipeline p(one_backend(std::chrono::milliseconds(15)), yolo_signature(), o);
    Collected c;
    {
        StreamRunner runner(p, c.runner_options());
        for (const char* id : {"a", "b", "c"}) runner.add_source({.id = id, .url = clip.string()});
        runner.wait();
    }
    std::map<std::uint64_t, std::set<std::string>> streams_of_batch;
    for (const char* id : {"a", "b", "c"}) {
        ASSERT_EQ(c.results[id].size(), 30u) << id;
        for (std::size_t i = 0; i < 30; ++i) {
            const StreamResult& r = c.results[id][i];
            EXPECT_EQ(r.frame_index, static_cast<std::int64_t>(i)) << id;
            ASSERT_GT(r.result.tiles.size(), 1u);
            std::set<std::uint64_t> ids;
            for (const auto& t : r.result.tiles) ids.insert(t.batch_id);
            EXPECT_EQ(ids.size(), 1u) << id << " frame " << i << ": its tiles were split over batches";
            streams_of_batch[*ids.begin()].insert(id);
            // The merged box is still the square (tiles' parts merged).
            ASSERT_GE(r.result.detections.size(), 1u);
            EXPECT_NEAR(r.result.detections[0].box.x1, kStartX + kStepX * static_cast<double>(i), 3);
        }
    }
    std::size_t mixed = 0;
    for (const auto& [batch, streams] : streams_of_batch) mixed += streams.size() > 1;
    EXPECT_GT(mixed, 0u) << "no batch held tiles of two streams";
}

TEST(StreamRunner, LatestPolicyDropsOldestFramesAndCountsThemWhenTheModelIsSlow) {
    TILEDET_REQUIRE_FFMPEG();
    const auto clip = moving_square_clip("square30.mp4", 30);
    ASSERT_FALSE(clip.empty());
    Pipeline p(one_backend(std::chrono::milliseconds(40)), yolo_signature(), options());
    Collected c;
    StreamRunner runner(p, c.runner_options());
    runner.add_source(
        {.id = "a", .url = clip.string(), .policy = FramePolicy::parse("latest"), .max_frames_in_flight = 1});
    runner.wait();
    const StreamStats s = stats_of(runner, "a");
    EXPECT_EQ(s.decoded, 30u);
    EXPECT_GT(s.drops.count(drop_cause::superseded) ? s.drops.at(drop_cause::superseded) : 0u, 0u);
    EXPECT_EQ(s.processed + s.dropped(), s.decoded) << "every decoded frame is processed or counted as dropped";
    EXPECT_EQ(c.results["a"].size(), s.processed);
    std::int64_t last = -1;
    for (const auto& r : c.results["a"]) {
        EXPECT_GT(r.frame_index, last);
        last = r.frame_index;
        expect_square_of_frame(r, r.frame_index);
    }
    EXPECT_EQ(last, 29) << "the newest frame is never the one dropped";
}

TEST(StreamRunner, StalenessPolicyDropsFramesOlderThanTheBudgetAndCountsThem) {
    TILEDET_REQUIRE_FFMPEG();
    const auto clip = moving_square_clip("square30.mp4", 30);
    ASSERT_FALSE(clip.empty());
    Pipeline p(one_backend(std::chrono::milliseconds(60)), yolo_signature(), options());
    Collected c;
    StreamRunner runner(p, c.runner_options());
    runner.add_source({.id = "a", .url = clip.string(), .policy = FramePolicy::parse("staleness=0.15"), .buffer = 30});
    runner.wait();
    const StreamStats s = stats_of(runner, "a");
    EXPECT_EQ(s.decoded, 30u);
    EXPECT_GT(s.drops.count(drop_cause::stale) ? s.drops.at(drop_cause::stale) : 0u, 0u);
    EXPECT_EQ(s.processed + s.dropped(), s.decoded);
    EXPECT_GT(s.processed, 0u);
    std::int64_t last = -1;
    for (const auto& r : c.results["a"]) {
        EXPECT_GT(r.frame_index, last);
        last = r.frame_index;
        expect_square_of_frame(r, r.frame_index);
    }
}

TEST(StreamRunner, MaxFpsKeepsOneFrameInTwoOfATenFpsFileAtFive) {
    TILEDET_REQUIRE_FFMPEG();
    const auto clip = moving_square_clip("square30.mp4", 30);
    ASSERT_FALSE(clip.empty());
    Pipeline p(one_backend(), yolo_signature(), options());
    Collected c;
    StreamRunner runner(p, c.runner_options());
    runner.add_source({.id = "a", .url = clip.string(), .max_fps = 5});
    runner.wait();
    const StreamStats s = stats_of(runner, "a");
    EXPECT_EQ(s.processed, 15u);
    EXPECT_EQ(s.drops.at(drop_cause::max_fps), 15u);
    for (std::size_t i = 0; i < c.results["a"].size(); ++i)
        EXPECT_EQ(c.results["a"][i].frame_index, static_cast<std::int64_t>(2 * i));
}

TEST(StreamRunner, MaxFpsStartsAgainWhenThePtsStartOver) {
    TILEDET_REQUIRE_FFMPEG();
    // Two copies of an MPEG-TS clip back to back: the PTS of the second start over (as a
    // restarted sender's do). Each half keeps one frame in two.
    const auto ts = moving_square_clip("square30.ts", 30);
    ASSERT_FALSE(ts.empty());
    const fs::path twice = work_dir() / (std::to_string(::getpid()) + "_twice.ts");
    ASSERT_EQ(std::system(("cat '" + ts.string() + "' '" + ts.string() + "' > '" + twice.string() + "'").c_str()), 0);
    Pipeline p(one_backend(), yolo_signature(), options());
    Collected c;
    StreamRunner runner(p, c.runner_options());
    runner.add_source({.id = "a", .url = twice.string(), .policy = FramePolicy::parse("every"), .max_fps = 5});
    runner.wait();
    const StreamStats s = stats_of(runner, "a");
    EXPECT_EQ(s.decoded, 60u);
    EXPECT_EQ(s.processed, 30u) << "frames after the PTS started over were all dropped";
    EXPECT_EQ(s.drops.at(drop_cause::max_fps), 30u);
    fs::remove(twice);
}

TEST(StreamRunner, AnFfmpegOptionNoPartOfTheInputTookIsWarnedAboutOnceByName) {
    TILEDET_REQUIRE_FFMPEG();
    const auto clip = moving_square_clip("square30.mp4", 30);
    ASSERT_FALSE(clip.empty());
    Pipeline p(one_backend(), yolo_signature(), options());
    Collected c;
    StreamRunner runner(p, c.runner_options());
    SourceOptions o{.id = "a", .url = clip.string()};
    o.reader.ffmpeg_options = {{"rtsp_trasport", "tcp"}, {"probesize", "5000000"}};
    runner.add_source(o);
    runner.wait();
    EXPECT_EQ(stats_of(runner, "a").processed, 30u);
    std::vector<std::string> warnings;
    for (const auto& e : c.events)
        if (e.stream == "a" && e.kind == SourceEvent::Kind::warning) warnings.push_back(e.message);
    ASSERT_EQ(warnings.size(), 1u) << "probesize is an option of every input; rtsp_trasport of none";
    EXPECT_EQ(warnings[0], "--ffmpeg-option rtsp_trasport: not an option of this input; ignored");
}

TEST(StreamRunner, ATruncatedFileAndAMissingOneFailWithTheirOwnErrorsWhileAGoodOneRunsToTheEnd) {
    TILEDET_REQUIRE_FFMPEG();
    const auto clip = moving_square_clip("square30.mp4", 30);
    ASSERT_FALSE(clip.empty());
    const fs::path cut = work_dir() / (std::to_string(::getpid()) + "_truncated.mp4");
    fs::copy_file(clip, cut, fs::copy_options::overwrite_existing);
    fs::resize_file(cut, fs::file_size(clip) / 2);  // the moov index is at the end: gone
    Pipeline p(one_backend(), yolo_signature(), options());
    Collected c;
    StreamRunner runner(p, c.runner_options());
    runner.add_source({.id = "cut", .url = cut.string()});
    runner.add_source({.id = "missing", .url = (work_dir() / "no_such_clip.mp4").string()});
    runner.add_source({.id = "good", .url = clip.string()});
    runner.wait();
    const StreamStats cs = stats_of(runner, "cut"), ms = stats_of(runner, "missing"), gs = stats_of(runner, "good");
    EXPECT_EQ(cs.state, "failed");
    EXPECT_NE(cs.error.find(cut.string()), std::string::npos) << cs.error;
    EXPECT_NE(cs.error.find("cannot open"), std::string::npos) << cs.error;
    EXPECT_EQ(ms.state, "failed");
    EXPECT_NE(ms.error.find("no such file"), std::string::npos) << ms.error;
    EXPECT_TRUE(c.saw(SourceEvent::Kind::failed, "cut"));
    EXPECT_EQ(gs.state, "ended");
    EXPECT_EQ(gs.processed, 30u);
    fs::remove(cut);
}

TEST(StreamRunner, AnImageFolderIsAStreamOfItsImagesInNameOrderWithoutPts) {
    const fs::path dir = work_dir() / (std::to_string(::getpid()) + "_folder");
    fs::create_directories(dir);
    for (int i = 0; i < 5; ++i)
        cv::imwrite((dir / ("f" + std::to_string(i) + ".png")).string(),
                    scene(640, 640, {{kStartX + kStepX * i, kY, kSquare, kSquare}}));
    Pipeline p(one_backend(), yolo_signature(), options());
    Collected c;
    StreamRunner runner(p, c.runner_options());
    runner.add_source({.id = "dir", .url = dir.string()});
    runner.wait();
    ASSERT_EQ(c.results["dir"].size(), 5u);
    for (int i = 0; i < 5; ++i) {
        EXPECT_TRUE(std::isnan(c.results["dir"][i].pts_s));
        expect_square_of_frame(c.results["dir"][i], i);
    }
    EXPECT_EQ(stats_of(runner, "dir").kind, SourceKind::folder);
    fs::remove_all(dir);
}

TEST(StreamRunner, ABadImageInAFolderIsSkippedCountedAndNamedWhileTheOthersRun) {
    const fs::path dir = work_dir() / (std::to_string(::getpid()) + "_badfolder");
    fs::create_directories(dir);
    for (int i : {0, 3})
        cv::imwrite((dir / ("f" + std::to_string(i) + ".png")).string(),
                    scene(640, 640, {{kStartX + kStepX * i, kY, kSquare, kSquare}}));
    std::ofstream(dir / "f1.png") << "not an image\n";  // text named .png
    {
        std::vector<uchar> jpg;
        cv::imencode(".jpg", scene(640, 640, {{kStartX, kY, kSquare, kSquare}}), jpg);
        std::ofstream(dir / "f2.jpg", std::ios::binary).write(reinterpret_cast<const char*>(jpg.data()), 40);
    }
    Pipeline p(one_backend(), yolo_signature(), options());
    Collected c;
    StreamRunner runner(p, c.runner_options());
    runner.add_source({.id = "dir", .url = dir.string()});
    runner.wait();
    const StreamStats s = stats_of(runner, "dir");
    EXPECT_EQ(s.state, "ended") << s.error;
    ASSERT_EQ(c.results["dir"].size(), 2u);
    EXPECT_EQ(c.results["dir"][0].file, "f0.png");
    EXPECT_EQ(c.results["dir"][0].frame_index, 0);
    EXPECT_EQ(c.results["dir"][1].file, "f3.png");
    EXPECT_EQ(c.results["dir"][1].frame_index, 3);
    expect_square_of_frame(c.results["dir"][1], 3);
    EXPECT_EQ(s.decoded, 4u);
    EXPECT_EQ(s.drops.at(drop_cause::failed), 2u);
    std::vector<std::string> skipped;
    for (const auto& e : c.events)
        if (e.stream == "dir" && e.kind == SourceEvent::Kind::skipped) skipped.push_back(e.message);
    ASSERT_EQ(skipped.size(), 2u);
    EXPECT_NE(skipped[0].find("f1.png"), std::string::npos) << skipped[0];
    EXPECT_NE(skipped[1].find("f2.jpg"), std::string::npos) << skipped[1];
    EXPECT_NE(stream_result_json(c.results["dir"][1], p.detector()).find("\"file\":\"f3.png\""), std::string::npos);
    fs::remove_all(dir);
}

TEST(StreamRunner, ResultsEqualTheFramesRunAsImagesOneByOne) {
    TILEDET_REQUIRE_FFMPEG();
    const auto clip = moving_square_clip("square30.mp4", 30);
    ASSERT_FALSE(clip.empty());
    // The frames as PNG files, decoded by the ffmpeg command, not by the code under test.
    const fs::path dir = work_dir() / (std::to_string(::getpid()) + "_frames");
    fs::create_directories(dir);
    ASSERT_EQ(std::system(("ffmpeg -nostdin -loglevel error -y -i '" + clip.string() + "' '" +
                           (dir / "%03d.png").string() + "'")
                              .c_str()),
              0);
    PipelineOptions o = options(TileMode::fixed);
    o.tiles.tile_w = o.tiles.tile_h = 320;
    Pipeline p(one_backend(), yolo_signature(), o);
    Collected c;
    {
        StreamRunner runner(p, c.runner_options());
        runner.add_source({.id = "a", .url = clip.string()});
        runner.add_source({.id = "b", .url = clip.string()});
        runner.wait();
    }
    for (const char* id : {"a", "b"}) {
        ASSERT_EQ(c.results[id].size(), 30u);
        for (int i = 0; i < 30; ++i) {
            char name[16];
            std::snprintf(name, sizeof(name), "%03d.png", i + 1);
            const ImageResult one = p.detect(load_image((dir / name).string()), name);
            const auto& got = c.results[id][i].result.detections;
            ASSERT_EQ(got.size(), one.detections.size()) << id << " frame " << i;
            for (std::size_t k = 0; k < got.size(); ++k) {
                EXPECT_NEAR(got[k].box.x1, one.detections[k].box.x1, 2) << id << " frame " << i;
                EXPECT_NEAR(got[k].box.x2, one.detections[k].box.x2, 2);
                EXPECT_NEAR(got[k].box.y1, one.detections[k].box.y1, 2);
                EXPECT_NEAR(got[k].score, one.detections[k].score, 0.02);
                EXPECT_EQ(got[k].class_id, one.detections[k].class_id);
            }
        }
    }
    fs::remove_all(dir);
}

TEST(StreamRunner, SourcesAreAddedAndRemovedWhileOthersRun) {
    TILEDET_REQUIRE_FFMPEG();
    const auto clip = moving_square_clip("square30.mp4", 30);
    ASSERT_FALSE(clip.empty());
    Pipeline p(one_backend(), yolo_signature(), options());
    Collected c;
    StreamRunner runner(p, c.runner_options());
    // Read at its frame rate: 3 s for the clip.
    runner.add_source({.id = "slow", .url = clip.string(), .realtime = true});
    ASSERT_TRUE(wait_until([&] { return c.count("slow") >= 3; }, std::chrono::seconds(10)));
    runner.add_source({.id = "late", .url = clip.string()});
    EXPECT_THROW(runner.add_source({.id = "late", .url = clip.string()}), OptionError);
    EXPECT_TRUE(runner.remove_source("slow"));
    EXPECT_FALSE(runner.remove_source("slow"));
    runner.wait();
    const StreamStats slow = stats_of(runner, "slow"), late = stats_of(runner, "late");
    EXPECT_EQ(slow.state, "removed");
    EXPECT_LT(slow.processed, 30u);
    EXPECT_EQ(c.count("slow"), slow.processed) << "frames in flight at removal are still delivered";
    EXPECT_EQ(late.state, "ended");
    EXPECT_EQ(late.processed, 30u);
    EXPECT_TRUE(c.saw(SourceEvent::Kind::removed, "slow"));
}

TEST(StreamRunner, ASilentLiveSourceIsEvictedAndTheOthersGoOn) {
    TILEDET_REQUIRE_FFMPEG();
    const auto clip = moving_square_clip("square30.mp4", 30);
    ASSERT_FALSE(clip.empty());
    Pipeline p(one_backend(), yolo_signature(), options());
    Collected c;
    StreamRunner runner(p, c.runner_options());
    SourceOptions dead{.id = "dead", .url = "udp://127.0.0.1:" + std::to_string(test_port(7))};
    dead.reader.io_timeout_s = 0.3;
    dead.reconnect_initial_s = 0.1;
    dead.evict_after_s = 1.0;
    runner.add_source(dead);
    runner.add_source({.id = "good", .url = clip.string()});
    ASSERT_TRUE(runner.wait_for(std::chrono::seconds(15)));
    const StreamStats d = stats_of(runner, "dead");
    EXPECT_EQ(d.state, "evicted");
    EXPECT_NE(d.error.find("evicted"), std::string::npos) << d.error;
    EXPECT_NE(d.error.find("no data"), std::string::npos) << d.error;
    EXPECT_TRUE(c.saw(SourceEvent::Kind::evicted, "dead"));
    EXPECT_EQ(stats_of(runner, "good").processed, 30u);
}

TEST(StreamRunner, AUdpLiveSourceKilledMidwayReconnectsWhenItComesBack) {
    TILEDET_REQUIRE_FFMPEG();
    const auto ts = moving_square_clip("square30.ts", 30);
    ASSERT_FALSE(ts.empty());
    const int port = test_port(3);
    Pipeline p(one_backend(), yolo_signature(), options());
    Collected c;
    StreamRunner runner(p, c.runner_options());
    SourceOptions live{.id = "cam", .url = "udp://127.0.0.1:" + std::to_string(port)};
    live.reader.io_timeout_s = 0.5;
    live.reconnect_initial_s = 0.1;
    live.evict_after_s = 20;
    runner.add_source(live);
    Process sender(udp_sender_args(ts, port));
    ASSERT_TRUE(sender.running());
    ASSERT_TRUE(wait_until([&] { return c.count("cam") >= 8; }, std::chrono::seconds(15)))
        << "no frames from the live source";
    sender.stop();
    ASSERT_TRUE(wait_until([&] { return c.saw(SourceEvent::Kind::reconnecting, "cam"); }, std::chrono::seconds(5)));
    const std::size_t before = c.count("cam");
    sender.start();
    ASSERT_TRUE(wait_until([&] { return c.count("cam") >= before + 8; }, std::chrono::seconds(15)))
        << "no frames after the sender came back";
    sender.stop();
    runner.stop();
    const StreamStats s = stats_of(runner, "cam");
    EXPECT_GE(s.reconnects, 1u);
    EXPECT_EQ(s.policy.kind, FramePolicy::Kind::latest) << "a live source defaults to latest";
    EXPECT_EQ(s.processed + s.dropped(), s.decoded);
    std::int64_t last = -1;
    for (const auto& r : c.results["cam"]) {
        EXPECT_GT(r.frame_index, last) << "frame indices continue across the reconnect";
        last = r.frame_index;
        EXPECT_EQ(r.result.detections.size(), 1u);
    }
}

TEST(StreamRunner, ALiveSourceWhoseProbingOutlastsTheIoTimeoutOpensOnceAndRuns) {
    TILEDET_REQUIRE_FFMPEG();
    // FFmpeg's test pattern over UDP: probing it reads seconds of the stream (ffprobe takes
    // about 5 s), longer than the 1 s io timeout. Probing must not be ended by that timeout with
    // a poisoned context (every open then failed at its first read: a reconnect loop).
    const fs::path ts = work_dir() / "testsrc100.ts";
    if (!fs::exists(ts)) {
        const fs::path tmp = work_dir() / (std::to_string(::getpid()) + "_testsrc100.ts");
        ASSERT_EQ(std::system(("ffmpeg -nostdin -loglevel error -y -f lavfi -i testsrc=s=320x240:r=10 -frames:v 100 "
                               "-c:v libx264 -preset ultrafast -g 10 -bf 0 -f mpegts '" +
                               tmp.string() + "'")
                                  .c_str()),
                  0);
        fs::rename(tmp, ts);
    }
    const int port = test_port(6);
    Process sender(udp_sender_args(ts, port));
    ASSERT_TRUE(sender.running());
    Pipeline p(one_backend(), yolo_signature(), options());
    Collected c;
    StreamRunner runner(p, c.runner_options());
    SourceOptions live{.id = "cam", .url = "udp://127.0.0.1:" + std::to_string(port)};
    live.reader.io_timeout_s = 1;
    live.reconnect_initial_s = 0.1;
    live.evict_after_s = 30;
    runner.add_source(live);
    ASSERT_TRUE(wait_until([&] { return c.count("cam") >= 10; }, std::chrono::seconds(20)))
        << "no frames from the live source";
    sender.stop();
    runner.stop();
    const StreamStats s = stats_of(runner, "cam");
    EXPECT_EQ(s.reconnects, 0u) << s.error;
    EXPECT_FALSE(c.saw(SourceEvent::Kind::reconnecting, "cam"));
    for (const auto& e : c.events) {
        if (e.stream == "cam") {
            EXPECT_EQ(e.message.find("Immediate exit"), std::string::npos) << e.message;
        }
    }
}

TEST(StreamRunner, AnUnknownProtocolFailsAtOnceInsteadOfRetryingUntilEviction) {
    Pipeline p(one_backend(), yolo_signature(), options());
    Collected c;
    StreamRunner runner(p, c.runner_options());
    SourceOptions bad{.id = "bad", .url = "foo://bar"};
    bad.reconnect_initial_s = 0.1;
    bad.evict_after_s = 10;
    SourceOptions gone{.id = "gone", .url = (work_dir() / "no_such_clip.mp4").string(), .reconnect = true};
    gone.reconnect_initial_s = 0.1;
    gone.evict_after_s = 10;
    const auto t0 = std::chrono::steady_clock::now();
    runner.add_source(bad);
    runner.add_source(gone);
    runner.wait();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5)) << "retried a permanent error";
    const StreamStats bs = stats_of(runner, "bad"), gs = stats_of(runner, "gone");
    EXPECT_EQ(bs.state, "failed");
    EXPECT_NE(bs.error.find("Protocol not found"), std::string::npos) << bs.error;
    EXPECT_EQ(gs.state, "failed");
    EXPECT_NE(gs.error.find("no such file"), std::string::npos) << gs.error;
    EXPECT_FALSE(c.saw(SourceEvent::Kind::reconnecting, "bad"));
    EXPECT_FALSE(c.saw(SourceEvent::Kind::reconnecting, "gone"));
}

TEST(StreamRunner, AnRtspStreamPushedToAListeningSourceIsReadInOrder) {
    TILEDET_REQUIRE_FFMPEG();
    const auto clip = moving_square_clip("square30.mp4", 30);
    ASSERT_FALSE(clip.empty());
    const std::string url = "rtsp://127.0.0.1:" + std::to_string(test_port(5)) + "/live";
    Pipeline p(one_backend(), yolo_signature(), options());
    Collected c;
    StreamRunner runner(p, c.runner_options());
    SourceOptions rtsp{.id = "rtsp", .url = url, .policy = FramePolicy::parse("every")};
    rtsp.reader.ffmpeg_options["rtsp_flags"] = "listen";  // this source is the RTSP server ffmpeg pushes to
    rtsp.reader.io_timeout_s = 2;
    rtsp.reconnect = false;
    runner.add_source(rtsp);
    // The sender needs the listener up: start it again while it exits at once (connection refused).
    std::optional<Process> sender;
    ASSERT_TRUE(wait_until(
        [&] {
            if (!sender || sender->exited()) {
                if (c.count("rtsp") > 0) return true;  // it sent everything and ended
                std::this_thread::sleep_for(std::chrono::milliseconds(200));
                sender.emplace(std::vector<std::string>{"ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-i",
                                                        clip.string(), "-c", "copy", "-f", "rtsp", "-rtsp_transport",
                                                        "tcp", url});
            }
            return c.count("rtsp") >= 20;
        },
        std::chrono::seconds(20)))
        << "frames received: " << c.count("rtsp");
    runner.wait_for(std::chrono::seconds(10));
    runner.stop();
    const auto& rs = c.results["rtsp"];
    ASSERT_GE(rs.size(), 20u);
    for (std::size_t i = 0; i < rs.size(); ++i) {
        EXPECT_EQ(rs[i].frame_index, static_cast<std::int64_t>(i));
        ASSERT_EQ(rs[i].result.detections.size(), 1u);
    }
    // The first frame received is the clip's first: each frame's square is where that frame put it.
    for (std::size_t i = 0; i < rs.size(); ++i) expect_square_of_frame(rs[i], static_cast<std::int64_t>(i));
}
