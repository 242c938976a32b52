// How library errors reach the user: one line, with the command line's own names for options.
#pragma once

#include <exception>
#include <string>
#include <utility>

#include "tiledet/error.hpp"

namespace tiledet::cli {

// The flag that sets each library option an OptionError can name.
inline std::string flag_for_option(const std::string& option) {
    static const std::pair<const char*, const char*> names[] = {
        {"detector.channels", "--channels"},
        {"detector.input_layout", "--input-layout"},
        {"limits.max_image_pixels", "--max-image-pixels"},
        {"limits.max_input_elements", "--max-input-elements"},
        {"limits.max_output_elements", "--max-output-elements"},
        {"limits.max_tiles_per_image", "--max-tiles"},
        {"limits.min_tile_ratio", "--min-tile-ratio"},
        {"tiles.overlap_px_w", "--overlap"},
        {"tiles.overlap_px_h", "--overlap"},
        {"tiles.overlap_ratio_w", "--overlap"},
        {"tiles.overlap_ratio_h", "--overlap"},
        {"tiles.tile_w", "--tile"},
        {"tiles.tile_h", "--tile"},
    };
    for (const auto& [lib, flag] : names)
        if (option == lib) return flag;
    return option;
}

// One line for the user: an OptionError says the flag instead of the library's option name.
inline std::string cli_message(const std::exception& e) {
    if (const auto* oe = dynamic_cast<const OptionError*>(&e)) return oe->with_name(flag_for_option(oe->option()));
    return e.what();
}

}  // namespace tiledet::cli
