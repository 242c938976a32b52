#include "log_lines.hpp"

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <mutex>

#include "tiledet/batching/batch_executor.hpp"

namespace tiledet {
namespace batching_detail {

std::string fallback_warning(const std::string& reason, std::size_t instances) {
    std::string s = "Batch inference not supported, falling back to sequential processing (" + reason +
                    "). To run batches, repair the model with `tiledet batchify IN.onnx OUT.onnx` or re-export it "
                    "with a dynamic batch axis";
    s += instances > 1 ? "; meanwhile " + std::to_string(instances) + " instances run requests concurrently."
                       : "; meanwhile, K instances (`--instances K`; BatchPolicy::instances) run K requests at once.";
    return s;
}

std::string failed_size_warning(std::size_t n, const std::string& error) {
    return "the model declares a dynamic batch and runs smaller batches, but failed at batch " + std::to_string(n) +
           " (" + error + "); its requests were re-run in smaller batches and batches of " + std::to_string(n) +
           " are no longer formed (ExecutorStats::failed_batch_sizes lists every such size). To batch at every "
           "size, repair the model with `tiledet batchify IN.onnx OUT.onnx` or re-export it with a fully dynamic "
           "batch axis";
}

std::string first_line(const std::string& text) {
    const auto nl = text.find('\n');
    return nl == std::string::npos ? text : text.substr(0, nl);
}

namespace {

std::string format_execution(const std::string& device, std::uint64_t items, std::uint64_t batches, bool one_at_a_time,
                             const std::string& sizes, double ms, const std::string& unit) {
    const double fps = ms > 0 ? static_cast<double>(items) * 1000.0 / ms : 0.0;
    char buf[160];
    std::snprintf(buf, sizeof buf, " in %.1f ms (%.1f FPS per %s)", ms, fps, unit.c_str());
    return device + (one_at_a_time ? " Sequential" : " Batch") + " Execution: " + std::to_string(items) + " " + unit +
           (items == 1 ? "" : "s") + " in " + std::to_string(batches) + (batches == 1 ? " batch" : " batches") + " (" +
           sizes + ")" + buf;
}

std::string histogram_text(const std::vector<std::uint64_t>& histogram) {
    std::string s;
    for (std::size_t n = histogram.size(); n-- > 0;) {
        if (!histogram[n]) continue;
        if (!s.empty()) s += ", ";
        s += std::to_string(n) + "x" + std::to_string(histogram[n]);
    }
    return s;
}

}  // namespace

}  // namespace batching_detail

std::string execution_line(const std::string& device, const std::vector<int>& batch_sizes, double total_ms,
                           const std::string& unit, std::optional<bool> sequential) {
    constexpr std::size_t kListed = 8;  // as execution_line_from_histogram
    if (batch_sizes.size() > kListed) {
        std::vector<std::uint64_t> histogram;
        for (int n : batch_sizes) {
            const auto i = static_cast<std::size_t>(std::max(n, 0));
            if (histogram.size() <= i) histogram.resize(i + 1, 0);
            ++histogram[i];
        }
        return execution_line_from_histogram(device, histogram, total_ms, unit, sequential);
    }
    std::uint64_t items = 0;
    bool one_at_a_time = true;
    std::string sizes;
    for (int n : batch_sizes) {
        items += static_cast<std::uint64_t>(std::max(n, 0));
        one_at_a_time = one_at_a_time && n <= 1;
        if (!sizes.empty()) sizes += '+';
        sizes += std::to_string(n);
    }
    one_at_a_time = sequential.value_or(one_at_a_time && batch_sizes.size() > 1);
    return batching_detail::format_execution(device, items, batch_sizes.size(), one_at_a_time, sizes, total_ms, unit);
}

std::string execution_line_from_histogram(const std::string& device, const std::vector<std::uint64_t>& histogram,
                                          double total_ms, const std::string& unit, std::optional<bool> sequential) {
    std::uint64_t items = 0, batches = 0;
    for (std::uint64_t c : histogram) batches += c;
    constexpr std::uint64_t kListed = 8;
    if (batches <= kListed) {  // few enough to list one by one, largest first
        std::vector<int> sizes;
        for (std::size_t n = histogram.size(); n-- > 0;)
            for (std::uint64_t c = 0; c < histogram[n]; ++c) sizes.push_back(static_cast<int>(n));
        return execution_line(device, sizes, total_ms, unit, sequential);
    }
    batches = 0;
    bool one_at_a_time = true;
    for (std::size_t n = 0; n < histogram.size(); ++n) {
        items += n * histogram[n];
        batches += histogram[n];
        one_at_a_time = one_at_a_time && (n <= 1 || histogram[n] == 0);
    }
    one_at_a_time = sequential.value_or(one_at_a_time && batches > 1);
    return batching_detail::format_execution(device, items, batches, one_at_a_time,
                                             batching_detail::histogram_text(histogram), total_ms, unit);
}

LogSink stderr_log_sink() {
    return [](LogLevel level, std::string_view line) {
        static std::mutex mu;  // whole lines, even from several executors
        std::lock_guard lk(mu);
        if (level == LogLevel::warning) std::cerr << "WARNING: ";
        std::cerr << line << '\n';
    };
}

}  // namespace tiledet
