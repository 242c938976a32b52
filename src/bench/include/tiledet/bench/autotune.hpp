// Picks batch size x instances x threads per instance for this model on this machine, by
// measuring the bare runtime over a small grid (model_analyzer's brute search, batching-anchors
// §1.9, on the runtime alone). The best choice differs: on a 2-core CPU two 1-thread sessions
// can beat batching, a GPU rewards batching. A library call, so a pipeline can tune at start-up.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tiledet/batching/policy.hpp"
#include "tiledet/bench/bare.hpp"
#include "tiledet/runtime/model.hpp"

namespace tiledet::bench {

struct AutoTuneOptions {
    std::vector<int> batch_sizes = {1, 2, 4, 8};  // those the model cannot take are skipped
    std::vector<int> instances = {};              // empty: 1 .. total threads
    std::vector<int> threads = {};                // per instance; empty: 1 .. total threads
    int total_threads = 0;                        // instances x threads may not exceed it; 0: cores
    // p99 of one batch run (the least latency an item of that batch sees) may not exceed this;
    // 0: no budget.
    double latency_budget_ms = 0;
    ModelOptions model;                           // providers etc.; intra_op_threads is set per cell
    WindowOptions windows = short_windows();
    std::pair<int, int> image_hw = {640, 640};    // for models with symbolic H/W

    static WindowOptions short_windows() {
        WindowOptions w;
        w.duration = std::chrono::milliseconds(1000);
        w.warmup = std::chrono::milliseconds(300);
        w.max_windows = 6;
        return w;
    }
};

struct AutoTuneCandidate {
    BareConfig config;
    double tiles_per_s = 0;
    double per_item_ms = 0;   // 1000 / tiles_per_s
    Percentiles run_latency;  // ms per batch run
    bool stable = false;
    bool within_budget = true;
    std::string error;
};

struct AutoTuneResult {
    std::vector<AutoTuneCandidate> candidates;  // every cell measured, in grid order
    std::optional<std::size_t> best;            // index into candidates
    std::string reason;                         // why best won, or why none did

    const AutoTuneCandidate* choice() const { return best ? &candidates[*best] : nullptr; }
};

// The grid's cells: batch sizes the model takes x (instances, threads) with
// instances * threads <= total threads.
std::vector<BareConfig> autotune_grid(const ModelSignature& sig, const AutoTuneOptions& options);

// Measures every cell and picks the highest tiles/s within the latency budget.
AutoTuneResult autotune(const std::string& model_path, const AutoTuneOptions& options = {});

// The picked cell out of measured candidates (exposed for tests): the highest tiles/s among
// those without error and within budget; ties go to the smaller batch, then fewer instances.
std::optional<std::size_t> pick_best(const std::vector<AutoTuneCandidate>& candidates);

// The choice as pipeline settings: max batch size and instances in the policy, total threads
// (instances x threads) in the model options, which the executor splits between instances.
inline void apply_choice(const AutoTuneCandidate& choice, BatchPolicy& policy, ModelOptions& model) {
    policy.max_batch_size = choice.config.batch;
    policy.instances = choice.config.instances;
    model.intra_op_threads = choice.config.threads * choice.config.instances;
}

}  // namespace tiledet::bench
