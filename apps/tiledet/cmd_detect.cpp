// tiledet detect --model M [options] INPUT...: detections per image, as text, JSON and
// annotated images. The per-image work is one call (ImageJob::run) so a tiled/batched
// pipeline can replace it without touching the input loop, the reporting or the outputs.
#if TILEDET_HAS_DETECTORS && TILEDET_HAS_IO
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "command.hpp"
#include "tiledet/detectors/detector.hpp"
#include "tiledet/error.hpp"
#include "tiledet/io/image.hpp"
#include "tiledet/runtime/model.hpp"

namespace tiledet::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

struct DetectArgs {
    std::string model;
    std::vector<std::string> inputs;
    std::string family, resize, names, json_path, annotate_dir;
    std::vector<int> imgsz, classes;
    std::optional<float> conf;
    float iou = 0.7f;
    int max_det = 300;
    int pad = -1;
    bool agnostic = false;
    std::string provider = "cpu";
    int threads = 0;
};

struct Timings {
    double load = 0, preprocess = 0, infer = 0, decode = 0, total = 0;
};

struct ImageResult {
    std::string file;
    int width = 0, height = 0;
    Detections detections;
    Timings ms;
    std::string error;  // non-empty: this input failed
};

// One image in, its detections out: the only place that knows how an image is run.
class ImageJob {
public:
    ImageJob(const Model& model, const Detector& detector, DecodeOptions options)
        : model_(model), detector_(detector), options_(std::move(options)) {}

    void run(const cv::Mat& bgr, ImageResult& r) const {
        auto t = Clock::now();
        std::vector<Tensor> slots = detector_.make_input_slots(1);
        const Geometry g = detector_.preprocess(bgr, slots, 0);
        r.ms.preprocess = ms_since(t);
        t = Clock::now();
        const std::vector<Tensor> outputs = model_.run(slots);
        r.ms.infer = ms_since(t);
        t = Clock::now();
        r.detections = detector_.decode(detector_.item_outputs(outputs, 0), g, options_);
        r.ms.decode = ms_since(t);
    }

private:
    const Model& model_;
    const Detector& detector_;
    DecodeOptions options_;
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
    os << r.file << " " << r.width << "x" << r.height << ": ";
    std::map<std::string, int> counts;
    for (const auto& d : r.detections) ++counts[det.class_name(d.class_id)];
    if (counts.empty()) os << "no detections";
    bool first = true;
    for (const auto& [name, n] : counts) {
        os << (first ? "" : ", ") << n << " " << name;
        first = false;
    }
    char buf[48];
    std::snprintf(buf, sizeof(buf), " (%.1f ms)", r.ms.total);
    os << buf;
    return os.str();
}

nlohmann::json to_json(const ImageResult& r, const Detector& det) {
    nlohmann::json j;
    j["file"] = r.file;
    if (!r.error.empty()) {
        j["error"] = r.error;
        return j;
    }
    j["width"] = r.width;
    j["height"] = r.height;
    auto& arr = j["detections"] = nlohmann::json::array();
    for (const auto& d : r.detections)
        arr.push_back({{"class_id", d.class_id},
                       {"class_name", det.class_name(d.class_id)},
                       {"score", d.score},
                       {"box", {d.box.x1, d.box.y1, d.box.x2, d.box.y2}}});
    j["timings_ms"] = {{"load", r.ms.load},
                       {"preprocess", r.ms.preprocess},
                       {"infer", r.ms.infer},
                       {"decode", r.ms.decode},
                       {"total", r.ms.total}};
    return j;
}

DetectorConfig detector_config(const DetectArgs& a) {
    DetectorConfig c;
    if (!a.family.empty()) {
        c.family = parse_family(a.family);
        if (!c.family) {
            std::string known;
            for (Family f : all_families()) known += " " + to_string(f);
            throw ConfigError("--family " + a.family + ": unknown family; expected one of:" + known);
        }
    }
    if (!a.imgsz.empty()) c.imgsz = std::make_pair(a.imgsz.front(), a.imgsz.back());
    if (!a.resize.empty()) {
        c.resize = parse_resize_mode(a.resize);
        if (!c.resize) throw ConfigError("--resize " + a.resize + ": expected letterbox or stretch");
    }
    if (a.pad >= 0) c.pad_value = a.pad;
    c.names_file = a.names;
    return c;
}

int run_detect(const DetectArgs& a) {
    ModelOptions mo;
    mo.providers.clear();
    std::stringstream providers(a.provider);
    for (std::string p; std::getline(providers, p, ',');)
        if (!p.empty()) mo.providers.push_back(p);
    mo.intra_op_threads = a.threads;
    const Model model = Model::load(a.model, mo);
    const auto detector = make_detector(model.signature(), detector_config(a));
    DecodeOptions opt;
    opt.conf = a.conf;
    opt.iou = a.iou;
    opt.max_det = a.max_det;
    opt.agnostic = a.agnostic;
    opt.classes = a.classes;
    const ImageJob job(model, *detector, opt);

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

    std::cerr << "model: " << a.model << " (family " << to_string(detector->family()) << ", input "
              << detector->input_size().second << "x" << detector->input_size().first << ", "
              << to_string(detector->resize_mode()) << ")\n";
    const ProgressBar bar(files.size(), from_folder && files.size() >= 10 && ::isatty(STDERR_FILENO));
    nlohmann::json records = nlohmann::json::array();
    std::size_t total_dets = 0;
    for (std::size_t i = 0; i < files.size(); ++i) {
        ImageResult r;
        r.file = files[i];
        const auto t0 = Clock::now();
        try {
            const cv::Mat img = load_image(r.file);
            r.width = img.cols;
            r.height = img.rows;
            r.ms.load = ms_since(t0);
            job.run(img, r);
            r.ms.total = ms_since(t0);
            if (!a.annotate_dir.empty())
                save_annotated((fs::path(a.annotate_dir) / fs::path(r.file).filename()).string(), img, r.detections,
                               [&](int id) { return detector->class_name(id); });
        } catch (const Error& e) {
            r.error = e.what();
        }
        bar.clear();
        if (r.error.empty()) {
            std::cout << summary(r, *detector) << "\n" << std::flush;
            total_dets += r.detections.size();
        } else {
            std::cerr << "tiledet: " << r.error << "\n";
            ++failed;
        }
        if (!a.json_path.empty()) records.push_back(to_json(r, *detector));
        bar.show(i + 1);
    }
    bar.clear();
    std::cerr << files.size() << " image(s), " << total_dets << " detection(s), " << failed << " failed\n";

    if (!a.json_path.empty()) {
        nlohmann::json out;
        out["model"] = a.model;
        out["family"] = to_string(detector->family());
        out["family_reason"] = detector->reason();
        out["images"] = std::move(records);
        std::ofstream f(a.json_path);
        if (!(f << out.dump(2) << "\n")) throw InputError(a.json_path + ": cannot write the JSON results");
    }
    return failed > 0 ? kExitSomeInputsFailed : kExitOk;
}

const CommandRegistrar reg{Command{
    "detect", 20, [](CLI::App& app) {
        auto* sub = app.add_subcommand("detect", "Detect objects in images (files or folders)");
        auto a = std::make_shared<DetectArgs>();
        auto conf = std::make_shared<float>(-1.0f);
        sub->add_option("--model,-m", a->model, "ONNX model file")->required();
        sub->add_option("inputs", a->inputs, "Image files or folders of images")->required();
        sub->add_option(
            "--family", a->family,
            "Force the model family: yolo, yolo_end2end, ultralytics_rtdetr, hf_rtdetr, official_rtdetr, rfdetr");
        sub->add_option("--imgsz", a->imgsz, "Input size for models with dynamic height/width: S or H,W")
            ->expected(1, 2)
            ->delimiter(',');
        sub->add_option("--conf", *conf, "Confidence threshold (default: the family's reference value)");
        sub->add_option("--iou", a->iou, "NMS IoU threshold (YOLO)")->capture_default_str();
        sub->add_option("--max-det", a->max_det, "Most detections per image")->capture_default_str();
        sub->add_option("--classes", a->classes, "Keep only these class ids (comma-separated)")->delimiter(',');
        sub->add_flag("--agnostic", a->agnostic, "Class-agnostic NMS");
        sub->add_option("--names", a->names, "Class names file, one per line (line i = class id i)");
        sub->add_option("--resize", a->resize, "letterbox or stretch (default: the family's reference)");
        sub->add_option("--pad", a->pad, "Letterbox fill value 0..255 (default: the family's reference)");
        sub->add_option("--provider", a->provider, "Execution providers, comma-separated (cpu, cuda, tensorrt)")
            ->capture_default_str();
        sub->add_option("--threads", a->threads, "Intra-op threads (0: ONNX Runtime default)");
        sub->add_option("--json", a->json_path, "Write results as JSON to this file");
        sub->add_option("--annotate", a->annotate_dir, "Write annotated images into this folder");
        return std::function<int()>([a, conf] {
            if (*conf >= 0) a->conf = *conf;
            return run_detect(*a);
        });
    }}};

}  // namespace
}  // namespace tiledet::cli
#endif
