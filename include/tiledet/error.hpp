// Exceptions carry what was expected, what was seen and what to do next; the CLI prints what()
// as one line.
#pragma once

#include <stdexcept>
#include <string>

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
