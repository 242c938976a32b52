// tiledet stream --model M --source URL_OR_PATH ... : video files, image folders, network
// streams and cameras at once, every frame's tiles through the one shared batcher; JSON Lines
// per processed frame (in frame order per stream), annotated MP4 per stream, a progress line per
// stream on a terminal and a summary at the end.
#if TILEDET_HAS_PIPELINE && TILEDET_HAS_IO && TILEDET_HAS_STREAMS
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "command.hpp"
#include "output_files.hpp"
#include "pipeline_flags.hpp"
#include "tiledet/error.hpp"
#include "tiledet/io/image.hpp"
#include "tiledet/streams/stream_json.hpp"
#include "tiledet/streams/stream_runner.hpp"
#include "tiledet/streams/video_writer.hpp"

namespace tiledet::cli {
namespace {

namespace fs = std::filesystem;

std::atomic<bool> g_interrupted{false};
std::atomic<bool> g_reload{false};
// The first SIGINT/SIGTERM stops the sources and writes what was processed; a second one, for a
// source stuck where FFmpeg cannot be interrupted, ends the process at once (exit code 130).
extern "C" void on_stop_signal(int) {
    if (g_interrupted.exchange(true)) {
        static const char msg[] = "tiledet stream: second stop signal, exiting without waiting for the sources\n";
        (void)!::write(STDERR_FILENO, msg, sizeof(msg) - 1);
        ::_exit(130);
    }
}
extern "C" void on_hup_signal(int) {
    g_reload = true;
}

struct StreamArgs {
    std::string model;
    std::vector<std::string> sources;
    std::string sources_file;
    std::string policy;
    double max_fps = 0;
    std::string jsonl_path, annotate_dir;
    double duration = 0;
    double io_timeout = 5, evict_after = 30, reconnect_max = 8;
    std::size_t in_flight = 2;
    std::size_t frame_buffer = 0;  // 0: the policy's own (2 every, 1 latest, 8 staleness)
    bool realtime = false;
    std::int64_t max_frames = 0;
    bool progress = false, no_progress = false;
    std::vector<std::string> ffmpeg_options;  // KEY=VALUE
    PipelineFlags flags;
};

std::vector<std::string> read_sources_file(const std::string& path) {
    std::error_code ec;
    if (fs::exists(path, ec) && !fs::is_regular_file(path, ec))  // a pipe would block here
        throw InputError(path + ": not a regular file; --sources-file expects a text file, one [NAME=]URL per line");
    std::ifstream in(path);
    if (!in)
        throw InputError(path + ": cannot read the sources file (--sources-file: one [NAME=]URL per line, # comments)");
    try {
        return parse_sources_list(in);
    } catch (const InputError& e) {
        throw InputError(path + ": " + e.what());
    }
}

std::string fmt(const char* f, double v) {
    char b[64];
    std::snprintf(b, sizeof(b), f, v);
    return b;
}

std::string drops_text(const StreamStats& s) {
    if (s.dropped() == 0) return "0";
    std::string t = std::to_string(s.dropped()) + " (";
    bool first = true;
    for (const auto& [cause, n] : s.drops) {
        if (!n) continue;
        t += (first ? "" : ", ") + cause + " " + std::to_string(n);
        first = false;
    }
    return t + ")";
}

// JSON Lines and annotated videos are written here, off the pipeline's completion thread.
class ResultWriter {
public:
    ResultWriter(const Detector& detector, std::ostream* jsonl, std::string annotate_dir)
        : detector_(detector), jsonl_(jsonl), annotate_dir_(std::move(annotate_dir)), thread_([this] { loop(); }) {}
    ~ResultWriter() { finish(); }

    // Blocks while 64 frames wait (annotation slower than inference holds the pipeline back
    // rather than growing memory).
    void push(StreamResult&& r) {
        std::unique_lock lk(mu_);
        room_.wait(lk, [&] { return queue_.size() < 64 || done_; });
        queue_.push_back(std::move(r));
        cv_.notify_one();
    }
    void finish() {
        {
            std::lock_guard lk(mu_);
            if (done_) return;
            done_ = true;
            cv_.notify_all();
            room_.notify_all();
        }
        thread_.join();
        for (auto& [name, w] : videos_) {
            try {
                w->close();
                std::cerr << "wrote " << w->frames() << " frame(s) (" << w->codec() << ") to "
                          << (fs::path(annotate_dir_) / (name + ".mp4")).string() << "\n";
            } catch (const std::exception& e) {
                std::cerr << "tiledet: " << e.what() << "\n";
                ++errors;
            }
        }
    }
    int errors = 0;

private:
    void loop() {
        while (true) {
            std::unique_lock lk(mu_);
            cv_.wait(lk, [&] { return !queue_.empty() || done_; });
            if (queue_.empty()) return;
            StreamResult r = std::move(queue_.front());
            queue_.pop_front();
            room_.notify_all();
            lk.unlock();
            write(r);
        }
    }
    void write(StreamResult& r) {
        if (jsonl_) *jsonl_ << stream_result_json(r, detector_) << "\n" << std::flush;
        if (annotate_dir_.empty() || r.frame.empty() || failed_.count(r.stream)) return;
        try {
            auto& w = videos_[r.stream];
            if (!w)
                w = std::make_unique<VideoWriter>((fs::path(annotate_dir_) / (r.stream + ".mp4")).string(),
                                                  r.frame.cols, r.frame.rows, r.source_fps);
            cv::Mat canvas = r.frame.clone();
            draw_detections(canvas, r.result.detections, [&](int id) { return detector_.class_name(id); });
            w->write(canvas);
        } catch (const std::exception& e) {
            std::cerr << "tiledet: " << r.stream << ": " << e.what() << "\n";
            failed_.insert(r.stream);
            videos_.erase(r.stream);
            ++errors;
        }
    }

    const Detector& detector_;
    std::ostream* jsonl_;
    std::string annotate_dir_;
    std::mutex mu_;
    std::condition_variable cv_, room_;
    std::deque<StreamResult> queue_;
    bool done_ = false;
    std::map<std::string, std::unique_ptr<VideoWriter>> videos_;
    std::set<std::string> failed_;
    std::thread thread_;
};

int run_stream(const StreamArgs& a) {
    std::vector<std::string> specs = a.sources;
    if (!a.sources_file.empty()) {
        auto more = read_sources_file(a.sources_file);
        specs.insert(specs.end(), more.begin(), more.end());
    }
    if (specs.empty())
        throw InputError(
            "no sources: give --source URL_OR_PATH (a video file, image folder, rtsp://, http(s)://, udp:// "
            "address or /dev/videoN) at least once, or --sources-file FILE");
    std::optional<FramePolicy> policy;
    if (!a.policy.empty()) {
        try {
            policy = FramePolicy::parse(a.policy);
        } catch (const OptionError& e) {
            throw OptionError("--policy", "", e.with_name(""));
        }
    }
    // Each bad value named by its flag, with what it expects.
    const auto in_range = [](double v) { return v >= kMinSourceSeconds && v <= kMaxSourceSeconds; };
    require_flag(a.max_fps >= 0 && std::isfinite(a.max_fps), "--max-fps", "frames per second >= 0 (0: no limit)", a.max_fps);
    require_flag(a.duration >= 0 && std::isfinite(a.duration), "--duration", "seconds >= 0 (0: until every source ended)",
            a.duration);
    require_flag(in_range(a.io_timeout), "--io-timeout", "seconds from 1e-6 to 1e6", a.io_timeout);
    require_flag(in_range(a.evict_after), "--evict-after", "seconds from 1e-6 to 1e6", a.evict_after);
    require_flag(in_range(a.reconnect_max), "--reconnect-max", "seconds from 1e-6 to 1e6", a.reconnect_max);
    require_flag(a.in_flight >= 1 && a.in_flight <= 1024, "--frames-in-flight", "a whole number of frames from 1 to 1024",
            static_cast<double>(a.in_flight));
    require_flag(a.frame_buffer <= 1024, "--frame-buffer", "a whole number of frames from 0 to 1024 (0: the policy's own)",
            static_cast<double>(a.frame_buffer));
    require_flag(a.max_frames >= 0, "--max-frames", "a whole number of frames >= 0 (0: no limit)",
            static_cast<double>(a.max_frames));
    std::map<std::string, std::string> ffmpeg_options;
    for (const std::string& kv : a.ffmpeg_options) {
        const auto eq = kv.find('=');
        if (eq == std::string::npos || eq == 0)
            throw InputError("--ffmpeg-option: expected KEY=VALUE (\"rtsp_transport=tcp\"), got '" + kv + "'");
        ffmpeg_options[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    PipelineOptions options = to_pipeline_options(a.flags);
    Pipeline pipeline(a.model, options);
    const Detector& detector = pipeline.detector();
    std::cerr << "model: " << a.model << " (family " << to_string(detector.family()) << ", input "
              << detector.input_size().second << "x" << detector.input_size().first << "; "
              << pipeline.signature().batch_kind().describe() << ")\n";
    std::cerr << "config: " << pipeline.config().describe() << "\n";

    std::ofstream jsonl_file;
    std::ostream* const jsonl = cli::open_jsonl(a.jsonl_path, jsonl_file, "the JSON Lines results");
    if (!a.annotate_dir.empty()) cli::ensure_folder(a.annotate_dir, "annotated videos");

    ResultWriter writer(detector, jsonl, a.annotate_dir);
    std::mutex log_mu;
    const bool tty = ::isatty(STDERR_FILENO) != 0;
    const bool show_progress = !a.no_progress && (a.progress || tty);
    bool progress_drawn = false;
    StreamRunnerOptions ro;
    ro.keep_frames = !a.annotate_dir.empty();
    ro.on_result = [&writer](StreamResult&& r) { writer.push(std::move(r)); };
    ro.on_event = [&](const SourceEvent& e) {
        std::lock_guard lk(log_mu);
        // The stream's name and a skipped file's name come from the user's files: escaped.
        const std::string line = e.stream + ": " + to_string(e.kind) + (e.message.empty() ? "" : ": " + e.message);
        std::cerr << one_line(line) << "\n";
    };
    StreamRunner runner(pipeline, ro);

    std::map<std::string, std::string> by_spec;  // sources-file line -> stream id (for SIGHUP)
    const auto add = [&](const std::string& spec) {
        auto [name, url] = split_source_spec(spec);
        SourceOptions so;
        so.id = name;
        so.url = url;
        so.policy = policy;
        so.max_fps = a.max_fps;
        so.reader.io_timeout_s = a.io_timeout;
        so.reader.ffmpeg_options = ffmpeg_options;
        so.evict_after_s = a.evict_after;
        so.reconnect_max_s = a.reconnect_max;
        so.realtime = a.realtime;
        so.max_frames = a.max_frames;
        so.max_frames_in_flight = a.in_flight;
        so.buffer = a.frame_buffer;
        return runner.add_source(so);
    };
    // Before the first frame: a SIGHUP that comes once results flow must never meet the default
    // action (ending the process).
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    sa.sa_handler = on_hup_signal;
    sigaction(SIGHUP, &sa, nullptr);
    {  // Two sources given one NAME: refused before any starts (the first one ran, then exit 2).
        std::set<std::string> names;
        for (const std::string& spec : specs)
            if (const std::string name = split_source_spec(spec).first; !name.empty() && !names.insert(name).second)
                throw InputError("two sources are named '" + name + "' (" + name +
                                 "=...): give each --source its own NAME, or leave NAME out to name it after its file");
    }
    for (const std::string& spec : specs) by_spec[spec] = add(spec);

    const auto t0 = std::chrono::steady_clock::now();
    auto last_progress = t0;
    while (!runner.wait_for(std::chrono::milliseconds(100))) {
        const auto now = std::chrono::steady_clock::now();
        if (g_interrupted) break;
        if (a.duration > 0 && std::chrono::duration<double>(now - t0).count() >= a.duration) break;
        if (g_reload.exchange(false) && !a.sources_file.empty()) {
            try {
                const auto now_specs = read_sources_file(a.sources_file);
                std::set<std::string> keep(now_specs.begin(), now_specs.end());
                for (auto it = by_spec.begin(); it != by_spec.end();) {
                    if (!keep.count(it->first) && !std::count(a.sources.begin(), a.sources.end(), it->first)) {
                        runner.remove_source(it->second);
                        it = by_spec.erase(it);
                    } else {
                        ++it;
                    }
                }
                for (const auto& s : now_specs)
                    if (!by_spec.count(s)) by_spec[s] = add(s);
                std::lock_guard lk(log_mu);
                std::cerr << "sources file re-read: " << by_spec.size() << " source(s)\n";
            } catch (const std::exception& e) {
                std::lock_guard lk(log_mu);
                std::cerr << "tiledet: " << cli_message(e) << " (keeping the running sources)\n";
            }
        }
        if (show_progress && now - last_progress >= std::chrono::seconds(1)) {
            last_progress = now;
            const auto es = pipeline.executor().stats();
            std::lock_guard lk(log_mu);
            for (const StreamStats& s : runner.stats()) {
                if (s.finished()) continue;
                std::cerr << s.stream << ": " << s.processed << " frames, " << fmt("%.1f", s.fps) << " fps, dropped "
                          << drops_text(s) << ", " << s.state << "; mean batch " << fmt("%.2f", es.mean_batch_size)
                          << "\n";
            }
            progress_drawn = true;
        }
    }
    (void)progress_drawn;
    runner.stop();
    writer.finish();
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    // The summary.
    int failed = writer.errors;
    std::ostringstream os;
    os << "\nstream summary (" << fmt("%.1f", wall) << " s):\n";
    char line[512];
    std::snprintf(line, sizeof(line), "  %-16s %-8s %-16s %8s %8s %8s %9s %9s %6s  %s\n", "stream", "kind", "policy",
                  "decoded", "frames", "fps", "p50 ms", "p99 ms", "recon", "state / drops");
    os << line;
    for (const StreamStats& s : runner.stats()) {
        std::snprintf(line, sizeof(line), "  %-16s %-8s %-16s %8llu %8llu %8.1f %9.1f %9.1f %6llu  %s, dropped %s\n",
                      printable(s.stream, 64).c_str(), to_string(s.kind).c_str(), s.policy.str().c_str(),
                      static_cast<unsigned long long>(s.decoded), static_cast<unsigned long long>(s.processed), s.fps,
                      s.latency_p50_ms, s.latency_p99_ms, static_cast<unsigned long long>(s.reconnects),
                      s.state.c_str(), drops_text(s).c_str());
        os << line;
        if (s.state == "failed" || s.state == "evicted" ||
            (s.drops.count(drop_cause::failed) && s.drops.at(drop_cause::failed))) {
            ++failed;
            if (!s.error.empty())
                os << "    error: " << s.error << "\n";
            else  // a folder's unreadable images: each was named in its own line as it was skipped
                os << "    " << s.drops.at(drop_cause::failed) << " frame(s) could not be read (named above)\n";
        }
    }
    const ExecutorStats es = pipeline.executor().stats();
    if (es.batches == 0) {
        os << "  batches: none ran\n";
    } else {
        os << "  batches: "
           << execution_line_from_histogram(es.device, es.batch_size_histogram,
                                            std::chrono::duration<double, std::milli>(es.busy_span).count(), "tile")
           << "\n  mean batch size " << fmt("%.2f", es.mean_batch_size) << ", histogram (size: batches):";
        for (std::size_t n = 1; n < es.batch_size_histogram.size(); ++n)
            if (es.batch_size_histogram[n]) os << " " << n << ":" << es.batch_size_histogram[n];
        os << "\n  tiles: " << es.completed << " run, " << fmt("%.1f", es.completed / std::max(wall, 1e-9))
           << " tiles/s over the run\n";
    }
    std::cerr << os.str();
    cli::check_written(jsonl, a.jsonl_path, "the JSON Lines results");
    return failed > 0 ? kExitSomeInputsFailed : kExitOk;
}

const CommandRegistrar reg{Command{
    "stream", 35, [](CLI::App& app) {
        auto* sub =
            app.add_subcommand("stream",
                               "Detect objects in video files, image folders, network streams and cameras at once, "
                               "every frame's tiles through one shared batcher");
        auto a = std::make_shared<StreamArgs>();
        sub->add_option("--model,-m", a->model, "ONNX model file")->required();
        sub->add_option(
            "--source,-s", a->sources,
            "[NAME=]URL_OR_PATH: a video file, an image folder, rtsp:// http(s):// udp:// rtp:// tcp:// srt:// "
            "address or /dev/videoN; repeat for more sources");
        sub->add_option(
            "--sources-file", a->sources_file,
            "A file with one [NAME=]URL per line (# comments); re-read on SIGHUP: new lines start, removed ones stop");
        sub->add_option(
            "--policy", a->policy,
            "every (no frame dropped, decode waits; default for files and folders), latest (bounded buffer, "
            "oldest dropped; default for live sources) or staleness=S (drop frames older than S seconds; its "
            "buffer is bounded too, so a full one also drops its oldest frame as superseded)");
        sub->add_option("--max-fps", a->max_fps, "Process at most this many frames per second per source (0: all)");
        sub->add_option("--jsonl", a->jsonl_path,
                        "Write one JSON line per processed frame to this file ('-': standard output); its "
                        "capture_time is when tiledet got the frame from FFmpeg, not when the sender sent it");
        sub->add_option("--annotate", a->annotate_dir,
                        "Write DIR/<stream>.mp4 with the detections drawn (a folder's video is at its first "
                        "image's size; other sizes are scaled to it)");
        sub->add_option("--duration", a->duration, "Stop after this many seconds (0: when every source ended)");
        sub->add_option("--io-timeout", a->io_timeout, "Seconds without data before a read fails (a dead stream)")
            ->default_str("5");
        sub->add_option("--evict-after", a->evict_after,
                        "Seconds without a frame (reconnecting meanwhile) before a live source is given up")
            ->default_str("30");
        sub->add_option("--reconnect-max", a->reconnect_max, "Longest back-off between reconnect attempts, seconds")
            ->default_str("8");
        sub->add_option("--frames-in-flight", a->in_flight, "Frames of one source in the pipeline at once")
            ->default_str("2");
        sub->add_option("--frame-buffer", a->frame_buffer,
                        "Decoded frames of one source waiting to be submitted (0: 2 for every, 1 for latest, 8 for "
                        "staleness); when full, every waits and latest/staleness drop the oldest");
        sub->add_flag("--realtime", a->realtime, "Read files at their frame rate, as a live camera would deliver them");
        sub->add_option("--max-frames", a->max_frames, "Stop each source after this many decoded frames (0: no limit)");
        sub->add_option(
            "--ffmpeg-option", a->ffmpeg_options,
            "KEY=VALUE handed to FFmpeg when a source opens, e.g. rtsp_transport=tcp, or rtsp_flags=listen to "
            "receive an RTSP stream pushed to this address; repeatable");
        sub->add_flag("--progress", a->progress, "Progress lines every second even when stderr is not a terminal");
        sub->add_flag("--no-progress", a->no_progress, "No progress lines");
        add_pipeline_flags(*sub, a->flags);
        return std::function<int()>([a] { return run_stream(*a); });
    }}};

}  // namespace
}  // namespace tiledet::cli
#endif
