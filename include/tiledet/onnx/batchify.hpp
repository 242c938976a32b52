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
#pragma once

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
    std::string summary;  // e.g. "bus.jpg: 5/5 matched (IoU > 0.9, |dscore| < 0.05)"
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
    enum class Status { repaired_verified, repaired_unverified, already_dynamic, refused, verification_failed };
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
               status == Status::already_dynamic;
    }
    std::string to_text() const;  // multi-line, for the CLI and for humans
};

std::string to_string(BatchifyReport::Status s);

// Reads `in`, writes the repaired model to `out` atomically (a temporary file in the same
// folder, renamed when complete; nothing is left behind on refusal or failure). An already
// dynamic model is not copied. Throws InputError when `in` is not a readable ONNX model or
// `out` cannot be written; a model that cannot be repaired is a report with status refused.
BatchifyReport batchify(const std::string& in, const std::string& out, const BatchifyOptions& options = {});

// The same on bytes: returns the repaired model (empty when refused, already dynamic, or not
// verified without keep_unverified). `report` receives the report when given.
std::vector<std::byte> batchify_model(std::span<const std::byte> model, const BatchifyOptions& options = {},
                                      BatchifyReport* report = nullptr);

// Op types in the model whose results depend on the whole batch, so batched outputs differ
// slightly from single-item runs even after a correct repair (DynamicQuantizeLinear).
std::vector<std::string> batch_variant_ops(const std::string& path);

}  // namespace tiledet
