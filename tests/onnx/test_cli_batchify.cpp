// `tiledet batchify`: exit codes, messages, files; and inspect's warning on batch-variant ops.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli_runner.hpp"
#include "test_paths.hpp"

namespace {

namespace fs = std::filesystem;
using tiledet::testing::generated_model;

using tiledet::testing::CliResult;
using tiledet::testing::run_cli;

fs::path out_path(const std::string& name) {
    fs::path p = fs::temp_directory_path() / ("tiledet_cli_batchify_" + std::to_string(::getpid()) + "_" + name);
    fs::remove(p);
    return p;
}

TEST(CliBatchify, AModelOverTheElementLimitsIsRefusedBeforeAnythingRuns) {
    // A [1,3,8000,8000] input once ran 20 s to 6 GB before std::bad_alloc: verification runs
    // batches of up to 8. The limits are detect's, with the same flags.
    TILEDET_REQUIRE_GENERATED("yolo_static.onnx");
    const fs::path out = out_path("limited.onnx");
    const std::string model = generated_model("yolo_static.onnx").string();
    CliResult r = run_cli("batchify " + model + " " + out.string() + " --max-input-elements 1000");
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_NE(r.output.find("takes elements per item: "), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("exceeds the limit of 1,000 (--max-input-elements)"), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(out));
    r = run_cli("batchify " + model + " " + out.string() + " --max-output-elements 10");
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_NE(r.output.find("gives elements per item: "), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("(--max-output-elements)"), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(out));
}

TEST(CliBatchify, AnOutputPathThatCannotBeWrittenIsRefusedBeforeTheRepair) {
    TILEDET_REQUIRE_GENERATED("yolo_static.onnx");
    const std::string model = generated_model("yolo_static.onnx").string();
    const fs::path missing = out_path("no_such_folder") / "out.onnx";
    CliResult r = run_cli("batchify " + model + " " + missing.string());
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_NE(r.output.find("does not exist; create it, or write elsewhere"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("repaired"), std::string::npos) << "refused before the work: " << r.output;
    const fs::path folder = out_path("a_folder");
    fs::create_directories(folder);
    r = run_cli("batchify " + model + " " + folder.string());
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_NE(r.output.find("is a folder; expected the path of the .onnx file to write"), std::string::npos)
        << r.output;
    fs::remove_all(folder);
}

TEST(CliBatchify, AnOutputPathThatIsAPipeIsRefusedNotReplaced) {
    // batchify writes beside OUT and renames over it: run as root on /dev/full, it replaced the
    // device with a regular file. A FIFO stands in for it here.
    TILEDET_REQUIRE_GENERATED("yolo_static.onnx");
    const fs::path fifo = out_path("out_fifo.onnx");
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    const CliResult r = run_cli("batchify " + generated_model("yolo_static.onnx").string() + " " + fifo.string());
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_NE(r.output.find("not a regular file (a device, pipe or socket)"), std::string::npos) << r.output;
    EXPECT_TRUE(fs::is_fifo(fifo)) << "the pipe was replaced";
    fs::remove(fifo);
}

TEST(CliBatchify, RepairsStaticModelAndExitsZero) {
    TILEDET_REQUIRE_GENERATED("rfdetr_static.onnx");
    const fs::path out = out_path("rfdetr.onnx");
    const CliResult r = run_cli("batchify " + generated_model("rfdetr_static.onnx").string() + " " + out.string() +
                                " --verify-batches 2,3");
    EXPECT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find("repaired_verified"), std::string::npos) << r.output;
    // The baked [1, 300, 1] constant (a ConstantOfShape, folded to a constant first) follows the batch.
    EXPECT_NE(r.output.find("[1, 300, 1] does not follow the batch: Expand to the batch"), std::string::npos)
        << r.output;
    EXPECT_TRUE(fs::exists(out));
    fs::remove(out);
}

TEST(CliBatchify, RefusalExitsTwoWithTheBlockingNode) {
    TILEDET_REQUIRE_GENERATED("unrepairable_matmul_b1.onnx");
    const fs::path out = out_path("matmul.onnx");
    const CliResult r = run_cli("batchify " + generated_model("unrepairable_matmul_b1.onnx").string() + " " + out.string());
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.output.find("MatMul '/MatMul_7'"), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(out));
}

TEST(CliBatchify, AlreadyDynamicExitsZeroAndWritesNothing) {
    TILEDET_REQUIRE_GENERATED("yolo_dynamic.onnx");
    const fs::path out = out_path("dyn.onnx");
    const CliResult r = run_cli("batchify " + generated_model("yolo_dynamic.onnx").string() + " " + out.string());
    EXPECT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find("already"), std::string::npos);
    EXPECT_FALSE(fs::exists(out));
}

TEST(CliBatchify, BadInputsExitTwo) {
    const fs::path junk = out_path("junk.onnx");
    std::ofstream(junk) << "junk";
    EXPECT_EQ(run_cli("batchify " + junk.string() + " " + out_path("x.onnx").string()).code, 2);
    fs::remove(junk);
    TILEDET_REQUIRE_GENERATED("no_batch_axis.onnx");
    EXPECT_EQ(run_cli("batchify " + generated_model("no_batch_axis.onnx").string() + " " + out_path("x.onnx").string()).code, 2);
    TILEDET_REQUIRE_GENERATED("yolo_static.onnx");
    const CliResult r = run_cli("batchify " + generated_model("yolo_static.onnx").string() + " /nonexistent_tiledet/x.onnx");
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.output.find("does not exist; create it, or write elsewhere"), std::string::npos) << r.output;
    EXPECT_EQ(run_cli("batchify " + generated_model("yolo_static.onnx").string() + " x.onnx --verify-batches 2,zero").code, 2);
}

TEST(CliBatchify, UnverifiedResultIsKeptOnlyWhenAsked) {
    TILEDET_REQUIRE_SHARED("models/yolov8n_int8.onnx");
    const std::string in = tiledet::testing::shared_path("models/yolov8n_int8.onnx").string();
    const fs::path out = out_path("int8.onnx");
    // The batch-wide quantization keeps the model batch-variant, and --score-tol 0 means the
    // detection level (on synthetic images, there being no --images) cannot rescue it.
    const CliResult r =
        run_cli("batchify " + in + " " + out.string() + " --batch-quantization --verify-batches 2 --score-tol 0");
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_NE(r.output.find("DynamicQuantizeLinear"), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(out));
    const CliResult kept =
        run_cli("batchify " + in + " " + out.string() +
                " --batch-quantization --verify-batches 2 --score-tol 0 --keep-unverified");
    EXPECT_EQ(kept.code, 2);
    EXPECT_TRUE(fs::exists(out));
    fs::remove(out);
}

#ifdef TILEDET_ONNX_DETECTION_CHECK
// bus.jpg and zidane.jpg in one batch: zidane's tie scores 0.32 alone and 0.39 beside bus.jpg
// (one quantization scale for both images), beyond the default --score-tol 0.05 but within 0.1.
TEST(CliBatchify, Int8ModelsDetectionLevelDecidesTheStatusAndExitCode) {
    TILEDET_REQUIRE_SHARED("models/yolov8n_int8.onnx");
    TILEDET_REQUIRE_SHARED("images/zidane.jpg");
    const fs::path out = out_path("int8_images.onnx");
    const std::string args = "batchify " + tiledet::testing::shared_path("models/yolov8n_int8.onnx").string() + " " +
                             out.string() + " --batch-quantization --verify-batches 2 --images " +
                             tiledet::testing::shared_path("images/bus.jpg").string() + " " +
                             tiledet::testing::shared_path("images/zidane.jpg").string();
    const CliResult strict = run_cli(args);
    EXPECT_EQ(strict.code, 2) << strict.output;
    EXPECT_NE(strict.output.find("detections differ too"), std::string::npos) << strict.output;
    EXPECT_NE(strict.output.find("zidane.jpg"), std::string::npos) << strict.output;
    EXPECT_FALSE(fs::exists(out));

    const CliResult loose = run_cli(args + " --score-tol 0.1");
    EXPECT_EQ(loose.code, 0) << loose.output;
    EXPECT_NE(loose.output.find("status: repaired_verified_detections"), std::string::npos) << loose.output;
    EXPECT_NE(loose.output.find("verification, tensor level"), std::string::npos) << loose.output;
    EXPECT_NE(loose.output.find("verification, detection level"), std::string::npos) << loose.output;
    EXPECT_NE(loose.output.find("detections agree on 2 images"), std::string::npos) << loose.output;
    EXPECT_TRUE(fs::exists(out));
    fs::remove(out);
}

TEST(CliBatchify, Int8ModelWithoutImagesSaysTheCheckUsesSyntheticImages) {
    TILEDET_REQUIRE_SHARED("models/yolov8n_int8.onnx");
    const fs::path out = out_path("int8_synthetic.onnx");
    const CliResult r = run_cli("batchify " + tiledet::testing::shared_path("models/yolov8n_int8.onnx").string() + " " +
                                out.string() + " --batch-quantization --verify-batches 2");
    EXPECT_NE(r.output.find("synthetic images"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("--images"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("detection level"), std::string::npos) << r.output;
    fs::remove(out);
}

TEST(CliBatchify, Int8ModelIsMadeBatchInvariantByDefault) {
    TILEDET_REQUIRE_SHARED("models/yolov8n_int8.onnx");
    const fs::path out = out_path("int8_per_item.onnx");
    const CliResult r = run_cli("batchify " + tiledet::testing::shared_path("models/yolov8n_int8.onnx").string() + " " +
                                out.string() + " --verify-batches 2,4");
    EXPECT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find("status: repaired_verified\n"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("quantize each item with its own scale"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("synthetic images"), std::string::npos) << "no detection-level stand-in needed";
    EXPECT_TRUE(fs::exists(out));
    fs::remove(out);
}

TEST(CliBatchify, ImagesOptionRejectsAnEmptyFolder) {
    TILEDET_REQUIRE_GENERATED("yolo_static.onnx");
    const fs::path dir = out_path("empty_dir");
    fs::create_directories(dir);
    const CliResult r = run_cli("batchify " + generated_model("yolo_static.onnx").string() + " " +
                                out_path("y.onnx").string() + " --images " + dir.string());
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.output.find("no image files"), std::string::npos) << r.output;
    fs::remove_all(dir);
}
#endif

TEST(CliInspect, WarnsAboutDynamicQuantizeLinear) {
    TILEDET_REQUIRE_SHARED("models/yolov8n_int8.onnx");
    const CliResult r = run_cli("inspect " + tiledet::testing::shared_path("models/yolov8n_int8.onnx").string());
    EXPECT_EQ(r.code, 0);
    EXPECT_NE(r.output.find("warning: contains DynamicQuantizeLinear"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("tiledet batchify"), std::string::npos) << "a static model points to batchify";
}

TEST(CliInspect, NoWarningWithoutBatchVariantOps) {
    TILEDET_REQUIRE_GENERATED("yolo_static.onnx");
    const CliResult r = run_cli("inspect " + generated_model("yolo_static.onnx").string());
    EXPECT_EQ(r.code, 0);
    EXPECT_EQ(r.output.find("warning: contains"), std::string::npos) << r.output;
}

}  // namespace

// Issue 15's static exports: the per-item layouts are repaired and verified and keep their
// family; the layouts whose rows of all images share one tensor are refused (exit 2).
TEST(CliBatchify, StaticExportsOfTheNmsInGraphFamiliesAreRepairedOrRefusedByTheirLayout) {
    for (const auto& [model, family] : {std::pair{"trt_end2end_static", "yolov7_end2end"},
                                        std::pair{"yolo_nas_static", "yolo_nas"},
                                        std::pair{"ppyoloe_nonms_static", "ppyoloe"}}) {
        TILEDET_REQUIRE_GENERATED(std::string(model) + ".onnx");
        const fs::path out = out_path(std::string(model) + ".onnx");
        const CliResult r = run_cli("batchify " + generated_model(std::string(model) + ".onnx").string() + " " + out.string());
        ASSERT_EQ(r.code, 0) << model << "\n" << r.output;
        EXPECT_NE(r.output.find("status: repaired_verified"), std::string::npos) << model << "\n" << r.output;
        const CliResult i = run_cli("inspect " + out.string());
        EXPECT_NE(i.output.find("batch: dynamic batch"), std::string::npos) << model << "\n" << i.output;
        EXPECT_NE(i.output.find(std::string("family: ") + family + " ("), std::string::npos) << model << "\n" << i.output;
        fs::remove(out);
    }
    for (const char* model : {"ppyoloe_static", "yolo_nas_flat_static"}) {
        TILEDET_REQUIRE_GENERATED(std::string(model) + ".onnx");
        const fs::path out = out_path(std::string(model) + ".onnx");
        const CliResult r = run_cli("batchify " + generated_model(std::string(model) + ".onnx").string() + " " + out.string());
        EXPECT_EQ(r.code, 2) << model << "\n" << r.output;
        EXPECT_FALSE(fs::exists(out)) << model;
    }
}
