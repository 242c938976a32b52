#include "constant_fold.hpp"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

#include "proto_util.hpp"
#include "tiledet/error.hpp"
#include "tiledet/runtime/model.hpp"

namespace tiledet::onnx_detail {
namespace {

// A private temporary file, removed when it goes out of scope.
struct TempFile {
    std::filesystem::path path;
    TempFile() {
        std::random_device rd;
        // ONNX Runtime picks the format from the extension: ".onnx" writes an ONNX model.
        path = std::filesystem::temp_directory_path() /
               ("tiledet_fold_" + std::to_string(rd()) + "_" + std::to_string(rd()) + ".onnx");
    }
    ~TempFile() {
        std::error_code ec;
        std::filesystem::remove(path, ec);
    }
};

std::vector<std::byte> read_all(const std::filesystem::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::vector<char> c((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    std::vector<std::byte> b(c.size());
    std::memcpy(b.data(), c.data(), c.size());
    return b;
}

}  // namespace

ModelOptions fold_options() {
    ModelOptions o;
    o.optimization = GraphOptimization::basic;
    // Optimizer names: onnxruntime/core/optimizer/graph_transformer_utils.cc.
    o.config_entries = {{"optimization.disable_specified_optimizers", "TransposeOptimizer"}};
    return o;
}

FoldResult fold_constants(const ::onnx::ModelProto& model, const std::string& what, std::size_t memory_limit_bytes) {
    FoldResult r;
    r.nodes_before = model.graph().node_size();
    const std::vector<std::byte> bytes = serialize_model(model);
    TempFile tmp;
    ModelOptions o = fold_options();
    o.optimized_model_path = tmp.path.string();
    o.memory_limit_bytes = memory_limit_bytes;
    o.intra_op_threads = 1;
    o.log_severity = 3;  // errors only: ORT warns about unused initializers it removes
    { const Model loaded = Model::from_bytes(bytes, o, what + " (folding constants)"); }
    const std::vector<std::byte> folded = read_all(tmp.path);
    r.model = parse_model(folded, what + " (as folded by ONNX Runtime)");
    r.nodes_after = r.model.graph().node_size();
    return r;
}

}  // namespace tiledet::onnx_detail
