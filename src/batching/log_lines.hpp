// The log lines, in the original pipeline's words.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace tiledet::batching_detail {

// "CPU Batch Execution: 2 images in 450.0ms (4.4 FPS per image)", or "... Sequential Execution: ..."
std::string execution_line(const std::string& device, bool sequential, std::int64_t items,
                           std::chrono::nanoseconds duration);

// The one-time warning when a model cannot batch; `reason` says what was seen.
std::string fallback_warning(const std::string& reason, std::size_t instances);

// The first line of an error text (ONNX Runtime's messages run over several lines).
std::string first_line(const std::string& text);

}  // namespace tiledet::batching_detail
