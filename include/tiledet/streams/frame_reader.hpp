// Where a stream's frames come from: a video file, a network stream (RTSP, HTTP(S), UDP/RTP,
// TCP, SRT), a V4L2 device (/dev/videoN) through FFmpeg's libraries, or a folder of images.
// A reader belongs to one decode thread; only interrupt() may be called from another thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "tiledet/error.hpp"

namespace tiledet {

// One decoded frame. pts_s is the stream's presentation time in seconds (NaN when the source
// has none: an image folder); capture_time is the wall clock when the frame came out of the
// decoder, captured the same instant on the steady clock (latency is measured from it).
struct StreamFrame {
    std::int64_t index = 0;  // 0, 1, 2 ... per source, continued across reconnects
    double pts_s = 0;
    std::chrono::system_clock::time_point capture_time;
    std::chrono::steady_clock::time_point captured;
    cv::Mat bgr;  // 8-bit 3-channel BGR
    std::string file;  // an image folder's frame: the image's file name (no PTS to tell it by)
};

enum class SourceKind { file, folder, network, device };
// From the address alone: a scheme FFmpeg reads over a network (rtsp://, http://, udp:// ...)
// is network, /dev/video* is device, an existing folder is folder, anything else is file.
SourceKind source_kind(const std::string& url);
std::string to_string(SourceKind kind);

struct ReaderOptions {
    // A blocking open or read that gets no data for this long fails (FFmpeg's interrupt
    // callback), so a dead camera never blocks its thread.
    double io_timeout_s = 5;
    // Options handed to avformat_open_input ("rtsp_transport" = "tcp", "fflags" = "nobuffer").
    std::map<std::string, std::string> ffmpeg_options{};
    double folder_fps = 0;  // an image folder's frame rate for its PTS (0: no PTS, NaN)
    // Frames (and a folder's images) of more pixels than this fail with a line naming
    // limits.max_image_pixels and --max-image-pixels, checked from the stream's header before the
    // first frame is decoded and on every frame (a stream may change size). -1: Limits{}'s
    // default (StreamRunner uses its pipeline's limits.max_image_pixels); 0: no limit.
    std::int64_t max_pixels = -1;
};

// skipped: one item of the source (an image of a folder) could not be read; `error` names it
// and the next read goes on with the next item.
enum class ReadStatus { frame, end, error, skipped };

class FrameReader {
public:
    virtual ~FrameReader() = default;
    // Next frame into `frame` (index and times filled by the caller). On error, `error` holds
    // one line: the source, what failed, and FFmpeg's own message. At the end, a non-empty
    // `error` is a note on what was lost on the way (packets the decoder refused and skipped).
    virtual ReadStatus read(StreamFrame& frame, std::string& error) = 0;
    // Frames per second the container declares (0: unknown).
    virtual double frame_rate() const = 0;
    virtual std::string describe() const = 0;  // "h264 1920x1080 25 fps"
    // What the open noticed but did not fail on, one line each (an FFmpeg option nobody used).
    virtual std::vector<std::string> warnings() const { return {}; }
    // Makes a blocking open or read return an error soon; thread-safe.
    void interrupt() { interrupted_ = true; }

protected:
    std::atomic<bool> interrupted_{false};
};

// An open that retrying cannot heal (an unknown protocol or format, no decoder, an unknown
// option, a missing file): the source fails at once even where it would reconnect.
class PermanentSourceError : public InputError {
public:
    using InputError::InputError;
};

// Opens `url` as its kind says. Throws InputError with one line (the address, what was
// expected, FFmpeg's message, what to do) when it cannot be opened or holds no decodable
// video. `interrupted` (may be null) aborts a blocking open when it becomes true.
std::unique_ptr<FrameReader> open_frame_reader(const std::string& url, const ReaderOptions& options,
                                               const std::atomic<bool>* interrupted = nullptr);

}  // namespace tiledet
