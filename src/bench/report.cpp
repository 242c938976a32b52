#include "tiledet/bench/report.hpp"

#include <sys/utsname.h>

#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "tiledet/error.hpp"

namespace tiledet::bench {

void fill_row(BenchRow& row, const WindowedRun& run) {
    row.stable = run.stable;
    row.windows = static_cast<int>(run.windows.size());
    row.reported_windows = run.reported_windows;
    row.window_requests_per_s.clear();
    row.window_rss_kb.clear();
    for (const WindowStats& w : run.windows) {
        row.window_requests_per_s.push_back(w.requests_per_s);
        row.window_rss_kb.push_back(w.rss_kb);
    }
    row.measured_s = run.measured_seconds;
    row.memory_after_warmup = run.after_warmup;
    row.memory_at_end = run.at_end;
    if (!run.error.empty() && row.error.empty()) row.error = run.error;

    std::vector<double> total, queue, pre, infer, decode, img_total, img_pre, img_merge;
    row.requests = run.measured.size();
    row.tiles = row.images = 0;
    row.batch_histogram.clear();
    std::set<std::uint64_t> seen_batches;
    for (const Completion& c : run.measured) {
        row.images += static_cast<std::uint64_t>(c.images);
        row.tiles += c.tiles.size();
        if (c.images > 0) {
            img_total.push_back(c.latency_ms);
            img_pre.push_back(c.preprocess_ms);
            img_merge.push_back(c.merge_ms);
        }
        for (const TileSample& t : c.tiles) {
            total.push_back(t.latency_ms);
            infer.push_back(t.inference_ms);
            if (c.images > 0) {
                queue.push_back(t.queue_ms);
                pre.push_back(t.preprocess_ms);
                decode.push_back(t.decode_ms);
            }
            // Tiles of one batch share its id (and may belong to several images); a bare run is
            // one batch whose tiles carry id 0.
            if (t.batch_id != 0 && !seen_batches.insert(t.batch_id).second) continue;
            if (t.batch_id == 0 && &t != &c.tiles.front()) continue;
            ++row.batch_histogram[t.batch_size];
        }
    }
    row.tile_total = summarize(total);
    row.tile_queue = summarize(queue);
    row.tile_preprocess = summarize(pre);
    row.tile_inference = summarize(infer);
    row.tile_decode = summarize(decode);
    row.image_total = summarize(img_total);
    row.image_preprocess = summarize(img_pre);
    row.image_merge = summarize(img_merge);

    row.batches = 0;
    double items = 0;
    for (const auto& [size, count] : row.batch_histogram) {
        row.batches += count;
        items += static_cast<double>(size) * static_cast<double>(count);
    }
    row.mean_batch = row.batches ? items / static_cast<double>(row.batches) : 0;
    if (row.measured_s > 0) {
        row.tiles_per_s = static_cast<double>(row.tiles) / row.measured_s;
        row.images_per_s = static_cast<double>(row.images) / row.measured_s;
    }
}

void link_efficiency(std::vector<BenchRow>& rows) {
    // The nearest matching bare row before the pipeline row (its pair, measured under the same
    // conditions), else the first matching one anywhere.
    auto find_bare = [&rows](std::size_t at, int batch, int instances) -> const BenchRow* {
        auto matches = [&](const BenchRow& r) {
            return r.kind == "bare" && r.error.empty() && r.batch == batch && r.instances == instances &&
                   r.tiles_per_s > 0;
        };
        for (std::size_t i = at; i-- > 0;)
            if (matches(rows[i])) return &rows[i];
        for (const BenchRow& r : rows)
            if (matches(r)) return &r;
        return nullptr;
    };
    for (std::size_t i = 0; i < rows.size(); ++i) {
        BenchRow& r = rows[i];
        if (r.kind != "pipeline" || !r.error.empty()) continue;
        const BenchRow* bare = find_bare(i, r.effective_batch, r.instances);
        if (!bare) bare = find_bare(i, r.effective_batch, 1);
        if (!bare) continue;
        r.bare_tiles_per_s = bare->tiles_per_s;
        r.efficiency = r.tiles_per_s / bare->tiles_per_s;
    }
}

namespace {

using nlohmann::json;

json percentiles_json(const Percentiles& p) {
    return {{"mean", p.mean}, {"p50", p.p50}, {"p90", p.p90}, {"p99", p.p99},
            {"min", p.min},   {"max", p.max}, {"count", p.count}};
}

json row_json(const BenchRow& r) {
    json j;
    j["kind"] = r.kind;
    j["mode"] = r.mode;
    j["batch"] = r.batch;
    j["effective_batch"] = r.effective_batch;
    j["instances"] = r.instances;
    j["threads"] = r.threads;
    j["concurrency"] = r.concurrency;
    j["tiles_per_image"] = r.tiles_per_image;
    j["tiles_per_s"] = r.tiles_per_s;
    j["images_per_s"] = r.images_per_s;
    j["bare_tiles_per_s"] = r.bare_tiles_per_s;
    j["efficiency"] = r.efficiency ? json(*r.efficiency) : json(nullptr);
    j["stability"] = {{"stable", r.stable},
                      {"windows", r.windows},
                      {"reported_windows", r.reported_windows},
                      {"window_requests_per_s", r.window_requests_per_s},
                      {"measured_s", r.measured_s}};
    j["counts"] = {{"requests", r.requests}, {"tiles", r.tiles}, {"images", r.images}};
    j["latency_ms"] = {{"tile",
                        {{"total", percentiles_json(r.tile_total)},
                         {"queue", percentiles_json(r.tile_queue)},
                         {"preprocess", percentiles_json(r.tile_preprocess)},
                         {"inference", percentiles_json(r.tile_inference)},
                         {"decode", percentiles_json(r.tile_decode)}}},
                       {"image",
                        {{"total", percentiles_json(r.image_total)},
                         {"preprocess", percentiles_json(r.image_preprocess)},
                         {"merge", percentiles_json(r.image_merge)}}}};
    json hist = json::object();
    for (const auto& [size, count] : r.batch_histogram) hist[std::to_string(size)] = count;
    j["batches"] = {{"count", r.batches},
                    {"mean_size", r.mean_batch},
                    {"histogram", hist},
                    {"sequential_fallback", r.sequential_fallback},
                    {"failed_sizes", r.failed_batch_sizes},
                    {"retried", r.retried_batches}};
    j["memory_kb"] = {{"rss_after_warmup", r.memory_after_warmup.rss_kb},
                      {"rss_at_end", r.memory_at_end.rss_kb},
                      {"rss_growth", r.rss_growth_kb()},
                      {"window_rss", r.window_rss_kb},
                      {"peak_hwm", r.memory_at_end.hwm_kb}};
    j["error"] = r.error;
    return j;
}

json autotune_json(const AutoTuneResult& a) {
    json j;
    j["candidates"] = json::array();
    for (const AutoTuneCandidate& c : a.candidates)
        j["candidates"].push_back({{"batch", c.config.batch},
                                   {"instances", c.config.instances},
                                   {"threads", c.config.threads},
                                   {"tiles_per_s", c.tiles_per_s},
                                   {"per_item_ms", c.per_item_ms},
                                   {"run_latency_ms", percentiles_json(c.run_latency)},
                                   {"stable", c.stable},
                                   {"within_budget", c.within_budget},
                                   {"error", c.error}});
    j["best"] = a.best ? json(*a.best) : json(nullptr);
    j["reason"] = a.reason;
    return j;
}

std::string csv_escape(const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string out = "\"";
    for (char ch : s) {
        if (ch == '"') out += '"';
        out += ch == '\n' ? ' ' : ch;
    }
    return out + "\"";
}

std::string num(double v) {
    std::ostringstream o;
    o.precision(6);
    o << v;
    return o.str();
}

}  // namespace

std::string to_json(const BenchReport& report, int indent) {
    json j;
    j["tool"] = "tiledet bench";
    j["model"] = report.model;
    j["runtime"] = report.runtime;
    j["providers"] = report.providers;
    j["machine"] = report.machine;
    j["load_average"] = report.load_average;
    j["images"] = report.images;
    j["tiles"] = report.tiles;
    j["settings"] = report.settings;
    j["windows"] = {{"duration_ms", report.windows.duration.count()},
                    {"requests", report.windows.requests},
                    {"min_requests", report.windows.min_requests},
                    {"warmup_ms", report.windows.warmup.count()},
                    {"stability", report.windows.stability},
                    {"stable_windows", report.windows.stable_windows},
                    {"max_windows", report.windows.max_windows}};
    j["rows"] = json::array();
    for (const BenchRow& r : report.rows) j["rows"].push_back(row_json(r));
    j["autotune"] = report.autotune ? autotune_json(*report.autotune) : json(nullptr);
    j["notes"] = report.notes;
    return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::vector<std::string> csv_columns() {
    std::vector<std::string> cols = {"kind", "mode", "batch", "effective_batch", "instances", "threads", "concurrency",
                                     "tiles_per_image", "tiles_per_s", "images_per_s", "bare_tiles_per_s",
                                     "efficiency", "stable", "windows", "measured_s", "requests", "tiles", "images"};
    for (const char* stage : {"tile", "queue", "preprocess", "inference", "decode", "image", "image_preprocess", "merge"})
        for (const char* p : {"p50", "p90", "p99"}) cols.push_back(std::string(stage) + "_" + p + "_ms");
    for (const char* c : {"batches", "mean_batch", "batch_histogram", "rss_after_warmup_kb", "rss_at_end_kb",
                          "rss_growth_kb", "peak_hwm_kb", "error"})
        cols.emplace_back(c);
    return cols;
}

std::string to_csv(const BenchReport& report) {
    std::ostringstream out;
    const auto cols = csv_columns();
    for (std::size_t i = 0; i < cols.size(); ++i) out << (i ? "," : "") << cols[i];
    out << "\n";
    for (const BenchRow& r : report.rows) {
        std::vector<std::string> v = {r.kind,
                                      r.mode,
                                      std::to_string(r.batch),
                                      std::to_string(r.effective_batch),
                                      std::to_string(r.instances),
                                      std::to_string(r.threads),
                                      std::to_string(r.concurrency),
                                      std::to_string(r.tiles_per_image),
                                      num(r.tiles_per_s),
                                      num(r.images_per_s),
                                      num(r.bare_tiles_per_s),
                                      r.efficiency ? num(*r.efficiency) : "",
                                      r.stable ? "1" : "0",
                                      std::to_string(r.windows),
                                      num(r.measured_s),
                                      std::to_string(r.requests),
                                      std::to_string(r.tiles),
                                      std::to_string(r.images)};
        for (const Percentiles* p : {&r.tile_total, &r.tile_queue, &r.tile_preprocess, &r.tile_inference,
                                     &r.tile_decode, &r.image_total, &r.image_preprocess, &r.image_merge}) {
            v.push_back(num(p->p50));
            v.push_back(num(p->p90));
            v.push_back(num(p->p99));
        }
        std::string hist;
        for (const auto& [size, count] : r.batch_histogram) {
            if (!hist.empty()) hist += ';';
            hist.append(std::to_string(size)).append(":").append(std::to_string(count));
        }
        v.push_back(std::to_string(r.batches));
        v.push_back(num(r.mean_batch));
        v.push_back(hist);
        v.push_back(std::to_string(r.memory_after_warmup.rss_kb));
        v.push_back(std::to_string(r.memory_at_end.rss_kb));
        v.push_back(std::to_string(r.rss_growth_kb()));
        v.push_back(std::to_string(r.memory_at_end.hwm_kb));
        v.push_back(r.error);
        for (std::size_t i = 0; i < v.size(); ++i) out << (i ? "," : "") << csv_escape(v[i]);
        out << "\n";
    }
    return out.str();
}

std::string format_table(const BenchReport& report) {
    std::ostringstream out;
    char line[512];
    out << "model: " << report.model << "\n"
        << "machine: " << report.machine << " (load average " << report.load_average << ")\n"
        << "runtime: " << report.runtime << "\n";
    if (!report.images.empty()) out << "images: " << report.images << "; tiles: " << report.tiles << "\n";
    std::snprintf(line, sizeof line, "%-10s %5s %4s %4s %4s %4s %9s %9s %6s %9s %9s %9s %8s %8s %8s %8s %6s %s\n",
                  "mode", "batch", "eff", "inst", "thr", "conc", "tiles/s", "images/s", "effic", "tile p50",
                  "tile p99", "img p99", "queue50", "infer50", "pre50", "merge50", "meanB", "stable");
    out << line;
    for (const BenchRow& r : report.rows) {
        if (!r.error.empty()) {
            std::snprintf(line, sizeof line, "%-10s %5d %4s %4d %4d %4d  error: ", r.mode.c_str(), r.batch, "-",
                          r.instances, r.threads, r.concurrency);
            out << line << r.error << "\n";
            continue;
        }
        char eff[16] = "-";
        if (r.efficiency) std::snprintf(eff, sizeof eff, "%.3f", *r.efficiency);
        std::snprintf(line, sizeof line,
                      "%-10s %5d %4d %4d %4d %4d %9.2f %9.2f %6s %9.2f %9.2f %9.2f %8.2f %8.2f %8.2f %8.3f %6.2f %s\n",
                      r.mode.c_str(), r.batch, r.effective_batch, r.instances, r.threads, r.concurrency,
                      r.tiles_per_s, r.images_per_s, eff, r.tile_total.p50, r.tile_total.p99, r.image_total.p99,
                      r.tile_queue.p50, r.tile_inference.p50, r.tile_preprocess.p50, r.image_merge.p50, r.mean_batch,
                      r.stable ? "yes" : "NOT STABLE");
        out << line;
    }
    for (const BenchRow& r : report.rows) {
        if (!r.error.empty() || r.batch_histogram.empty() || r.kind != "pipeline") continue;
        out << "  " << r.mode << " batch " << r.batch << " inst " << r.instances << " conc " << r.concurrency
            << ": batch sizes";
        for (const auto& [size, count] : r.batch_histogram) out << " " << size << "x" << count;
        if (!r.failed_batch_sizes.empty()) {
            out << "; model failed at batch";
            for (int n : r.failed_batch_sizes) out << " " << n;
            out << " (" << r.retried_batches << " batches re-run smaller; `tiledet batchify` repairs it)";
        }
        out << "; RSS " << r.memory_after_warmup.rss_kb / 1024 << " -> " << r.memory_at_end.rss_kb / 1024
            << " MiB (growth " << r.rss_growth_kb() << " kB), peak " << r.memory_at_end.hwm_kb / 1024 << " MiB\n";
    }
    if (report.autotune) {
        out << "auto-tune (bare runtime):\n";
        for (std::size_t i = 0; i < report.autotune->candidates.size(); ++i) {
            const AutoTuneCandidate& c = report.autotune->candidates[i];
            std::snprintf(line, sizeof line, "  %s batch %d x %d inst x %d thr: %8.2f tiles/s, %7.1f ms/item, p99 run %7.1f ms%s%s\n",
                          report.autotune->best == i ? "*" : " ", c.config.batch, c.config.instances, c.config.threads,
                          c.tiles_per_s, c.per_item_ms, c.run_latency.p99, c.within_budget ? "" : " (over budget)",
                          c.stable ? "" : " (not stable)");
            out << line;
            if (!c.error.empty()) out << "    error: " << c.error << "\n";
        }
        out << "  pick: " << report.autotune->reason << "\n";
    }
    for (const std::string& n : report.notes) out << "note: " << n << "\n";
    return out.str();
}

void write_text_file(const std::string& path, const std::string& text) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    if (!f) throw InputError("cannot write " + path + ": check that its folder exists and is writable");
    f << text << std::flush;  // buffered bytes fail only here (a full disk, /dev/full)
    if (!f) throw InputError("writing " + path + " failed (the disk is full?): the report was not saved");
}

std::string describe_machine() {
    std::string cpu = "unknown CPU";
    std::ifstream info("/proc/cpuinfo");
    std::string line;
    while (std::getline(info, line)) {
        if (line.rfind("model name", 0) == 0) {
            const auto colon = line.find(':');
            if (colon != std::string::npos) cpu = line.substr(line.find_first_not_of(' ', colon + 1));
            break;
        }
    }
    std::string os;
    utsname u{};
    if (uname(&u) == 0) os = std::string(u.sysname) + " " + u.release + " " + u.machine;
    return cpu + ", " + std::to_string(std::thread::hardware_concurrency()) + " logical cores, " + os;
}

std::string read_load_average() {
    std::ifstream f("/proc/loadavg");
    std::string a, b, c;
    if (!(f >> a >> b >> c)) return "unknown";
    return a + " " + b + " " + c;
}

}  // namespace tiledet::bench
