// The option table: the text a command line, a server config or Python hands to set_option.
// Input: "name=value" lines applied to one PipelineOptions in order; errors are OptionError.
#include <cstdint>
#include <string_view>

#include "tiledet/error.hpp"
#include "tiledet/pipeline/options.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    tiledet::PipelineOptions options;
    while (!text.empty()) {
        const auto nl = text.find('\n');
        const std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        const auto eq = line.find('=');
        const std::string_view name = line.substr(0, eq);
        const std::string_view value = eq == std::string_view::npos ? std::string_view{} : line.substr(eq + 1);
        try {
            tiledet::set_option(options, name, value);
        } catch (const tiledet::OptionError& e) {
            if (e.option() != name) __builtin_trap();  // options.hpp: "OptionError whose option() is `name`"
        }
    }
    return 0;
}
