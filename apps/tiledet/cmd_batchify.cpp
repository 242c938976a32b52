// tiledet batchify IN.onnx OUT.onnx: repair a model exported with a fixed batch of 1 so that it
// runs any batch, and verify the repair (see include/tiledet/onnx/batchify.hpp).
#if TILEDET_HAS_ONNX
#include <iostream>
#include <sstream>

#include "command.hpp"
#include "tiledet/error.hpp"
#include "tiledet/onnx/batchify.hpp"

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
    bool no_verify = false, keep_unverified = false;
    double atol = 1e-4, rtol = 1e-4;
};

int run_batchify(const Args& a) {
    BatchifyOptions o;
    o.batch_name = a.batch_name;
    o.verify_batches = parse_batches(a.batches);
    o.verify = !a.no_verify;
    o.keep_unverified = a.keep_unverified;
    o.atol = a.atol;
    o.rtol = a.rtol;
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
    sub->add_option("--atol", a->atol, "absolute tolerance per element (default 1e-4)");
    sub->add_option("--rtol", a->rtol, "relative tolerance per element (default 1e-4)");
    sub->footer(
        "Verification runs the original model on K inputs one at a time and the repaired model on the same K as one "
        "batch, for each K, and compares every output per item. Inputs: floats uniform in [0, 1]; integer inputs "
        "named like orig_target_sizes get (h, w) = (640 - 32 i, 640 + 48 i) for item i; other integers 0.\n"
        "Exit codes: 0 repaired (or already dynamic: nothing written), 2 bad input, refused, or not verified.");
    return std::function<int()>([a] { return run_batchify(*a); });
}}};

}  // namespace
}  // namespace tiledet::cli
#endif  // TILEDET_HAS_ONNX
