// --plot: throughput vs batch size and latency vs concurrency as one PNG, drawn by gnuplot
// (Debian package gnuplot-nox) from a script this module writes beside the PNG.
#pragma once

#include <string>

#include "tiledet/bench/report.hpp"

namespace tiledet::bench {

struct PlotResult {
    bool written = false;
    std::string script_path;  // the generated gnuplot script (kept so a user can re-run or edit it)
    std::string message;      // what happened, e.g. why no PNG was drawn
};

// The gnuplot script for `report` (inline data blocks, pngcairo terminal) drawing to png_path.
std::string plot_script(const BenchReport& report, const std::string& png_path);

// The gnuplot program to run: $TILEDET_GNUPLOT when set (empty if that file does not exist),
// else gnuplot found on PATH; empty when none is installed.
std::string find_gnuplot();

// Writes png_path + ".gp" and runs gnuplot on it. Never throws for a missing gnuplot: the
// result says so (JSON/CSV are written regardless by the caller).
PlotResult write_plot(const BenchReport& report, const std::string& png_path);

}  // namespace tiledet::bench
