#include "tiledet/bench/autotune.hpp"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <thread>
#include <tuple>

namespace tiledet::bench {

namespace {

int machine_threads(int total) {
    return total > 0 ? total : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

std::vector<int> one_to(int n) {
    std::vector<int> v;
    for (int i = 1; i <= n; ++i) v.push_back(i);
    return v;
}

}  // namespace

std::vector<BareConfig> autotune_grid(const ModelSignature& sig, const AutoTuneOptions& options) {
    const int total = machine_threads(options.total_threads);
    const auto instances = options.instances.empty() ? one_to(total) : options.instances;
    const auto threads = options.threads.empty() ? one_to(total) : options.threads;
    std::vector<BareConfig> grid;
    for (int b : options.batch_sizes) {
        if (!batch_supported(sig, b)) continue;
        for (int k : instances)
            for (int t : threads)
                if (k >= 1 && t >= 1 && k * t <= total) grid.push_back(BareConfig{b, k, t});
    }
    return grid;
}

std::optional<std::size_t> pick_best(const std::vector<AutoTuneCandidate>& candidates) {
    std::optional<std::size_t> best;
    for (std::size_t i = 0; i < candidates.size(); ++i) {
        const AutoTuneCandidate& c = candidates[i];
        if (!c.error.empty() || !c.within_budget || c.tiles_per_s <= 0) continue;
        if (!best) {
            best = i;
            continue;
        }
        const AutoTuneCandidate& b = candidates[*best];
        if (c.tiles_per_s > b.tiles_per_s ||
            (c.tiles_per_s == b.tiles_per_s &&
             std::tie(c.config.batch, c.config.instances) < std::tie(b.config.batch, b.config.instances)))
            best = i;
    }
    return best;
}

AutoTuneResult autotune(const std::string& model_path, const AutoTuneOptions& options) {
    AutoTuneResult result;
    const Model probe = Model::load(model_path, options.model);
    for (const BareConfig& cell : autotune_grid(probe.signature(), options)) {
        const BareResult bare = measure_bare(model_path, cell, options.model, options.windows, options.image_hw);
        AutoTuneCandidate c;
        c.config = bare.config;
        c.error = bare.error;
        c.tiles_per_s = bare.tiles_per_s;
        c.per_item_ms = bare.tiles_per_s > 0 ? 1000.0 / bare.tiles_per_s : 0;
        c.run_latency = bare.run_latency;
        c.stable = bare.run.stable;
        c.within_budget = options.latency_budget_ms <= 0 || bare.run_latency.p99 <= options.latency_budget_ms;
        result.candidates.push_back(std::move(c));
    }
    result.best = pick_best(result.candidates);
    char line[256];
    if (const AutoTuneCandidate* b = result.choice()) {
        std::snprintf(line, sizeof line,
                      "batch %d x %d instance(s) x %d thread(s): %.2f tiles/s, p99 %.1f ms per batch run%s",
                      b->config.batch, b->config.instances, b->config.threads, b->tiles_per_s, b->run_latency.p99,
                      options.latency_budget_ms > 0 ? " (within the latency budget)" : "");
        result.reason = line;
    } else if (result.candidates.empty()) {
        result.reason = "no configuration to try: the model takes none of the batch sizes given";
    } else {
        std::snprintf(line, sizeof line,
                      "no configuration ran within the latency budget of %.1f ms (or all failed); raise "
                      "--latency-budget-ms or use a smaller batch",
                      options.latency_budget_ms);
        result.reason = line;
    }
    return result;
}

}  // namespace tiledet::bench
