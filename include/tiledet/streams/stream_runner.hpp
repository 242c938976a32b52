// Many video sources through one Pipeline: one decode thread per source (plus one thread that
// feeds its frames to the pipeline), each frame's tiles submitted as one group, so tiles of
// frames of every source share the executor's batches. Results come back per stream in frame
// order. Frame policies (Roboflow InferencePipeline's every_frame / freshest / staleness
// budget, reference/batching-anchors.md section 4): `every` never drops (decode waits),
// `latest` keeps a bounded buffer and drops the oldest, `staleness=S` drops a frame older than
// S seconds when its turn comes (and its tiles that have not run by then, through the
// pipeline's deadline). A slow source never holds back the others: each source has its own
// threads and its own frames-in-flight bound; nothing waits for the slowest stream
// (Ultralytics' streams loader does).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <istream>
#include <map>
#include <utility>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tiledet/pipeline/pipeline.hpp"
#include "tiledet/streams/frame_reader.hpp"

namespace tiledet {

struct FramePolicy {
    enum class Kind { every, latest, staleness };
    Kind kind = Kind::every;
    double staleness_s = 0;  // Kind::staleness only
    // "every", "latest", "staleness=S" (S seconds, 1e-6 to 1e6); throws OptionError("policy") otherwise.
    static FramePolicy parse(const std::string& text);
    std::string str() const;
};

// Durations a source takes (staleness, io timeout, eviction, back-off) lie in this range, in
// seconds: beyond 1e6 s (11.6 days) they would overflow the clocks' integer ticks when added to now.
inline constexpr double kMinSourceSeconds = 1e-6, kMaxSourceSeconds = 1e6;

// A source as `tiledet stream --source` and a sources file give it: "NAME=URL" names the stream,
// plain "URL" leaves the name to the runner. A URL's own '=' (a query string) comes after ':',
// '/', '\\' or '.', so "rtsp://cam/s?x=1" is a URL, not a name. Returns {name, url}; name may be
// empty. Never throws.
std::pair<std::string, std::string> split_source_spec(const std::string& spec);

// A sources file's text: one [NAME=]URL per line; blank lines and lines starting with '#' are
// skipped, spaces, tabs and CRs around a line trimmed. Returns the lines in order. Throws
// InputError for a line that is not text (control bytes, invalid UTF-8).
std::vector<std::string> parse_sources_list(std::istream& in);

// Why a frame was not processed; each drop is counted under its cause.
namespace drop_cause {
inline constexpr const char* superseded =
    "superseded";  // latest/staleness: a newer frame pushed it out of the full buffer
inline constexpr const char* stale =
    "stale";  // staleness: older than S when its turn came, or its tiles' deadline passed
inline constexpr const char* max_fps = "max_fps";  // skipped to keep the source at max_fps
inline constexpr const char* stopped = "stopped";  // still waiting when the source was stopped or removed
inline constexpr const char* failed = "failed";    // the pipeline failed it, or an image of a folder could not be read
}  // namespace drop_cause

struct SourceOptions {
    std::string id;   // the stream's name in results; empty: derived from the address (made unique)
    std::string url;  // file, folder, rtsp:// http(s):// udp:// rtp:// tcp:// srt:// address, /dev/videoN
    std::optional<FramePolicy> policy{};  // unset: every for files and folders, latest for live sources
    double max_fps = 0;                 // > 0: frames closer than 1/max_fps (by PTS, else wall clock) are dropped
    std::size_t buffer = 0;             // frames waiting to be submitted: 0: 2 for every, 1 for latest, 8 for staleness
    std::size_t max_frames_in_flight = 2;  // this source's frames in the pipeline at once
    ReaderOptions reader{};                  // io timeout, FFmpeg options
    std::optional<bool> reconnect{};         // unset: on for network sources and devices, off for files and folders
    double reconnect_initial_s = 0.5, reconnect_max_s = 8;  // back-off between attempts, doubling
    // A source that gave no frame for this long (reconnecting meanwhile) is evicted: it ends
    // with an error and the others go on (Savant's dead-stream eviction).
    double evict_after_s = 30;
    bool realtime = false;        // pace a file at its timestamps, as a camera would deliver it
    std::int64_t max_frames = 0;  // stop after this many decoded frames (0: no limit)
};

// One processed frame, delivered in frame order per stream.
struct StreamResult {
    std::string stream;
    std::int64_t frame_index = 0;
    double pts_s = 0;  // NaN: unknown
    std::string file;  // an image folder's frame: the image's file name; empty otherwise
    std::chrono::system_clock::time_point capture_time;
    double latency_ms = 0;  // frame out of the decoder -> its merged result
    double source_fps = 0;  // frames per second the source declares (0: unknown)
    ImageResult result;
    cv::Mat frame;  // the decoded frame, when StreamRunnerOptions::keep_frames
};

struct SourceEvent {
    enum class Kind { opened, reconnecting, ended, failed, evicted, removed, skipped, warning };
    Kind kind;
    std::string stream;
    std::string message;  // opened: what it is; reconnecting/failed/evicted: the error; skipped: the bad item; warning: what
};
std::string to_string(SourceEvent::Kind kind);

struct StreamStats {
    std::string stream, url;
    SourceKind kind = SourceKind::file;
    FramePolicy policy;
    std::string state;  // "opening", "running", "reconnecting", "ended", "failed", "evicted", "removed"
    std::string error;  // the error that ended it (failed, evicted), or the last one
    std::uint64_t decoded = 0, processed = 0, reconnects = 0;
    std::map<std::string, std::uint64_t> drops;  // by drop_cause
    std::uint64_t dropped() const;
    double fps = 0;                                 // processed frames per second of its run
    double latency_p50_ms = 0, latency_p99_ms = 0;  // over processed frames
    double seconds = 0;                             // first open -> end (or now)
    bool finished() const;
};

struct StreamRunnerOptions {
    // Called once per processed frame, in frame order per stream, from the pipeline's
    // completion thread: keep it short (hand heavy work to a thread of your own).
    std::function<void(StreamResult&&)> on_result;
    // Opened, reconnecting, ended, failed, evicted, removed; from the source's threads.
    std::function<void(const SourceEvent&)> on_event;
    bool keep_frames = false;  // StreamResult::frame (for annotated video)
};

// Thread-safe: sources can be added and removed from any thread while others run.
// Destroying it stops every source (frames still waiting are dropped as "stopped", frames in the
// pipeline finish and are delivered).
class StreamRunner {
public:
    StreamRunner(Pipeline& pipeline, StreamRunnerOptions options = {});
    ~StreamRunner();
    StreamRunner(const StreamRunner&) = delete;
    StreamRunner& operator=(const StreamRunner&) = delete;

    // Starts the source's threads and returns its id. Opening happens on its thread: an address
    // that cannot be opened ends that source with an error event, not this call. Throws
    // OptionError for a bad option or an id already running.
    std::string add_source(SourceOptions source);
    // Stops the source: frames waiting are dropped ("stopped"), frames in the pipeline finish
    // and are delivered; returns when its threads are done. False: no such running source.
    bool remove_source(const std::string& id);
    std::vector<std::string> running() const;  // ids of sources not ended yet
    void wait();                               // until every source ended (files at their end)
    bool wait_for(std::chrono::milliseconds timeout);
    void stop();                             // every source, as remove_source
    std::vector<StreamStats> stats() const;  // every source ever added, in the order added

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace tiledet
