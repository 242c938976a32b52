// A one-line progress bar on stderr for long runs (a big raster's tiles, a folder of images,
// eval): done/total, rate and ETA, redrawn at most 5 times a second. Drawn only when stderr is a
// terminal, so logs and pipes never get carriage returns. Thread-safe (the pipeline calls
// tile progress from its completion thread).
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>

namespace tiledet::cli {

class ProgressBar {
public:
    // `unit`: what is counted ("tiles", "images"); `enabled` false: every call does nothing.
    ProgressBar(std::string unit, bool enabled) : unit_(std::move(unit)), enabled_(enabled && ::isatty(STDERR_FILENO)) {}
    ~ProgressBar() { clear(); }
    ProgressBar(const ProgressBar&) = delete;
    ProgressBar& operator=(const ProgressBar&) = delete;

    bool enabled() const { return enabled_; }

    void update(std::size_t done, std::size_t total, const std::string& label = {}) {
        if (!enabled_) return;
        std::lock_guard lk(mu_);
        const auto now = std::chrono::steady_clock::now();
        if (!started_) {
            started_ = true;
            start_ = now;
        } else if (done < total && now - last_ < std::chrono::milliseconds(200)) {
            return;
        }
        last_ = now;
        const double s = std::chrono::duration<double>(now - start_).count();
        const double rate = s > 0 ? static_cast<double>(done) / s : 0.0;
        std::string eta = "--:--";
        if (rate > 0 && total >= done) {
            const long left = static_cast<long>(static_cast<double>(total - done) / rate + 0.5);
            char buf[32];
            std::snprintf(buf, sizeof buf, "%ld:%02ld", left / 60, left % 60);
            eta = buf;
        }
        constexpr int kWidth = 30;
        const int filled = total ? static_cast<int>(kWidth * static_cast<double>(done) / static_cast<double>(total)) : 0;
        std::fprintf(stderr, "\r\033[K%s[%s%s] %zu/%zu %s  %.1f %s/s  ETA %s", label.empty() ? "" : (label + " ").c_str(),
                     std::string(static_cast<std::size_t>(filled), '#').c_str(),
                     std::string(static_cast<std::size_t>(kWidth - filled), ' ').c_str(), done, total, unit_.c_str(),
                     rate, unit_.c_str(), eta.c_str());
        std::fflush(stderr);
        shown_ = true;
    }

    // Erases the line (before other output, and at the end).
    void clear() {
        if (!enabled_) return;
        std::lock_guard lk(mu_);
        if (shown_) std::fprintf(stderr, "\r\033[K");
        shown_ = false;
    }

private:
    std::string unit_;
    bool enabled_;
    std::mutex mu_;
    bool started_ = false, shown_ = false;
    std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace tiledet::cli
