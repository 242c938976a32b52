// Every pipeline option by name: the one table that the command line, a server's config and
// Python's keyword arguments share, so an option is spelled, parsed and checked the same way
// everywhere. Names are snake_case ("max_delay_ms"); the command line writes them with dashes
// ("--max-delay-ms").
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "tiledet/pipeline/pipeline.hpp"

namespace tiledet {

struct OptionSpec {
    std::string name;          // "tile"
    std::string group;         // "model", "decode", "tiling", "batching", "limits"
    std::string help;          // one line
    std::string default_text;  // the default, as set_option takes it; empty: unset (a family or model default)
    bool is_flag = false;      // boolean: takes true/false/1/0/yes/no; a command line gives it bare
    // The PipelineOptions fields it sets, as OptionError::option() names them ("tiles.overlap_px_w").
    std::vector<std::string> fields;
};

// All options, in the order a help text lists them.
const std::vector<OptionSpec>& pipeline_option_specs();

// The option (pipeline_option_specs' name) that sets `field` ("tiles.overlap_px_w" -> "overlap",
// "limits.max_tiles_per_image" -> "max_tiles"); `field` itself when no option sets it.
std::string option_for_field(std::string_view field);

// Sets option `name` of `options` from text ("tile", "1024x768"). Throws OptionError whose
// option() is `name`, saying what was expected and what was given, for an unknown name or a bad
// value. Values are checked on their own here; how they fit the model (a tile against the model
// input) is checked by the Pipeline constructor.
void set_option(PipelineOptions& options, std::string_view name, std::string_view value);

// "--max-delay-ms" for "max_delay_ms": how a command line spells an option.
std::string option_flag(std::string_view name);

}  // namespace tiledet
