#include "log_lines.hpp"

#include <cstdio>
#include <iostream>
#include <mutex>

#include "tiledet/batching/batch_executor.hpp"

namespace tiledet {
namespace batching_detail {

std::string execution_line(const std::string& device, bool sequential, std::int64_t items,
                           std::chrono::nanoseconds duration) {
    const double ms = std::chrono::duration<double, std::milli>(duration).count();
    const double fps = ms > 0 ? static_cast<double>(items) * 1000.0 / ms : 0.0;
    char buf[200];
    std::snprintf(buf, sizeof buf, "%s %s Execution: %lld %s in %.1fms (%.1f FPS per image)", device.c_str(),
                  sequential ? "Sequential" : "Batch", static_cast<long long>(items), items == 1 ? "image" : "images",
                  ms, fps);
    return buf;
}

std::string fallback_warning(const std::string& reason, std::size_t instances) {
    std::string s = "Batch inference not supported, falling back to sequential processing (" + reason +
                    "). To run batches, repair the model with `tiledet batchify IN.onnx OUT.onnx` or re-export it "
                    "with a dynamic batch axis";
    s += instances > 1 ? "; meanwhile " + std::to_string(instances) + " instances run requests concurrently."
                       : "; meanwhile, instances = K runs K requests at once.";
    return s;
}

std::string first_line(const std::string& text) {
    const auto nl = text.find('\n');
    return nl == std::string::npos ? text : text.substr(0, nl);
}

}  // namespace batching_detail

LogSink stderr_log_sink() {
    return [](LogLevel level, std::string_view line) {
        static std::mutex mu;  // whole lines, even from several executors
        std::lock_guard lk(mu);
        if (level == LogLevel::warning) std::cerr << "WARNING: ";
        std::cerr << line << '\n';
    };
}

}  // namespace tiledet
