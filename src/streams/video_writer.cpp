// Encoding with libavcodec and muxing with libavformat: the send_frame / receive_packet loop
// and av_packet_rescale_ts into the stream's time base, as FFmpeg's doc/examples/encode_video.c
// and mux.c describe (no code taken from them).
#include "tiledet/streams/video_writer.hpp"

#include <cmath>
#include <opencv2/imgproc.hpp>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
}

#include "tiledet/error.hpp"

namespace tiledet {
namespace {
std::string av_error(int rc) {
    char buf[AV_ERROR_MAX_STRING_SIZE] = {};
    av_strerror(rc, buf, sizeof(buf));
    return buf;
}
}  // namespace

struct VideoWriter::Impl {
    std::string path;
    int width = 0, height = 0;  // even
    AVFormatContext* out = nullptr;
    AVCodecContext* enc = nullptr;
    AVStream* stream = nullptr;
    SwsContext* sws = nullptr;
    AVFrame* frame = nullptr;
    AVPacket* packet = nullptr;
    std::int64_t next_pts = 0;
    bool open = false;
    std::string codec_name;

    ~Impl() {
        sws_freeContext(sws);
        av_frame_free(&frame);
        av_packet_free(&packet);
        avcodec_free_context(&enc);
        if (out && !(out->oformat->flags & AVFMT_NOFILE)) avio_closep(&out->pb);
        avformat_free_context(out);
    }

    [[noreturn]] void fail(const std::string& what, int rc) const {
        throw InputError(path + ": cannot write the annotated video: " + what + ": " + av_error(rc));
    }

    void drain(bool flushing) {
        while (true) {
            int rc = avcodec_receive_packet(enc, packet);
            if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return;
            if (rc < 0) fail("encoding", rc);
            // One frame long (the time base is one frame): without a duration the MP4's edit list
            // ends at the last frame's start and readers drop that frame.
            if (packet->duration <= 0) packet->duration = 1;
            av_packet_rescale_ts(packet, enc->time_base, stream->time_base);
            packet->stream_index = stream->index;
            rc = av_interleaved_write_frame(out, packet);
            if (rc < 0) fail("writing", rc);
        }
        (void)flushing;
    }
};

VideoWriter::VideoWriter(const std::string& path, int width, int height, double fps) : impl_(std::make_unique<Impl>()) {
    Impl& m = *impl_;
    av_log_set_level(AV_LOG_FATAL);  // encoder statistics and warnings: errors come back as exceptions
    m.path = path;
    m.width = std::max(2, width & ~1);
    m.height = std::max(2, height & ~1);
    if (!(fps > 0) || !std::isfinite(fps)) fps = 25;
    int rc = avformat_alloc_output_context2(&m.out, nullptr, nullptr, path.c_str());
    if (rc < 0 || !m.out) {
        m.out = nullptr;
        throw InputError(
            path +
            ": cannot write the annotated video: no container for this file name (use .mp4 or .mkv): " + av_error(rc));
    }
    const AVCodec* codec = avcodec_find_encoder_by_name("libx264");
    if (!codec) codec = avcodec_find_encoder(AV_CODEC_ID_MPEG4);
    if (!codec) throw InputError(path + ": this FFmpeg build has neither an H.264 (libx264) nor an MPEG-4 encoder");
    m.codec_name = codec->name;
    m.stream = avformat_new_stream(m.out, nullptr);
    m.enc = avcodec_alloc_context3(codec);
    if (!m.stream || !m.enc) throw InputError(path + ": out of memory opening the encoder");
    m.enc->width = m.width;
    m.enc->height = m.height;
    m.enc->pix_fmt = AV_PIX_FMT_YUV420P;
    const AVRational rate = av_d2q(fps, 100000);
    m.enc->time_base = av_inv_q(rate);
    m.enc->framerate = rate;
    m.enc->gop_size = 50;
    m.enc->max_b_frames = 0;  // frames leave the encoder in order: a stream's video has no reorder delay
    m.enc->thread_count = 1;  // annotation must not take cores from inference
    if (m.codec_name == "libx264") {
        av_opt_set(m.enc->priv_data, "preset", "veryfast", 0);
        av_opt_set(m.enc->priv_data, "crf", "23", 0);
    } else {
        m.enc->bit_rate = static_cast<std::int64_t>(m.width) * m.height * 4;  // mpeg4: ~4 bits a pixel per second
    }
    if (m.out->oformat->flags & AVFMT_GLOBALHEADER) m.enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    rc = avcodec_open2(m.enc, codec, nullptr);
    if (rc < 0) m.fail(std::string("opening the ") + codec->name + " encoder", rc);
    rc = avcodec_parameters_from_context(m.stream->codecpar, m.enc);
    if (rc < 0) m.fail("setting stream parameters", rc);
    m.stream->time_base = m.enc->time_base;
    if (!(m.out->oformat->flags & AVFMT_NOFILE)) {
        rc = avio_open(&m.out->pb, path.c_str(), AVIO_FLAG_WRITE);
        if (rc < 0) m.fail("opening the file", rc);
    }
    rc = avformat_write_header(m.out, nullptr);
    if (rc < 0) m.fail("writing the header", rc);
    m.frame = av_frame_alloc();
    m.packet = av_packet_alloc();
    if (!m.frame || !m.packet) throw InputError(path + ": out of memory");
    m.frame->format = AV_PIX_FMT_YUV420P;
    m.frame->width = m.width;
    m.frame->height = m.height;
    rc = av_frame_get_buffer(m.frame, 0);
    if (rc < 0) m.fail("allocating a frame", rc);
    m.sws = sws_getContext(m.width, m.height, AV_PIX_FMT_BGR24, m.width, m.height, AV_PIX_FMT_YUV420P, SWS_BILINEAR,
                           nullptr, nullptr, nullptr);
    if (!m.sws) throw InputError(path + ": cannot set up the colour conversion");
    m.open = true;
}

VideoWriter::~VideoWriter() {
    try {
        close();
    } catch (...) {
    }
}

void VideoWriter::write(const cv::Mat& bgr) {
    Impl& m = *impl_;
    if (!m.open) throw InputError(m.path + ": the video is closed");
    cv::Mat src = bgr;
    // An odd size is cropped by one pixel; any other size is resized to the video's.
    if (src.cols - m.width > 1 || src.rows - m.height > 1 || src.cols < m.width || src.rows < m.height)
        cv::resize(bgr, src, cv::Size(m.width, m.height));
    src = src(cv::Rect(0, 0, m.width, m.height));
    if (!src.isContinuous()) src = src.clone();
    int rc = av_frame_make_writable(m.frame);
    if (rc < 0) m.fail("frame buffer", rc);
    const uint8_t* in[4] = {src.data, nullptr, nullptr, nullptr};
    const int in_stride[4] = {static_cast<int>(src.step[0]), 0, 0, 0};
    sws_scale(m.sws, in, in_stride, 0, m.height, m.frame->data, m.frame->linesize);
    m.frame->pts = m.next_pts++;
    rc = avcodec_send_frame(m.enc, m.frame);
    if (rc < 0) m.fail("encoding", rc);
    m.drain(false);
}

void VideoWriter::close() {
    Impl& m = *impl_;
    if (!m.open) return;
    m.open = false;
    avcodec_send_frame(m.enc, nullptr);
    m.drain(true);
    const int rc = av_write_trailer(m.out);
    if (rc < 0) m.fail("writing the trailer", rc);
}

std::string VideoWriter::codec() const {
    return impl_->codec_name;
}
std::int64_t VideoWriter::frames() const {
    return impl_->next_pts;
}

}  // namespace tiledet
