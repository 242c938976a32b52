// Runs a command line (the tiledet CLI by default) and captures its exit code and output
// (stdout and stderr together), for the tests that check what a user sees.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace tiledet::testing {

struct CliResult {
    int code = -1;
    std::string output;
};

inline CliResult run_command(const std::string& command_line) {
    CliResult r;
    FILE* p = popen((command_line + " 2>&1").c_str(), "r");
    if (!p) return r;
    std::array<char, 4096> buf{};
    while (fgets(buf.data(), buf.size(), p)) r.output += buf.data();
    const int status = pclose(p);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

// `tiledet ARGS`
inline CliResult run_cli(const std::string& args) { return run_command(std::string(TILEDET_CLI_PATH) + " " + args); }

}  // namespace tiledet::testing
