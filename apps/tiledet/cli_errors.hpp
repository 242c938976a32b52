// How library errors reach the user: one line, with the command line's own names for options.
#pragma once

#include <cstdio>
#include <exception>
#include <string>
#include <utility>

#include "tiledet/error.hpp"
#include "tiledet/pipeline/options.hpp"

namespace tiledet::cli {

// A message about one image or one source as one terminal line: its file name comes from the
// user's files, so newlines and control bytes in it are escaped (\xNN) like the rest.
inline std::string one_line(const std::string& s) { return printable(s, s.size()); }

// The flag that sets each library option or field an OptionError can name ("tiles.overlap_px_w"
// -> "--overlap"), from the library's option table.
inline std::string flag_for_option(const std::string& option) {
    const std::string name = option_for_field(option);
    for (const OptionSpec& s : pipeline_option_specs())
        if (s.name == name) return option_flag(name);
    return option;
}

// One line for the user: an OptionError says the flag instead of the library's option name.
inline std::string cli_message(const std::exception& e) {
    if (const auto* oe = dynamic_cast<const OptionError*>(&e)) return oe->with_name(flag_for_option(oe->option()));
    return e.what();
}

// A command's own numeric flag: unless `ok`, ConfigError "FLAG: expected WHAT, got VALUE", the
// value as typed (whole numbers up to 15 digits, 1e+30, -5, nan).
inline void require_flag(bool ok, const std::string& flag, const std::string& expected, double got) {
    if (ok) return;
    char b[32];
    std::snprintf(b, sizeof(b), "%.15g", got);
    throw ConfigError(flag + ": expected " + expected + ", got " + b);
}

// The same for a closed range [lo, hi] (NaN is outside).
inline void require_flag_in(const std::string& flag, double v, double lo, double hi, const std::string& expected) {
    require_flag(v >= lo && v <= hi, flag, expected, v);
}

}  // namespace tiledet::cli
