// What `tiledet bench` reports: one row per measured configuration (bare runtime or pipeline),
// with throughput, latency percentiles broken down by stage, batch sizes, memory and stability,
// written as JSON, CSV or a text table. Field meanings are documented in BENCHMARKS.md.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tiledet/bench/autotune.hpp"
#include "tiledet/bench/bare.hpp"
#include "tiledet/bench/memory.hpp"
#include "tiledet/bench/percentiles.hpp"
#include "tiledet/bench/windows.hpp"

namespace tiledet::bench {

struct BenchRow {
    std::string kind;   // "bare" or "pipeline"
    std::string mode;   // "bare", "sequential", "dynamic", "instances"
    int batch = 1;            // max batch size asked for
    int effective_batch = 1;  // the largest batch that could run (static N, 1 after a fallback)
    int instances = 1;
    int threads = 0;          // intra-op threads per instance (0: ONNX Runtime's default)
    int concurrency = 0;      // closed-loop producer threads (bare: one per instance)
    int tiles_per_image = 0;  // pipeline only

    double tiles_per_s = 0, images_per_s = 0;
    double bare_tiles_per_s = 0;         // the bare row it is compared with (same batch/instances)
    std::optional<double> efficiency;    // tiles_per_s / bare_tiles_per_s

    bool stable = false;
    int windows = 0;                     // windows measured in all
    int reported_windows = 0;            // the last ones, merged into the figures here
    std::vector<double> window_requests_per_s;
    std::vector<std::int64_t> window_rss_kb;         // RSS as each window closed
    double measured_s = 0;
    std::uint64_t requests = 0, tiles = 0, images = 0;

    // Per tile (bare: per batch run; only total and inference).
    Percentiles tile_total, tile_queue, tile_preprocess, tile_inference, tile_decode;
    // Per image (pipeline only): end to end, preprocessing of its tiles, merge.
    Percentiles image_total, image_preprocess, image_merge;

    std::uint64_t batches = 0;                        // distinct batches seen in the windows
    double mean_batch = 0;
    std::map<int, std::uint64_t> batch_histogram;     // real batch size -> batches
    bool sequential_fallback = false;
    // Batch sizes the model failed at (re-run smaller, then no longer formed) and the failed
    // batches re-run: a model whose dynamic batch breaks at some sizes.
    std::vector<int> failed_batch_sizes;
    std::uint64_t retried_batches = 0;

    MemorySample memory_after_warmup, memory_at_end;  // hwm: the process's peak so far
    std::int64_t rss_growth_kb() const {
        return memory_after_warmup.known() && memory_at_end.known() ? memory_at_end.rss_kb - memory_after_warmup.rss_kb
                                                                     : 0;
    }

    std::string error;                                // set when the configuration could not run
};

struct BenchReport {
    std::string model;
    std::string runtime;            // "ONNX Runtime 1.29.0"
    std::vector<std::string> providers;
    std::string machine;            // CPU model, cores, kernel
    std::string load_average;       // /proc/loadavg at start and end ("0.52 0.40 0.31")
    std::string images;             // what was fed: files, or "synthetic 1280x640"
    std::string tiles;              // tile mode and size
    std::string settings;           // the command's options, one line
    WindowOptions windows;
    std::vector<BenchRow> rows;
    std::optional<AutoTuneResult> autotune;
    std::vector<std::string> notes;  // anything the reader must know (no gnuplot, skipped rows)
};

// Fills a row's figures from a windowed run of pipeline images or bare batch runs: throughput
// over the reported windows, percentiles, and the histogram of distinct batches (by batch_id;
// bare runs are one batch each).
void fill_row(BenchRow& row, const WindowedRun& run);

// Sets efficiency on every pipeline row from the bare row with the same effective batch and
// instances (falling back to the same effective batch with one instance): the nearest such row
// before it (its paired measurement), else the first anywhere.
void link_efficiency(std::vector<BenchRow>& rows);

std::string to_json(const BenchReport& report, int indent = 2);
// One header line, then one line per row; nested fields flattened (tile_p50_ms, hist "1:3;2:7").
std::string to_csv(const BenchReport& report);
std::vector<std::string> csv_columns();
// A human-readable table for the terminal.
std::string format_table(const BenchReport& report);

// Writes text to a file; throws InputError when it cannot.
void write_text_file(const std::string& path, const std::string& text);

// "Intel(R) Xeon(R) ... , 2 cores, Linux 6.1.0" from /proc/cpuinfo and uname.
std::string describe_machine();
std::string read_load_average();

}  // namespace tiledet::bench
