#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <span>
#include <string>

#include "test_paths.hpp"
#include "tiledet/error.hpp"
#include "tiledet/runtime/metadata.hpp"
#include "tiledet/runtime/model.hpp"

using namespace tiledet;
using tiledet::testing::generated_model;
using tiledet::testing::shared_path;

namespace {
Tensor image_batch(int64_t b, int64_t h, int64_t w) {
    Tensor t(ElementType::float32, {b, 3, h, w});
    for (auto& v : t.values<float>()) v = 0.5f;
    return t;
}
}  // namespace

TEST(ModelSignature, DynamicGeneratedModelHasSymbolicBatch) {
    TILEDET_REQUIRE_GENERATED("yolo_dynamic.onnx");
    const Model m = Model::load(generated_model("yolo_dynamic.onnx"));
    const auto& sig = m.signature();
    ASSERT_EQ(sig.inputs.size(), 1u);
    EXPECT_EQ(sig.inputs[0].name, "images");
    EXPECT_EQ(sig.inputs[0].dims_string(), "['batch', 3, 640, 640]");
    EXPECT_TRUE(sig.batch_kind().is_dynamic());
    EXPECT_EQ(sig.batch_kind().symbol, "batch");
    ASSERT_TRUE(sig.spatial_size().has_value());
    EXPECT_EQ(sig.spatial_size()->first, 640);
}

TEST(ModelSignature, StaticGeneratedModelIsStaticBatchOne) {
    TILEDET_REQUIRE_GENERATED("yolo_static.onnx");
    const Model m = Model::load(generated_model("yolo_static.onnx"));
    const BatchKind bk = m.signature().batch_kind();
    EXPECT_TRUE(bk.is_static());
    EXPECT_EQ(bk.size, 1);
    EXPECT_NE(bk.describe().find("static batch 1: batches of more than 1 will be rejected"), std::string::npos);
    EXPECT_EQ(m.signature().inputs[0].dims_string(), "[1, 3, 640, 640]");
}

TEST(ModelRun, WrongBatchOnStaticModelFailsBeforeTheRuntimeAndNamesTheRemedy) {
    TILEDET_REQUIRE_GENERATED("yolo_static.onnx");
    const Model m = Model::load(generated_model("yolo_static.onnx"));
    try {
        m.run({image_batch(2, 640, 640)});
        FAIL() << "batch 2 on a static batch-1 model must fail";
    } catch (const ShapeError& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("[1, 3, 640, 640]"), std::string::npos) << msg;
        EXPECT_NE(msg.find("[2, 3, 640, 640]"), std::string::npos) << msg;
        EXPECT_NE(msg.find("tiledet batchify"), std::string::npos) << msg;
        EXPECT_NE(msg.find("dynamic batch axis"), std::string::npos) << msg;
    }
}

TEST(ModelRun, WrongSpatialSizeAndInputCountAreShapeErrors) {
    TILEDET_REQUIRE_GENERATED("yolo_dynamic.onnx");
    const Model m = Model::load(generated_model("yolo_dynamic.onnx"));
    EXPECT_THROW(m.run({image_batch(1, 320, 320)}), ShapeError);
    EXPECT_THROW(m.run({}), ShapeError);
    EXPECT_THROW(m.run({Tensor(ElementType::int64, {1, 3, 640, 640})}), ShapeError);
}

TEST(ModelRun, DynamicModelRunsABatchAndOutputsSplitPerItem) {
    TILEDET_REQUIRE_GENERATED("yolo_dynamic.onnx");
    const Model m = Model::load(generated_model("yolo_dynamic.onnx"));
    const auto out = m.run({image_batch(2, 640, 640)});
    ASSERT_EQ(out.size(), 1u);
    ASSERT_EQ(out[0].rank(), 3u);
    EXPECT_EQ(out[0].dim(0), 2);
    EXPECT_EQ(out[0].item(1).dim(0), 1);
    EXPECT_EQ(out[0].item(1).dim(1), out[0].dim(1));
}

TEST(ModelLoad, FromBytesGivesTheSameSignatureAsFromPath) {
    TILEDET_REQUIRE_GENERATED("official_rtdetr_dynamic.onnx");
    const auto path = generated_model("official_rtdetr_dynamic.onnx").string();
    const Model a = Model::load(path);
    const auto bytes = read_file_bytes(path);
    const Model b = Model::from_bytes(bytes, {}, "mem");
    EXPECT_EQ(b.name(), "mem");
    EXPECT_EQ(a.signature().describe(), b.signature().describe());
    ASSERT_EQ(b.signature().inputs.size(), 2u);
    EXPECT_EQ(b.signature().inputs[1].type, ElementType::int64);
}

TEST(ModelLoad, UnknownOrMissingProviderIsAClearErrorNamingAvailableOnes) {
    TILEDET_REQUIRE_GENERATED("yolo_dynamic.onnx");
    ModelOptions opts;
    opts.providers = {"warpdrive"};
    try {
        Model::load(generated_model("yolo_dynamic.onnx"), opts);
        FAIL();
    } catch (const ConfigError& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("warpdrive"), std::string::npos);
        EXPECT_NE(msg.find("available: "), std::string::npos);
        EXPECT_NE(msg.find("cpu"), std::string::npos);
    }
    const auto avail = Model::available_providers();
    if (std::find(avail.begin(), avail.end(), "coreml") == avail.end()) {
        opts.providers = {"coreml", "cpu"};
        EXPECT_THROW(Model::load(generated_model("yolo_dynamic.onnx"), opts), ConfigError);
    }
}

TEST(ModelLoad, MissingEmptyAndNonOnnxFilesAreInputErrors) {
    EXPECT_THROW(Model::load("/nonexistent/model.onnx"), InputError);
    const std::vector<std::byte> junk(100, std::byte{0x42});
    EXPECT_THROW(Model::from_bytes(junk), InputError);
    EXPECT_THROW(Model::from_bytes({}), InputError);
}

TEST(RealModels, Yolov8nInt8IsStaticBatchOneWithUltralyticsMetadata) {
    TILEDET_REQUIRE_SHARED("models/yolov8n_int8.onnx");
    const Model m = Model::load(shared_path("models/yolov8n_int8.onnx"));
    const auto& sig = m.signature();
    EXPECT_EQ(sig.inputs[0].dims_string(), "[1, 3, 640, 640]");
    EXPECT_TRUE(sig.batch_kind().is_static());
    EXPECT_EQ(sig.batch_kind().size, 1);
    ASSERT_TRUE(sig.metadata.count("names"));
    const auto names = parse_class_names(sig.metadata.at("names"));
    EXPECT_EQ(names.size(), 80u);
    EXPECT_EQ(names.at(0), "person");
    EXPECT_EQ(names.at(5), "bus");
    EXPECT_EQ(names.at(79), "toothbrush");
    ASSERT_TRUE(sig.metadata.count("imgsz"));
    EXPECT_EQ(parse_imgsz(sig.metadata.at("imgsz")), std::make_pair(640, 640));
}

TEST(RealModels, Deimv2IsDynamicBatchNamedNWithTwoInputs) {
    TILEDET_REQUIRE_SHARED("models/deimv2_hgnetv2_atto_coco.onnx");
    const Model m = Model::load(shared_path("models/deimv2_hgnetv2_atto_coco.onnx"));
    const auto& sig = m.signature();
    ASSERT_EQ(sig.inputs.size(), 2u);
    EXPECT_TRUE(sig.batch_kind().is_dynamic());
    EXPECT_EQ(sig.batch_kind().symbol, "N");
    EXPECT_EQ(sig.inputs[1].name, "orig_target_sizes");
}

TEST(ModelLoad, AModelOfAnIrVersionTheRuntimeDoesNotKnowIsOneLineWithoutItsSourcePaths) {
    // ONNX Runtime's own message begins with its source file, line and a C++ signature and ends
    // in a newline: the user gets the message and what to do about it.
    TILEDET_REQUIRE_GENERATED("yolo_static.onnx");
    std::ifstream in(generated_model("yolo_static.onnx"), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_GE(bytes.size(), 2u);
    ASSERT_EQ(bytes[0], '\x08') << "ModelProto field 1 (ir_version), a varint, comes first";
    ASSERT_LT(static_cast<unsigned char>(bytes[1]), 0x80u) << "one varint byte";
    bytes[1] = 99;
    try {
        (void)Model::from_bytes(std::as_bytes(std::span(bytes.data(), bytes.size())), {}, "ir99.onnx");
        FAIL() << "IR version 99 loaded";
    } catch (const tiledet::InputError& e) {
        const std::string m = e.what();
        EXPECT_NE(m.find("ir99.onnx: not a loadable ONNX model (Unsupported model IR version: 99"), std::string::npos)
            << m;
        EXPECT_NE(m.find("re-export the model with an opset and IR version that ONNX Runtime"), std::string::npos) << m;
        EXPECT_EQ(m.find("onnxruntime_src"), std::string::npos) << m;
        EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    }
}

TEST(SignatureLimits, AnInputOverTheLimitIsNamedWithItsDimsAndAnOverflowingProductSaysSo) {
    using tiledet::Dim;
    tiledet::ModelSignature sig;
    sig.inputs.push_back({"images", tiledet::ElementType::float32,
                          {Dim::fixed_at(1), Dim::fixed_at(3), Dim::fixed_at(100000), Dim::fixed_at(100000)}});
    try {
        tiledet::check_signature_limits(sig, tiledet::Limits{});
        FAIL() << "30 G elements were taken";
    } catch (const tiledet::OptionError& e) {
        EXPECT_EQ(e.option(), "limits.max_input_elements");
        EXPECT_NE(std::string(e.what()).find("model input 'images' [1, 3, 100000, 100000] takes elements per item: "
                                             "30,000,000,000 exceeds the limit of 67,108,864"),
                  std::string::npos)
            << e.what();
    }
    sig.inputs[0].dims = {Dim::fixed_at(1), Dim::fixed_at(1) , Dim::fixed_at(int64_t{1} << 40), Dim::fixed_at(int64_t{1} << 40)};
    try {
        tiledet::check_signature_limits(sig, tiledet::Limits{});
        FAIL() << "2^80 elements were taken";
    } catch (const tiledet::OptionError& e) {
        EXPECT_NE(std::string(e.what()).find("more than 9,223,372,036,854,775,807 (the product of its dims overflows 64 bits)"),
                  std::string::npos)
            << e.what();
    }
}
