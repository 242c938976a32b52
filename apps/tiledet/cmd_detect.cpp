// tiledet detect --model M [options] INPUT...: detections per image, as text, JSON and
// annotated images. Every image goes through the pipeline: whole, or cut into tiles (--tile)
// whose batches mix tiles of several images.
#if TILEDET_HAS_PIPELINE && TILEDET_HAS_IO
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <new>
#include <optional>
#include <sstream>

#include "command.hpp"
#include "pipeline_flags.hpp"
#include "tiledet/error.hpp"
#include "tiledet/io/image.hpp"
#include "tiledet/pipeline/report.hpp"
#include "tiledet/pipeline/result_json.hpp"

namespace tiledet::cli {
namespace {

namespace fs = std::filesystem;

double ms_since(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

struct DetectArgs {
    std::string model;
    std::vector<std::string> inputs;
    std::string json_path, jsonl_path, annotate_dir;
    std::string masks = "rle";
    PipelineFlags flags;
};

// One input's outcome: the pipeline's result, or why it failed.
struct ImageRecord {
    std::string file;
    double load_ms = 0;
    std::optional<ImageResult> result;
    std::string error;
};

class ProgressBar {
public:
    ProgressBar(std::size_t total, bool enabled) : total_(total), enabled_(enabled) {}
    void show(std::size_t done) const {
        if (!enabled_) return;
        constexpr int kWidth = 30;
        const int filled = static_cast<int>(kWidth * done / (total_ ? total_ : 1));
        std::fprintf(stderr, "\r[%s%s] %zu/%zu", std::string(static_cast<std::size_t>(filled), '#').c_str(),
                     std::string(static_cast<std::size_t>(kWidth - filled), ' ').c_str(), done, total_);
        std::fflush(stderr);
    }
    void clear() const {
        if (enabled_) std::fprintf(stderr, "\r\033[K");
    }

private:
    std::size_t total_;
    bool enabled_;
};

std::string summary(const ImageResult& r, const Detector& det) {
    std::ostringstream os;
    os << r.source << " " << r.width << "x" << r.height << ": ";
    std::map<std::string, int> counts;
    for (const auto& d : r.detections) ++counts[det.class_name(d.class_id)];
    if (counts.empty()) os << "no detections";
    bool first = true;
    for (const auto& [name, n] : counts) {
        os << (first ? "" : ", ") << n << " " << name;
        first = false;
    }
    char buf[64];
    std::snprintf(buf, sizeof(buf), " (%zu tile%s, %.1f ms)", r.tiles.size(), r.tiles.size() == 1 ? "" : "s",
                  r.end_to_end_ms);
    os << buf;
    return os.str();
}

std::string record_json(const ImageRecord& rec, const Detector& det, const std::string& device, int indent,
                        MaskFormat masks) {
    return rec.result ? image_json(*rec.result, det, device, rec.load_ms, indent, masks)
                      : image_error_json(rec.file, rec.error, indent);
}

// One line naming the image: the library's errors already do; anything else gets the name added.
std::string image_error(const std::string& file, const std::exception& e) {
    if (dynamic_cast<const Error*>(&e)) return cli_message(e);
    if (dynamic_cast<const std::bad_alloc*>(&e)) return file + ": out of memory (std::bad_alloc) while processing it";
    return file + ": " + e.what();
}

int run_detect(const DetectArgs& a) {
    const auto masks = parse_mask_format(a.masks);
    if (!masks) throw ConfigError("--masks: expected rle, polygon or none, got '" + a.masks + "'");
    PipelineOptions options = to_pipeline_options(a.flags);
    std::optional<Pipeline> loaded;
    try {
        loaded.emplace(a.model, options);
    } catch (const std::bad_alloc&) {
        throw InputError(a.model + ": out of memory while loading the model (std::bad_alloc)");
    }
    Pipeline& pipeline = *loaded;
    const Detector& detector = pipeline.detector();
    const std::string device = pipeline.executor().stats().device;

    // Every input resolves first, so a missing path is reported before any work starts.
    std::vector<std::string> files;
    bool from_folder = false;
    int failed = 0;
    for (const auto& in : a.inputs) {
        try {
            auto list = list_images(in);
            from_folder = from_folder || fs::is_directory(in);
            files.insert(files.end(), list.begin(), list.end());
        } catch (const InputError& e) {
            std::cerr << "tiledet: " << e.what() << "\n";
            ++failed;
        }
    }
    if (!a.annotate_dir.empty()) fs::create_directories(a.annotate_dir);

    // A forced family that the signature does not fit decodes numbers that mean something else:
    // say so where the user looks, not only in the JSON's family_reason.
    if (options.detector.family) {
        const FamilyMatch fit = match_family(pipeline.signature());
        const bool fits = std::find(fit.candidates.begin(), fit.candidates.end(), *options.detector.family) !=
                          fit.candidates.end();
        if (!fits)
            std::cerr << "warning: --family " << to_string(*options.detector.family)
                      << " is forced, but the model's signature does not fit that layout"
                      << (fit.family ? " (it suggests " + to_string(*fit.family) + ")" : std::string())
                      << ": its detections are likely meaningless; `tiledet inspect` shows the evidence\n";
    }
    std::cerr << "model: " << a.model << " (family " << to_string(detector.family()) << ", input "
              << detector.input_size().second << "x" << detector.input_size().first << ", "
              << to_string(detector.resize_mode()) << "; "
              << (pipeline.executor().sequential() ? std::string("runs one image or tile at a time: see the warning above")
                                                   : pipeline.signature().batch_kind().describe())
              << ")\n";
    // --provider auto: say what it passed over and why.
    if (const auto* mb = dynamic_cast<const ModelBackend*>(&pipeline.executor().backend(0)))
        for (const std::string& skipped : mb->model().providers_skipped()) std::cerr << "provider auto: " << skipped << "\n";
    const ProgressBar bar(files.size(), from_folder && files.size() >= 10 && ::isatty(STDERR_FILENO));
    std::vector<std::string> records;
    // --json is written at the end, but a path that cannot be written fails now, before any work.
    std::ofstream json_file;
    if (!a.json_path.empty() && a.json_path != "-") {
        json_file.open(a.json_path);
        if (!json_file) throw InputError(a.json_path + ": cannot open for writing the JSON results (--json)");
    }
    std::ofstream jsonl_file;
    std::ostream* jsonl = nullptr;  // --jsonl: one line per image, written as soon as it is reported
    if (a.jsonl_path == "-") {
        jsonl = &std::cout;
    } else if (!a.jsonl_path.empty()) {
        jsonl_file.open(a.jsonl_path);
        if (!jsonl_file) throw InputError(a.jsonl_path + ": cannot open for writing the JSON Lines results (--jsonl)");
        jsonl = &jsonl_file;
    }
    std::size_t total_dets = 0, done = 0;

    // Keep a window of images in flight so tiles of several images can share batches, and
    // report each image in input order as soon as it is ready.
    const std::size_t window = static_cast<std::size_t>(std::max(2, 2 * options.batching.max_batch_size));
    std::deque<std::pair<ImageRecord, std::future<ImageResult>>> in_flight;
    std::deque<cv::Mat> images;  // kept for --annotate until the image is reported
    const auto finish_one = [&] {
        auto [rec, fut] = std::move(in_flight.front());
        in_flight.pop_front();
        cv::Mat img = std::move(images.front());
        images.pop_front();
        if (fut.valid()) {
            try {
                rec.result = fut.get();
                if (!a.annotate_dir.empty())
                    save_annotated((fs::path(a.annotate_dir) / fs::path(rec.file).filename()).string(), img,
                                   rec.result->detections, [&](int id) { return detector.class_name(id); });
            } catch (const std::exception& e) {
                rec.error = image_error(rec.file, e);
                rec.result.reset();
            }
        }
        bar.clear();
        if (rec.result && jsonl != &std::cout && a.json_path != "-") {
            std::cout << summary(*rec.result, detector) << "\n" << std::flush;
        }
        if (rec.result) {
            total_dets += rec.result->detections.size();
        } else {
            std::cerr << "tiledet: " << rec.error << "\n";
            ++failed;
        }
        if (!a.json_path.empty()) records.push_back(record_json(rec, detector, device, -1, *masks));
        if (jsonl) *jsonl << record_json(rec, detector, device, -1, *masks) << "\n" << std::flush;
        bar.show(++done);
    };
    for (const std::string& file : files) {
        ImageRecord rec;
        rec.file = file;
        const auto t0 = Clock::now();
        std::future<ImageResult> fut;
        cv::Mat img;
        try {
            img = load_image(file, options.limits.max_image_pixels);
            rec.load_ms = ms_since(t0);
            fut = pipeline.submit(img, file);
        } catch (const std::exception& e) {
            rec.error = image_error(file, e);
            img.release();
        }
        in_flight.emplace_back(std::move(rec), std::move(fut));
        images.push_back(std::move(img));
        while (in_flight.size() >= window) finish_one();
    }
    while (!in_flight.empty()) finish_one();
    bar.clear();
    std::cerr << files.size() << " image(s), " << total_dets << " detection(s), " << failed << " failed\n";
    // --verbose: the executor prints its statistics block itself when it shuts down.

    if (!a.json_path.empty()) {
        std::ostream& f = a.json_path == "-" ? std::cout : json_file;
        if (!(f << results_json(a.model, detector, records, 2) << "\n" << std::flush)) throw InputError(a.json_path + ": cannot write the JSON results");
    }
    return failed > 0 ? kExitSomeInputsFailed : kExitOk;
}

const CommandRegistrar reg{Command{"detect", 20, [](CLI::App& app) {
    auto* sub = app.add_subcommand("detect", "Detect objects in images (files or folders), optionally tiled and batched");
    auto a = std::make_shared<DetectArgs>();
    sub->add_option("--model,-m", a->model, "ONNX model file")->required();
    sub->add_option("inputs", a->inputs, "Image files or folders of images")->required();
    sub->add_option("--json", a->json_path,
                    "Write results as JSON to this file at the end ('-': standard output, instead of the text summary)");
    sub->add_option("--jsonl", a->jsonl_path,
                    "Write one JSON line per image to this file as each is done ('-': standard output, instead "
                    "of the text summary)");
    sub->add_option("--annotate", a->annotate_dir, "Write annotated images into this folder");
    sub->add_option("--masks", a->masks,
                    "Segmentation masks in the JSON: rle (COCO compressed RLE, default), polygon (COCO polygons) or none");
    add_pipeline_flags(*sub, a->flags);
    return std::function<int()>([a] { return run_detect(*a); });
}}};

}  // namespace
}  // namespace tiledet::cli
#endif
