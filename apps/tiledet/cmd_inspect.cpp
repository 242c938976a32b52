// tiledet inspect MODEL [--json]: what the model accepts, in the original pipeline's words.
#include <iostream>

#include <nlohmann/json.hpp>

#include "command.hpp"
#include "tiledet/runtime/model.hpp"
#if TILEDET_HAS_DETECTORS
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

int run_inspect(const std::string& path, bool json) {
    const Model model = Model::load(path);
    const ModelSignature& sig = model.signature();
    const BatchKind bk = sig.batch_kind();
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
        j["batch"] = {{"kind", bk.is_dynamic() ? "dynamic" : bk.is_static() ? "static" : "none"},
                      {"size", bk.is_static() ? nlohmann::json(bk.size) : nlohmann::json(nullptr)},
                      {"symbol", bk.symbol},
                      {"description", bk.describe()}};
        j["metadata"] = sig.metadata;
        j["producer"] = sig.producer;
#if TILEDET_HAS_DETECTORS
        const auto [family, reason] = family_of(sig);
        j["family"] = family;
        j["family_reason"] = reason;
#endif
#if TILEDET_HAS_ONNX
        j["batch_variant_ops"] = batch_variant_ops(path);
#endif
        std::cout << j.dump(2) << "\n";
        return kExitOk;
    }
    std::cout << "model: " << path << "\n";
    std::cout << "inputs:\n";
    for (const TensorInfo& t : sig.inputs) std::cout << "  " << t.name << " " << t.dims_string() << " " << to_string(t.type) << "\n";
    std::cout << "outputs:\n";
    for (const TensorInfo& t : sig.outputs) std::cout << "  " << t.name << " " << t.dims_string() << " " << to_string(t.type) << "\n";
    std::cout << "batch: " << bk.describe() << "\n";
#if TILEDET_HAS_DETECTORS
    const auto [family, reason] = family_of(sig);
    std::cout << "family: " << family << " (" << reason << ")\n";
#endif
    if (!sig.producer.empty()) std::cout << "producer: " << sig.producer << "\n";
    if (!sig.metadata.empty()) {
        std::cout << "metadata:\n";
        for (const auto& [k, v] : sig.metadata)
            std::cout << "  " << k << ": " << (v.size() > 120 ? v.substr(0, 117) + "..." : v) << "\n";
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
    return kExitOk;
}

const CommandRegistrar reg{Command{"inspect", 10, [](CLI::App& app) {
    auto* sub = app.add_subcommand("inspect", "Show a model's inputs, outputs, batch kind and metadata");
    auto path = std::make_shared<std::string>();
    auto json = std::make_shared<bool>(false);
    sub->add_option("model", *path, "ONNX model file")->required();
    sub->add_flag("--json", *json, "Print JSON instead of text");
    return std::function<int()>([path, json] { return run_inspect(*path, *json); });
}}};

}  // namespace
}  // namespace tiledet::cli
