// batchify: checks the model, runs the batch tracer, verifies, writes. See batchify.hpp.
#include "tiledet/onnx/batchify.hpp"

#include <cstdio>
#include <set>
#include <sstream>

#include "batch_trace.hpp"
#include "proto_util.hpp"
#include "tiledet/error.hpp"
#include "tiledet/runtime/model.hpp"
#include "verify.hpp"

namespace tiledet {
namespace {

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

Outcome run_batchify(std::span<const std::byte> in_bytes, const std::string& what, const BatchifyOptions& options) {
    Outcome out;
    BatchifyReport& r = out.report;
    ::onnx::ModelProto model = onnx_detail::parse_model(in_bytes, what);
    r.batch_variant_ops = variant_ops_of(model);
    bool dynamic = false;
    if (std::string why = check_inputs(model.graph(), dynamic); !why.empty()) {
        r.status = Status::refused;
        r.message = why;
        return out;
    }
    if (dynamic) {
        r.status = Status::already_dynamic;
        r.message = "the model already has a dynamic batch (every input's leading dim is symbolic); nothing to do, "
                    "nothing written";
        return out;
    }
    try {
        onnx_detail::BatchTracer tracer(model, options.batch_name);
        onnx_detail::TraceResult t = tracer.run();
        r.rewrites = std::move(t.rewrites);
        r.notes = std::move(t.notes);
    } catch (const onnx_detail::Refused& e) {
        r.status = Status::refused;
        r.message = std::string("cannot trace the batch: ") + e.what();
        return out;
    }
    out.bytes = onnx_detail::serialize_model(model);
    if (!r.batch_variant_ops.empty())
        r.notes.push_back("contains " + r.batch_variant_ops.front() +
                          ": it computes one quantization scale over the whole batch, so batched outputs differ "
                          "slightly from single-item runs even after a correct repair");
    if (!options.verify) {
        r.status = Status::repaired_unverified;
        r.message = "repaired (" + std::to_string(r.rewrites.size()) + " rewrites); not verified (--no-verify)";
        return out;
    }
    try {
        const Model original = Model::from_bytes(in_bytes, {}, what);
        const Model repaired = Model::from_bytes(out.bytes, {}, what + " (repaired)");
        onnx_detail::VerifyOutcome v = onnx_detail::verify_batched(original, repaired, options);
        r.differences = std::move(v.differences);
        std::string batches;
        for (int b : options.verify_batches) batches += (batches.empty() ? "" : ", ") + std::to_string(b);
        bool detections_agree = false;
        if (options.detection_comparer && (!v.all_within || !r.batch_variant_ops.empty())) {
            detections_agree = true;
            for (int b : options.verify_batches) {
                DetectionAgreement a = options.detection_comparer(original, repaired, b);
                detections_agree = detections_agree && a.agree;
                r.detection_checks.emplace_back(b, std::move(a));
            }
        }
        if (v.all_within) {
            r.status = Status::repaired_verified;
            r.message = "repaired and verified at batches " + batches + ": every output of every item matches the "
                        "original run alone (atol " + fmt(options.atol) + ", rtol " + fmt(options.rtol) + ")";
        } else if (!r.batch_variant_ops.empty() && detections_agree) {
            r.status = Status::repaired_verified;
            r.message = "repaired; tensors differ beyond tolerance (" + v.first_failure + ") as expected from " +
                        r.batch_variant_ops.front() + ", and detections agree at batches " + batches;
        } else {
            r.status = Status::verification_failed;
            r.message = "verification failed: " + v.first_failure + " exceeds atol " + fmt(options.atol) + " + rtol " +
                        fmt(options.rtol);
            if (!r.batch_variant_ops.empty())
                r.message += " (the model contains " + r.batch_variant_ops.front() +
                             ", which is not batch-invariant; compare detections, or keep it with --keep-unverified)";
        }
    } catch (const Error& e) {
        r.status = Status::verification_failed;
        r.message = std::string("verification failed: ") + e.what();
    }
    return out;
}

bool keep(const BatchifyReport& r, const BatchifyOptions& o) {
    return r.status == Status::repaired_verified || r.status == Status::repaired_unverified ||
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
        s << "verification (original one item at a time vs repaired as one batch):\n";
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
    for (const auto& [b, a] : detection_checks)
        s << "detections at batch " << b << ": " << (a.agree ? "agree" : "DIFFER") << " - " << a.summary << "\n";
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

BatchifyReport batchify(const std::string& in, const std::string& out, const BatchifyOptions& options) {
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

}  // namespace tiledet
