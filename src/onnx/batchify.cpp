// batchify: checks the model, runs the batch tracer, verifies, writes. See batchify.hpp.
#include "tiledet/onnx/batchify.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <set>
#include <sstream>

#include <unistd.h>

#include "batch_trace.hpp"
#include "constant_fold.hpp"
#include "per_item_quant.hpp"
#include "proto_util.hpp"
#include "tiledet/error.hpp"
#include "tiledet/runtime/model.hpp"
#include "verify.hpp"

namespace tiledet {
namespace {

// BatchifyOptions::memory_limit_bytes, with 0 as this machine's physical memory.
std::size_t run_memory_limit(const BatchifyOptions& options) {
    if (options.memory_limit_bytes > 0) return options.memory_limit_bytes;
    const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
    if (pages <= 0 || page <= 0) return 0;  // unknown: ONNX Runtime's unbounded arenas
    return static_cast<std::size_t>(pages) * static_cast<std::size_t>(page);
}

using onnx_detail::int_values;
using onnx_detail::ints_text;
using Status = BatchifyReport::Status;

// Ops whose result for one item depends on the other items of the batch.
const std::set<std::string> kBatchVariant = {"DynamicQuantizeLinear", "DynamicQuantizeMatMul", "DynamicQuantizeLSTM"};

std::vector<std::string> variant_ops_of(const ::onnx::ModelProto& m) {
    std::vector<std::string> found;
    for (const auto& n : m.graph().node())
        if (kBatchVariant.count(n.op_type()) &&
            std::find(found.begin(), found.end(), n.op_type()) == found.end())
            found.push_back(n.op_type());
    return found;
}

std::string fmt(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3g", v);
    return buf;
}

struct Outcome {
    BatchifyReport report;
    std::vector<std::byte> bytes;  // the repaired model, when there is one
};

// The first line of a runtime error, short enough for a report line.
std::string first_line(std::string text) {
    text = text.substr(0, text.find('\n'));
    if (text.size() > 240) text = text.substr(0, 240) + "...";
    return text;
}

// A declared dynamic batch is only a claim: exporters can bake batch 1 into the graph behind
// symbolic input dims, and some graphs run at 2 but not at 3 (a batch-1 constant reshaped by the
// batch: only divisors of its size work). Running verification items as batches of 2, 3 and 4
// settles it; 8 would cost a real DETR graph seconds more on a CPU for little extra evidence.
constexpr int kProbeBatches[] = {2, 3, 4};

struct Probe {
    bool baked = false;  // fails at failed_at, runs at 1: repair it
    int failed_at = 0;
    std::string what;    // for the report
};

Probe probe_declared_batch(std::span<const std::byte> bytes, const std::string& what, unsigned seed,
                           std::size_t memory_limit_bytes) {
    Probe p;
    try {
        ModelOptions quiet;
        quiet.memory_limit_bytes = memory_limit_bytes;
        quiet.log_severity = 4;  // the failure is expected; its text goes into the report instead
        const Model m = Model::from_bytes(bytes, quiet, what);
        std::string failure;
        for (const int b : kProbeBatches) {
            failure = onnx_detail::try_batch(m, b, seed);
            if (!failure.empty()) {
                p.failed_at = b;
                break;
            }
        }
        if (p.failed_at == 0) {
            p.what = "; probed: it runs at batches 2, 3 and 4";
            return p;
        }
        const std::string at1 = onnx_detail::try_batch(m, 1, seed);
        if (!at1.empty()) {
            p.what = "; not proven: a probe fails at batch " + std::to_string(p.failed_at) +
                     " and at batch 1 too (" + first_line(at1) + "), so the batch may not be the cause";
            return p;
        }
        p.baked = true;
        p.what = first_line(failure);
    } catch (const Error& e) {
        p.what = std::string("; not probed at batch 2 (") + first_line(e.what()) + ")";
    }
    return p;
}

// Turns the declared batch symbol back into the 1 the graph was really built for, so the
// tracer sees a batch-1 model (and shape inference gives it static shapes).
void pin_declared_batch_to_one(::onnx::ModelProto& model) {
    auto& g = *model.mutable_graph();
    std::set<std::string> inits, symbols;
    for (const auto& t : g.initializer()) inits.insert(t.name());
    for (auto& in : *g.mutable_input()) {
        if (inits.count(in.name())) continue;
        auto* d = in.mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0);
        if (!d->dim_param().empty()) symbols.insert(d->dim_param());
        d->clear_dim_param();
        d->set_dim_value(1);
    }
    for (auto& o : *g.mutable_output()) {
        if (!o.type().tensor_type().has_shape()) continue;
        for (auto& d : *o.mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim())
            if (d.has_dim_param() && symbols.count(d.dim_param())) {
                d.clear_dim_param();
                d.set_dim_value(1);
            }
    }
    g.clear_value_info();  // annotations only; they name the symbol too
}

// BatchifyOptions::limits on the declared inputs and outputs, per item (elements_per_item: a
// symbolic dim, -1 here, counts as 1). Throws OptionError, as Pipeline's load does.
void check_declared_sizes(const ::onnx::GraphProto& g, const Limits& limits, const std::string& what) {
    std::set<std::string> inits;
    for (const auto& t : g.initializer()) inits.insert(t.name());
    for (const auto& in : g.input()) {
        if (inits.count(in.name())) continue;
        if (auto dims = onnx_detail::value_dims(in))
            check_limit(elements_per_item(*dims), limits.max_input_elements, "limits.max_input_elements",
                        what + ": model input '" + in.name() + "' " + ints_text(*dims) + " takes elements per item",
                        "; batchify would run it at batches of up to 8 to verify the repair: raise the limit if the "
                        "machine has the memory");
    }
    for (const auto& out : g.output())
        if (auto dims = onnx_detail::value_dims(out))
            check_limit(elements_per_item(*dims), limits.max_output_elements, "limits.max_output_elements",
                        what + ": model output '" + out.name() + "' " + ints_text(*dims) + " gives elements per item",
                        "; batchify would run it at batches of up to 8 to verify the repair: raise the limit if the "
                        "machine has the memory");
}

// Classifies the inputs: returns a non-empty reason when the model has no batch-1 axis to
// repair; sets `dynamic` when every input already has a symbolic leading dim.
std::string check_inputs(const ::onnx::GraphProto& g, bool& dynamic) {
    std::set<std::string> inits;
    for (const auto& t : g.initializer()) inits.insert(t.name());
    int n = 0, symbolic = 0;
    std::string reason;
    for (const auto& in : g.input()) {
        if (inits.count(in.name())) continue;
        ++n;
        auto dims = onnx_detail::value_dims(in);
        if (!dims) return "input '" + in.name() + "' has no declared shape, so its batch axis is unknown";
        if (dims->empty())
            return "input '" + in.name() + "' is a scalar: the model has no batch axis to repair";
        const auto& d0 = in.type().tensor_type().shape().dim(0);
        if (!d0.has_dim_value()) {
            ++symbolic;
        } else if (d0.dim_value() != 1 && reason.empty()) {
            reason = "input '" + in.name() + "' " + ints_text(*dims) + " has leading dim " +
                     std::to_string(d0.dim_value()) +
                     ", not 1: the model has no batch axis of 1 to repair (batchify repairs models exported with batch 1)";
        }
    }
    if (n == 0) return "the model has no inputs";
    if (!reason.empty()) return reason;
    if (symbolic == n) dynamic = true;
    else if (symbolic > 0) return "some inputs already have a symbolic leading dim and others a fixed 1; batchify needs one or the other";
    return {};
}

// Shape arithmetic on constants becomes constants, so the tracer sees the values the batch-1
// graph computes (a Shape->Gather->Concat target shape, a ConstantOfShape, a computed Pad).
void fold_before_tracing(::onnx::ModelProto& model, const std::string& what, std::size_t memory_limit_bytes,
                         BatchifyReport& r) {
    try {
        onnx_detail::FoldResult f = onnx_detail::fold_constants(model, what, memory_limit_bytes);
        if (f.nodes_after < f.nodes_before)
            r.notes.push_back("folded constant subgraphs with ONNX Runtime's basic optimizations: " +
                              std::to_string(f.nodes_before) + " -> " + std::to_string(f.nodes_after) + " nodes");
        model = std::move(f.model);
    } catch (const InputError&) {
        throw;  // ONNX Runtime cannot load the model at all: nothing to repair or verify (one line)
    } catch (const Error& e) {
        r.notes.push_back(std::string("constants not folded (ONNX Runtime could not load the model: ") +
                          first_line(e.what()) + "); tracing the graph as it is");
    }
}

Outcome run_batchify(std::span<const std::byte> in_bytes, const std::string& what, const BatchifyOptions& options) {
    Outcome out;
    BatchifyReport& r = out.report;
    ::onnx::ModelProto model = onnx_detail::parse_model(in_bytes, what);
    r.batch_variant_ops = variant_ops_of(model);
    check_declared_sizes(model.graph(), options.limits, what);
    bool dynamic = false, baked_behind_dynamic = false;
    std::vector<std::byte> pinned_original;
    if (std::string why = check_inputs(model.graph(), dynamic); !why.empty()) {
        r.status = Status::refused;
        r.message = why;
        return out;
    }
    if (dynamic) {
        const Probe p = probe_declared_batch(in_bytes, what, options.seed, run_memory_limit(options));
        if (!p.baked) {
            r.status = Status::already_dynamic;
            r.message = "the model already has a dynamic batch (every input's leading dim is symbolic)" + p.what +
                        "; nothing to do, nothing written";
            return out;
        }
        pin_declared_batch_to_one(model);
        // The reference for verification: the same graph with its declared batch written as
        // the 1 it runs at, so ONNX Runtime optimizes it with the static shapes the fold saw.
        pinned_original = onnx_detail::serialize_model(model);
        baked_behind_dynamic = true;
        r.notes.push_back("the model declares a dynamic batch but fails at batch " + std::to_string(p.failed_at) + " (" + p.what +
                          ") while it runs at batch 1: its export baked batch 1 behind the declared dims, so it is "
                          "repaired as a batch-1 model");
    }
    if (options.fold_constants) fold_before_tracing(model, what, run_memory_limit(options), r);
    try {
        onnx_detail::BatchTracer tracer(model, options.batch_name);
        onnx_detail::TraceResult t = tracer.run();
        r.rewrites = std::move(t.rewrites);
        r.notes.insert(r.notes.end(), t.notes.begin(), t.notes.end());
    } catch (const onnx_detail::Refused& e) {
        r.status = Status::refused;
        r.message = std::string("cannot trace the batch: ") + e.what();
        return out;
    }
    if (options.per_item_quantization && !r.batch_variant_ops.empty()) {
        onnx_detail::PerItemQuantResult q;
        try {
            q = onnx_detail::quantize_per_item(model);
        } catch (const std::exception& e) {
            r.status = Status::refused;
            r.message = std::string("cannot make the quantization per item: ") + e.what();
            return out;
        }
        r.rewrites.insert(r.rewrites.end(), q.rewrites.begin(), q.rewrites.end());
        for (const auto& why : q.skipped) r.notes.push_back("left batch-wide: " + why);
        const std::vector<std::string> remaining = variant_ops_of(model);
        if (!q.rewrites.empty())
            r.notes.push_back(std::to_string(q.rewrites.size()) + " " + r.batch_variant_ops.front() +
                              " node(s) now quantize each item with its own scale and zero point, so an item's "
                              "result no longer depends on the batch it runs in; their convolutions run in float "
                              "(exact for these integer sums), which is slower than int8 on a CPU and makes the file "
                              "larger (--batch-quantization keeps int8 ConvInteger with the original batch-wide scale: "
                              "faster, but batched results then differ slightly from single-item ones)");
        r.batch_variant_ops = remaining;
    }
    out.bytes = onnx_detail::serialize_model(model);
    if (!r.batch_variant_ops.empty())
        r.notes.push_back("contains " + r.batch_variant_ops.front() +
                          ": it computes one quantization scale over the whole batch, so batched outputs differ "
                          "slightly from single-item runs even after a correct repair");
    if (!options.verify) {
        r.status = Status::repaired_unverified;
        r.message = "repaired (" + std::to_string(r.rewrites.size()) + " rewrites); not verified (--no-verify)";
        if (baked_behind_dynamic) r.message = "declared a dynamic batch but ran only at batch 1; " + r.message;
        return out;
    }
    try {
        // The repaired graph is already ONNX Runtime's basic optimization of the original (the
        // fold), so it runs with none, and the original with exactly those: the same kernels
        // on the same weights. Later levels fuse differently for a static and a symbolic batch
        // (a LayerNorm, a residual Add), and their last-bit differences, through a TopK of
        // near-equal scores, can reorder whole outputs of a correct repair.
        ModelOptions original_options, repaired_options;
        if (options.fold_constants) {
            original_options = onnx_detail::fold_options();
            repaired_options.optimization = GraphOptimization::disabled;
        }
        original_options.memory_limit_bytes = repaired_options.memory_limit_bytes = run_memory_limit(options);
        const std::span<const std::byte> reference =
            pinned_original.empty() ? in_bytes : std::span<const std::byte>(pinned_original);
        const Model original = Model::from_bytes(reference, original_options, what);
        const Model repaired = Model::from_bytes(out.bytes, repaired_options, what + " (repaired)");
        onnx_detail::VerifyOutcome v = onnx_detail::verify_batched(original, repaired, options);
        r.differences = std::move(v.differences);
        std::string batches;
        for (int b : options.verify_batches) batches += (batches.empty() ? "" : ", ") + std::to_string(b);
        // Detections are compared where tensors cannot settle it: a batch-variant model (always,
        // so both levels are reported) or a tensor-level failure (for the user's diagnosis).
        bool detections_agree = false;
        int images = 0;
        if (options.detection_comparer && (!v.all_within || !r.batch_variant_ops.empty())) {
            detections_agree = true;
            for (int b : options.verify_batches) {
                DetectionAgreement a = options.detection_comparer(original, repaired, b);
                detections_agree = detections_agree && a.agree;
                images = a.images;
                r.detection_checks.emplace_back(b, std::move(a));
            }
        }
        if (v.all_within) {
            r.status = Status::repaired_verified;
            r.message = "repaired and verified at batches " + batches + ": every output of every item matches the "
                        "original run alone (atol " + fmt(options.atol) + ", rtol " + fmt(options.rtol) + ")";
        } else if (!r.batch_variant_ops.empty() && detections_agree) {
            r.status = Status::repaired_verified_detections;
            r.message = "repaired; tensor-level differences beyond atol " + fmt(options.atol) + " + rtol " +
                        fmt(options.rtol) + " (worst: " + v.first_failure + ") due to " + r.batch_variant_ops.front() +
                        ", which takes one quantization scale over the whole batch; detections agree on " +
                        std::to_string(images) + " images at batches " + batches;
        } else {
            r.status = Status::verification_failed;
            r.message = "verification failed: " + v.first_failure + " exceeds atol " + fmt(options.atol) + " + rtol " +
                        fmt(options.rtol);
            if (!r.batch_variant_ops.empty() && r.detection_checks.empty())
                r.message += " (the model contains " + r.batch_variant_ops.front() +
                             ", which is not batch-invariant; compare detections, or keep it with --keep-unverified)";
            else if (!r.detection_checks.empty() && detections_agree)
                r.message += "; detections agree, but the model has no batch-variant op to explain the tensor "
                             "difference";
            else if (!r.detection_checks.empty())
                r.message += "; detections differ too" +
                             (r.batch_variant_ops.empty()
                                  ? std::string()
                                  : " (the model contains " + r.batch_variant_ops.front() +
                                        ", which takes one quantization scale over the whole batch: see the detection "
                                        "level below; loosen --score-tol / --min-iou, or keep it with "
                                        "--keep-unverified)");
        }
    } catch (const Error& e) {
        r.status = Status::verification_failed;
        r.message = std::string("verification failed: ") + e.what();
    }
    if (baked_behind_dynamic) r.message = "declared a dynamic batch but ran only at batch 1; " + r.message;
    return out;
}

bool keep(const BatchifyReport& r, const BatchifyOptions& o) {
    return r.status == Status::repaired_verified || r.status == Status::repaired_unverified ||
           r.status == Status::repaired_verified_detections ||
           (r.status == Status::verification_failed && o.keep_unverified);
}

}  // namespace

std::string to_string(BatchifyReport::Status s) {
    switch (s) {
        case Status::repaired_verified: return "repaired_verified";
        case Status::repaired_unverified: return "repaired_unverified";
        case Status::already_dynamic: return "already_dynamic";
        case Status::refused: return "refused";
        case Status::verification_failed: return "verification_failed";
        case Status::repaired_verified_detections: return "repaired_verified_detections";
    }
    return "?";
}

std::string BatchifyReport::to_text() const {
    std::ostringstream s;
    s << "status: " << to_string(status) << "\n" << message << "\n";
    if (!rewrites.empty()) {
        s << "rewrites (" << rewrites.size() << "):\n";
        for (const auto& w : rewrites) s << "  " << w << "\n";
    }
    for (const auto& n : notes) s << "note: " << n << "\n";
    if (!differences.empty()) {
        std::size_t w = 6;
        for (const auto& d : differences) w = std::max(w, d.output.size());
        s << "verification, tensor level (original one item at a time vs repaired as one batch):\n";
        char line[256];
        std::snprintf(line, sizeof line, "  %-*s %5s %12s %12s  %s\n", static_cast<int>(w), "output", "batch", "max_abs",
                      "max_rel", "within tolerance");
        s << line;
        for (const auto& d : differences) {
            std::snprintf(line, sizeof line, "  %-*s %5d %12.3g %12.3g  %s\n", static_cast<int>(w), d.output.c_str(),
                          d.batch, d.max_abs, d.max_rel,
                          d.within_tolerance ? "yes" : ("NO (item " + std::to_string(d.first_bad_item) + ")").c_str());
            s << line;
        }
    }
    if (!detection_checks.empty())
        s << "verification, detection level (original one image at a time vs repaired in batches):\n";
    for (const auto& [b, a] : detection_checks)
        s << "  batch " << b << ": " << (a.agree ? "agree" : "DIFFER") << " - " << a.summary << "\n";
    return s.str();
}

std::vector<std::byte> batchify_model(std::span<const std::byte> model, const BatchifyOptions& options,
                                      BatchifyReport* report) {
    Outcome o = run_batchify(model, "<memory>", options);
    const bool kept = keep(o.report, options);
    o.report.output_written = kept && !o.bytes.empty();
    if (report) *report = o.report;
    return kept ? std::move(o.bytes) : std::vector<std::byte>{};
}

namespace {

// OUT, before any work (a missing folder was found only after the repair and its verification).
// The model is written beside OUT and renamed over it, so OUT (or what a link names) must be a
// regular file or nothing: as root, /dev/full given as OUT was replaced by a regular file.
void check_output_path(const std::string& in, const std::string& out) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::file_status st = fs::status(out, ec);
    if (fs::is_directory(st)) throw InputError(out + ": is a folder; expected the path of the .onnx file to write");
    if (fs::exists(st) && !fs::is_regular_file(st))
        throw InputError(out + ": not a regular file (a device, pipe or socket); expected the path of the .onnx file "
                               "to write");
    if (fs::exists(st) && fs::equivalent(in, out, ec))
        throw InputError(out + ": is the input model itself; batchify writes a new file: give another output path");
    const fs::path parent = fs::path(out).parent_path().empty() ? fs::path(".") : fs::path(out).parent_path();
    if (!fs::is_directory(parent, ec))
        throw InputError(out + ": the folder " + parent.string() + " does not exist; create it, or write elsewhere");
    if (::access(parent.c_str(), W_OK) != 0)
        throw InputError(out + ": the folder " + parent.string() + " is not writable (" + std::strerror(errno) + ")");
}

}  // namespace

BatchifyReport batchify(const std::string& in, const std::string& out, const BatchifyOptions& options) {
    check_output_path(in, out);
    const std::vector<std::byte> bytes = read_file_bytes(in);
    Outcome o = run_batchify(bytes, in, options);
    if (keep(o.report, options) && !o.bytes.empty()) {
        onnx_detail::write_file_atomically(out, o.bytes);
        o.report.output_written = true;
        o.report.message += "; written to " + out;
    }
    return o.report;
}

std::vector<std::string> batch_variant_ops(const std::string& path) {
    const std::vector<std::byte> bytes = read_file_bytes(path);
    return variant_ops_of(onnx_detail::parse_model(bytes, path));
}

std::string declared_batch_failure(const std::string& path) {
    const std::vector<std::byte> bytes = read_file_bytes(path);
    bool dynamic = false;
    if (!check_inputs(onnx_detail::parse_model(bytes, path).graph(), dynamic).empty() || !dynamic) return {};
    const Probe p = probe_declared_batch(bytes, path, BatchifyOptions{}.seed, run_memory_limit(BatchifyOptions{}));
    if (!p.baked) return {};
    return "declares a dynamic batch, but fails at batch " + std::to_string(p.failed_at) + " (" + p.what +
           ") and runs at batch 1: its export baked batch 1 into the graph; repair with `tiledet batchify`";
}

}  // namespace tiledet
