// Exceptions carry what was expected, what was seen and what to do next; the CLI prints what()
// as one line.
#pragma once

#include <algorithm>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace tiledet {

// Length of the well-formed UTF-8 sequence at s[i] (RFC 3629 section 4: no overlong forms, no
// surrogates, at most U+10FFFF), 0 when there is none.
inline std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
    const auto c = static_cast<unsigned char>(s[i]);
    int n = 0;
    unsigned cp = 0;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 1, cp = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 2, cp = c & 0x0Fu;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 3, cp = c & 0x07u;
    } else {
        return 0;
    }
    for (int k = 1; k <= n; ++k) {
        if (i + static_cast<std::size_t>(k) >= s.size()) return 0;
        const auto b = static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]);
        if ((b & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (b & 0x3Fu);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return static_cast<std::size_t>(n) + 1;
}

// A code point that a terminal acts on rather than shows: C1 controls (U+0080-U+009F; U+009B
// is CSI, an escape sequence's start on many terminals) and the bidirectional overrides and
// isolates (U+202A-U+202E, U+2066-U+2069) that reorder what follows (Unicode TR #9; CVE-2021-42574).
inline bool is_terminal_control(std::string_view s, std::size_t i, std::size_t n) {
    const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
    if (n == 2) return b(0) == 0xC2 && b(1) >= 0x80 && b(1) <= 0x9F;
    if (n == 3 && b(0) == 0xE2 && b(1) == 0x80) return b(2) >= 0xAA && b(2) <= 0xAE;
    if (n == 3 && b(0) == 0xE2 && b(1) == 0x81) return b(2) >= 0xA6 && b(2) <= 0xA9;
    return false;
}

// Well-formed UTF-8 throughout.
inline bool is_valid_utf8(std::string_view s) {
    for (std::size_t i = 0; i < s.size();) {
        const std::size_t n = utf8_sequence_length(s, i);
        if (n == 0) return false;
        i += n;
    }
    return true;
}

// Text shown to a user: printable ASCII and well-formed UTF-8 kept (newlines and tabs too when
// keep_line_breaks), every other control byte, terminal control code point and invalid byte
// written as \xNN; at most `max_bytes` of input, "..." after when cut.
inline std::string escaped_text(std::string_view s, std::size_t max_bytes, bool keep_line_breaks) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    out.reserve(std::min(s.size(), max_bytes));
    std::size_t i = 0;
    while (i < s.size() && i < max_bytes) {
        const auto c = static_cast<unsigned char>(s[i]);
        const std::size_t n = c >= 0x80 ? utf8_sequence_length(s, i) : 0;
        if ((c >= 0x20 && c < 0x7F) || (keep_line_breaks && (c == '\n' || c == '\t'))) {
            out += static_cast<char>(c);
            ++i;
        } else if (n > 0 && i + n <= max_bytes && !is_terminal_control(s, i, n)) {
            out.append(s.substr(i, n));
            i += n;
        } else {
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
            ++i;
        }
    }
    if (s.size() > i) out += "...";
    return out;
}

// A message as it may reach a terminal or a Python str: newlines (between the lines of a
// multi-line layout report) and tabs kept, every other control byte (an escape sequence in a
// model's tensor name, say) and every invalid byte written as \xNN.
inline std::string message_text(std::string_view s) { return escaped_text(s, s.size(), true); }

// Every tiledet error; what() is message_text() of what it was given, so names and bytes taken
// from a file (a model's tensor names, an ONNX Runtime message) cannot put control sequences on
// the user's terminal or invalid UTF-8 into a Python exception.
class Error : public std::runtime_error {
public:
    explicit Error(const std::string& message) : std::runtime_error(message_text(message)) {}
    explicit Error(const char* message) : std::runtime_error(message_text(message)) {}
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
    std::string with_name(const std::string& name) const { return message_text(before_ + name + after_); }
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

// A line of a text file: valid UTF-8 without control bytes (tab allowed).
inline bool is_text_line(std::string_view s) {
    for (const char ch : s)
        if (static_cast<unsigned char>(ch) < 0x20 && ch != '\t') return false;
    return is_valid_utf8(s);
}

// Bytes from a file as they may be shown in a message: one line, at most `max_bytes` of input
// ("..." after), so a binary file given as text is not echoed to the terminal.
inline std::string printable(std::string_view s, std::size_t max_bytes = 40) { return escaped_text(s, max_bytes, false); }

}  // namespace tiledet
