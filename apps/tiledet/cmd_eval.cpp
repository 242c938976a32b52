// tiledet eval --model M --images DIR --labels DIR: COCO mAP (pycocotools' rules) of a model on
// a folder of images with YOLO-format labels. An image without a label file is a background
// image; an image or label file that cannot be read is reported, skipped, and makes the exit 1.
// Images go through the pipeline, with the same flags as detect: `--tile 640 --overlap 0.2`
// measures the tiled mAP.
#if TILEDET_HAS_EVAL && TILEDET_HAS_PIPELINE && TILEDET_HAS_IO
#include <chrono>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <nlohmann/json.hpp>

#include "command.hpp"
#include "progress_bar.hpp"
#include "pipeline_flags.hpp"
#include "tiledet/detectors/detector.hpp"
#include "tiledet/error.hpp"
#include "tiledet/eval/coco_eval.hpp"
#include "tiledet/eval/rotated_eval.hpp"
#include "tiledet/eval/yolo_labels.hpp"
#include "tiledet/io/image.hpp"
#include "tiledet/tiling/mask_ops.hpp"
#include "tiledet/pipeline/pipeline.hpp"
#include "tiledet/pipeline/result_json.hpp"

namespace tiledet::cli {
namespace {

// "FILE: message", once: most messages (an image's, a label file's) begin with their file already.
std::string about(const std::string& file, const std::string& message) {
    return cli::one_line(message.rfind(file, 0) == 0 ? message : file + ": " + message);
}

// Ultralytics' validation defaults (ultralytics/cfg/default.yaml iou 0.7 and max_det 300; the
// detection validator lowers conf to 0.001): mAP needs the low-score tail of the ranking.
constexpr float kEvalConf = 0.001f;
constexpr float kEvalIou = 0.7f;
constexpr int kEvalMaxDet = 300;

struct EvalArgs {
    std::string model, images, labels, json_path;
    PipelineFlags flags;
    int limit = 0;
    bool per_class = false;
    bool area_ranges = false;
    std::string ap = "voc07";  // oriented boxes: voc07 (11-point, DOTA_devkit default) or voc12
};

std::string fixed(double v, int digits = 4) {
    if (v < 0) return "-";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.*f", digits, v);
    return buf;
}

std::string row(const std::string& id, const std::string& name, const std::string& gt, const std::string& dets,
                const std::string& ap, const std::string& ap50) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "  %5s  %-16s %6s %6s  %8s  %8s\n", id.c_str(), name.c_str(), gt.c_str(),
                  dets.c_str(), ap.c_str(), ap50.c_str());
    return buf;
}

std::string merge_text(const MergeOptions& m) {
    return std::string(to_string(m.algorithm)) + " " + std::string(to_string(m.metric)) + " " + fixed(m.threshold, 2);
}

// Ultralytics' val refuses a label class the model cannot give ("Label class N exceeds dataset
// class count"); counting it would only pull the mAP down. Classes beyond the largest id the
// model names are refused (a model without names accepts any).
template <class Labels>
void check_label_classes(const Labels& gt, const Detector& detector, const std::string& label_file) {
    const auto& names = detector.class_names();
    if (names.empty()) return;
    const int largest = names.rbegin()->first;
    for (const auto& g : gt)
        if (g.class_id < 0 || g.class_id > largest)
            throw InputError(label_file + ": label class " + std::to_string(g.class_id) +
                             " is not one the model gives (its classes are 0.." + std::to_string(largest) +
                             "); fix the label file, or evaluate a model trained on these classes");
}

std::string tiling_text(const Pipeline& p, const PipelineOptions& o) {
    switch (o.tile_mode) {
        case TileMode::none:
            return "whole images";
        case TileMode::automatic:
            return "auto tiles, merged by " + merge_text(o.merge);
        case TileMode::fixed: {
            const auto [in_h, in_w] = p.detector().input_size();
            const int w = o.tiles.tile_w > 0 ? o.tiles.tile_w : in_w, h = o.tiles.tile_h > 0 ? o.tiles.tile_h : in_h;
            return "tiles " + std::to_string(w) + "x" + std::to_string(h) + ", overlap " +
                   (o.tiles.overlap_px_w >= 0 ? std::to_string(o.tiles.overlap_px_w) + " px"
                                              : fixed(o.tiles.overlap_ratio_w, 2)) +
                   (o.tiles.add_full_image ? " + the whole image" : "") + ", merged by " + merge_text(o.merge);
        }
    }
    return "";
}

// DOTA class names spell spaces as '-' ("small-vehicle"); Ultralytics' DOTA names use spaces.
std::string name_key(std::string s) {
    for (char& c : s) c = (c == '-' || c == '_') ? ' ' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

// Oriented-box models: DOTA-style rotated AP at IoU 0.5 (rotated_eval.hpp) from DOTA or YOLO OBB
// label files (<image stem>.txt).
int run_rotated_eval(const EvalArgs& a, const std::vector<std::string>& images, Pipeline& pipeline,
                     const PipelineOptions& options) {
    const Detector& detector = pipeline.detector();
    if (a.ap != "voc07" && a.ap != "voc12") throw ConfigError("--ap: expected voc07 or voc12, got '" + a.ap + "'");
    eval::RotatedEvaluator evaluator({0.5, a.ap == "voc07" ? eval::VocAp::voc07_11point : eval::VocAp::voc12_all_points});
    std::map<std::string, int> ids;
    for (const auto& [id, name] : detector.class_names()) ids.emplace(name_key(name), id);
    const auto id_of = [&](const std::string& name) -> std::optional<int> {
        const auto it = ids.find(name_key(name));
        return it == ids.end() ? std::nullopt : std::optional<int>(it->second);
    };
    int failed = 0;
    for (const std::string& path : images) {
        try {
            const cv::Mat bgr = load_image(path, options.limits.max_image_pixels);
            const auto label_file = eval::yolo_label_path(path, a.labels);
            eval::RotatedGroundTruths gt;
            if (std::filesystem::exists(label_file)) {
                gt = eval::parse_obb_labels(eval::read_label_file(label_file), bgr.cols, bgr.rows, label_file.string(),
                                            id_of);
                check_label_classes(gt, detector, label_file.string());
            }
            evaluator.add_image(std::move(gt), pipeline.submit(bgr, path).get().detections);
        } catch (const Error& e) {
            std::cerr << "tiledet: " << about(path, cli_message(e)) << "\n";
            ++failed;
        }
    }
    const eval::RotatedEvalResult r = evaluator.evaluate();
    const std::string metric = a.ap == "voc07" ? "VOC07 11-point" : "VOC12 all-point";
    std::cout << "model: " << a.model << " (" << to_string(detector.family()) << ")\n";
    std::cout << "images evaluated: " << r.images << " (" << failed << " failed)\n";
    std::cout << "ground truth objects (not difficult): " << r.gt_objects << "\n";
    std::cout << "detections: " << r.detections << " (" << tiling_text(pipeline, options) << ")\n";
    std::cout << "rotated mAP@0.5 (DOTA, " << metric << "): " << fixed(r.map) << "\n";
    if (a.per_class) {
        std::cout << "per class (classes with ground truth):\n";
        for (const auto& c : r.per_class)
            std::cout << row(std::to_string(c.class_id), detector.class_name(c.class_id), std::to_string(c.gt_count),
                             std::to_string(c.det_count), fixed(c.ap), "");
    }
    if (!a.json_path.empty()) {
        nlohmann::json j{{"model", a.model},        {"family", to_string(detector.family())},
                         {"images", r.images},      {"failed_images", failed},
                         {"gt_objects", r.gt_objects}, {"detections", r.detections},
                         {"metric", "rotated AP@0.5, " + metric}, {"map50", r.map}};
        j["per_class"] = nlohmann::json::array();
        for (const auto& c : r.per_class)
            j["per_class"].push_back({{"class_id", c.class_id},
                                      {"name", detector.class_name(c.class_id)},
                                      {"gt", c.gt_count},
                                      {"detections", c.det_count},
                                      {"ap50", c.ap}});
        std::ofstream out(a.json_path);
        if (!(out << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n" << std::flush))
            throw InputError("cannot write --json file " + a.json_path + "; check the folder exists and is writable");
    }
    return failed ? kExitSomeInputsFailed : kExitOk;
}

int run_eval(const EvalArgs& a) {
    if (!std::filesystem::is_directory(a.labels))
        throw InputError("labels folder " + a.labels +
                         " does not exist or is not a folder; pass --labels DIR with one "
                         "YOLO .txt file per image (same stem)");
    std::vector<std::string> images = list_images(a.images);
    if (a.limit < 0) throw OptionError("--limit", "", ": expected a count >= 0 (0: every image), got " + std::to_string(a.limit));
    if (a.limit > 0 && static_cast<int>(images.size()) > a.limit) images.resize(static_cast<std::size_t>(a.limit));
    if (images.empty()) throw InputError("no image files in " + a.images + "; expected .jpg/.png/... files");

    PipelineOptions options = to_pipeline_options(a.flags);
    // One image run whole is one tile: no measurement can pay for itself (auto_config.hpp).
    if (images.size() == 1 && options.tile_mode == TileMode::none) options.auto_config.expected_tiles = 1;
    Pipeline pipeline(a.model, options);
    std::cerr << "config: " << pipeline.config().describe() << "\n";
    const Detector* detector = &pipeline.detector();
    if (detector->family() == Family{"yolo_obb"}) return run_rotated_eval(a, images, pipeline, options);
    const DecodeOptions& opts = options.decode;
    const float conf = opts.conf.value_or(detector->default_conf());

    // Segmentation models: COCO segm (mask IoU) against the labels' polygons, rasterized.
    const bool segm = detector->family() == Family{"yolo_seg"};
    eval::CocoEvalOptions coco_options;
    coco_options.area_ranges = a.area_ranges;
    coco_options.segm = segm;
    eval::CocoEvaluator evaluator(coco_options);
    int failed = 0, background = 0;
    const auto start = std::chrono::steady_clock::now();
    // A window of images in flight, so tiles of several images share batches; results are
    // added in input order.
    struct InFlight {
        std::string path;
        eval::GroundTruths gt;
        std::future<ImageResult> result;
    };
    std::deque<InFlight> window;
    // Deep enough to fill every instance's batch twice over, with the batch the executor forms
    // (a static batch-1 model: 1, whatever max batch says) and the instances it runs.
    const std::size_t depth =
        std::max<std::size_t>(2, 2 * static_cast<std::size_t>(pipeline.executor().max_batch_size()) *
                                         pipeline.executor().instances());
    // Images evaluated / total, rate and ETA on a terminal (stderr) for sets of 10 or more.
    ProgressBar bar("images", images.size() >= 10);
    std::size_t evaluated = 0;
    const auto finish_one = [&] {
        InFlight f = std::move(window.front());
        window.pop_front();
        try {
            evaluator.add_image(std::move(f.gt), f.result.get().detections);
        } catch (const Error& e) {
            bar.clear();
            std::cerr << "tiledet: " << about(f.path, cli_message(e)) << "\n";
            ++failed;
        }
        bar.update(++evaluated, images.size());
    };
    for (const std::string& path : images) {
        try {
            const cv::Mat bgr = load_image(path, options.limits.max_image_pixels);
            const auto label_file = eval::yolo_label_path(path, a.labels);
            eval::GroundTruths gt;
            if (std::filesystem::exists(label_file)) {
                gt = eval::load_yolo_labels(label_file, bgr.cols, bgr.rows);
                check_label_classes(gt, pipeline.detector(), label_file.string());
            }
            if (segm)
                for (eval::GroundTruth& g : gt)
                    if (!g.polygon.empty())
                        g.mask = std::make_shared<const Mask>(rasterize_polygon(g.polygon, bgr.cols, bgr.rows));
            if (gt.empty()) ++background;
            window.push_back({path, std::move(gt), pipeline.submit(bgr, path)});
        } catch (const Error& e) {
            bar.clear();
            std::cerr << "tiledet: " << about(path, cli_message(e)) << "\n";
            ++failed;
            bar.update(++evaluated, images.size());
        }
        while (window.size() >= depth) finish_one();
    }
    while (!window.empty()) finish_one();
    bar.clear();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const eval::CocoEvalResult r = evaluator.evaluate();

    std::cout << "model: " << a.model << " (" << to_string(detector->family()) << ")\n";
    std::cout << "images evaluated: " << r.images << " (" << background << " background, " << failed << " failed) in "
              << fixed(seconds, 1) << " s\n";
    std::cout << "ground truth boxes: " << r.gt_boxes << "\n";
    std::cout << "detections: " << r.detections << " (conf >= " << conf << ", NMS IoU " << opts.iou.value_or(detector->default_iou()) << ", at most "
              << opts.max_det << " per image; " << tiling_text(pipeline, options) << ")\n";
    if (segm) std::cout << "mask mAP (COCO segm: mask IoU against the labels' polygons)\n";
    std::cout << "mAP@0.5:0.95: " << fixed(r.map) << "\n";
    std::cout << "mAP@0.5: " << fixed(r.map50) << "\n";
    std::cout << "mAP@0.75: " << fixed(r.map75) << "\n";
    std::cout << "mAR@100: " << fixed(r.mar) << "\n";
    if (a.area_ranges)
        std::cout << "mAP small/medium/large: " << fixed(r.map_small) << " / " << fixed(r.map_medium) << " / "
                  << fixed(r.map_large) << "\n";
    if (a.per_class) {
        std::cout << "per class (classes with ground truth):\n";
        std::cout << row("id", "name", "gt", "dets", "AP50-95", "AP50");
        for (const eval::ClassAp& c : r.per_class)
            std::cout << row(std::to_string(c.class_id), detector->class_name(c.class_id), std::to_string(c.gt_count),
                             std::to_string(c.det_count), fixed(c.ap), fixed(c.ap50));
    }

    if (!a.json_path.empty()) {
        nlohmann::json j;
        j["model"] = a.model;
        j["family"] = to_string(detector->family());
        j["images"] = r.images;
        j["background_images"] = background;
        j["failed_images"] = failed;
        j["gt_boxes"] = r.gt_boxes;
        j["detections"] = r.detections;
        j["decode"] = {{"conf", conf}, {"iou", opts.iou.value_or(detector->default_iou())}, {"max_det", opts.max_det}};
        j["tiling"] = tiling_text(pipeline, options);
        j["config"] = nlohmann::json::parse(config_json(pipeline.config()));
        j["iou_type"] = segm ? "segm" : "bbox";
        j["map"] = r.map;
        j["map50"] = r.map50;
        j["map75"] = r.map75;
        j["mar100"] = r.mar;
        if (a.area_ranges) j["map_area"] = {{"small", r.map_small}, {"medium", r.map_medium}, {"large", r.map_large}};
        j["per_class"] = nlohmann::json::array();
        for (const eval::ClassAp& c : r.per_class)
            j["per_class"].push_back({{"class_id", c.class_id},
                                      {"name", detector->class_name(c.class_id)},
                                      {"gt", c.gt_count},
                                      {"detections", c.det_count},
                                      {"ap", c.ap},
                                      {"ap50", c.ap50},
                                      {"ap75", c.ap75}});
        std::ofstream out(a.json_path);
        if (!(out << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n" << std::flush))
            throw InputError("cannot write --json file " + a.json_path + "; check the folder exists and is writable");
    }
    return failed ? kExitSomeInputsFailed : kExitOk;
}

const CommandRegistrar reg{Command{
    "eval", 50, [](CLI::App& app) {
        auto* sub = app.add_subcommand(
            "eval",
            "COCO mAP@0.5:0.95 and mAP@0.5 on images with YOLO-format labels, whole or tiled (--tile); defaults "
            "as Ultralytics val: --conf 0.001 --iou 0.7 --max-det 300; tiles merged with --merge nms --match iou");
        auto a = std::make_shared<EvalArgs>();
        sub->add_option("--model,-m", a->model, "ONNX detection model")->required();
        sub->add_option("--images", a->images, "Folder of images (or one image)")->required();
        sub->add_option("--labels", a->labels, "Folder of YOLO labels: <image stem>.txt, 'class cx cy w h' normalized")
            ->required();
        sub->add_option("--limit", a->limit, "Evaluate only the first N images (sorted by name)");
        // Ultralytics' validation defaults, which --conf, --iou and --max-det override. Tiles are
        // merged with NMS by IoU: at conf 0.001 the detector's default greedy NMM by IoS folds true
        // boxes into low-score neighbours (measured: mAP 0.16 vs 0.57 at --tile 320 on coco64).
        const auto text = [](float v) {  // "0.001", not std::to_string's "0.001000", in the help
            std::ostringstream os;
            os << v;
            return os.str();
        };
        a->flags.set("conf", text(kEvalConf))
            .set("iou", text(kEvalIou))
            .set("max_det", std::to_string(kEvalMaxDet))
            .set("merge", "nms")
            .set("match", "iou");
        add_pipeline_flags(*sub, a->flags);
        sub->add_flag("--per-class", a->per_class, "Also print AP per class");
        sub->add_flag("--area-ranges", a->area_ranges, "Also print AP for small/medium/large boxes");
        sub->add_option("--ap", a->ap,
                        "Oriented-box models (yolo_obb): rotated AP@0.5 as VOC07 11-point (voc07, DOTA_devkit's "
                        "default) or VOC12 all-point (voc12); labels in DOTA or YOLO OBB format");
        sub->add_option("--json", a->json_path, "Also write the figures (with per-class AP) to this JSON file");
        return std::function<int()>([a] { return run_eval(*a); });
    }}};

}  // namespace
}  // namespace tiledet::cli
#endif
