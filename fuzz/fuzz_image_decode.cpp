// Image decode from bytes: the header-size check (JPEG marker walk, PNG IHDR) and cv::imdecode
// for every format tiledet reads, through tiledet::decode_image, which load_image (the CLI path)
// calls too. Clear errors (tiledet::Error) are fine; anything else is a finding.
#include <cstddef>
#include <cstdint>
#include <span>

#include "tiledet/error.hpp"
#include "tiledet/io/image.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
    // A small pixel limit keeps the decoder from allocating large images: the limit itself is
    // what is under test for big headers.
    try {
        const cv::Mat img = tiledet::decode_image(bytes, "<fuzz>", std::int64_t{1} << 22);
        if (img.empty() || img.type() != CV_8UC3) __builtin_trap();  // promised: 8-bit BGR
    } catch (const tiledet::Error&) {
    }
    return 0;
}
