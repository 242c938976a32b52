// batchify: repair an ONNX model exported with a fixed batch of 1 so that it runs any batch,
// and prove the repair by running the original one item at a time against the repaired model
// on the same items as one batch. The ONNX protobuf stays private to src/onnx.
//
// Why renaming the leading dims is not enough: exporters bake the batch of 1 into constants
// (Reshape targets, Expand shapes, Tile repeats, ConstantOfShape, Slice bounds, Split sizes,
// Gather indices on axis 0, constants concatenated with batched tensors). batchify traces the
// batch axis through the graph from the inputs and rewrites each such place to follow the
// real batch; where it cannot trace the batch (it is contracted away, folded into another
// axis, or meets an op it does not know) it refuses and says which node blocked it.
//
// Before tracing, ONNX Runtime's basic optimizations fold the static graph's shape arithmetic
// (Shape, ConstantOfShape, Slice/Concat chains, computed Pad pads) into constants, as DETR-family
// exports from torch need (BatchifyOptions::fold_constants); the written model is the folded one.
// Verification runs the original with those same optimizations and the repaired graph with
// none, so both run the same kernels and a correct repair matches bit for bit where the
// kernels do not depend on the batch size.
#pragma once

#include "tiledet/limits.hpp"

#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace tiledet {

class Model;

// Detection-level agreement of single-item and batched runs, for models that are not
// batch-invariant (e.g. DynamicQuantizeLinear computes one scale over the whole batch).
struct DetectionAgreement {
    bool agree = false;
    std::string summary;  // e.g. "66 images: 412/412 detections matched (IoU > 0.9, |dscore| <= 0.05) ..."
    int images = 0;
    int detections = 0;         // original detections at or above conf, over all images
    int matched = 0;            // of those, matched by the repaired model's
    int count_mismatches = 0;   // images whose counts above conf differ
    int crossed_threshold = 0;  // matched pairs with one side below conf (within the tolerance)
    double worst_iou = 1.0;     // over matched pairs
    double worst_score_diff = 0.0;
    std::vector<std::string> disagreements;  // one line per image that disagrees
};

// Runs the caller's own images through `original` one at a time and through `repaired` as
// batches of `batch`, compares detections. Plugged in by whoever has detectors (the CLI does
// when the detectors module is built).
using DetectionComparer =
    std::function<DetectionAgreement(const Model& original, const Model& repaired, int batch)>;

struct BatchifyOptions {
    std::string batch_name = "batch";          // symbol for the new leading dim
    std::vector<int> verify_batches = {2, 4, 8};
    bool verify = true;
    bool keep_unverified = false;              // keep OUT when verification fails
    double atol = 1e-4;                        // per element: |a - b| <= atol + rtol * |a|
    double rtol = 1e-4;
    unsigned seed = 1234;                      // for the random verification inputs
    DetectionComparer detection_comparer;      // optional
    // Rewrite DynamicQuantizeLinear -> ConvInteger so each item is quantized with its own scale
    // (batch-invariant results); false keeps the batch-wide scale of the original op.
    bool per_item_quantization = true;
    // Fold constant subgraphs with ONNX Runtime's basic optimizations before tracing; the
    // written model is the folded one. false traces the graph as exported.
    bool fold_constants = true;
    // Bytes each of batchify's own ONNX Runtime runs (the fold, the batch probe, verification)
    // may allocate for tensors on the CPU (ModelOptions::memory_limit_bytes); 0: this machine's
    // physical memory. A graph whose shapes ask for more fails verification with ONNX Runtime's
    // "Available memory of ... is smaller than requested bytes of ..." instead of taking the
    // machine. The bound lives in a CPU arena shared by the process's bounded sessions.
    std::size_t memory_limit_bytes = 0;
    // The graph's declared inputs and outputs, per item (dims after the first; symbolic dims
    // count as 1), against Limits::max_input_elements / max_output_elements before anything
    // runs: over one, batchify throws OptionError("limits.max_input_elements" ...), as a
    // Pipeline would refuse the model. The other limits are not used here.
    Limits limits{};
};

// One output at one batch size: the largest differences between the original's single-item
// outputs and the repaired model's batched outputs, over all items and elements.
struct OutputDifference {
    std::string output;
    int batch = 0;
    double max_abs = 0.0;
    double max_rel = 0.0;       // |a - b| / max(|a|, |b|), over elements with |a|,|b| > atol
    int first_bad_item = -1;    // first item beyond tolerance, -1 when all are within it
    bool within_tolerance = true;
};

struct BatchifyReport {
    // repaired_verified: every output of every item matches the single-item run within tolerance.
    // repaired_verified_detections: the model has batch-variant ops (batch_variant_ops), its
    //   tensors differ beyond tolerance, but detections agree at every verify batch size; the
    //   model is written and the CLI exits 0, and to_text() shows both levels so the user decides.
    enum class Status {
        repaired_verified,
        repaired_unverified,
        already_dynamic,
        refused,
        verification_failed,
        repaired_verified_detections,
    };
    Status status = Status::refused;
    std::string message;                  // one line: what happened or what blocked the repair
    std::vector<std::string> rewrites;    // "Reshape '/Reshape_35': shape [1, 3] -> [-1, 3]"
    std::vector<std::string> notes;       // outputs that gained a batch axis, variance, ...
    std::vector<std::string> batch_variant_ops;  // op types whose results depend on the batch
    std::vector<OutputDifference> differences;   // per output per batch size
    std::vector<std::pair<int, DetectionAgreement>> detection_checks;  // per batch size
    bool output_written = false;

    bool ok() const {
        return status == Status::repaired_verified || status == Status::repaired_unverified ||
               status == Status::already_dynamic || status == Status::repaired_verified_detections;
    }
    std::string to_text() const;  // multi-line, for the CLI and for humans
};

std::string to_string(BatchifyReport::Status s);

// Reads `in`, writes the repaired model to `out` atomically (a temporary file in the same
// folder, renamed when complete; nothing is left behind on refusal or failure). A model that
// declares a dynamic batch is probed at batch 2 (verification inputs): when it runs, it is
// already dynamic and not copied; when it fails, its export baked batch 1 behind the declared
// dims, so it is repaired as a batch-1 model (and the report says so). Throws InputError when
// `in` is not a readable ONNX model or `out` cannot be written; a model that cannot be repaired
// is a report with status refused.
BatchifyReport batchify(const std::string& in, const std::string& out, const BatchifyOptions& options = {});

// The same on bytes: returns the repaired model (empty when refused, already dynamic, or not
// verified without keep_unverified). `report` receives the report when given.
std::vector<std::byte> batchify_model(std::span<const std::byte> model, const BatchifyOptions& options = {},
                                      BatchifyReport* report = nullptr);

// Op types in the model whose results depend on the whole batch, so batched outputs differ
// slightly from single-item runs even after a correct repair (DynamicQuantizeLinear).
std::vector<std::string> batch_variant_ops(const std::string& path);

// A declared dynamic batch is only a claim. Runs two verification items of the model at `path`
// as one batch (and, when that fails, one item), with ONNX Runtime's own log silenced. Returns
// a summary line when the model fails at batch 2 but runs at batch 1 (its export baked batch
// 1 behind the declared dims), naming the runtime's reason and the repair; empty otherwise
// (it runs at 2, fails at 1 too, or declares no dynamic batch).
std::string declared_batch_failure(const std::string& path);

}  // namespace tiledet
