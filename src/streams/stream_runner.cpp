// StreamRunner: per source a decode thread (reader -> policy buffer) and a feed thread (buffer ->
// Pipeline::submit, at most max_frames_in_flight frames of that source in the pipeline). Results
// come back on the pipeline's completion thread in any order; a per-source reorder buffer keyed
// by submission number hands them on in frame order.
#include "tiledet/streams/stream_runner.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>
#include <thread>

#include "tiledet/batching/errors.hpp"
#include "tiledet/error.hpp"

namespace tiledet {

std::pair<std::string, std::string> split_source_spec(const std::string& spec) {
    const auto eq = spec.find('=');
    if (eq != std::string::npos && eq > 0) {
        const std::string name = spec.substr(0, eq);
        const bool plain = name.find_first_of(":/\\.") == std::string::npos;
        if (plain && eq + 1 < spec.size()) return {name, spec.substr(eq + 1)};
    }
    return {"", spec};
}

std::vector<std::string> parse_sources_list(std::istream& in) {
    std::vector<std::string> out;
    std::string line;
    int line_no = 0;
    while (std::getline(in, line)) {
        ++line_no;
        // Each line becomes a source and is named in messages: text only, never echoed raw.
        if (!is_text_line(line.substr(0, line.find_last_not_of('\r') + 1)))
            throw InputError("line " + std::to_string(line_no) +
                             " of the sources list is not text (control bytes or invalid UTF-8: '" + printable(line) +
                             "'); expected one [NAME=]URL per line: a file, folder, URL or /dev/videoN");
        const auto a = line.find_first_not_of(" \t\r");
        if (a == std::string::npos || line[a] == '#') continue;
        const auto b = line.find_last_not_of(" \t\r");
        out.push_back(line.substr(a, b - a + 1));
    }
    return out;
}

FramePolicy FramePolicy::parse(const std::string& text) {
    FramePolicy p;
    if (text == "every") return p;
    if (text == "latest") {
        p.kind = Kind::latest;
        return p;
    }
    if (text.rfind("staleness=", 0) == 0) {
        const std::string v = text.substr(10);
        try {
            std::size_t used = 0;
            p.staleness_s = std::stod(v, &used);
            if (used != v.size() || !(p.staleness_s >= kMinSourceSeconds) || !(p.staleness_s <= kMaxSourceSeconds))
                throw std::invalid_argument(v);
        } catch (const std::exception&) {
            throw OptionError("policy", "",
                              ": expected staleness=S with S in seconds, from 1e-6 to 1e6 (\"staleness=0.5\"), got '" +
                                  text + "'");
        }
        p.kind = Kind::staleness;
        return p;
    }
    throw OptionError("policy", "", ": expected every, latest or staleness=S (S seconds), got '" + text + "'");
}

std::string FramePolicy::str() const {
    switch (kind) {
        case Kind::every:
            return "every";
        case Kind::latest:
            return "latest";
        case Kind::staleness: {
            char b[48];
            std::snprintf(b, sizeof(b), "staleness=%g", staleness_s);
            return b;
        }
    }
    return "?";
}

std::string to_string(SourceEvent::Kind kind) {
    switch (kind) {
        case SourceEvent::Kind::opened:
            return "opened";
        case SourceEvent::Kind::reconnecting:
            return "reconnecting";
        case SourceEvent::Kind::ended:
            return "ended";
        case SourceEvent::Kind::failed:
            return "failed";
        case SourceEvent::Kind::evicted:
            return "evicted";
        case SourceEvent::Kind::removed:
            return "removed";
        case SourceEvent::Kind::skipped:
            return "skipped";
        case SourceEvent::Kind::warning:
            return "warning";
    }
    return "?";
}

std::uint64_t StreamStats::dropped() const {
    std::uint64_t n = 0;
    for (const auto& [cause, count] : drops) n += count;
    return n;
}

bool StreamStats::finished() const {
    return state == "ended" || state == "failed" || state == "evicted" || state == "removed";
}

namespace {

using SteadyClock = std::chrono::steady_clock;

// --max-fps: a PTS this far past the last kept one is a discontinuity, not a gap.
constexpr double kMaxFpsPtsJumpS = 5.0;

std::string evicted_text(double seconds) {
    char b[64];
    std::snprintf(b, sizeof(b), "evicted after %g s without a frame", seconds);
    return b;
}

double seconds_between(SteadyClock::time_point a, SteadyClock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
}

double percentile(std::vector<double> v, double q) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const double pos = q * static_cast<double>(v.size() - 1);
    const auto lo = static_cast<std::size_t>(pos);
    const std::size_t hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

// A frame's submission slot in the reorder buffer: pending until its callback fills it.
struct Slot {
    bool done = false;
    std::optional<StreamResult> result;  // empty when dropped or failed
};

}  // namespace

namespace {

struct Source {
    SourceOptions opts;
    SourceKind kind = SourceKind::file;
    FramePolicy policy;
    bool reconnect = false;
    std::size_t buffer = 2;

    std::atomic<bool> stop{false};
    std::thread decoder, feeder;

    mutable std::mutex mu;
    std::condition_variable cv;
    std::deque<StreamFrame> waiting;
    bool decode_done = false;
    bool feed_done = false;
    std::size_t in_flight = 0;
    std::uint64_t next_seq = 0;
    std::map<std::uint64_t, Slot> reorder;
    StreamStats stats;
    std::vector<double> latencies;
    SteadyClock::time_point started, ended;
    bool has_ended = false;
    double source_fps = 0;

    std::mutex join_mu;  // one thread at a time joins `decoder` (remove_source, wait and stop may race)
    std::mutex emit_mu;  // held while results are handed on, so they leave in order
    std::uint64_t next_emit = 0;

    void drop(const char* cause, std::uint64_t n = 1) {
        if (n) stats.drops[cause] += n;
    }
    void join() {
        std::lock_guard lk(join_mu);
        if (decoder.joinable()) decoder.join();
    }
};

}  // namespace

struct StreamRunner::Impl {
    Pipeline& pipeline;
    StreamRunnerOptions options;
    mutable std::mutex mu;
    std::condition_variable cv;  // a source ended
    std::vector<std::shared_ptr<Source>> sources;

    Impl(Pipeline& p, StreamRunnerOptions o) : pipeline(p), options(std::move(o)) {}

    void event(SourceEvent::Kind kind, const Source& s, std::string message = {}) {
        if (!options.on_event) return;
        try {
            options.on_event(SourceEvent{kind, s.opts.id, std::move(message)});
        } catch (...) {
        }
    }

    void set_state(Source& s, const std::string& state, const std::string& error = {}) {
        std::lock_guard lk(s.mu);
        s.stats.state = state;
        if (!error.empty()) s.stats.error = error;
    }

    // Sleeps up to `seconds`, returning early (false) when the source is stopped.
    static bool pause(Source& s, double seconds) {
        std::unique_lock lk(s.mu);
        return !s.cv.wait_for(lk, std::chrono::duration<double>(seconds), [&] { return s.stop.load(); });
    }

    void decode_loop(Source& s) {
        std::int64_t index = 0;
        double backoff = s.opts.reconnect_initial_s;
        SteadyClock::time_point last_frame = SteadyClock::now();
        double last_kept_pts = std::nan("");
        SteadyClock::time_point last_kept_wall{};
        bool ever_opened = false;
        SourceEvent::Kind end_kind = SourceEvent::Kind::ended;
        std::string end_message;
        const double min_gap = s.opts.max_fps > 0 ? 1.0 / s.opts.max_fps : 0;
        // realtime pacing: the wall clock instant of PTS 0.
        std::optional<std::pair<SteadyClock::time_point, double>> pace_origin;
        while (!s.stop) {
            std::unique_ptr<FrameReader> reader;
            try {
                reader = open_frame_reader(s.opts.url, s.opts.reader, &s.stop);
                const bool first_open = !ever_opened;
                ever_opened = true;
                backoff = s.opts.reconnect_initial_s;
                last_kept_pts = std::nan("");  // a reconnected stream may start its PTS again
                {
                    std::lock_guard lk(s.mu);
                    s.source_fps = reader->frame_rate();
                }
                set_state(s, "running");
                event(SourceEvent::Kind::opened, s, reader->describe());
                if (first_open)  // once, not again at every reconnect
                    for (const std::string& w : reader->warnings()) event(SourceEvent::Kind::warning, s, w);
            } catch (const std::exception& e) {
                if (s.stop) break;
                if (!s.reconnect || dynamic_cast<const PermanentSourceError*>(&e)) {
                    end_kind = SourceEvent::Kind::failed;
                    end_message = e.what();
                    break;
                }
                if (seconds_between(last_frame, SteadyClock::now()) >= s.opts.evict_after_s) {
                    end_kind = SourceEvent::Kind::evicted;
                    end_message = std::string(e.what()) + "; " + evicted_text(s.opts.evict_after_s);
                    break;
                }
                set_state(s, "reconnecting", e.what());
                event(SourceEvent::Kind::reconnecting, s, e.what());
                if (!pause(s, backoff)) break;
                backoff = std::min(backoff * 2, s.opts.reconnect_max_s);
                continue;
            }
            pace_origin.reset();
            std::string error;
            bool source_over = false;
            while (!s.stop) {
                StreamFrame f;
                const ReadStatus st = reader->read(f, error);
                if (st == ReadStatus::end) {
                    if (!error.empty()) event(SourceEvent::Kind::warning, s, error);  // what was skipped
                    error.clear();
                    if (!s.reconnect && index == 0) {
                        // FFmpeg guesses a format from the name (a text file called x.png opens
                        // as an image2 "stream" of 0x0): a file that gives no frame at all is an error.
                        end_kind = SourceEvent::Kind::failed;
                        end_message = s.opts.url + ": ended before its first frame (opened as " + reader->describe() +
                                      "): not a video FFmpeg can decode, or a corrupt one; `ffprobe FILE` shows what FFmpeg makes of it";
                        source_over = true;
                    } else if (!s.reconnect) {
                        source_over = true;
                    }
                    else
                        error = s.opts.url + ": the stream ended";
                    break;
                }
                if (st == ReadStatus::skipped) {
                    // One unreadable item (a folder's bad image): counted under its frame index
                    // as a failed frame, reported in one line, and the source goes on.
                    ++index;
                    {
                        std::lock_guard lk(s.mu);
                        ++s.stats.decoded;
                        s.drop(drop_cause::failed);
                    }
                    event(SourceEvent::Kind::skipped, s, error);
                    error.clear();
                    continue;
                }
                if (st == ReadStatus::error) {
                    if (s.stop) break;  // the interrupt callback ended the read: not a failure
                    if (!s.reconnect) {
                        end_kind = SourceEvent::Kind::failed;
                        end_message = error;
                        source_over = true;
                    }
                    break;
                }
                f.captured = SteadyClock::now();
                f.capture_time = std::chrono::system_clock::now();
                last_frame = f.captured;
                f.index = index++;
                {
                    std::lock_guard lk(s.mu);
                    ++s.stats.decoded;
                }
                if (s.opts.realtime && std::isfinite(f.pts_s)) {
                    if (!pace_origin) pace_origin.emplace(f.captured, f.pts_s);
                    const auto due =
                        pace_origin->first + std::chrono::duration_cast<SteadyClock::duration>(
                                                 std::chrono::duration<double>(f.pts_s - pace_origin->second));
                    if (due > SteadyClock::now() && !pause(s, seconds_between(SteadyClock::now(), due))) {
                        std::lock_guard lk(s.mu);
                        s.drop(drop_cause::stopped);
                        break;
                    }
                    f.captured = SteadyClock::now();
                    f.capture_time = std::chrono::system_clock::now();
                }
                if (min_gap > 0) {
                    const bool by_pts = std::isfinite(f.pts_s) && std::isfinite(last_kept_pts);
                    const double gap = by_pts ? f.pts_s - last_kept_pts : seconds_between(last_kept_wall, f.captured);
                    // PTS that start over (a restarted sender, a looped file) or jump far ahead
                    // restart the reference at this frame, which is kept.
                    const bool restarted = by_pts && (gap < 0 || gap > kMaxFpsPtsJumpS);
                    if (!restarted && (by_pts || last_kept_wall != SteadyClock::time_point{}) &&
                        gap < min_gap * 0.999) {
                        std::lock_guard lk(s.mu);
                        s.drop(drop_cause::max_fps);
                        continue;
                    }
                    last_kept_pts = f.pts_s;
                    last_kept_wall = f.captured;
                }
                push(s, std::move(f));
                if (s.opts.max_frames > 0 && index >= s.opts.max_frames) {
                    source_over = true;
                    break;
                }
            }
            if (source_over || s.stop) break;
            // A live source broke off: reconnect, unless it has been silent too long.
            if (seconds_between(last_frame, SteadyClock::now()) >= s.opts.evict_after_s) {
                end_kind = SourceEvent::Kind::evicted;
                end_message = error + "; " + evicted_text(s.opts.evict_after_s);
                break;
            }
            {
                std::lock_guard lk(s.mu);
                ++s.stats.reconnects;
            }
            set_state(s, "reconnecting", error);
            event(SourceEvent::Kind::reconnecting, s, error);
            reader.reset();
            if (!pause(s, backoff)) break;
            backoff = std::min(backoff * 2, s.opts.reconnect_max_s);
        }
        (void)ever_opened;
        std::lock_guard lk(s.mu);
        s.decode_done = true;
        if (s.stop && end_kind == SourceEvent::Kind::ended) end_kind = SourceEvent::Kind::removed;
        s.stats.state = end_kind == SourceEvent::Kind::ended     ? "ended"
                        : end_kind == SourceEvent::Kind::removed ? "removed"
                        : end_kind == SourceEvent::Kind::evicted ? "evicted"
                                                                 : "failed";
        if (!end_message.empty()) s.stats.error = end_message;
        s.cv.notify_all();
    }

    // The policy decides what waits: every blocks the decoder while the buffer is full; latest
    // and staleness push the oldest out.
    void push(Source& s, StreamFrame&& f) {
        std::unique_lock lk(s.mu);
        // stop is set under this lock: a frame pushed before it is dropped by the feeder, one
        // after it here (the feeder may be gone), so every decoded frame is counted once.
        if (s.stop) {
            s.drop(drop_cause::stopped);
            return;
        }
        if (s.policy.kind == FramePolicy::Kind::every) {
            s.cv.wait(lk, [&] { return s.stop || s.waiting.size() < s.buffer; });
            if (s.stop) {
                s.drop(drop_cause::stopped);
                return;
            }
        } else {
            while (s.waiting.size() >= s.buffer) {
                s.waiting.pop_front();
                s.drop(drop_cause::superseded);
            }
        }
        s.waiting.push_back(std::move(f));
        s.cv.notify_all();
    }

    void feed_loop(const std::shared_ptr<Source>& sp) {
        Source& s = *sp;
        while (true) {
            std::unique_lock lk(s.mu);
            s.cv.wait(lk, [&] {
                return s.stop || (s.decode_done && s.waiting.empty()) ||
                       (!s.waiting.empty() && s.in_flight < s.opts.max_frames_in_flight);
            });
            if (s.stop || (s.decode_done && s.waiting.empty())) {
                s.drop(drop_cause::stopped, s.waiting.size());
                s.waiting.clear();
                break;
            }
            StreamFrame f = std::move(s.waiting.front());
            s.waiting.pop_front();
            s.cv.notify_all();  // a decoder waiting for room
            std::optional<SteadyClock::time_point> deadline;
            if (s.policy.kind == FramePolicy::Kind::staleness) {
                deadline = f.captured + std::chrono::duration_cast<SteadyClock::duration>(
                                            std::chrono::duration<double>(s.policy.staleness_s));
                if (SteadyClock::now() >= *deadline) {
                    s.drop(drop_cause::stale);
                    continue;
                }
            }
            const std::uint64_t seq = s.next_seq++;
            s.reorder[seq];
            ++s.in_flight;
            lk.unlock();

            SubmitOptions so;
            so.label = s.opts.id + "#" + std::to_string(f.index);
            so.deadline = deadline;
            auto meta = std::make_shared<StreamFrame>(std::move(f));
            try {
                pipeline.submit(meta->bgr, std::move(so),
                                [this, sp, seq, meta](ImageResult&& r, std::exception_ptr err) {
                                    finish(sp, seq, *meta, std::move(r), err);
                                });
            } catch (const std::exception& e) {
                finish(sp, seq, *meta, ImageResult{}, std::current_exception());
            }
        }
        // Wait for this source's frames still in the pipeline.
        std::unique_lock lk(s.mu);
        s.cv.wait(lk, [&] { return s.in_flight == 0; });
        s.feed_done = true;
    }

    void finish(const std::shared_ptr<Source>& sp, std::uint64_t seq, StreamFrame& f, ImageResult&& r,
                std::exception_ptr err) {
        Source& s = *sp;
        const auto now = SteadyClock::now();
        std::string error_line;
        {
            std::lock_guard lk(s.mu);
            Slot& slot = s.reorder[seq];
            slot.done = true;
            if (!err) {
                StreamResult out;
                out.stream = s.opts.id;
                out.frame_index = f.index;
                out.pts_s = f.pts_s;
                out.file = f.file;
                out.capture_time = f.capture_time;
                out.latency_ms = std::chrono::duration<double, std::milli>(now - f.captured).count();
                out.source_fps = s.source_fps;
                out.result = std::move(r);
                if (options.keep_frames) out.frame = f.bgr;
                ++s.stats.processed;
                if (s.latencies.size() < 1'000'000) s.latencies.push_back(out.latency_ms);
                slot.result = std::move(out);
            } else {
                try {
                    std::rethrow_exception(err);
                } catch (const DeadlineExpired&) {
                    s.drop(drop_cause::stale);
                } catch (const Cancelled&) {
                    s.drop(drop_cause::stopped);
                } catch (const ShutDown&) {
                    s.drop(drop_cause::stopped);
                } catch (const std::exception& e) {
                    s.drop(drop_cause::failed);
                    s.stats.error = s.opts.id + " frame " + std::to_string(f.index) + ": " + e.what();
                    error_line = s.stats.error;
                }
            }
            f.bgr = cv::Mat();
        }
        if (!error_line.empty()) event(SourceEvent::Kind::failed, s, error_line);
        {
            std::lock_guard emit(s.emit_mu);
            while (true) {
                std::optional<StreamResult> ready;
                {
                    std::lock_guard lk(s.mu);
                    auto it = s.reorder.find(s.next_emit);
                    if (it == s.reorder.end() || !it->second.done) break;
                    ready = std::move(it->second.result);
                    s.reorder.erase(it);
                    ++s.next_emit;
                }
                if (ready && options.on_result) {
                    try {
                        options.on_result(std::move(*ready));
                    } catch (...) {
                    }
                }
            }
        }
        std::lock_guard lk(s.mu);
        --s.in_flight;
        s.cv.notify_all();
    }

    // Runs on the source's own supervisor path: when both threads are done, the source ended.
    void run(const std::shared_ptr<Source>& sp) {
        Source& s = *sp;
        s.feeder = std::thread([this, sp] { feed_loop(sp); });
        decode_loop(s);
        s.feeder.join();
        SourceEvent::Kind kind;
        std::string msg;
        {
            std::lock_guard lk(s.mu);
            s.has_ended = true;
            s.ended = SteadyClock::now();
            kind = s.stats.state == "ended"     ? SourceEvent::Kind::ended
                   : s.stats.state == "removed" ? SourceEvent::Kind::removed
                   : s.stats.state == "evicted" ? SourceEvent::Kind::evicted
                                                : SourceEvent::Kind::failed;
            msg = s.stats.error;
        }
        event(kind, s, msg);
        std::lock_guard lk(mu);
        cv.notify_all();
    }

    StreamStats snapshot(const Source& s) const {
        std::lock_guard lk(s.mu);
        StreamStats st = s.stats;
        const auto end = s.has_ended ? s.ended : SteadyClock::now();
        st.seconds = seconds_between(s.started, end);
        st.fps = st.seconds > 0 ? static_cast<double>(st.processed) / st.seconds : 0;
        st.latency_p50_ms = percentile(s.latencies, 0.50);
        st.latency_p99_ms = percentile(s.latencies, 0.99);
        return st;
    }
};

StreamRunner::StreamRunner(Pipeline& pipeline, StreamRunnerOptions options)
    : impl_(std::make_unique<Impl>(pipeline, std::move(options))) {}

StreamRunner::~StreamRunner() {
    stop();
}

std::string StreamRunner::add_source(SourceOptions o) {
    if (o.url.empty()) throw OptionError("url", "", ": a source needs an address (a file, folder, URL or /dev/videoN)");
    if (o.max_frames_in_flight == 0) throw OptionError("max_frames_in_flight", "", ": must be at least 1");
    const auto seconds = [](double v, const char* name) {
        if (v >= kMinSourceSeconds && v <= kMaxSourceSeconds) return;
        char b[48];
        std::snprintf(b, sizeof(b), "%g", v);
        throw OptionError(name, "", std::string(": must be from 1e-6 to 1e6 seconds, got ") + b);
    };
    seconds(o.reader.io_timeout_s, "io_timeout_s");
    seconds(o.evict_after_s, "evict_after_s");
    seconds(o.reconnect_initial_s, "reconnect_initial_s");
    seconds(o.reconnect_max_s, "reconnect_max_s");
    if (o.policy && o.policy->kind == FramePolicy::Kind::staleness) seconds(o.policy->staleness_s, "policy staleness");
    if (!(o.max_fps >= 0) || !std::isfinite(o.max_fps))
        throw OptionError("max_fps", "", ": must be a finite number >= 0 (0: no limit)");
    if (o.reader.max_pixels < 0) o.reader.max_pixels = impl_->pipeline.options().limits.max_image_pixels;
    auto s = std::make_shared<Source>();
    s->kind = source_kind(o.url);
    const bool live = s->kind == SourceKind::network || s->kind == SourceKind::device;
    s->policy = o.policy ? *o.policy : FramePolicy{live ? FramePolicy::Kind::latest : FramePolicy::Kind::every, 0};
    s->reconnect = o.reconnect.value_or(live);
    s->buffer = o.buffer ? o.buffer
                         : (s->policy.kind == FramePolicy::Kind::every    ? 2
                            : s->policy.kind == FramePolicy::Kind::latest ? 1
                                                                          : 8);
    {
        std::lock_guard lk(impl_->mu);
        if (o.id.empty()) {
            std::filesystem::path p(o.url);
            std::string base = live ? o.url.substr(o.url.find("://") == std::string::npos ? 0 : o.url.find("://") + 3)
                               : p.filename().string().empty() ? p.parent_path().filename().string()
                                                               : p.stem().string();
            for (char& c : base)
                if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') c = '_';
            if (base.empty()) base = "stream";
            std::string id = base;
            for (int n = 2;; ++n) {
                const bool taken = std::any_of(impl_->sources.begin(), impl_->sources.end(),
                                               [&](const auto& x) { return x->opts.id == id; });
                if (!taken) break;
                id = base + "_" + std::to_string(n);
            }
            o.id = id;
        } else {
            for (const auto& x : impl_->sources) {
                std::lock_guard slk(x->mu);
                if (x->opts.id == o.id && !x->has_ended)
                    throw OptionError("id", "",
                                      ": a source named '" + o.id + "' is already running; give another name");
            }
        }
        s->opts = std::move(o);
        s->stats.stream = s->opts.id;
        s->stats.url = s->opts.url;
        s->stats.kind = s->kind;
        s->stats.policy = s->policy;
        s->stats.state = "opening";
        s->started = SteadyClock::now();
        impl_->sources.push_back(s);
    }
    s->decoder = std::thread([impl = impl_.get(), s] { impl->run(s); });
    return s->opts.id;
}

bool StreamRunner::remove_source(const std::string& id) {
    std::shared_ptr<Source> s;
    {
        std::lock_guard lk(impl_->mu);
        for (const auto& x : impl_->sources) {
            std::lock_guard slk(x->mu);
            if (x->opts.id == id && !x->has_ended) s = x;
        }
    }
    if (!s) return false;
    {
        std::lock_guard lk(s->mu);
        s->stop = true;
        s->cv.notify_all();
    }
    s->join();
    return true;
}

std::vector<std::string> StreamRunner::running() const {
    std::vector<std::string> ids;
    std::lock_guard lk(impl_->mu);
    for (const auto& x : impl_->sources) {
        std::lock_guard slk(x->mu);
        if (!x->has_ended) ids.push_back(x->opts.id);
    }
    return ids;
}

bool StreamRunner::wait_for(std::chrono::milliseconds timeout) {
    std::unique_lock lk(impl_->mu);
    return impl_->cv.wait_for(lk, timeout, [&] {
        return std::all_of(impl_->sources.begin(), impl_->sources.end(), [](const auto& x) {
            std::lock_guard slk(x->mu);
            return x->has_ended;
        });
    });
}

void StreamRunner::wait() {
    while (!wait_for(std::chrono::milliseconds(200))) {
    }
    std::vector<std::shared_ptr<Source>> all;
    {
        std::lock_guard lk(impl_->mu);
        all = impl_->sources;
    }
    for (const auto& s : all) s->join();
}

void StreamRunner::stop() {
    std::vector<std::shared_ptr<Source>> all;
    {
        std::lock_guard lk(impl_->mu);
        all = impl_->sources;
    }
    for (const auto& s : all) {
        std::lock_guard lk(s->mu);
        s->stop = true;
        s->cv.notify_all();
    }
    for (const auto& s : all) s->join();
}

std::vector<StreamStats> StreamRunner::stats() const {
    std::vector<std::shared_ptr<Source>> all;
    {
        std::lock_guard lk(impl_->mu);
        all = impl_->sources;
    }
    std::vector<StreamStats> out;
    for (const auto& s : all) out.push_back(impl_->snapshot(*s));
    return out;
}

}  // namespace tiledet
