// Each subcommand lives in its own cmd_<name>.cpp and registers itself here, so adding one is
// adding one file.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace tiledet::cli {

// Exit codes shared by every subcommand.
constexpr int kExitOk = 0;
constexpr int kExitSomeInputsFailed = 1;
constexpr int kExitBadInput = 2;

struct Command {
    std::string name;
    int order;  // position in --help
    // Adds the subcommand to `app` and returns a function that runs it after parsing.
    std::function<std::function<int()>(CLI::App& app)> setup;
};

std::vector<Command>& commands();

struct CommandRegistrar {
    explicit CommandRegistrar(Command c) { commands().push_back(std::move(c)); }
};

}  // namespace tiledet::cli
