// tiledet: the command line. Errors become one clear line and a non-zero exit code.
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <new>
#include <string>

#include "cli_errors.hpp"
#include "command.hpp"
#include "tiledet/error.hpp"
#include "tiledet/runtime/model.hpp"

namespace tiledet::cli {
std::vector<Command>& commands() {
    static std::vector<Command> list;
    return list;
}
}  // namespace tiledet::cli

namespace {

// "detect -m model.onnx bus.jpg": the subcommand and what it was given, so an error that no
// command caught still names the model or image it happened on.
std::string what_was_running(const CLI::App* sub) {
    if (!sub) return "tiledet";
    std::string out = sub->get_name();
    for (const CLI::Option* o : sub->get_options()) {
        if (o->count() == 0 || !(o->check_lname("model") || o->get_positional())) continue;
        for (const std::string& v : o->results()) out += " " + v;
    }
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace tiledet::cli;
    tiledet::disable_onnxruntime_telemetry_unless_asked();  // before any thread exists (model.hpp)
    CLI::App app{"tiledet: tiled, batched object detection on ONNX Runtime"};
    app.require_subcommand(1);
    auto& cmds = commands();
    std::sort(cmds.begin(), cmds.end(), [](const Command& a, const Command& b) { return a.order < b.order; });
    std::vector<std::pair<CLI::App*, std::function<int()>>> runners;
    for (auto& c : cmds) {
        const std::size_t before = app.get_subcommands({}).size();
        auto run = c.setup(app);
        auto subs = app.get_subcommands({});
        if (subs.size() > before) runners.emplace_back(subs.back(), std::move(run));
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
        // CLI11's own text ("A subcommand is required", "--conf: 1 required TEXT missing") as
        // one line in tiledet's form, with the way to the options.
        std::string command = argc > 1 ? argv[1] : "";
        const auto subs = app.get_subcommands({});
        const bool known = std::any_of(subs.begin(), subs.end(), [&](const CLI::App* a) { return a->get_name() == command; });
        if (!command.empty() && command[0] != '-' && !known) {
            std::string names;
            for (const CLI::App* a : subs) names += (names.empty() ? "" : ", ") + a->get_name();
            std::cerr << "tiledet: unknown command '" << tiledet::printable(command) << "'; expected one of: " << names
                      << " (tiledet --help)\n";
        } else {
            std::cerr << "tiledet: " << tiledet::printable(e.what(), 1000) << " ("
                      << (known ? "tiledet " + command + " --help" : std::string("tiledet --help"))
                      << " lists the options)\n";
        }
        return kExitBadInput;
    }
    CLI::App* ran = nullptr;
    try {
        for (auto& [sub, run] : runners)
            if (sub->parsed()) {
                ran = sub;
                return run();
            }
    } catch (const tiledet::Error& e) {
        std::cerr << "tiledet: " << cli_message(e) << "\n";
        return kExitBadInput;
    } catch (const std::bad_alloc&) {
        std::cerr << "tiledet: " << what_was_running(ran)
                  << ": out of memory (std::bad_alloc); a model or image larger than this machine can hold? "
                     "See the limits in README.md\n";
        return kExitBadInput;
    } catch (const std::filesystem::filesystem_error& e) {
        // A file or folder the command could not create, read or list: named, with the system's reason.
        std::cerr << "tiledet: " << (e.path1().empty() ? what_was_running(ran) : e.path1().string()) << ": "
                  << e.code().message() << " (check that the path is right and can be written)\n";
        return kExitBadInput;
    } catch (const std::exception& e) {
        std::cerr << "tiledet: " << what_was_running(ran) << ": " << e.what() << "\n";
        return kExitBadInput;
    }
    return kExitBadInput;
}
