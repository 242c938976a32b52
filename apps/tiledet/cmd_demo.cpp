// tiledet demo: the original pipeline's story on generated models, on any machine, with no
// downloads. One image cut into two tiles runs first through a static batch-1 RT-DETR-layout
// model (the broken export: fallback to sequential) and then through its dynamic twin (batched).
#if TILEDET_HAS_PIPELINE && TILEDET_HAS_IO
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>

#include "command.hpp"
#include "demo_scene.hpp"
#include "tiledet/error.hpp"
#include "tiledet/io/image.hpp"
#include "tiledet/pipeline/report.hpp"

namespace tiledet::cli {
namespace {

namespace fs = std::filesystem;

fs::path default_models_dir() {
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) return exe.parent_path().parent_path() / "models";
    return "build/models";
}

struct Run {
    double median_ms = 0;
    ImageResult result;
    bool sequential = false;
    std::string device;
    std::map<int, std::string> names;

    std::string name(int id) const {
        const auto it = names.find(id);
        return it != names.end() ? it->second : "class" + std::to_string(id);
    }
};

Run run_model(const fs::path& model, const cv::Mat& image, int repeats, int instances = 1) {
    PipelineOptions o;
    // The demo compares given configurations (sequential, batched, instances): nothing is chosen for it.
    o.auto_config.enabled = false;
    o.batching.instances = instances;
    o.tile_mode = TileMode::fixed;  // tiles of the model's input size
    o.tiles.overlap_ratio_w = o.tiles.overlap_ratio_h = 0.0;
    o.batching.max_batch_size = 8;
    // The image is two tiles: a probe batch of 2 is what the demo needs to know; probes of 3
    // and 8 would cost 11 tiles' worth (about 110 GFLOPs) of warm-up on these heavy models.
    o.batching.probe_batch_sizes = {2};
    o.log = [](LogLevel level, std::string_view line) {
        if (level != LogLevel::verbose) std::cout << (level == LogLevel::warning ? "warning: " : "") << line << "\n";
    };
    Pipeline pipeline(model.string(), o);
    pipeline.detect(image, "warm-up");
    // The report shows the median run itself, so its per-tile lines and total agree.
    std::vector<std::pair<double, ImageResult>> runs;
    for (int i = 0; i < repeats; ++i) {
        const auto t0 = Clock::now();
        ImageResult r = pipeline.detect(image, "demo");
        runs.emplace_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count(), std::move(r));
    }
    std::sort(runs.begin(), runs.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    Run run;
    run.median_ms = runs[runs.size() / 2].first;
    run.result = std::move(runs[runs.size() / 2].second);
    run.sequential = pipeline.executor().sequential();
    run.device = pipeline.executor().stats().device;
    run.names = pipeline.detector().class_names();
    return run;
}

int run_demo(const std::string& models_arg, const std::string& out_dir, int repeats) {
    const fs::path dir = models_arg.empty() ? default_models_dir() : fs::path(models_arg);
    const fs::path stat = dir / "rtdetr_heavy_static.onnx", dyn = dir / "rtdetr_heavy_dynamic.onnx";
    if (!fs::exists(stat) || !fs::exists(dyn))
        throw InputError("demo models not found in " + dir.string() +
                         ": build first (`make demo` does), or pass --models DIR holding rtdetr_heavy_{static,dynamic}.onnx");
    // The output folder before the runs: a file of that name was found only after them.
    if (std::error_code ec; fs::exists(out_dir, ec) && !fs::is_directory(out_dir, ec))
        throw InputError(out_dir + ": is a file; --out expects a folder for demo_annotated.jpg");
    const auto objects = planted_objects(dir / "manifest.json", "rtdetr_heavy_dynamic");

    // 1280x640: exactly two 640x640 tiles, each showing the three planted objects.
    cv::Mat image(640, 1280, CV_8UC3, cv::Scalar(40, 40, 40));
    paint_tile(image, 0, 0, objects, {235, 215, 190});
    paint_tile(image, 640, 0, objects, {225, 200, 180});

    std::cout << "tiledet demo: the original pipeline's scenario on generated RT-DETR-layout models\n"
              << "image 1280x640 cut into 2 tiles of 640x640; each tile costs about 10 GFLOPs\n\n";
    std::cout << "[1/3] " << stat.filename().string() << " (exported with a fixed batch of 1)\n";
    const Run seq = run_model(stat, image, repeats);
    std::cout << execution_line(seq.device, {seq.result}, seq.median_ms) << "\n"
              << per_tile_report({seq.result}) << "\n";
    std::cout << "[2/3] " << dyn.filename().string() << " (dynamic batch axis)\n";
    const Run bat = run_model(dyn, image, repeats);
    std::cout << execution_line(bat.device, {bat.result}, bat.median_ms) << "\n"
              << per_tile_report({bat.result}) << "\n";

    std::cout << "[3/3] " << stat.filename().string() << " again, as 2 instances sharing the CPU threads\n";
    const Run inst = run_model(stat, image, repeats, 2);
    std::cout << execution_line(inst.device, {inst.result}, inst.median_ms) << "\n"
              << per_tile_report({inst.result}) << "\n";

    std::printf("Speedup from batching:  %.2fx (sequential %.1f ms -> batched %.1f ms; median of %d runs, %s)\n",
                seq.median_ms / bat.median_ms, seq.median_ms, bat.median_ms, repeats, bat.device.c_str());
    std::printf("Speedup from instances: %.2fx (sequential %.1f ms -> 2 instances %.1f ms)\n",
                seq.median_ms / inst.median_ms, seq.median_ms, inst.median_ms);
    std::cout << "(On a CPU every run shares the same cores, so batching gains little; on a GPU two tiles\n"
                 " batched take about the time of one. `tiledet batchify` repairs a static model like [1/3].)\n\n";

    std::cout << "Detections (" << bat.result.detections.size() << ", merged across tiles):\n";
    for (const Detection& d : bat.result.detections)
        std::printf("  %-8s %.2f [%.0f, %.0f, %.0f, %.0f]\n", bat.name(d.class_id).c_str(), d.score,
                    d.box.x1, d.box.y1, d.box.x2, d.box.y2);
    fs::create_directories(out_dir);
    const fs::path out = fs::path(out_dir) / "demo_annotated.jpg";
    save_annotated(out.string(), image, bat.result.detections,
                   [&](int id) { return bat.name(id); });
    std::cout << "Annotated image: " << out.string() << "\n";
    return kExitOk;
}

const CommandRegistrar reg{Command{"demo", 90, [](CLI::App& app) {
    auto* sub = app.add_subcommand("demo", "The original scenario on generated models: static fallback vs batched");
    auto dir = std::make_shared<std::string>();
    auto out = std::make_shared<std::string>("demo-output");
    auto repeats = std::make_shared<int>(3);
    sub->add_option("--models", *dir, "Folder of generated models (default: <build>/models)");
    sub->add_option("--out", *out, "Where to write the annotated image")->capture_default_str();
    sub->add_option("--repeats", *repeats, "Timed runs per model (the median is reported)")->capture_default_str();
    return std::function<int()>([dir, out, repeats] {
        if (*repeats < 1 || *repeats > 1000)
            throw ConfigError("--repeats: expected a run count from 1 to 1000, got " + std::to_string(*repeats));
        return run_demo(*dir, *out, *repeats);
    });
}}};

}  // namespace
}  // namespace tiledet::cli
#endif
