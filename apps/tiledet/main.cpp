// tiledet: the command line. Errors become one clear line and a non-zero exit code.
#include <algorithm>
#include <iostream>

#include "command.hpp"
#include "tiledet/error.hpp"

namespace tiledet::cli {
std::vector<Command>& commands() {
    static std::vector<Command> list;
    return list;
}
}  // namespace tiledet::cli

int main(int argc, char** argv) {
    using namespace tiledet::cli;
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
        const int rc = app.exit(e);
        return rc == 0 ? 0 : kExitBadInput;
    }
    try {
        for (auto& [sub, run] : runners)
            if (sub->parsed()) return run();
    } catch (const tiledet::Error& e) {
        std::cerr << "tiledet: " << e.what() << "\n";
        return kExitBadInput;
    } catch (const std::exception& e) {
        std::cerr << "tiledet: unexpected error: " << e.what() << "\n";
        return kExitBadInput;
    }
    return kExitBadInput;
}
