// The log lines, in the original pipeline's words.
#pragma once

#include <cstddef>
#include <string>

namespace tiledet::batching_detail {

// The one-time warning when a model cannot batch; `reason` says what was seen.
std::string fallback_warning(const std::string& reason, std::size_t instances);

// The one-time warning when a model that runs some batches fails at size `n`.
std::string failed_size_warning(std::size_t n, const std::string& error);

// The first line of an error text (ONNX Runtime's messages run over several lines).
std::string first_line(const std::string& text);

}  // namespace tiledet::batching_detail
