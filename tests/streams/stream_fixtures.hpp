// Test videos and live streams made with the `ffmpeg` command at test time, into the build tree:
// a white square moving 16 px a frame across black, so each frame's expected box is known
// (x = 20 + 16 n, y = 200, 80 x 80; placed by time, as overlay's n starts at 1 in FFmpeg 5.1)
// and a frame delivered out of order or twice shows.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace tiledet::testing_streams {

namespace fs = std::filesystem;

constexpr int kSquare = 80, kStartX = 20, kStepX = 16, kY = 200;

inline fs::path work_dir() {
    fs::path d = fs::path(TILEDET_STREAMS_TEST_DIR);
    fs::create_directories(d);
    return d;
}

inline bool have_ffmpeg() {
    return std::system("ffmpeg -version >/dev/null 2>&1") == 0;
}

#define TILEDET_REQUIRE_FFMPEG()                                                                        \
    do {                                                                                                \
        if (!::tiledet::testing_streams::have_ffmpeg())                                                 \
            GTEST_SKIP() << "needs the ffmpeg command (Debian: ffmpeg, installed by scripts/setup.sh)"; \
    } while (0)

// The moving-square clip: `frames` frames of w x h at `fps`, into work_dir()/name (made once;
// written under a temporary name and renamed, as tests run in parallel). The extension picks
// the container; MPEG-TS gets a key frame every 5 frames so a reconnect resynchronises fast.
inline fs::path moving_square_clip(const std::string& name, int frames, int fps = 10, int w = 640, int h = 640) {
    const fs::path out = work_dir() / name;
    if (fs::exists(out)) return out;
    const fs::path tmp = work_dir() / (std::to_string(::getpid()) + "_" + name);
    const std::string size = std::to_string(w) + "x" + std::to_string(h), sq = std::to_string(kSquare);
    const std::string cmd = "ffmpeg -nostdin -loglevel error -y -f lavfi -i color=black:s=" + size +
                            ":r=" + std::to_string(fps) + " -f lavfi -i color=white:s=" + sq + "x" + sq +
                            ":r=" + std::to_string(fps) + " -filter_complex \"[0][1]overlay=x='" +
                            std::to_string(kStartX) + "+t*" + std::to_string(kStepX * fps) +
                            "':y=" + std::to_string(kY) + ",format=yuv420p\" -frames:v " + std::to_string(frames) +
                            " -c:v libx264 -preset ultrafast -g 5 -bf 0 " +
                            (out.extension() == ".ts" ? "-f mpegts " : "-f mp4 ") + "'" + tmp.string() + "'";
    if (std::system(cmd.c_str()) != 0) return {};
    fs::rename(tmp, out);
    return out;
}

// A process running `args` (argv[0] looked up on PATH); killed by stop() or the destructor.
class Process {
public:
    explicit Process(std::vector<std::string> args) : args_(std::move(args)) { start(); }
    ~Process() { stop(); }
    void start() {
        std::vector<char*> argv;
        for (auto& a : args_) argv.push_back(a.data());
        argv.push_back(nullptr);
        if (posix_spawnp(&pid_, argv[0], nullptr, nullptr, argv.data(), environ) != 0) pid_ = -1;
    }
    void stop() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGKILL);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
    }
    bool running() const { return pid_ > 0; }
    void signal(int sig) {
        if (pid_ > 0) ::kill(pid_, sig);
    }
    // Waits for it to exit by itself; its exit code (-1: killed by a signal or not running).
    int wait() {
        if (pid_ <= 0) return -1;
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    // True once the process has exited by itself (it is then reaped).
    bool exited() {
        if (pid_ <= 0) return true;
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return true;
        }
        return false;
    }

private:
    std::vector<std::string> args_;
    pid_t pid_ = -1;
};

// ffmpeg sending `clip` in a loop at its frame rate as MPEG-TS over UDP to 127.0.0.1:port.
inline std::vector<std::string> udp_sender_args(const fs::path& clip, int port) {
    return {"ffmpeg",      "-nostdin",
            "-loglevel",   "error",
            "-re",         "-stream_loop",
            "-1",          "-i",
            clip.string(), "-c",
            "copy",        "-f",
            "mpegts",      "udp://127.0.0.1:" + std::to_string(port) + "?pkt_size=1316"};
}

// A port for this test process: tests run in parallel, each in its own process, so each process
// gets ten ports of its own (offset 0..9), apart from any other live pid's modulo 4000.
inline int test_port(int offset = 0) {
    return 20000 + static_cast<int>(::getpid() % 4000) * 10 + offset % 10;
}

template <class F>
bool wait_until(F&& done, std::chrono::milliseconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
        if (done()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return done();
}

}  // namespace tiledet::testing_streams
