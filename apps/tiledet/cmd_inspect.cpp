// tiledet inspect MODEL [--json]: what the model accepts, in the original pipeline's words.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "command.hpp"
#include "tiledet/error.hpp"
#include "tiledet/limits.hpp"
#include "tiledet/runtime/model.hpp"
#include "tiledet/runtime/signature.hpp"
#if TILEDET_HAS_BATCHING
#include "tiledet/batching/backend.hpp"
#endif
#if TILEDET_HAS_DETECTORS
#include "tiledet/detectors/describe.hpp"
#include "tiledet/detectors/detector.hpp"
#endif
#if TILEDET_HAS_ONNX
#include "tiledet/onnx/batchify.hpp"
#endif

namespace tiledet::cli {
namespace {

nlohmann::json dims_json(const TensorInfo& t) {
    nlohmann::json dims = nlohmann::json::array();
    for (const Dim& d : t.dims) {
        if (d.fixed())
            dims.push_back(d.value);
        else
            dims.push_back(d.symbol.empty() ? "?" : d.symbol);
    }
    return dims;
}

#if TILEDET_HAS_DETECTORS
// The family tiledet would decode this model as, and the evidence; "unknown" (no layout fits)
// and "ambiguous" (several fit, the reason lists them and the --family choices) are not errors here.
std::pair<std::string, std::string> family_of(const ModelSignature& sig) {
    const FamilyMatch m = match_family(sig);
    if (m.family) return {to_string(*m.family), m.reason};
    return {m.candidates.size() > 1 ? "ambiguous" : "unknown", m.reason};
}

#endif

struct ProbeArgs {
    bool enabled = false;
    int max_batch = 8;
    std::string sizes = "1,2,3,max";
};

// The batch sizes --probe runs: "1,2,3,max" with max = --batch, ascending, unique.
std::vector<int> probe_sizes(const ProbeArgs& p) {
    std::vector<int> out;
    std::stringstream ss(p.sizes);
    for (std::string tok; std::getline(ss, tok, ',');) {
        int n = 0;
        try {
            n = tok == "max" ? p.max_batch : std::stoi(tok);
        } catch (const std::exception&) {
            n = 0;
        }
        if (n < 1)
            throw ConfigError(
                "--probe-sizes: expected batch sizes >= 1 or 'max', comma-separated (e.g. 1,2,3,max), got '" + p.sizes +
                "'");
        out.push_back(n);
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

#if TILEDET_HAS_BATCHING
// Runs the probe batches; nullopt (with the reason) when the model has nothing to probe.
std::optional<std::vector<ProbeOutcome>> run_probe(const std::string& path, const Model& model, const ProbeArgs& p,
                                                   std::string& why_not) {
    const BatchKind bk = model.signature().batch_kind();
    if (!bk.is_dynamic()) {
        why_not = "the model's batch is not dynamic (" + bk.describe() + "): nothing to probe";
        return std::nullopt;
    }
    ModelBackend backend(Model::load(path));  // a session of its own: the probe may fail in it
    auto outcomes = probe_batch_sizes(backend, probe_sizes(p));
    if (outcomes.empty()) {
        why_not = "no probe input can be made (an input has a symbolic dim besides the batch)";
        return std::nullopt;
    }
    return outcomes;
}

std::string probe_verdict(const std::vector<ProbeOutcome>& outcomes) {
    std::string ran, failed;
    for (const ProbeOutcome& o : outcomes)
        (o.ok ? ran : failed) +=
            (o.ok ? ran : failed).empty() ? std::to_string(o.batch_size) : ", " + std::to_string(o.batch_size);
    if (failed.empty()) return "every probed batch size runs";
    const bool batches =
        std::any_of(outcomes.begin(), outcomes.end(), [](const ProbeOutcome& o) { return o.ok && o.batch_size > 1; });
    std::string v = "fails at batch " + failed + (ran.empty() ? "" : "; runs at " + ran) + ". ";
    v += batches ? "tiledet re-runs a failed batch in smaller batches and stops forming the sizes that fail"
                 : "tiledet runs it one at a time";
    return v +
           "; to batch at every size, repair it with `tiledet batchify IN.onnx OUT.onnx` or re-export it with a "
           "fully dynamic batch axis";
}

#endif

int run_inspect(const std::string& path, bool json, const ProbeArgs& probe_args) {
    const Model model = Model::load(path);
    const ModelSignature& sig = model.signature();
    const BatchKind bk = sig.batch_kind();
    std::string batch_text = bk.describe();
#if TILEDET_HAS_ONNX
    // A declared dynamic batch is probed: exports can bake batch 1 behind symbolic dims.
    // Not with a signature over the default limits: running it would allocate what they guard
    // against (a [b,3,2^31,2^31] input overflowed ONNX Runtime's own size arithmetic).
    bool within_limits = true;
    try {
        check_signature_limits(sig, Limits{});
    } catch (const OptionError& e) {
        within_limits = false;
        batch_text += " (not probed at batch 2: " + std::string(e.what()) + ")";
    }
    const std::string baked = bk.is_dynamic() && within_limits ? declared_batch_failure(path) : std::string();
    if (!baked.empty()) batch_text = baked;
#endif
    if (json) {
        nlohmann::json j;
        j["model"] = path;
        j["runtime"] = "ONNX Runtime " + Model::runtime_version();
        j["providers_available"] = Model::available_providers();
        for (const auto* list : {&sig.inputs, &sig.outputs}) {
            auto& arr = j[list == &sig.inputs ? "inputs" : "outputs"];
            arr = nlohmann::json::array();
            for (const TensorInfo& t : *list)
                arr.push_back({{"name", t.name}, {"type", to_string(t.type)}, {"dims", dims_json(t)}});
        }
        j["batch"] = {{"kind", bk.is_dynamic()  ? "dynamic"
                               : bk.is_static() ? "static"
                                                : "none"},
                      {"size", bk.is_static() ? nlohmann::json(bk.size) : nlohmann::json(nullptr)},
                      {"symbol", bk.symbol},
                      {"description", batch_text}};
        j["metadata"] = sig.metadata;
        j["producer"] = sig.producer;
#if TILEDET_HAS_DETECTORS
        const auto [family, reason] = family_of(sig);
        j["family"] = family;
        j["family_reason"] = reason;
        j["pixels"] = describe_pixels(sig);
        j["defaults"] = describe_defaults(sig);
#endif
#if TILEDET_HAS_ONNX
        j["batch_variant_ops"] = batch_variant_ops(path);
#endif
#if TILEDET_HAS_BATCHING
        if (probe_args.enabled) {
            std::string why_not;
            const auto outcomes = run_probe(path, model, probe_args, why_not);
            auto& pj = j["probe"];
            pj["batches"] = nlohmann::json::array();
            if (outcomes) {
                for (const ProbeOutcome& o : *outcomes)
                    pj["batches"].push_back(
                        {{"batch_size", o.batch_size}, {"ok", o.ok}, {"ms", o.ms}, {"error", o.error}});
                pj["verdict"] = probe_verdict(*outcomes);
            } else {
                pj["verdict"] = why_not;
            }
        }
#endif
        std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
        return kExitOk;
    }
    std::cout << "model: " << path << "\n";
    std::cout << "inputs:\n";
    // Names and metadata come from the file: escaped, never written raw to the terminal.
    for (const TensorInfo& t : sig.inputs) std::cout << "  " << printable(t.name, 200) << " " << t.dims_string() << " " << to_string(t.type) << "\n";
    std::cout << "outputs:\n";
    for (const TensorInfo& t : sig.outputs) std::cout << "  " << printable(t.name, 200) << " " << t.dims_string() << " " << to_string(t.type) << "\n";
    std::cout << "batch: " << batch_text << "\n";
#if TILEDET_HAS_DETECTORS
    const auto [family, reason] = family_of(sig);
    std::cout << "family: " << family << " (" << reason << ")\n";
    std::cout << "pixels: " << describe_pixels(sig) << "\n";
    std::cout << "defaults: " << describe_defaults(sig) << "\n";
#endif
    if (!sig.producer.empty()) std::cout << "producer: " << sig.producer << "\n";
    if (!sig.metadata.empty()) {
        std::cout << "metadata:\n";
        for (const auto& [k, v] : sig.metadata)
            std::cout << "  " << printable(k, 120) << ": " << printable(v, 117) << "\n";
    }
#if TILEDET_HAS_ONNX
    // DynamicQuantizeLinear takes one activation scale over the whole batch.
    for (const auto& op : batch_variant_ops(path))
        std::cout << "warning: contains " << op << ": batched outputs differ slightly from single-item runs "
                  << "(one quantization scale per batch, not per item)\n";
#endif
    std::cout << "runtime: ONNX Runtime " << Model::runtime_version() << ", providers available:";
    for (const auto& p : Model::available_providers()) std::cout << " " << p;
    std::cout << "\n";
#if TILEDET_HAS_BATCHING
    if (probe_args.enabled) {
        std::string why_not;
        const auto outcomes = run_probe(path, model, probe_args, why_not);
        if (!outcomes) {
            std::cout << "probe: " << why_not << "\n";
            return kExitOk;
        }
        std::cout << "probe (one batch of zeros per size):\n";
        for (const ProbeOutcome& o : *outcomes) {
            char ms[32];
            std::snprintf(ms, sizeof ms, "%.1f ms", o.ms);
            std::cout << "  batch " << o.batch_size << ": "
                      << (o.ok ? "ok (" + std::string(ms) + ")" : "FAILS: " + o.error) << "\n";
        }
        std::cout << "probe: " << probe_verdict(*outcomes) << "\n";
    }
#else
    if (probe_args.enabled) std::cout << "probe: this build has no batching module\n";
#endif
    return kExitOk;
}

const CommandRegistrar reg{Command{"inspect", 10, [](CLI::App& app) {
    auto* sub = app.add_subcommand("inspect", "Show a model's inputs, outputs, batch kind and metadata");
    auto path = std::make_shared<std::string>();
    auto json = std::make_shared<bool>(false);
    auto probe = std::make_shared<ProbeArgs>();
    sub->add_option("model", *path, "ONNX model file")->required();
    sub->add_flag("--json", *json, "Print JSON instead of text");
    sub->add_flag("--probe", probe->enabled, "Run one batch of each probe size and say which work (dynamic batch)");
    sub->add_option("--batch", probe->max_batch, "The 'max' probe size")->capture_default_str();
    sub->add_option("--probe-sizes", probe->sizes, "Batch sizes to probe, e.g. 1,2,3,max")->capture_default_str();
    return std::function<int()>([path, json, probe] { return run_inspect(*path, *json, *probe); });
}}};

}  // namespace
}  // namespace tiledet::cli
