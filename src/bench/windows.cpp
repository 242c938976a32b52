#include "tiledet/bench/windows.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>

namespace tiledet::bench {

WindowStats window_stats(std::span<const Completion> completions, double seconds) {
    WindowStats w;
    w.seconds = seconds;
    w.requests = completions.size();
    double latency_sum = 0;
    for (const Completion& c : completions) {
        w.tiles += c.tiles.size();
        w.images += static_cast<std::size_t>(c.images);
        latency_sum += c.latency_ms;
    }
    w.requests_per_s = seconds > 0 ? static_cast<double>(w.requests) / seconds : 0;
    w.mean_latency_ms = w.requests ? latency_sum / static_cast<double>(w.requests) : 0;
    return w;
}

bool windows_agree(std::span<const WindowStats> windows, int count, double tolerance) {
    if (count <= 0 || windows.size() < static_cast<std::size_t>(count)) return false;
    const auto last = windows.last(static_cast<std::size_t>(count));
    double tput = 0, lat = 0;
    for (const WindowStats& w : last) {
        if (w.requests == 0) return false;
        tput += w.requests_per_s;
        lat += w.mean_latency_ms;
    }
    tput /= count;
    lat /= count;
    auto within = [tolerance](double v, double mean) {
        return v >= (1 - tolerance) * mean && v <= (1 + tolerance) * mean;
    };
    return std::all_of(last.begin(), last.end(), [&](const WindowStats& w) {
        return within(w.requests_per_s, tput) && within(w.mean_latency_ms, lat);
    });
}

namespace {

// What the workers and the measuring thread share.
struct Shared {
    std::mutex mutex;
    std::condition_variable changed;
    std::vector<Completion> pending;  // completed since the last window closed
    std::atomic<bool> stop{false};
    std::string error;
};

void worker_loop(Shared& shared, int worker, const std::function<Completion(int)>& step) {
    while (!shared.stop.load(std::memory_order_relaxed)) {
        Completion c;
        try {
            c = step(worker);
        } catch (const std::exception& e) {
            std::lock_guard lock(shared.mutex);
            if (shared.error.empty()) shared.error = e.what();
            shared.stop = true;
            shared.changed.notify_all();
            return;
        }
        if (c.done == BenchClock::time_point{}) c.done = BenchClock::now();
        std::lock_guard lock(shared.mutex);
        shared.pending.push_back(std::move(c));
        shared.changed.notify_all();
    }
}

double seconds_between(BenchClock::time_point a, BenchClock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
}

}  // namespace

WindowedRun run_windows(int workers, const std::function<Completion(int)>& step, const WindowOptions& options) {
    WindowedRun run;
    Shared shared;
    std::vector<std::thread> threads;
    threads.reserve(static_cast<std::size_t>(std::max(workers, 1)));
    for (int w = 0; w < std::max(workers, 1); ++w)
        threads.emplace_back([&shared, w, &step] { worker_loop(shared, w, step); });

    std::vector<std::vector<Completion>> per_window;
    {
        std::unique_lock lock(shared.mutex);
        // Warm-up: at least one completed request, so first-run costs never land in a window.
        const auto warm_end = BenchClock::now() + options.warmup;
        shared.changed.wait_until(lock, warm_end, [&] { return shared.stop.load(); });
        shared.changed.wait(lock, [&] { return shared.stop.load() || !shared.pending.empty(); });
        run.warmup_requests = shared.pending.size();
        shared.pending.clear();
        run.after_warmup = read_process_memory();

        auto window_start = BenchClock::now();
        for (int i = 0; i < options.max_windows && !shared.stop; ++i) {
            if (options.requests > 0) {
                shared.changed.wait(lock, [&] { return shared.stop || shared.pending.size() >= options.requests; });
            } else {
                shared.changed.wait_until(lock, window_start + options.duration, [&] { return shared.stop.load(); });
                shared.changed.wait_until(lock, window_start + 10 * options.duration, [&] {
                    return shared.stop || shared.pending.size() >= options.min_requests;
                });
            }
            if (shared.stop) break;
            const auto window_end = BenchClock::now();
            std::vector<Completion> done;
            done.swap(shared.pending);
            run.windows.push_back(window_stats(done, seconds_between(window_start, window_end)));
            run.windows.back().rss_kb = read_process_memory().rss_kb;
            per_window.push_back(std::move(done));
            window_start = window_end;
            if (windows_agree(run.windows, options.stable_windows, options.stability)) {
                run.stable = true;
                break;
            }
        }
        shared.stop = true;
        run.error = shared.error;
    }
    run.at_end = read_process_memory();
    for (std::thread& t : threads) t.join();

    // Report the last `stable_windows` windows (the agreeing ones when stable; the most recent
    // when not, flagged by stable = false).
    const int n = std::min<int>(options.stable_windows, static_cast<int>(per_window.size()));
    run.reported_windows = n;
    for (std::size_t i = per_window.size() - static_cast<std::size_t>(n); i < per_window.size(); ++i) {
        run.measured_seconds += run.windows[i].seconds;
        for (Completion& c : per_window[i]) run.measured.push_back(std::move(c));
    }
    return run;
}

}  // namespace tiledet::bench
