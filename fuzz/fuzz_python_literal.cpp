// The Ultralytics metadata parser: the Python-literal reader and the two fields read with it.
#include <cstddef>
#include <cstdint>
#include <string>

#include "python_literal.hpp"
#include "tiledet/error.hpp"
#include "tiledet/runtime/metadata.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    try {
        (void)tiledet::parse_python_literal(text);
    } catch (const tiledet::Error&) {
    }
    try {
        (void)tiledet::parse_class_names(text);
    } catch (const tiledet::Error&) {
    }
    try {
        // Any integer pair may come back (callers check the size is positive): not asserted here.
        (void)tiledet::parse_imgsz(text);
    } catch (const tiledet::Error&) {
    }
    return 0;
}
