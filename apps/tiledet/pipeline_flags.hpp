// Command-line flags shared by every command that runs the pipeline (detect, bench, demo and
// examples/detect_pipeline), so each flag means the same everywhere.
#pragma once

#include <algorithm>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

#include "cli_errors.hpp"
#include "tiledet/error.hpp"
#include "tiledet/pipeline/options.hpp"
#include "tiledet/pipeline/pipeline.hpp"

namespace tiledet::cli {

// The options given on the command line, by the library's option name ("max_delay_ms"); what is
// not given keeps the library's default. Flags, help and parsing all come from the library's
// table (tiledet/pipeline/options.hpp), so the CLI, a server config and Python agree.
struct PipelineFlags {
    std::map<std::string, std::string> given;
    PipelineFlags& set(const std::string& name, std::string value) {
        given[name] = std::move(value);
        return *this;
    }
};

inline void add_pipeline_flags(CLI::App& app, PipelineFlags& f, bool with_tiling = true) {
    for (const OptionSpec& s : pipeline_option_specs()) {
        if (!with_tiling && s.group == "tiling") continue;
        const std::string flag = option_flag(s.name);
        if (s.is_flag) {
            app.add_flag_callback(flag, [&f, name = s.name] { f.given[name] = "true"; }, s.help);
        } else {
            // A command's own default (eval's --conf 0.001, --merge nms) is what its help shows.
            const auto preset = f.given.find(s.name);
            const std::string shown =
                preset != f.given.end() && !preset->second.empty() ? preset->second : s.default_text;
            CLI::Option* opt = app.add_option(flag, f.given[s.name], s.help);
            if (!shown.empty()) opt->default_str(shown);
        }
    }
}

// Only the named options of the table (e.g. the "limits" group), for a command that takes them
// without the pipeline's other flags (bench, batchify): the same flags, help and parsing as detect.
inline void add_pipeline_flags(CLI::App& app, PipelineFlags& f, std::initializer_list<std::string_view> names) {
    for (const OptionSpec& s : pipeline_option_specs()) {
        if (std::find(names.begin(), names.end(), s.name) == names.end()) continue;
        CLI::Option* opt = app.add_option(option_flag(s.name), f.given[s.name], s.help);
        if (!s.default_text.empty()) opt->default_str(s.default_text);
    }
}

inline PipelineOptions to_pipeline_options(const PipelineFlags& f) {
    PipelineOptions o;
    for (const auto& [name, value] : f.given)
        if (!value.empty()) set_option(o, name, value);
    return o;
}

}  // namespace tiledet::cli
