// What the streams module reads from outside: the text of `--source` values and sources files
// (parse_sources_list, split_source_spec, source_kind), `--policy` values (FramePolicy::parse),
// and the bytes of a video file (open_frame_reader through FFmpeg, frames converted to BGR).
// Input: the first byte picks the mode (even: text, odd: video bytes), the rest is the input.
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "tiledet/error.hpp"
#include "tiledet/streams/frame_reader.hpp"
#include "tiledet/streams/stream_runner.hpp"

namespace {

void check(bool ok) {
    if (!ok) __builtin_trap();
}

void text_mode(const std::string& text) {
    std::istringstream in(text);
    std::vector<std::string> lines;
    try {
        lines = tiledet::parse_sources_list(in);
    } catch (const tiledet::InputError&) {
        return;  // a line that is not text: refused by name
    }
    for (const std::string& line : lines) {
        // stream_runner.hpp: lines are trimmed, never blank or comments.
        check(!line.empty() && line[0] != '#' && line.find('\n') == std::string::npos);
        check(tiledet::is_text_line(line));
        check(line.find_first_of(" \t\r") != 0 && line.find_last_of(" \t\r") != line.size() - 1);
        const auto [name, url] = tiledet::split_source_spec(line);
        if (name.empty()) {
            check(url == line);
        } else {
            check(name + "=" + url == line && !url.empty());
            check(name.find_first_of(":/\\.") == std::string::npos);
        }
        (void)tiledet::to_string(tiledet::source_kind(url));
        try {
            const tiledet::FramePolicy p = tiledet::FramePolicy::parse(line);
            if (p.kind == tiledet::FramePolicy::Kind::staleness) {
                check(p.staleness_s >= 1e-6 && p.staleness_s <= 1e6);
                // What str() prints parses back to the same policy (to %g's 6 digits).
                const tiledet::FramePolicy q = tiledet::FramePolicy::parse(p.str());
                check(q.kind == p.kind && std::fabs(q.staleness_s - p.staleness_s) <= 1e-5 * p.staleness_s);
            }
        } catch (const tiledet::OptionError& e) {
            check(e.option() == "policy");
        }
    }
}

void video_mode(const std::uint8_t* data, std::size_t size) {
    // One file per fuzzing process, rewritten for each input (FFmpeg reads by path).
    static const std::string path = [] {
        static std::string p = "/tmp/tiledet_fuzz_streams_" + std::to_string(::getpid()) + ".bin";
        std::atexit([] { std::remove(p.c_str()); });
        return p;
    }();
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) return;
    const bool written = std::fwrite(data, 1, size, f) == size;
    std::fclose(f);
    if (!written) return;
    tiledet::ReaderOptions options;
    // Short: a mutated HLS playlist without #EXT-X-ENDLIST is a live one, which FFmpeg reloads
    // until the io timeout ends it (bounded, as it must be, but 5 s an input would starve the fuzzer).
    options.io_timeout_s = 0.25;
    options.max_pixels = std::int64_t{1} << 22;  // 4 M pixels: bounds what a crafted header may allocate
    try {
        auto reader = tiledet::open_frame_reader(path, options);
        (void)reader->describe();
        check(std::isfinite(reader->frame_rate()) || reader->frame_rate() == 0);
        std::string error;
        for (int i = 0; i < 16; ++i) {
            tiledet::StreamFrame frame;
            const tiledet::ReadStatus st = reader->read(frame, error);
            if (st == tiledet::ReadStatus::frame) {
                check(frame.bgr.type() == CV_8UC3 && !frame.bgr.empty());
                check(static_cast<std::int64_t>(frame.bgr.rows) * frame.bgr.cols <= options.max_pixels);
            } else if (st == tiledet::ReadStatus::error) {
                check(!error.empty());
                break;
            } else if (st == tiledet::ReadStatus::end) {
                break;
            }
        }
    } catch (const tiledet::InputError&) {
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    if (data[0] % 2 == 0)
        text_mode(std::string(reinterpret_cast<const char*>(data) + 1, size - 1));
    else
        video_mode(data + 1, size - 1);
    return 0;
}
