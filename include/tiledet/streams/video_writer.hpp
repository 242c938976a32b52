// Frames out as a video file through libavcodec/libavformat (the container follows the
// extension: .mp4, .mkv ...): H.264 (libx264) when this FFmpeg build has it, else MPEG-4 Part 2.
#pragma once

#include <memory>
#include <opencv2/core.hpp>
#include <string>

namespace tiledet {

class VideoWriter {
public:
    // Throws InputError (the path and FFmpeg's message) when the file or encoder cannot be opened.
    // Odd sizes are cropped to even (4:2:0 chroma needs them). fps <= 0: 25.
    VideoWriter(const std::string& path, int width, int height, double fps);
    ~VideoWriter();  // close(), errors swallowed
    VideoWriter(const VideoWriter&) = delete;
    VideoWriter& operator=(const VideoWriter&) = delete;

    void write(const cv::Mat& bgr);  // 8-bit BGR of the size given (resized if not)
    void close();                    // flushes the encoder and writes the trailer; idempotent
    std::string codec() const;
    std::int64_t frames() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace tiledet
