// tiledet demo: the built-in default job on the generated models (no downloads needed).
#include <chrono>
#include <filesystem>
#include <iostream>

#include "command.hpp"
#include "tiledet/error.hpp"
#include "tiledet/runtime/model.hpp"

namespace tiledet::cli {
namespace {

namespace fs = std::filesystem;

// The generated models live in the build tree beside bin/: <build>/models.
fs::path default_models_dir() {
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) return exe.parent_path().parent_path() / "models";
    return "build/models";
}

int run_demo(const std::string& models_dir_arg) {
    const fs::path dir = models_dir_arg.empty() ? default_models_dir() : fs::path(models_dir_arg);
    const fs::path dyn = dir / "rtdetr_heavy_dynamic.onnx";
    const fs::path stat = dir / "rtdetr_heavy_static.onnx";
    if (!fs::exists(dyn) || !fs::exists(stat))
        throw InputError("demo models not found in " + dir.string() +
                         ": build first (`make demo` does), or pass --models DIR with rtdetr_heavy_{static,dynamic}.onnx");
    for (const fs::path& p : {stat, dyn}) {
        const Model m = Model::load(p.string());
        std::cout << p.filename().string() << "\n";
        for (const TensorInfo& t : m.signature().inputs) std::cout << "  " << t.name << " " << t.dims_string() << "\n";
        std::cout << "  batch: " << m.signature().batch_kind().describe() << "\n";
    }
    const Model m = Model::load(dyn.string());
    const auto [h, w] = m.signature().spatial_size().value_or(std::make_pair<int64_t, int64_t>(640, 640));
    Tensor images(ElementType::float32, {2, 3, h, w});
    for (auto& v : images.values<float>()) v = 0.5f;
    Tensor sizes(ElementType::int64, {2, 2});
    for (auto& v : sizes.values<int64_t>()) v = w;
    m.run({images.slice(0, 1), sizes.slice(0, 1)});  // warm-up
    const auto t0 = std::chrono::steady_clock::now();
    m.run({images, sizes});
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::printf("CPU Batch Execution: 2 images in %.1fms (%.1f FPS per image)\n", ms, 2000.0 / ms);
    return kExitOk;
}

const CommandRegistrar reg{Command{"demo", 90, [](CLI::App& app) {
    auto* sub = app.add_subcommand("demo", "Run the built-in demo on the generated models");
    auto dir = std::make_shared<std::string>();
    sub->add_option("--models", *dir, "Folder of generated models (default: <build>/models)");
    return std::function<int()>([dir] { return run_demo(*dir); });
}}};

}  // namespace
}  // namespace tiledet::cli
