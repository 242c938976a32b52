// Frames through FFmpeg's libraries: libavformat demuxes (files, network protocols, V4L2 through
// libavdevice, loaded when a camera opens), libavcodec decodes, libswscale converts to BGR.
// Every blocking call runs under an interrupt callback with a deadline, so a dead or silent
// source fails after io_timeout_s with a message instead of blocking its thread (FFmpeg's
// AVIOInterruptCB, documented in avio.h).
#include <dlfcn.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavdevice/version_major.h>  // LIBAVDEVICE_VERSION_MAJOR only: the library is loaded, not linked
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>
}

#include <opencv2/core.hpp>

#include "tiledet/error.hpp"
#include "tiledet/io/image.hpp"
#include "tiledet/limits.hpp"
#include "tiledet/streams/frame_reader.hpp"

namespace tiledet {
namespace {

namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;

std::string av_error(int rc) {
    char buf[AV_ERROR_MAX_STRING_SIZE] = {};
    av_strerror(rc, buf, sizeof(buf));
    return buf;
}

// FFmpeg errors that the same open would meet again on every retry.
bool permanent(int rc) {
    return rc == AVERROR_PROTOCOL_NOT_FOUND || rc == AVERROR_DEMUXER_NOT_FOUND || rc == AVERROR_DECODER_NOT_FOUND ||
           rc == AVERROR_OPTION_NOT_FOUND || rc == AVERROR(ENOENT);
}

[[noreturn]] void throw_open_error(int rc, const std::string& message) {
    if (permanent(rc)) throw PermanentSourceError(message);
    throw InputError(message);
}

bool starts_with(const std::string& s, const char* prefix) {
    return s.rfind(prefix, 0) == 0;
}

// V4L2 input lives in libavdevice, which is loaded here, the first time a /dev/videoN source
// opens, instead of being linked: it needs about 70 libraries (SDL, X11, PulseAudio, JACK...)
// that every tiledet command would otherwise load and relocate at start-up (~0.13 s measured on a
// 2-core Xeon, tiledet --version 0.48 s). It is the libavdevice of the FFmpeg this build was
// compiled against (same major version, so the same libavformat it registers into). Empty when
// registered, else why not (one line).
const std::string& register_capture_devices() {
    static const std::string failure = [] {
        const std::string name = "libavdevice.so." + std::to_string(LIBAVDEVICE_VERSION_MAJOR);
        void* lib = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!lib) {
            const char* why = dlerror();
            return "a /dev/videoN camera needs FFmpeg's " + name + ", which could not be loaded (" +
                   (why ? why : "unknown") + "); install it (Debian: apt-get install libavdevice" +
                   std::to_string(LIBAVDEVICE_VERSION_MAJOR) + ")";
        }
        // dlopen's handle stays open for the process: FFmpeg keeps pointers to its input formats.
        using RegisterAll = void (*)();
        const auto register_all = reinterpret_cast<RegisterAll>(dlsym(lib, "avdevice_register_all"));
        if (!register_all)
            return name + " has no avdevice_register_all, so it is not FFmpeg's libavdevice; reinstall it (Debian: " +
                   "apt-get install --reinstall libavdevice" + std::to_string(LIBAVDEVICE_VERSION_MAJOR) + ")";
        register_all();  // V4L2 (video4linux2) and the other capture devices
        return std::string();
    }();
    return failure;
}

// One line for a frame over ReaderOptions::max_pixels (the pipeline's limits.max_image_pixels).
// swscale's x86 SIMD converters write whole blocks of pixels: converting a w x h frame to BGR24
// writes up to 45 bytes past the last row when w is not a multiple of 16 (measured with FFmpeg
// 5.1's libswscale, yuv420p/yuvj420p/yuyv422 at widths 1..70). That assembly is not seen by ASan,
// so an exact-size buffer's neighbour on the heap was silently overwritten (found by fuzz_streams
// as a corrupted heap, 2026-11-30). The frame is therefore a row range of a taller matrix that
// leaves at least kSwsTailBytes after the last row; it stays continuous.
constexpr int kSwsTailBytes = 256;

cv::Mat padded_bgr(int rows, int cols) {
    const int row_bytes = cols * 3;
    const int extra_rows = (kSwsTailBytes + row_bytes - 1) / row_bytes;
    return cv::Mat(rows + extra_rows, cols, CV_8UC3).rowRange(0, rows);
}

std::string pixel_limit_error(const std::string& url, int w, int h, std::int64_t limit, const char* when) {
    const std::int64_t pixels = static_cast<std::int64_t>(w) * static_cast<std::int64_t>(h);
    return url + ": " + when + " " + std::to_string(w) + "x" + std::to_string(h) + " = " + std::to_string(pixels) +
           " pixels, over limits.max_image_pixels (" + std::to_string(limit) +
           "); raise it with --max-image-pixels, or send smaller frames";
}

class FfmpegReader final : public FrameReader {
public:
    FfmpegReader(std::string url, const ReaderOptions& options, const std::atomic<bool>* stop)
        : url_(std::move(url)), options_(options), stop_(stop) {}

    ~FfmpegReader() override {
        sws_freeContext(sws_);
        av_frame_free(&frame_);
        av_packet_free(&packet_);
        avcodec_free_context(&decoder_);
        avformat_close_input(&format_);
    }

    void open() {
        static const bool registered = [] {
            // FFmpeg logs every damaged packet of a live stream (a joined-mid-GOP UDP stream logs
            // "non-existing PPS" until its next key frame); what fails comes back as one error line.
            // Quiet, not AV_LOG_FATAL: mjpegdec logs "No JPEG data found in image" as fatal.
            if (!std::getenv("TILEDET_FFMPEG_LOG")) av_log_set_level(AV_LOG_QUIET);
            avformat_network_init();
            return true;
        }();
        (void)registered;
        format_ = avformat_alloc_context();
        if (!format_) throw InputError(url_ + ": out of memory opening it");
        format_->interrupt_callback.callback = &FfmpegReader::interrupt_cb;
        format_->interrupt_callback.opaque = this;
        const SourceKind kind = source_kind(url_);
        const AVInputFormat* input_format = nullptr;
        if (kind == SourceKind::device) {
            if (const std::string& why = register_capture_devices(); !why.empty())
                throw PermanentSourceError(url_ + ": " + why);
            input_format = av_find_input_format("video4linux2");
            if (!input_format)
                throw PermanentSourceError(url_ +
                                           ": this FFmpeg build has no video4linux2 input (libavdevice without V4L2)");
        }
        AVDictionary* opts = nullptr;
        if (starts_with(url_, "udp://")) {
            // A live MPEG-TS over UDP: a large socket buffer, and an overrun is not fatal.
            av_dict_set(&opts, "overrun_nonfatal", "1", 0);
            av_dict_set(&opts, "fifo_size", "278876", 0);
        }
        if (kind == SourceKind::file) {
            // A file reads files: a playlist or concat list inside it (HLS, ffconcat) may name other
            // local files but no network address (FFmpeg's protocol_whitelist, inherited by the
            // nested opens; --ffmpeg-option protocol_whitelist=... overrides it).
            av_dict_set(&opts, "protocol_whitelist", "file,crypto,data", 0);
        }
        for (const auto& [k, v] : options_.ffmpeg_options) av_dict_set(&opts, k.c_str(), v.c_str(), 0);
        arm();
        int rc = avformat_open_input(&format_, url_.c_str(), input_format, &opts);
        // What is left in `opts` no part of this input took: a misspelled key, or one of another
        // protocol or format.
        for (const AVDictionaryEntry* e = nullptr; rc >= 0 && (e = av_dict_get(opts, "", e, AV_DICT_IGNORE_SUFFIX));)
            if (options_.ffmpeg_options.count(e->key))
                warnings_.push_back(std::string("--ffmpeg-option ") + e->key + ": not an option of this input; ignored");
        av_dict_free(&opts);
        if (rc < 0) {
            format_ = nullptr;  // freed by avformat_open_input on failure
            throw_open_error(rc, url_ + ": cannot open: " + failure(rc) + hint(kind));
        }
        // Probing reads up to analyzeduration of the stream (5 s unless set), which a live source
        // delivers in real time: it gets its own deadline, the io timeout plus that duration. If
        // the interrupt ends probing anyway, the AVIOContext keeps the error (every later read
        // fails at once), so the open fails here and a reconnect starts a fresh one.
        const double probe_s =
            format_->max_analyze_duration > 0 ? static_cast<double>(format_->max_analyze_duration) / AV_TIME_BASE : 5.0;
        arm(options_.io_timeout_s + probe_s);
        timed_out_ = false;
        rc = avformat_find_stream_info(format_, nullptr);
        if (timed_out_ || interrupted_ || (stop_ && *stop_)) {
            if (stop_ && *stop_) throw InputError(url_ + ": stopped");
            char b[128];
            std::snprintf(b, sizeof(b), ": no stream information within %.3g s (--io-timeout %.3g s + %.3g s of probing)",
                          options_.io_timeout_s + probe_s, options_.io_timeout_s, probe_s);
            throw InputError(url_ + b + hint(kind));
        }
        if (rc < 0) throw_open_error(rc, url_ + ": cannot read stream information: " + failure(rc) + hint(kind));
        const AVCodec* codec = nullptr;
        stream_ = av_find_best_stream(format_, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
        if (stream_ == AVERROR_STREAM_NOT_FOUND)
            throw InputError(url_ + ": holds no video stream (expected a video file, a camera or a video stream)");
        if (stream_ < 0 || !codec) {
            int video = -1;
            for (unsigned i = 0; i < format_->nb_streams; ++i)
                if (format_->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_VIDEO) video = static_cast<int>(i);
            const char* name = video >= 0 ? avcodec_get_name(format_->streams[video]->codecpar->codec_id) : "unknown";
            throw PermanentSourceError(url_ + ": its video codec (" + std::string(name) +
                             ") has no decoder in this FFmpeg build; re-encode it (ffmpeg -i IN -c:v libx264 OUT.mp4)");
        }
        AVStream* st = format_->streams[stream_];
        decoder_ = avcodec_alloc_context3(codec);
        if (!decoder_) throw InputError(url_ + ": out of memory opening its decoder");
        avcodec_parameters_to_context(decoder_, st->codecpar);
        if (options_.max_pixels > 0) {
            // Refused from the stream's header, before a frame is decoded; FFmpeg's own check
            // (av_image_check_size2 against AVCodecContext::max_pixels) then refuses a frame that
            // grows past it mid-stream before allocating it.
            if (static_cast<std::int64_t>(decoder_->width) * decoder_->height > options_.max_pixels)
                throw PermanentSourceError(
                    pixel_limit_error(url_, decoder_->width, decoder_->height, options_.max_pixels, "its frames are"));
            // FFmpeg's check is against its padded buffer sizes (an mpeg2video 320x240 frame fails
            // it at max_pixels 120000), so it gets room: it only bounds what a header that grows
            // mid-stream makes it allocate; the exact check is ours, on every frame.
            decoder_->max_pixels = options_.max_pixels * 2 + (std::int64_t{1} << 20);
        }
        decoder_->thread_count = 2;  // one source's decode should not take every core from inference
        rc = avcodec_open2(decoder_, codec, nullptr);
        if (rc < 0) throw InputError(url_ + ": cannot open the " + codec->name + " decoder: " + av_error(rc));
        const AVRational r = st->avg_frame_rate.num ? st->avg_frame_rate : st->r_frame_rate;
        fps_ = r.num && r.den ? av_q2d(r) : 0;
        time_base_ = av_q2d(st->time_base);
        // A file's PTS count from its start (MPEG-TS files start at 1.4 s); a live stream's are
        // kept as the sender stamped them.
        if (kind == SourceKind::file && st->start_time != AV_NOPTS_VALUE) start_pts_ = st->start_time;
        frame_ = av_frame_alloc();
        packet_ = av_packet_alloc();
        if (!frame_ || !packet_) throw InputError(url_ + ": out of memory");
        describe_ =
            std::string(codec->name) + " " + std::to_string(decoder_->width) + "x" + std::to_string(decoder_->height);
        if (fps_ > 0) {
            char b[32];
            std::snprintf(b, sizeof(b), " %.3g fps", fps_);
            describe_ += b;
        }
    }

    ReadStatus read(StreamFrame& out, std::string& error) override {
        while (true) {
            int rc = avcodec_receive_frame(decoder_, frame_);
            if (rc == 0) {
                if (options_.max_pixels > 0 &&
                    static_cast<std::int64_t>(frame_->width) * frame_->height > options_.max_pixels) {
                    error = pixel_limit_error(url_, frame_->width, frame_->height, options_.max_pixels, "a frame of");
                    av_frame_unref(frame_);
                    return ReadStatus::error;
                }
                const bool converted = convert(out, error);
                av_frame_unref(frame_);
                return converted ? ReadStatus::frame : ReadStatus::error;
            }
            if (rc == AVERROR_EOF) return end(error);
            if (rc != AVERROR(EAGAIN)) {
                error = url_ + ": decoding failed: " + av_error(rc);
                return ReadStatus::error;
            }
            if (flushed_) return end(error);
            arm();
            rc = av_read_frame(format_, packet_);
            if (rc == AVERROR_EOF) {
                avcodec_send_packet(decoder_, nullptr);  // drain the frames the decoder holds
                flushed_ = true;
                continue;
            }
            if (rc < 0) {
                error = url_ + ": reading failed: " + failure(rc);
                return ReadStatus::error;
            }
            if (packet_->stream_index == stream_) {
                rc = avcodec_send_packet(decoder_, packet_);
                // A corrupt packet (a damaged file, packets lost on UDP) is skipped: the decoder
                // resynchronises at the next key frame. Only a run of them is an error.
                if (rc < 0 && rc != AVERROR(EAGAIN)) {
                    // A frame size past FFmpeg's max_pixels fails the packet: said as our limit,
                    // not skipped as damage (the decoder has taken the new size by then).
                    if (options_.max_pixels > 0 &&
                        static_cast<std::int64_t>(decoder_->width) * decoder_->height > options_.max_pixels) {
                        av_packet_unref(packet_);
                        error = pixel_limit_error(url_, decoder_->width, decoder_->height, options_.max_pixels,
                                                  "a frame of");
                        return ReadStatus::error;
                    }
                    ++undecodable_;
                    last_undecodable_ = av_error(rc);
                    if (++bad_packets_ > 100) {
                        av_packet_unref(packet_);
                        error = url_ + ": 100 undecodable packets in a row (last: " + av_error(rc) + ")";
                        return ReadStatus::error;
                    }
                } else {
                    bad_packets_ = 0;
                }
            }
            av_packet_unref(packet_);
        }
    }

    double frame_rate() const override { return fps_; }
    std::string describe() const override { return describe_; }
    std::vector<std::string> warnings() const override { return warnings_; }

private:
    static int interrupt_cb(void* opaque) {
        auto* self = static_cast<FfmpegReader*>(opaque);
        if (self->interrupted_ || (self->stop_ && *self->stop_)) return 1;
        if (SteadyClock::now() > self->deadline_) {
            self->timed_out_ = true;
            return 1;
        }
        return 0;
    }

    void arm() { arm(options_.io_timeout_s); }
    void arm(double seconds) {
        deadline_ = SteadyClock::now() + std::chrono::microseconds(static_cast<std::int64_t>(seconds * 1e6));
    }

    // FFmpeg's message, or what the interrupt meant.
    std::string failure(int rc) const {
        if (rc == AVERROR_EXIT || (rc == AVERROR(ETIMEDOUT))) {
            if (interrupted_ || (stop_ && *stop_)) return "stopped";
            char b[96];
            std::snprintf(b, sizeof(b), "no data for %.3g s (--io-timeout)", options_.io_timeout_s);
            return b;
        }
        return av_error(rc);
    }

    static std::string hint(SourceKind kind) {
        switch (kind) {
            case SourceKind::network:
                return " (check that the address is right and the stream is being served)";
            case SourceKind::device:
                return " (check that the device exists and no other program holds it)";
            default:
                return " (expected a video file FFmpeg can read: MP4, MKV, AVI, MPEG-TS ...)";
        }
    }

    // Converts frame_ to 8-bit BGR in out.bgr. False (with `error` set) when swscale has no
    // conversion from the decoder's pixel format.
    bool convert(StreamFrame& out, std::string& error) {
        const int w = frame_->width, h = frame_->height;
        sws_ = sws_getCachedContext(sws_, w, h, static_cast<AVPixelFormat>(frame_->format), w, h, AV_PIX_FMT_BGR24,
                                    SWS_BILINEAR, nullptr, nullptr, nullptr);
        if (!sws_ || w <= 0 || h <= 0) {
            const char* name = av_get_pix_fmt_name(static_cast<AVPixelFormat>(frame_->format));
            error = url_ + ": cannot convert its " + std::to_string(w) + "x" + std::to_string(h) + " " +
                    (name ? name : "unknown") + " frames to BGR";
            return false;
        }
        out.bgr = padded_bgr(h, w);
        uint8_t* dst[4] = {out.bgr.data, nullptr, nullptr, nullptr};
        int dst_stride[4] = {static_cast<int>(out.bgr.step[0]), 0, 0, 0};
        sws_scale(sws_, frame_->data, frame_->linesize, 0, h, dst, dst_stride);
        const std::int64_t ts = frame_->best_effort_timestamp;
        out.pts_s = ts == AV_NOPTS_VALUE ? std::nan("") : static_cast<double>(ts - start_pts_) * time_base_;
        return true;
    }

    std::string url_;
    ReaderOptions options_;
    const std::atomic<bool>* stop_;
    SteadyClock::time_point deadline_{};
    AVFormatContext* format_ = nullptr;
    AVCodecContext* decoder_ = nullptr;
    SwsContext* sws_ = nullptr;
    AVFrame* frame_ = nullptr;
    AVPacket* packet_ = nullptr;
    int stream_ = -1;
    double fps_ = 0, time_base_ = 0;
    std::int64_t start_pts_ = 0;
    bool flushed_ = false;
    bool timed_out_ = false;  // the interrupt callback ended a call at its deadline
    int bad_packets_ = 0;
    std::int64_t undecodable_ = 0;  // packets the decoder refused, in all
    std::string last_undecodable_;

    // The end of the stream; `error` says what was skipped on the way, if anything.
    ReadStatus end(std::string& error) const {
        if (undecodable_ > 0)
            error = url_ + ": " + std::to_string(undecodable_) + " packet(s) could not be decoded and were skipped (last: " +
                    last_undecodable_ + ")";
        return ReadStatus::end;
    }
    std::string describe_;
    std::vector<std::string> warnings_;
};

// A folder of images, in name order, as frames (the io module's list and decode).
class FolderReader final : public FrameReader {
public:
    FolderReader(const std::string& dir, const ReaderOptions& options) : dir_(dir), options_(options) {
        files_ = list_images(dir);
        if (files_.empty())
            throw InputError(
                dir + ": a folder with no image files (expected .jpg, .png, .bmp, .tif ... files, read in name order)");
    }
    ReadStatus read(StreamFrame& out, std::string& error) override {
        if (next_ >= files_.size()) return ReadStatus::end;
        const std::size_t i = next_++;
        out.file = fs::path(files_[i]).filename().string();
        try {
            out.bgr = load_image(files_[i], options_.max_pixels);
        } catch (const OptionError& e) {
            // The pixel limit: named as the library and the command line know it.
            error = e.with_name(e.option() + ", --max-image-pixels");
            return ReadStatus::skipped;
        } catch (const std::exception& e) {
            // One bad image (truncated, not an image) is skipped; the folder goes on.
            error = e.what();
            if (error.find(files_[i]) == std::string::npos) error = files_[i] + ": " + error;
            return ReadStatus::skipped;
        }
        out.pts_s = options_.folder_fps > 0 ? static_cast<double>(i) / options_.folder_fps : std::nan("");
        return ReadStatus::frame;
    }
    double frame_rate() const override { return options_.folder_fps; }
    std::string describe() const override { return "folder of " + std::to_string(files_.size()) + " image(s)"; }

private:
    std::string dir_;
    ReaderOptions options_;
    std::vector<std::string> files_;
    std::size_t next_ = 0;
};

}  // namespace

SourceKind source_kind(const std::string& url) {
    const auto scheme = url.find("://");
    if (scheme != std::string::npos && url.compare(0, 7, "file://") != 0) return SourceKind::network;
    if (starts_with(url, "/dev/video")) return SourceKind::device;
    std::error_code ec;
    if (fs::is_directory(url, ec)) return SourceKind::folder;
    return SourceKind::file;
}

std::string to_string(SourceKind kind) {
    switch (kind) {
        case SourceKind::file:
            return "file";
        case SourceKind::folder:
            return "folder";
        case SourceKind::network:
            return "network";
        case SourceKind::device:
            return "device";
    }
    return "?";
}

std::unique_ptr<FrameReader> open_frame_reader(const std::string& url, const ReaderOptions& given,
                                               const std::atomic<bool>* interrupted) {
    ReaderOptions options = given;
    if (options.max_pixels < 0) options.max_pixels = Limits{}.max_image_pixels;
    const SourceKind kind = source_kind(url);
    if (kind == SourceKind::folder) return std::make_unique<FolderReader>(url, options);
    if (kind == SourceKind::file) {
        std::error_code ec;
        if (!fs::exists(url, ec))
            throw PermanentSourceError(url +
                                       ": no such file (expected a video file, an image folder, a /dev/videoN "
                                       "device or an rtsp://, http(s)://, udp:// address)");
        // A FIFO or a socket would block FFmpeg's open until a writer comes, where no stop or
        // timeout reaches it; a device that is not /dev/videoN is not a video file either.
        if (!fs::is_regular_file(url, ec))
            throw PermanentSourceError(url +
                                       ": not a regular file (a FIFO, socket or device); expected a video file, an "
                                       "image folder, a /dev/videoN device or an rtsp://, http(s)://, udp:// address");
    }
    auto r = std::make_unique<FfmpegReader>(url, options, interrupted);
    r->open();
    return r;
}

}  // namespace tiledet
