// tiledet bench --model M [--images PATH... | --synthetic WxH] [--tile ...] [--batch 1,2,4,8]
//   [--mode sequential,dynamic,instances] [--concurrency auto|1,2,4] [--duration S | --requests N]
//   [--warmup S] [--json FILE] [--csv FILE] [--plot FILE.png] [--auto [--latency-budget-ms MS]]
// The bare runtime's ceiling and the pipeline's throughput/latency, measured in stable windows
// (perf_analyzer's rule), with efficiency = pipeline tiles/s / bare tiles/s. See BENCHMARKS.md.
#if TILEDET_HAS_BENCH
#include <algorithm>
#include <cmath>
#include <iostream>
#include <memory>
#include <set>
#include <sstream>
#include <thread>

#include "command.hpp"
#include "provider_flags.hpp"
#include "tiledet/bench/autotune.hpp"
#include "tiledet/bench/bare.hpp"
#include "tiledet/bench/plot.hpp"
#include "tiledet/bench/report.hpp"
#include "tiledet/error.hpp"
#include "tiledet/runtime/model.hpp"

#if TILEDET_BENCH_HAS_PIPELINE
#include <opencv2/core.hpp>

#include "pipeline_flags.hpp"
#include "tiledet/batching/batch_executor.hpp"
#include "tiledet/bench/pipeline_load.hpp"
#if TILEDET_HAS_IO
#include "tiledet/io/image.hpp"
#endif
#endif

namespace tiledet::cli {
namespace {

using namespace tiledet::bench;

struct BenchArgs {
    std::string model;
    std::vector<std::string> images;
    std::string synthetic;  // WxH
    std::string batch = "1,2,4,8";
    std::string modes = "sequential,dynamic,instances";
    std::string concurrency = "auto";
    int instances = 2;      // instances mode
    double duration_s = 2.0;
    std::size_t requests = 0;
    std::size_t min_requests = 10;
    double warmup_s = 1.0;
    int max_windows = 10;
    double stability_pct = 10.0;
    std::string json_path, csv_path, plot_path;
    bool bare_only = false, no_bare = false;
    bool autotune = false;
    double latency_budget_ms = 0;
    std::string auto_instances, auto_threads;
    // shared pipeline flags (same meaning as in detect)
    std::string provider = "cpu";
    int device_id = 0;
    std::string io_binding = "auto";
    bool cuda_graphs = false;
    int threads = 0;
    std::string family, imgsz, names, tile = "none", merge = "greedy-nmm", match = "ios";
    double overlap = 0.2;
    bool full_image = false;
    double max_delay_ms = 2.0;
    std::size_t queue_capacity = 1024;
    PipelineFlags limit_flags;  // --max-image-pixels, --max-input-elements, --max-output-elements (as detect's)
    Limits limits{};            // what they set (run_bench)
};

// Comma-separated whole numbers from 1 to `hi` (each one is threads, sessions or batch slots
// the bench allocates: --batch 100000 once started 200000 producer threads and took the machine).
std::vector<int> int_list(const std::string& s, const char* what, int hi = 1024) {
    std::vector<int> out;
    std::stringstream ss(s);
    std::string tok;
    while (std::getline(ss, tok, ',')) {
        if (tok.empty()) continue;
        std::size_t used = 0;
        int v = 0;
        try {
            v = std::stoi(tok, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used != tok.size() || v < 1 || v > hi)
            throw ConfigError(std::string(what) + ": expected comma-separated whole numbers from 1 to " +
                              std::to_string(hi) + ", got '" + s + "'");
        out.push_back(v);
    }
    if (out.empty()) throw ConfigError(std::string(what) + ": expected at least one value, got '" + s + "'");
    return out;
}

[[maybe_unused]] std::vector<std::string> word_list(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    std::string tok;
    while (std::getline(ss, tok, ','))
        if (!tok.empty()) out.push_back(tok);
    return out;
}

[[maybe_unused]] std::pair<int, int> parse_wxh(const std::string& s, const char* what) {
    std::string t = s;
    for (char& c : t)
        if (c == 'x' || c == 'X') c = ',';
    std::vector<int> v;
    try {
        v = int_list(t, what, 1 << 20);
    } catch (const ConfigError&) {
        v.clear();  // said below, with the value as typed
    }
    if (v.size() != 2)
        throw ConfigError(std::string(what) + ": expected WxH of positive integers such as 1280x640, got '" + s + "'");
    return {v[0], v[1]};
}

int machine_threads(int given) {
    return given > 0 ? given : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

BenchRow bare_row(const BareResult& r) {
    BenchRow row;
    row.kind = "bare";
    row.mode = "bare";
    row.batch = row.effective_batch = r.config.batch;
    row.instances = r.config.instances;
    row.threads = r.config.threads;
    row.concurrency = r.config.instances;
    row.error = r.error;
    fill_row(row, r.run);
    if (!r.error.empty()) row.error = r.error;
    return row;
}

void progress(const std::string& what) { std::cerr << "bench: " << what << "\n" << std::flush; }

#if TILEDET_BENCH_HAS_PIPELINE
PipelineOptions pipeline_base(const BenchArgs& a) {
    PipelineFlags f;
    f.set("provider", a.provider)
        .set("device_id", std::to_string(a.device_id))
        .set("io_binding", a.io_binding)
        .set("cuda_graphs", a.cuda_graphs ? "true" : "false")
        .set("threads", std::to_string(a.threads))
        .set("family", a.family)
        .set("imgsz", a.imgsz)
        .set("names", a.names)
        .set("tile", a.tile)
        .set("overlap", std::to_string(a.overlap))
        .set("full_image", a.full_image ? "true" : "false")
        .set("merge", a.merge)
        .set("match", a.match)
        .set("max_delay_ms", std::to_string(a.max_delay_ms))
        .set("queue", std::to_string(a.queue_capacity))
        .set("max_image_pixels", std::to_string(a.limits.max_image_pixels))
        .set("max_input_elements", std::to_string(a.limits.max_input_elements))
        .set("max_output_elements", std::to_string(a.limits.max_output_elements))
        // Each bench row runs the configuration it names; --auto measures the bare grid itself.
        .set("config", "manual");
    return to_pipeline_options(f);
}

std::vector<cv::Mat> bench_images(const BenchArgs& a, std::pair<int, int> model_hw, std::string& described) {
    std::vector<cv::Mat> images;
    if (!a.images.empty()) {
#if TILEDET_HAS_IO
        std::size_t files = 0;
        for (const std::string& p : a.images)
            for (const std::string& f : list_images(p)) {
                images.push_back(load_image(f, a.limits.max_image_pixels));
                ++files;
            }
        if (images.empty()) throw InputError("--images: no image files found in the paths given");
        described = std::to_string(files) + " file(s) from " + a.images.front() + (a.images.size() > 1 ? " ..." : "") +
                    ", first " + std::to_string(images[0].cols) + "x" + std::to_string(images[0].rows);
        return images;
#else
        throw ConfigError("--images needs the io module; this build has none: use --synthetic WxH");
#endif
    }
    const auto [w, h] = a.synthetic.empty() ? std::pair{model_hw.second, model_hw.first} : parse_wxh(a.synthetic, "--synthetic");
    // Fixed-seed noise: every run and machine feeds the same pixels.
    cv::Mat img(h, w, CV_8UC3);
    cv::RNG rng(12345);
    rng.fill(img, cv::RNG::UNIFORM, 0, 256);
    images.push_back(img);
    described = "synthetic " + std::to_string(w) + "x" + std::to_string(h) + " (fixed-seed noise)";
    return images;
}
#endif

std::string settings_line(int argc_like_unused, const BenchArgs& a) {
    (void)argc_like_unused;
    std::ostringstream s;
    s << "batch=" << a.batch << " mode=" << a.modes << " concurrency=" << a.concurrency << " instances=" << a.instances
      << " threads=" << a.threads << " tile=" << a.tile << " overlap=" << a.overlap << " max_delay_ms=" << a.max_delay_ms
      << " provider=" << a.provider;
    if (a.autotune) s << " auto latency_budget_ms=" << a.latency_budget_ms;
    return s.str();
}

int run_bench(BenchArgs a) {
    a.limits = to_pipeline_options(a.limit_flags).limits;
    // A bad file or a provider this machine cannot run fails here with one clear line.
    ModelOptions model_options;
    apply_provider_flags(model_options, a.provider, a.device_id, a.io_binding, a.cuda_graphs);
    const Model probe = Model::load(a.model, model_options);
    const ModelSignature& sig = probe.signature();
    try {
        check_signature_limits(sig, a.limits);  // one line, exit 2, before any row allocates a batch
    } catch (const OptionError& e) {
        throw e.prefixed(a.model + ": ");
    }
    const auto batches = int_list(a.batch, "--batch", 256);  // 256 slots of a 640 input: 1.2 GB
    if (a.concurrency != "auto") (void)int_list(a.concurrency, "--concurrency");  // said now, not after the bare rows
    if (a.instances < 1 || a.instances > 256)
        throw ConfigError("--instances: expected an instance count from 1 to 256, got " + std::to_string(a.instances));
    if (a.duration_s <= 0 && a.requests == 0) throw ConfigError("--duration: expected seconds > 0");
    // Each measurement's own settings, NaN included (--duration nan printed an all-zero row).
    require_flag_in("--duration", a.duration_s, 0, 86400, "seconds from 0 to 86400 (0: with --requests)");
    require_flag_in("--warmup", a.warmup_s, 0, 3600, "seconds from 0 to 3600");
    require_flag_in("--stability", a.stability_pct, 0.1, 100, "a percentage from 0.1 to 100");
    require_flag_in("--max-windows", a.max_windows, 1, 1000, "a window count from 1 to 1000");
    if (word_list(a.modes).empty()) throw ConfigError("--mode: expected sequential, dynamic and/or instances, got ''");
    if (!a.images.empty() && !a.synthetic.empty()) throw ConfigError("give --images or --synthetic, not both");
    if (!a.synthetic.empty()) {  // before the bare rows run: said at once, not after them
        const auto [w, h] = parse_wxh(a.synthetic, "--synthetic");
        check_limit(std::int64_t{w} * h, a.limits.max_image_pixels, "limits.max_image_pixels",
                    "--synthetic " + std::to_string(w) + "x" + std::to_string(h) + " has pixels",
                    "; bench a smaller image, or raise the limit");
    }

#if TILEDET_BENCH_HAS_PIPELINE
    // The pipeline rows' options against the model (tile sizes below --min-tile-ratio, overlaps
    // not smaller than the tile, a family that does not fit): one line and exit 2 now, not an
    // error in every row after the bare ones have run.
    if (!a.bare_only) {
        PipelineOptions check = pipeline_base(a);
        check.batching.max_batch_size = 1;
        check.batching.instances = 1;
        try {
            (void)Pipeline(a.model, check);
        } catch (const OptionError& e) {
            throw ConfigError(e.with_name(flag_for_option(e.option())));
        } catch (const UnknownLayoutError&) {
            // No family: the bare rows still run and the pipeline rows are skipped with a note.
        }
    }
#endif
    WindowOptions windows;
    windows.duration = std::chrono::milliseconds(static_cast<long long>(a.duration_s * 1000));
    windows.requests = a.requests;
    windows.min_requests = std::max<std::size_t>(1, a.min_requests);
    windows.warmup = std::chrono::milliseconds(static_cast<long long>(a.warmup_s * 1000));
    windows.max_windows = std::max(3, a.max_windows);
    windows.stability = a.stability_pct / 100.0;

    BenchReport report;
    report.model = a.model;
    report.runtime = "ONNX Runtime " + Model::runtime_version();
    report.providers = probe.providers();
    report.machine = describe_machine();
    report.load_average = read_load_average();
    report.windows = windows;
    report.tiles = a.tile;

    std::pair<int, int> image_hw = sig.spatial_size().value_or(std::pair<int64_t, int64_t>{640, 640});
#if TILEDET_BENCH_HAS_PIPELINE
    std::vector<BenchMode> modes;
    for (const std::string& m : word_list(a.modes)) modes.push_back(parse_bench_mode(m));
#else
    report.notes.push_back("this build has no pipeline module: only the bare runtime is measured");
    a.bare_only = true;
#endif

    // --auto: measure the bare grid, then bench only the pick.
    int per_instance_threads = 0;
    std::vector<int> bench_batches = batches;
    if (a.autotune) {
        AutoTuneOptions o;
        o.batch_sizes = batches;
        if (!a.auto_instances.empty()) o.instances = int_list(a.auto_instances, "--auto-instances");
        if (!a.auto_threads.empty()) o.threads = int_list(a.auto_threads, "--auto-threads");
        o.total_threads = machine_threads(a.threads);
        o.latency_budget_ms = a.latency_budget_ms;
        o.model = model_options;
        o.image_hw = image_hw;
        progress("auto-tune over the bare runtime (" + std::to_string(autotune_grid(sig, o).size()) + " cells)");
        report.autotune = autotune(a.model, o);
        const AutoTuneCandidate* best = report.autotune->choice();
        if (!best) {
            std::cout << format_table(report);
            throw ConfigError("auto-tune: " + report.autotune->reason);
        }
        progress("auto-tune pick: " + report.autotune->reason);
        bench_batches = {best->config.batch};
        a.instances = best->config.instances;
        per_instance_threads = best->config.threads;
        a.threads = best->config.threads * best->config.instances;
#if TILEDET_BENCH_HAS_PIPELINE
        modes = {best->config.instances > 1 ? BenchMode::instances : BenchMode::dynamic};
#endif
    }
    model_options.intra_op_threads = a.threads;

#if TILEDET_BENCH_HAS_PIPELINE
    // The pipeline needs a detector family; without one the bare runtime rows stand alone.
    std::unique_ptr<Detector> detector;
    if (!a.bare_only) {
        try {
            detector = make_detector(sig, pipeline_base(a).detector);
        } catch (const Error& e) {
            const std::string why = e.what();
            report.notes.push_back("pipeline rows skipped: " + why.substr(0, why.find('\n')) +
                                   "; the bare runtime rows stand alone");
            modes.clear();
        }
    }
#endif
    // Pipeline configurations to run, and the bare cells they are compared with.
    std::vector<std::pair<int, int>> bare_cells;  // (batch, instances)
    auto want_bare = [&](int b, int k) {
        if (batch_supported(sig, b) &&
            std::find(bare_cells.begin(), bare_cells.end(), std::pair{b, k}) == bare_cells.end())
            bare_cells.emplace_back(b, k);
    };
    if (sig.batch_kind().is_static()) want_bare(static_cast<int>(sig.batch_kind().size), 1);
    for (int b : bench_batches) want_bare(b, 1);
    want_bare(1, 1);
#if TILEDET_BENCH_HAS_PIPELINE
    for (BenchMode m : modes)
        if (m == BenchMode::instances) {
            for (int b : bench_batches) want_bare(b, a.instances);
            if (sig.batch_kind().is_static()) want_bare(static_cast<int>(sig.batch_kind().size), a.instances);
        }
#endif
    std::sort(bare_cells.begin(), bare_cells.end(), [](auto x, auto y) { return std::pair{x.second, x.first} < std::pair{y.second, y.first}; });

    // With pipeline rows, each one is paired with a bare row measured just before it (same
    // effective batch and instances), so a change in the machine's load between rows cannot
    // pass for (in)efficiency. Without them, the bare rows are the whole table.
    bool paired = false;
#if TILEDET_BENCH_HAS_PIPELINE
    paired = detector && !a.bare_only && !a.no_bare;
#endif
    if (!a.no_bare && !paired) {
        for (auto [b, k] : bare_cells) {
            BareConfig cfg{b, k, k > 1 ? per_instance_threads : 0};
            progress("bare runtime: batch " + std::to_string(b) + ", " + std::to_string(k) + " instance(s)");
            report.rows.push_back(bare_row(measure_bare(a.model, cfg, model_options, windows, image_hw)));
        }
    }

#if TILEDET_BENCH_HAS_PIPELINE
    if (!a.bare_only) {
        PipelineOptions base = pipeline_base(a);
        base.model.intra_op_threads = a.threads;
        if (detector) {
            const std::vector<cv::Mat> images = bench_images(a, detector->input_size(), report.images);
            std::vector<PipelineBenchConfig> configs;
            for (BenchMode m : modes) {
                if (m == BenchMode::sequential) {
                    configs.push_back({m, 1, 1});
                    continue;
                }
                for (int b : bench_batches) configs.push_back({m, b, m == BenchMode::instances ? a.instances : 1});
            }
            for (const PipelineBenchConfig& cfg : configs) {
                const std::string label = to_string(cfg.mode) + " batch " + std::to_string(cfg.batch) +
                                          (cfg.mode == BenchMode::instances ? " x" + std::to_string(cfg.instances) : "");
                std::unique_ptr<Pipeline> pipeline;
                try {
                    pipeline = std::make_unique<Pipeline>(a.model, options_for(cfg, base));
                } catch (const Error& e) {
                    BenchRow row;
                    row.kind = "pipeline";
                    row.mode = to_string(cfg.mode);
                    row.batch = cfg.batch;
                    row.instances = cfg.instances;
                    row.error = e.what();
                    report.rows.push_back(row);
                    continue;
                }
                const int tiles = static_cast<int>(pipeline->tiles_for(images[0].cols, images[0].rows).size());
                if (paired) {
                    const int b = pipeline->executor().max_batch_size();
                    const int k = static_cast<int>(pipeline->executor().instances());
                    BareConfig bare_cfg{b, k, k > 1 ? per_instance_threads : 0};
                    progress("bare runtime: batch " + std::to_string(b) + ", " + std::to_string(k) +
                             " instance(s) (paired with " + label + ")");
                    report.rows.push_back(bare_row(measure_bare(a.model, bare_cfg, model_options, windows, image_hw)));
                }
                const std::vector<int> concs =
                    a.concurrency == "auto" ? std::vector<int>{auto_concurrency(cfg, tiles)}
                                            : int_list(a.concurrency, "--concurrency");
                for (int c : concs) {
                    progress("pipeline " + label + ", concurrency " + std::to_string(c) + " (" + std::to_string(tiles) +
                             " tile(s) per image)");
                    report.rows.push_back(measure_pipeline(*pipeline, cfg, c, images, windows));
                }
                pipeline->shutdown();
            }
        }
    }
#endif

    link_efficiency(report.rows);
    report.load_average += " (start); " + read_load_average() + " (end)";
    report.settings = settings_line(0, a);
    for (const BenchRow& r : report.rows)
        if (r.error.empty() && !r.stable) {
            std::ostringstream note;
            note << "some rows did not stabilise (3 windows within " << a.stability_pct << "%) in "
                 << windows.max_windows << " windows: their figures are from the last 3 windows; use a longer --duration";
            report.notes.push_back(note.str());
            break;
        }

    if (!a.plot_path.empty()) {
        const PlotResult p = write_plot(report, a.plot_path);
        report.notes.push_back(p.message);
        if (!p.written) std::cerr << "tiledet: " << p.message << "\n";
    }
    if (!a.json_path.empty()) write_text_file(a.json_path, to_json(report));
    if (!a.csv_path.empty()) write_text_file(a.csv_path, to_csv(report));
    std::cout << format_table(report);
    // A bare row that fails at batch > 1 is a finding about the model (a declared dynamic batch
    // that does not run), said in a note; a failing pipeline row or bare batch 1 is a failure.
    bool failed = false;
    for (const BenchRow& r : report.rows) {
        if (r.error.empty()) continue;
        if (r.kind == "bare" && r.batch > 1) {
            std::cerr << "tiledet: note: the bare runtime cannot run batch " << r.batch
                      << " on this model although it declares it: " << r.error.substr(0, r.error.find('\n')) << "\n";
        } else {
            failed = true;
        }
    }
    return failed ? kExitSomeInputsFailed : kExitOk;
}

const CommandRegistrar reg{Command{"bench", 50, [](CLI::App& app) {
    auto* sub = app.add_subcommand("bench", "Measure throughput, latency breakdown and efficiency against the bare runtime");
    auto a = std::make_shared<BenchArgs>();
    sub->add_option("--model,-m", a->model, "ONNX model file")->required();
    sub->add_option("--images", a->images, "Image files or folders to cycle through");
    sub->add_option("--synthetic", a->synthetic, "A fixed-seed noise image of WxH (default: the model's input size)");
    sub->add_option("--batch", a->batch, "Max batch sizes to measure, e.g. 1,2,4,8")->capture_default_str();
    add_pipeline_flags(*sub, a->limit_flags, {"max_image_pixels", "max_input_elements", "max_output_elements"});
    sub->add_option("--mode", a->modes, "Pipeline modes: sequential,dynamic,instances")->capture_default_str();
    sub->add_option("--concurrency", a->concurrency, "Producer threads (closed loop): auto or a list such as 1,2,4")->capture_default_str();
    sub->add_option("--instances", a->instances, "Sessions in 'instances' mode (threads split between them)")->capture_default_str();
    sub->add_option("--duration", a->duration_s, "Measurement window in seconds (perf_analyzer --measurement-interval)")->capture_default_str();
    sub->add_option("--requests", a->requests, "Count windows of N completed requests instead of time windows");
    sub->add_option("--min-requests", a->min_requests, "A time window lasts until it holds this many requests (at most 10x --duration)")->capture_default_str();
    sub->add_option("--warmup", a->warmup_s, "Warm-up seconds before the first window")->capture_default_str();
    sub->add_option("--max-windows", a->max_windows, "Give up on stability after this many windows")->capture_default_str();
    sub->add_option("--stability", a->stability_pct, "Windows agree when within this percentage")->capture_default_str();
    sub->add_option("--json", a->json_path, "Write the report as JSON");
    sub->add_option("--csv", a->csv_path, "Write one CSV line per configuration");
    sub->add_option("--plot", a->plot_path, "Draw throughput vs batch and latency vs concurrency (PNG, gnuplot)");
    sub->add_flag("--bare-only", a->bare_only, "Measure only the bare runtime");
    sub->add_flag("--no-bare", a->no_bare, "Skip the bare runtime (no efficiency column)");
    sub->add_flag("--auto", a->autotune, "Auto-tune batch x instances x threads on the bare runtime, then bench the pick");
    sub->add_option("--latency-budget-ms", a->latency_budget_ms, "--auto: p99 of one batch run may not exceed this");
    sub->add_option("--auto-instances", a->auto_instances, "--auto: instance counts to try (default 1..cores)");
    sub->add_option("--auto-threads", a->auto_threads, "--auto: threads per instance to try (default 1..cores)");
    add_provider_flags(*sub, a->provider, a->device_id, a->io_binding, a->cuda_graphs);
    sub->add_option("--threads", a->threads, "CPU threads in all (split between instances; 0: ONNX Runtime's default)");
    sub->add_option("--family", a->family, "Force the model family");
    sub->add_option("--imgsz", a->imgsz, "Input size for models with dynamic H/W: 640 or H,W");
    sub->add_option("--names", a->names, "Class names file");
    sub->add_option("--tile", a->tile, "Tiles: none, auto, SIZE or WxH")->capture_default_str();
    sub->add_option("--overlap", a->overlap, "Tile overlap: ratio (< 1) or pixels (>= 1)")->capture_default_str();
    sub->add_flag("--full-image", a->full_image, "Also run the whole image as one more tile");
    sub->add_option("--merge", a->merge, "Merge across tiles: nms, nmm, greedy-nmm")->capture_default_str();
    sub->add_option("--match", a->match, "Merge match metric: iou or ios")->capture_default_str();
    sub->add_option("--max-delay-ms", a->max_delay_ms, "How long a request may wait for a batch to fill")->capture_default_str();
    sub->add_option("--queue", a->queue_capacity, "Queue capacity (requests)")->capture_default_str();
    return std::function<int()>([a] { return run_bench(*a); });
}}};

}  // namespace
}  // namespace tiledet::cli
#endif  // TILEDET_HAS_BENCH
