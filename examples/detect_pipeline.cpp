// The original pipeline's example, in C++: cut images into tiles, submit every tile as a request,
// let the batch executor gather them into batches, and print the original report.
//
//   detect_pipeline --detector rtdetr --model rf-detr-medium.onnx image1.jpg [image2.jpg ...]
#include <iostream>
#include <map>

#include <CLI/CLI.hpp>

#include "tiledet/pipeline/options.hpp"
#include "tiledet/io/image.hpp"
#include "tiledet/pipeline/report.hpp"

using namespace tiledet;

namespace {

// The original example's --detector values, checked against the family tiledet recognizes.
bool family_fits(const std::string& detector, Family f) {
    if (detector == "auto") return true;
    if (detector == "yolov8") return f == Family{"yolo"} || f == Family{"yolo_end2end"};
    if (detector == "rfdetr") return f == Family{"rfdetr"};
    if (detector == "rtdetr")
        return f == Family{"ultralytics_rtdetr"} || f == Family{"hf_rtdetr"} || f == Family{"official_rtdetr"} ||
               f == Family{"rfdetr"};
    return false;
}

int run(const std::string& detector, const std::string& model, const std::vector<std::string>& inputs,
        const std::map<std::string, std::string>& given) {
    PipelineOptions options;
    for (const auto& [name, value] : given)  // the library parses and checks every option
        if (!value.empty()) set_option(options, name, value);
    options.log = [](LogLevel level, std::string_view line) {
        std::cout << (level == LogLevel::warning ? "warning: " : "") << line << "\n";
    };
    Pipeline pipeline(model, options);
    const Family f = pipeline.detector().family();
    if (!family_fits(detector, f)) {
        std::cerr << "detect_pipeline: --detector " << detector << " but the model is a " << to_string(f) << " model ("
                  << pipeline.detector().reason() << "); use --detector auto or the matching one\n";
        return 2;
    }
    std::cout << "Model: " << model << " (" << to_string(f) << ")\n";
    for (const TensorInfo& t : pipeline.signature().inputs) std::cout << "  " << t.name << " " << t.dims_string() << "\n";

    std::vector<cv::Mat> images;
    std::vector<std::string> names;
    int failed = 0;
    for (const std::string& in : inputs) {
        for (const std::string& path : list_images(in)) {
            try {
                images.push_back(load_image(path));
                names.push_back(path);
            } catch (const Error& e) {
                std::cerr << e.what() << "\n";
                ++failed;
            }
        }
    }
    if (images.empty()) {
        std::cerr << "detect_pipeline: no readable images\n";
        return 2;
    }
    pipeline.detect(images.front(), "warm-up");  // first-run costs (allocations, kernel choice) off the clock

    const auto t0 = Clock::now();
    std::vector<std::future<ImageResult>> futures;
    for (std::size_t i = 0; i < images.size(); ++i) futures.push_back(pipeline.submit(images[i], names[i]));
    std::vector<ImageResult> results;
    for (auto& fut : futures) results.push_back(fut.get());
    const double total_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();

    const auto stats = pipeline.executor().stats();
    std::cout << execution_line(stats.device, results, total_ms) << "\n";
    std::cout << per_tile_report(results);
    for (const auto& r : results)
        std::cout << r.source << ": " << r.detections.size() << " detections, " << r.tiles.size() << " tiles, "
                  << r.end_to_end_ms << " ms end to end\n";
    return failed ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"detect_pipeline: the original tiled, batched detection example"};
    std::string detector = "auto", model;
    std::vector<std::string> inputs;
    std::map<std::string, std::string> given;  // option name -> text, as tiledet::set_option takes it
    given["tile"] = "0";  // the original example cut every image into model-sized tiles
    app.add_option("--detector", detector, "rtdetr, yolov8, rfdetr or auto")
        ->check(CLI::IsMember({"rtdetr", "yolov8", "rfdetr", "auto"}))
        ->capture_default_str();
    app.add_option("--model", model, "ONNX model")->required();
    app.add_option("inputs", inputs, "Image files or folders")->required();
    // Every pipeline option from the library's table, as --name-with-dashes VALUE (booleans too:
    // --verbose true).
    for (const OptionSpec& spec : pipeline_option_specs())
        app.add_option(option_flag(spec.name), given[spec.name], spec.help)->default_str(spec.default_text);
    CLI11_PARSE(app, argc, argv);
    try {
        return run(detector, model, inputs, given);
    } catch (const OptionError& e) {
        std::cerr << "detect_pipeline: " << e.with_name(option_flag(option_for_field(e.option()))) << "\n";
        return 2;
    } catch (const Error& e) {
        std::cerr << "detect_pipeline: " << e.what() << "\n";
        return 2;
    }
}
