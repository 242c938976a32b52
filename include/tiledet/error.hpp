// Exceptions carry what was expected, what was seen and what to do next; the CLI prints what()
// as one line.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>

namespace tiledet {

class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A file that is missing, unreadable, or not what it claims to be (model or image).
class InputError : public Error {
public:
    using Error::Error;
};

// Tensors whose shape or type the model cannot take.
class ShapeError : public Error {
public:
    using Error::Error;
};

// An execution provider this ONNX Runtime build lacks, or a bad option.
class ConfigError : public Error {
public:
    using Error::Error;
};

// A bad option value, or an input beyond a limit that an option sets. option() is the library's
// name for it ("limits.max_tiles_per_image", "tiles.overlap_px_w"); a front end that calls it
// something else (a command-line flag) says its own name with with_name().
class OptionError : public ConfigError {
public:
    // what() is before + option + after.
    OptionError(std::string option, std::string before, std::string after)
        : ConfigError(before + option + after),
          option_(std::move(option)),
          before_(std::move(before)),
          after_(std::move(after)) {}
    const std::string& option() const { return option_; }
    std::string with_name(const std::string& name) const { return before_ + name + after_; }
    // The same error with `prefix` (say, the image's name) in front.
    OptionError prefixed(const std::string& prefix) const { return OptionError(option_, prefix + before_, after_); }

private:
    std::string option_, before_, after_;
};

// ONNX Runtime failed while running; what() holds its own text.
class RuntimeFailure : public Error {
public:
    using Error::Error;
};

// A model whose inputs and outputs match no layout tiledet knows.
class UnknownLayoutError : public Error {
public:
    using Error::Error;
};

}  // namespace tiledet
