// Limits on what one model or one image may ask of memory, checked before anything large is
// allocated, so a hostile or mistaken input ends in a clear error instead of std::bad_alloc or
// a machine that swaps. Each is an option (PipelineOptions::limits, load_image's max_pixels)
// and a command-line flag; README.md has the table.
#pragma once

#include <cstdint>
#include <limits>
#include <span>
#include <string>

#include "tiledet/error.hpp"

namespace tiledet {

struct Limits {
    // Decoded pixels per image (width x height): 2^28, e.g. 16384 x 16384, 805 MB as 8-bit BGR.
    // Checked from the file header before decoding (JPEG, PNG), otherwise right after decoding.
    std::int64_t max_image_pixels = std::int64_t{1} << 28;
    // Elements of one item of a model input (the batch axis excluded, symbolic dims as resolved):
    // 2^26, 256 MB as float32, e.g. 3 x 4729 x 4729. A 640 model needs 1.2 M.
    std::int64_t max_input_elements = std::int64_t{1} << 26;
    // Elements of one item of a model output with fixed dims (symbolic dims count as 1): 2^26.
    // YOLO at 640 needs 0.7 M (84 x 8400).
    std::int64_t max_output_elements = std::int64_t{1} << 26;
    // Tiles one image may be cut into (the whole-image tile included): 2^16, e.g. a 131072 x
    // 131072 raster at 640 with 20 % overlap. Input slots are cut only as the executor takes
    // them (PipelineOptions::max_tiles_in_flight), so this bounds the per-tile bookkeeping (a few
    // hundred bytes a tile) and the run time, not the input memory.
    std::int64_t max_tiles_per_image = std::int64_t{1} << 16;
    // The smallest tile side, as a fraction of the model's input side: a tile is resized to the
    // model input, so an 8-pixel tile for a 640 model is 80x upscaled noise. 0 turns it off.
    double min_tile_ratio = 0.125;
};

// Elements of one item of a tensor of `dims`: the dims after the batch axis (all of them for
// rank <= 1), a symbolic dim (< 0) counting as 1. Saturates at INT64_MAX on hostile dims.
inline std::int64_t elements_per_item(std::span<const std::int64_t> dims) {
    std::int64_t n = 1;
    for (std::size_t i = dims.size() >= 2 ? 1 : 0; i < dims.size(); ++i) {
        const std::int64_t d = dims[i] < 0 ? 1 : dims[i];
        if (d > 0 && n > std::numeric_limits<std::int64_t>::max() / d) return std::numeric_limits<std::int64_t>::max();
        n *= d;
    }
    return n;
}

// 1234567 -> "1,234,567": counts in limit messages.
inline std::string count_text(std::int64_t n) {
    std::string digits = std::to_string(n), out;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0 && digits[i - 1] != '-') out += ',';
        out += digits[i];
    }
    return out;
}

// Throws OptionError(option) "WHAT: SEEN exceeds the limit of LIMIT (OPTION)ADVICE" when a
// limit is set (> 0) and `seen` is over it; the command line shows the flag for OPTION.
inline void check_limit(std::int64_t seen, std::int64_t limit, const std::string& option, const std::string& what,
                        const std::string& advice) {
    if (limit > 0 && seen > limit) {
        // INT64_MAX is what a saturating count gives for dims whose product overflows.
        const std::string seen_text = seen == std::numeric_limits<std::int64_t>::max()
                                          ? "more than " + count_text(seen) + " (the product of its dims overflows 64 bits)"
                                          : count_text(seen);
        throw OptionError(option, what + ": " + seen_text + " exceeds the limit of " + count_text(limit) + " (",
                          ")" + advice);
    }
}

}  // namespace tiledet
