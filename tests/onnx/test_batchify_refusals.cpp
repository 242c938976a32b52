// Models batchify must not repair, and bad inputs: a clear message, and no output file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "test_paths.hpp"
#include "tiledet/error.hpp"
#include "tiledet/onnx/batchify.hpp"
#include "tiledet/runtime/model.hpp"

namespace {

using namespace tiledet;
namespace fs = std::filesystem;
using tiledet::testing::generated_model;

fs::path fresh_dir(const std::string& name) {
    fs::path d = fs::temp_directory_path() / ("tiledet_batchify_" + std::to_string(::getpid()) + "_" + name);
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
}

bool is_empty_dir(const fs::path& d) { return fs::directory_iterator(d) == fs::directory_iterator(); }

TEST(BatchifyRefuses, BatchContractedByMatMulNamesTheNodeAndLeavesNoFile) {
    TILEDET_REQUIRE_GENERATED("unrepairable_matmul_b1.onnx");
    const fs::path dir = fresh_dir("matmul");
    const BatchifyReport r = batchify(generated_model("unrepairable_matmul_b1.onnx").string(), (dir / "out.onnx").string());
    EXPECT_EQ(r.status, BatchifyReport::Status::refused);
    EXPECT_NE(r.message.find("MatMul '/MatMul_7'"), std::string::npos) << r.message;
    EXPECT_NE(r.message.find("contracted"), std::string::npos) << r.message;
    EXPECT_FALSE(r.output_written);
    EXPECT_TRUE(is_empty_dir(dir)) << "no output and no temporary file may be left";
    fs::remove_all(dir);
}

TEST(BatchifyRefuses, ModelWithoutBatchAxis) {
    TILEDET_REQUIRE_GENERATED("no_batch_axis.onnx");
    const fs::path dir = fresh_dir("nobatch");
    const BatchifyReport r = batchify(generated_model("no_batch_axis.onnx").string(), (dir / "out.onnx").string());
    EXPECT_EQ(r.status, BatchifyReport::Status::refused);
    EXPECT_NE(r.message.find("no batch axis"), std::string::npos) << r.message;
    EXPECT_TRUE(is_empty_dir(dir));
    fs::remove_all(dir);
}

TEST(BatchifyRefuses, AlreadyDynamicModelIsNotCopied) {
    TILEDET_REQUIRE_GENERATED("yolo_dynamic.onnx");
    const fs::path dir = fresh_dir("dynamic");
    const BatchifyReport r = batchify(generated_model("yolo_dynamic.onnx").string(), (dir / "out.onnx").string());
    EXPECT_EQ(r.status, BatchifyReport::Status::already_dynamic);
    EXPECT_TRUE(r.ok());
    EXPECT_NE(r.message.find("already"), std::string::npos);
    EXPECT_TRUE(is_empty_dir(dir));
    fs::remove_all(dir);
}

TEST(BatchifyRefuses, NotAnOnnxFileThrowsInputError) {
    const fs::path dir = fresh_dir("notonnx");
    const fs::path bad = dir / "bad.onnx";
    std::ofstream(bad) << "this is not a protobuf model";
    EXPECT_THROW(batchify(bad.string(), (dir / "out.onnx").string()), InputError);
    EXPECT_FALSE(fs::exists(dir / "out.onnx"));
    EXPECT_THROW(batchify((dir / "missing.onnx").string(), (dir / "out.onnx").string()), InputError);
    fs::remove_all(dir);
}

TEST(BatchifyRefuses, UnwritableOutputPathThrowsInputError) {
    TILEDET_REQUIRE_GENERATED("yolo_static.onnx");
    BatchifyOptions o;
    o.verify = false;
    EXPECT_THROW(batchify(generated_model("yolo_static.onnx").string(), "/nonexistent_dir_tiledet/out.onnx", o),
                 InputError);
    const fs::path dir = fresh_dir("outdir");
    EXPECT_THROW(batchify(generated_model("yolo_static.onnx").string(), dir.string(), o), InputError);
    fs::remove_all(dir);
}

TEST(BatchifyWrites, RepairedFileAtomicallyAndNothingElse) {
    TILEDET_REQUIRE_GENERATED("yolo_static.onnx");
    const fs::path dir = fresh_dir("write");
    BatchifyOptions o;
    o.verify_batches = {2};
    const BatchifyReport r = batchify(generated_model("yolo_static.onnx").string(), (dir / "out.onnx").string(), o);
    ASSERT_EQ(r.status, BatchifyReport::Status::repaired_verified) << r.to_text();
    EXPECT_TRUE(r.output_written);
    int files = 0;
    for (const auto& e : fs::directory_iterator(dir)) files += (e.path().filename() == "out.onnx") ? 1 : 100;
    EXPECT_EQ(files, 1);
    EXPECT_TRUE(Model::load((dir / "out.onnx").string()).signature().batch_kind().is_dynamic());
    fs::remove_all(dir);
}

TEST(BatchVariantOps, FoundOnlyWhereTheyAre) {
    TILEDET_REQUIRE_GENERATED("yolo_static.onnx");
    EXPECT_TRUE(batch_variant_ops(generated_model("yolo_static.onnx").string()).empty());
}

}  // namespace
