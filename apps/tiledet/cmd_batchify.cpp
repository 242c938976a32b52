// tiledet batchify IN.onnx OUT.onnx: repair a model exported with a fixed batch of 1 so that it
// runs any batch, and verify the repair (see include/tiledet/onnx/batchify.hpp).
#if TILEDET_HAS_ONNX
#include <iostream>
#include <optional>
#include <sstream>

#include "command.hpp"
#include "pipeline_flags.hpp"
#include "tiledet/error.hpp"
#include "tiledet/onnx/batchify.hpp"
#if defined(TILEDET_ONNX_DETECTION_CHECK) && TILEDET_HAS_IO
#define TILEDET_BATCHIFY_DETECTIONS 1
#include <filesystem>

#include "tiledet/io/image.hpp"
#include "tiledet/onnx/detection_check.hpp"
#endif

namespace tiledet::cli {
namespace {

std::vector<int> parse_batches(const std::string& text) {
    std::vector<int> out;
    std::stringstream ss(text);
    std::string item;
    while (std::getline(ss, item, ',')) {
        std::size_t used = 0;
        int v = 0;
        try {
            v = std::stoi(item, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used != item.size() || v < 1)
            throw ConfigError("--verify-batches: expected batch sizes >= 1 separated by commas (e.g. 2,4,8); got '" +
                              text + "'");
        out.push_back(v);
    }
    if (out.empty()) throw ConfigError("--verify-batches: empty list; expected e.g. 2,4,8");
    return out;
}

struct Args {
    std::string in, out, batch_name = "batch", batches = "2,4,8";
    bool no_verify = false, keep_unverified = false, batch_quantization = false, no_fold = false;
    double atol = 1e-4, rtol = 1e-4;
    std::vector<std::string> images;
    float score_tol = 0.05f, min_iou = 0.9f;
    std::optional<float> conf;
    std::size_t memory_mb = 0;
    PipelineFlags limits;  // --max-input-elements, --max-output-elements, as detect's
};

#if TILEDET_BATCHIFY_DETECTIONS
// The detection-level check: the user's images, or, for a model with batch-variant ops and no
// --images, a few synthetic ones (a weak check, and the report says so).
DetectionComparer detection_comparer(const Args& a) {
    std::vector<cv::Mat> images;
    std::vector<std::string> names;
    for (const auto& p : a.images)
        for (const auto& f : list_images(p)) {
            images.push_back(load_image(f));
            names.push_back(std::filesystem::path(f).filename().string());
        }
    if (!a.images.empty() && images.empty())
        throw InputError("--images: no image files in " + a.images.front() + " (expected .jpg, .png, ...)");
    if (images.empty()) {
        // With per-item quantization (the default) the repaired model is batch-invariant and
        // the tensor-level check decides; synthetic images only stand in when it is not.
        if (batch_variant_ops(a.in).empty() || !a.batch_quantization) return {};
        images = synthetic_check_images();
        for (std::size_t i = 0; i < images.size(); ++i) names.push_back("synthetic " + std::to_string(i));
        std::cout << "note: the model is not batch-invariant and no --images were given: the detection-level check "
                     "runs on " << images.size() << " synthetic images, where a real detector finds little; pass "
                     "--images with a few representative images (files or folders) for a meaningful check\n";
    }
    DetectionCheckOptions o;
    o.decode.conf = a.conf;
    o.score_tol = a.score_tol;
    o.min_iou = a.min_iou;
    return make_detection_comparer(std::move(images), o, std::move(names));
}
#endif

int run_batchify(const Args& a) {
    BatchifyOptions o;
    o.batch_name = a.batch_name;
    o.verify_batches = parse_batches(a.batches);
    o.verify = !a.no_verify;
    o.keep_unverified = a.keep_unverified;
    o.atol = a.atol;
    o.rtol = a.rtol;
    o.per_item_quantization = !a.batch_quantization;
    o.fold_constants = !a.no_fold;
    o.memory_limit_bytes = a.memory_mb << 20;
    o.limits = to_pipeline_options(a.limits).limits;
#if TILEDET_BATCHIFY_DETECTIONS
    if (o.verify) o.detection_comparer = detection_comparer(a);
#else
    if (!a.images.empty())
        throw ConfigError("--images: this build has no detection-level check (build with the detectors and io modules)");
#endif
    const BatchifyReport r = batchify(a.in, a.out, o);
    if (r.ok()) {
        std::cout << r.to_text();
        return kExitOk;
    }
    std::cout << r.to_text();
    std::cerr << "tiledet batchify: " << a.in << ": " << r.message
              << (r.output_written ? "" : "; no output written") << "\n";
    return kExitBadInput;
}

const CommandRegistrar reg{Command{"batchify", 40, [](CLI::App& app) {
    auto* sub = app.add_subcommand("batchify",
                                   "Repair a model exported with a fixed batch of 1 so that it runs any batch, "
                                   "and verify the repair");
    auto a = std::make_shared<Args>();
    sub->add_option("in", a->in, "ONNX model with a fixed batch of 1")->required();
    sub->add_option("out", a->out, "where to write the repaired model")->required();
    sub->add_option("--batch-name", a->batch_name, "symbol for the new leading dim (default: batch)");
    sub->add_option("--verify-batches", a->batches, "batch sizes to verify, comma-separated (default: 2,4,8)");
    sub->add_flag("--no-verify", a->no_verify, "skip verification");
    sub->add_flag("--keep-unverified", a->keep_unverified, "write OUT even when verification fails");
    sub->add_flag("--batch-quantization", a->batch_quantization,
                  "keep DynamicQuantizeLinear's batch-wide scale (default: rewrite it per item, so batched results "
                  "equal single-item ones)");
    sub->add_flag("--no-fold", a->no_fold,
                  "trace the graph as exported, without folding its constant subgraphs first (ONNX Runtime's "
                  "basic optimizations); for diagnosis");
    sub->add_option("--memory-limit-mb", a->memory_mb,
                    "MiB of CPU tensors batchify's own runs (fold, probe, verification) may allocate; a graph that "
                    "asks for more fails verification (default: this machine's physical memory)")
        ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 30));
    add_pipeline_flags(*sub, a->limits, {"max_input_elements", "max_output_elements"});
    sub->add_option("--atol", a->atol, "absolute tolerance per element (default 1e-4)");
    sub->add_option("--rtol", a->rtol, "relative tolerance per element (default 1e-4)");
    sub->add_option("--images", a->images,
                    "images (files or folders) for the detection-level check of a model that is not batch-invariant");
    sub->add_option("--conf", a->conf, "detection-level check: confidence threshold (default: the family's)");
    sub->add_option("--score-tol", a->score_tol, "detection-level check: largest |score difference| (default 0.05)");
    sub->add_option("--min-iou", a->min_iou, "detection-level check: a pair matches above this IoU (default 0.9)");
    sub->footer(
        "Verification runs the original model on K inputs one at a time and the repaired model on the same K as one "
        "batch, for each K, and compares every output per item. Inputs: floats uniform in [0, 1]; integer inputs "
        "named like orig_target_sizes get (h, w) = (640 - 32 i, 640 + 48 i) for item i; other integers 0.\n"
        "A model with batch-variant ops (DynamicQuantizeLinear takes one quantization scale over the whole batch) "
        "cannot match exactly; for it, verification also compares detections: --images one at a time through the "
        "original and in batches through the repaired model, each original detection needing a repaired one of the "
        "same class with IoU > --min-iou and |score difference| <= --score-tol (both decoded at conf - score-tol, so "
        "a score crossing conf within the tolerance still matches). Tensors off but detections agreeing gives status "
        "repaired_verified_detections: written, exit 0, both levels reported. Without --images it uses synthetic "
        "images and says so.\n"
        "A model that declares a dynamic batch is probed at batch 2; if it fails there but runs at 1, it is repaired "
        "as a batch-1 model.\n"
        "Exit codes: 0 repaired (repaired_verified, repaired_verified_detections, repaired_unverified with "
        "--no-verify) or already dynamic (nothing written); 2 bad input, refused, or not verified.");
    return std::function<int()>([a] { return run_batchify(*a); });
}}};

}  // namespace
}  // namespace tiledet::cli
#endif  // TILEDET_HAS_ONNX
