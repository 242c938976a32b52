#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "log_lines.hpp"
#include "stats_recorder.hpp"

namespace tiledet {
namespace batching_detail {

void LatencyWindow::add(std::chrono::nanoseconds d) {
    if (samples_.size() < capacity_) {
        samples_.push_back(d.count());
    } else {
        samples_[next_] = d.count();
        next_ = (next_ + 1) % capacity_;
    }
}

LatencySummary LatencyWindow::summarize() const {
    LatencySummary s;
    if (samples_.empty()) return s;
    std::vector<std::int64_t> v = samples_;
    std::sort(v.begin(), v.end());
    // Nearest-rank percentile: the smallest sample with at least p% of samples at or below it.
    auto pct = [&](double p) {
        const std::size_t rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
        return static_cast<double>(v[std::clamp<std::size_t>(rank, 1, v.size()) - 1]) / 1e6;
    };
    double sum = 0;
    for (std::int64_t x : v) sum += static_cast<double>(x);
    s.samples = v.size();
    s.mean_ms = sum / static_cast<double>(v.size()) / 1e6;
    s.p50_ms = pct(50);
    s.p90_ms = pct(90);
    s.p99_ms = pct(99);
    return s;
}

void StatsRecorder::add_batch(const BatchRecord& record, ExecutorClock::time_point started,
                              ExecutorClock::time_point finished, const RequestTimings* timings, std::size_t count) {
    std::lock_guard lk(mu_);
    ++batches_;
    if (record.failed) ++failed_batches_;
    padded_ += static_cast<std::uint64_t>(record.padding);
    items_in_batches_ += static_cast<std::uint64_t>(record.size);
    const auto size = static_cast<std::size_t>(record.size);
    if (histogram_.size() <= size) histogram_.resize(size + 1, 0);
    ++histogram_[size];
    if (!any_ || started < first_start_) first_start_ = started;
    if (!any_ || finished > last_finish_) last_finish_ = finished;
    any_ = true;
    for (std::size_t i = 0; i < count; ++i) {
        queue_.add(timings[i].queue());
        compute_.add(timings[i].compute());
        end_to_end_.add(timings[i].end_to_end());
    }
}

void StatsRecorder::fill(ExecutorStats& out) const {
    out.submitted = submitted.load(std::memory_order_relaxed);
    out.completed = completed.load(std::memory_order_relaxed);
    out.failed = failed.load(std::memory_order_relaxed);
    out.expired = expired.load(std::memory_order_relaxed);
    out.cancelled = cancelled.load(std::memory_order_relaxed);
    out.rejected = rejected.load(std::memory_order_relaxed);
    out.shut_down = shut_down.load(std::memory_order_relaxed);
    out.retried_batches = retried_batches.load(std::memory_order_relaxed);
    out.retried_requests = retried_requests.load(std::memory_order_relaxed);
    std::lock_guard lk(mu_);
    out.batches = batches_;
    out.failed_batches = failed_batches_;
    out.padded_slots = padded_;
    out.mean_batch_size = batches_ ? static_cast<double>(items_in_batches_) / static_cast<double>(batches_) : 0.0;
    out.batch_size_histogram = histogram_;
    out.queue = queue_.summarize();
    out.compute = compute_.summarize();
    out.end_to_end = end_to_end_.summarize();
    out.busy_span = any_ ? std::chrono::duration_cast<std::chrono::nanoseconds>(last_finish_ - first_start_)
                         : std::chrono::nanoseconds{0};
    const double secs = std::chrono::duration<double>(out.busy_span).count();
    out.items_per_second = secs > 0 ? static_cast<double>(out.completed) / secs : 0.0;
}

}  // namespace batching_detail

std::string format_summary(const ExecutorStats& s) {
    std::ostringstream os;
    os << execution_line_from_histogram(s.device, s.batch_size_histogram,
                                        std::chrono::duration<double, std::milli>(s.busy_span).count(), "image",
                                        s.sequential_fallback ? std::optional<bool>(true) : std::nullopt)
       << '\n';
    os << "  requests: " << s.submitted << " submitted, " << s.completed << " completed, " << s.failed << " failed, "
       << s.expired << " deadline expired, " << s.cancelled << " cancelled, " << s.rejected
       << " rejected (queue full), " << s.shut_down << " refused at shutdown\n";
    char mean[32];
    std::snprintf(mean, sizeof mean, "%.2f", s.mean_batch_size);
    os << "  batches: " << s.batches << " (" << s.failed_batches << " failed), mean size " << mean << " of max "
       << s.max_batch_size << ", padded slots " << s.padded_slots << ", instances " << s.instances << "\n";
    if (s.retried_batches || !s.failed_batch_sizes.empty()) {
        os << "  retries: " << s.retried_batches << " failed batches re-run in smaller batches (" << s.retried_requests
           << " requests); sizes the model failed at, no longer formed:";
        for (int n : s.failed_batch_sizes) os << ' ' << n;
        if (s.failed_batch_sizes.empty()) os << " none";
        os << '\n';
    }
    os << "  batch sizes:";
    bool any = false;
    for (std::size_t n = 0; n < s.batch_size_histogram.size(); ++n) {
        if (!s.batch_size_histogram[n]) continue;
        os << ' ' << n << "x" << s.batch_size_histogram[n];
        any = true;
    }
    if (!any) os << " none";
    os << '\n';
    auto line = [&](const char* name, const LatencySummary& l) {
        char buf[160];
        std::snprintf(buf, sizeof buf, "  %-11s mean %.2fms  p50 %.2fms  p90 %.2fms  p99 %.2fms  (%llu samples)\n",
                      name, l.mean_ms, l.p50_ms, l.p90_ms, l.p99_ms, static_cast<unsigned long long>(l.samples));
        os << buf;
    };
    line("queue:", s.queue);
    line("compute:", s.compute);
    line("end to end:", s.end_to_end);
    return os.str();
}

}  // namespace tiledet
