// Which family a signature gets, why, and what happens when none or several fit.
#include <gtest/gtest.h>

#include "signatures.hpp"
#include "test_paths.hpp"
#include "tiledet/detectors/detector.hpp"
#include "tiledet/error.hpp"
#include "tiledet/runtime/model.hpp"

namespace tiledet {
namespace {

using testing::D;
using testing::ultralytics_signature;
constexpr int64_t operator""_d(unsigned long long v) {
    return static_cast<int64_t>(v);
}

TEST(FamilyNames, EveryFamilyRoundTripsThroughItsName) {
    for (Family f : all_families()) EXPECT_EQ(parse_family(to_string(f)), f) << to_string(f);
    EXPECT_EQ(parse_family("D-FINE"), Family{"official_rtdetr"});
    EXPECT_EQ(parse_family("YOLOv8"), Family{"yolo"});
    EXPECT_FALSE(parse_family("ssd").has_value());
}

TEST(FamilyMatch, ChannelMajorOutputIsYoloWithClassCountFromTheShape) {
    const auto m = match_family(ultralytics_signature({1_d, 7_d, 2100_d}));
    ASSERT_EQ(m.family, Family{"yolo"});
    EXPECT_EQ(m.candidates.size(), 1u);
    EXPECT_NE(m.reason.find("3 class rows"), std::string::npos) << m.reason;
}

TEST(FamilyMatch, QueryMajorOutputIsUltralyticsRtdetr) {
    EXPECT_EQ(match_family(ultralytics_signature({1_d, 300_d, 84_d})).family, Family{"ultralytics_rtdetr"});
}

TEST(FamilyMatch, DynamicOutputsAreToldApartByMetadataNames) {
    // Ultralytics names RT-DETR's axis 2 "anchors" in a dynamic export although it holds 4+nc.
    auto yolo = ultralytics_signature({D{"batch"}, 84_d, D{"anchors"}}, {D{"batch"}, 3_d, D{"height"}, D{"width"}});
    yolo.metadata["names"] = testing::names_literal(80);
    EXPECT_EQ(match_family(yolo).family, Family{"yolo"});
    auto rtdetr = ultralytics_signature({D{"batch"}, 300_d, D{"anchors"}});
    rtdetr.metadata["names"] = testing::names_literal(80);
    EXPECT_EQ(match_family(rtdetr).family, Family{"ultralytics_rtdetr"});
}

TEST(FamilyMatch, LastAxisOfSixWithoutMetadataIsRefusedAsAmbiguous) {
    const auto m = match_family(ultralytics_signature({1_d, 300_d, 6_d}));
    EXPECT_FALSE(m.family.has_value()) << m.reason;
    EXPECT_EQ(m.candidates.size(), 2u);
    EXPECT_NE(m.reason.find("ambiguous"), std::string::npos) << m.reason;
    EXPECT_NE(m.reason.find("choose one with the family option (yolo_end2end or ultralytics_rtdetr; the CLI's --family NAME)"), std::string::npos) << m.reason;
}

TEST(FamilyMatch, MetadataDescriptionNamingRtdetrWinsTheTie) {
    auto sig = ultralytics_signature({1_d, 300_d, 6_d});
    sig.metadata["description"] = "Ultralytics RT-DETR-l model trained on two.yaml";
    sig.metadata["names"] = testing::names_literal(2);
    const auto m = match_family(sig);
    EXPECT_EQ(m.family, Family{"ultralytics_rtdetr"});
    EXPECT_NE(m.reason.find("RT-DETR"), std::string::npos) << m.reason;
}

TEST(FamilyMatch, EightyClassNamesRuleOutATwoClassRtdetrReading) {
    auto sig = ultralytics_signature({1_d, 300_d, 6_d});
    sig.metadata["names"] = testing::names_literal(80);
    const auto m = match_family(sig);
    EXPECT_EQ(m.family, Family{"yolo_end2end"});
    EXPECT_EQ(m.candidates.size(), 1u);
}

TEST(FamilyMatch, NamedOutputsPickTheDetrFamilies) {
    ModelSignature hf;
    hf.inputs = {testing::tensor("pixel_values", ElementType::float32, {D{"b"}, 3_d, D{"h"}, D{"w"}})};
    hf.outputs = {testing::tensor("logits", ElementType::float32, {D{"b"}, 300_d, 80_d}),
                  testing::tensor("pred_boxes", ElementType::float32, {D{"b"}, 300_d, 4_d})};
    EXPECT_EQ(match_family(hf).family, Family{"hf_rtdetr"});

    ModelSignature rf;
    rf.inputs = {testing::tensor("input", ElementType::float32, {1_d, 3_d, 384_d, 384_d})};
    rf.outputs = {testing::tensor("dets", ElementType::float32, {1_d, 300_d, 4_d}),
                  testing::tensor("labels", ElementType::float32, {1_d, 300_d, 4_d})};  // 3 classes: same width as dets
    EXPECT_EQ(match_family(rf).family, Family{"rfdetr"});
}

// [B, N, 5+nc] heads share rank and shape with Ultralytics RT-DETR's [B, Q, 4+nc]: the row count
// against the input's grid tells them apart (model-formats-more.md j).
ModelSignature objectness_signature(const std::string& output, std::vector<D> out, std::vector<D> in) {
    ModelSignature s;
    s.inputs.push_back(testing::tensor("images", ElementType::float32, std::move(in)));
    s.outputs.push_back(testing::tensor(output, ElementType::float32, std::move(out)));
    return s;
}
const std::vector<D> k416 = {1_d, 3_d, 416_d, 416_d};
const std::vector<D> k640 = {1_d, 3_d, 640_d, 640_d};

TEST(FamilyMatch, YoloxNanoRowsAreTheGridOfItsInputSoItIsYoloxNotRtdetr) {
    const auto m = match_family(objectness_signature("output", {1_d, 3549_d, 85_d}, k416));
    ASSERT_EQ(m.family, Family{"yolox"}) << m.reason;
    EXPECT_EQ(m.candidates.size(), 1u) << m.reason;
    EXPECT_NE(m.reason.find("3549 rows = the grid cells of a 416x416 input at strides 8,16,32"), std::string::npos)
        << m.reason;
    EXPECT_NE(m.reason.find("80 classes"), std::string::npos) << m.reason;
}

TEST(FamilyMatch, ThreeHundredQueriesOf85ColumnsAreRtdetrNotAnObjectnessHead) {
    const auto m = match_family(objectness_signature("output0", {1_d, 300_d, 85_d}, k640));
    ASSERT_EQ(m.family, Family{"ultralytics_rtdetr"}) << m.reason;
    EXPECT_EQ(m.candidates.size(), 1u) << m.reason;
    EXPECT_NE(m.reason.find("81 class scores"), std::string::npos) << m.reason;
}

TEST(FamilyMatch, ThreeAnchorsPerCellAreYolov5WithOrWithoutItsMetadata) {
    auto v5 = objectness_signature("output0", {1_d, 25200_d, 85_d}, k640);
    v5.metadata["stride"] = "32";
    v5.metadata["names"] = testing::names_literal(80);
    const auto m = match_family(v5);
    ASSERT_EQ(m.family, Family{"yolov5"}) << m.reason;
    EXPECT_NE(m.reason.find("3 anchors x 8400 grid cells"), std::string::npos) << m.reason;
    // YOLOv7 --grid: no metadata, output named `output`.
    EXPECT_EQ(match_family(objectness_signature("output", {1_d, 25200_d, 85_d}, k640)).family, Family{"yolov5"});
    // P6 (strides up to 64): 25500 rows at 640.
    const auto p6 = match_family(objectness_signature("output0", {1_d, 25500_d, 85_d}, k640));
    ASSERT_EQ(p6.family, Family{"yolov5"}) << p6.reason;
    EXPECT_NE(p6.reason.find("P6"), std::string::npos) << p6.reason;
}

TEST(FamilyMatch, Yolov6OutputsWithGridRowsDecodeAsYolov5NotYolox) {
    const auto m = match_family(objectness_signature("outputs", {1_d, 8400_d, 85_d}, k640));
    ASSERT_EQ(m.family, Family{"yolov5"}) << m.reason;
    EXPECT_EQ(m.candidates.size(), 1u);
    EXPECT_NE(m.reason.find("YOLOv6"), std::string::npos) << m.reason;
}

TEST(FamilyMatch, OneClassYoloxIsNotMistakenForEndToEndRows) {
    const auto m = match_family(objectness_signature("output", {1_d, 3549_d, 6_d}, k416));
    EXPECT_EQ(m.family, Family{"yolox"}) << m.reason;
    EXPECT_EQ(m.candidates.size(), 1u) << m.reason;
}

TEST(FamilyMatch, RowsThatAreNoGridOfTheInputFitNoObjectnessFamily) {
    // 3549 rows on a 640 input: not YOLOX (8400), not YOLOv5 (25200): RT-DETR queries it may be.
    const auto m = match_family(objectness_signature("output", {1_d, 3549_d, 85_d}, k640));
    EXPECT_EQ(m.family, Family{"ultralytics_rtdetr"}) << m.reason;
    EXPECT_EQ(m.candidates.size(), 1u) << m.reason;
}

TEST(FamilyMatch, SymbolicRowsWithoutMetadataAreRefusedNamingEveryCandidate) {
    const auto sig =
        objectness_signature("output", {D{"batch"}, D{"anchors"}, 85_d}, {D{"batch"}, 3_d, D{"height"}, D{"width"}});
    const auto m = match_family(sig);
    EXPECT_FALSE(m.family.has_value()) << m.reason;
    EXPECT_EQ(m.candidates.size(), 3u) << m.reason;
    try {
        make_detector(sig);
        FAIL() << "expected UnknownLayoutError";
    } catch (const UnknownLayoutError& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("choose one with the family option (yolov5 or yolox or ultralytics_rtdetr; the CLI's "
                           "--family NAME)"),
                  std::string::npos)
            << msg;
        EXPECT_NE(msg.find("output ['batch', 'anchors', 85]"), std::string::npos) << msg;
    }
    DetectorConfig forced;
    forced.family = Family{"yolox"};
    forced.imgsz = std::make_pair(416, 416);
    EXPECT_EQ(make_detector(sig, forced)->family(), Family{"yolox"});
}

TEST(FamilyMatch, DynamicYolov5IsKnownByItsMetadataNames) {
    auto sig =
        objectness_signature("output0", {D{"batch"}, D{"anchors"}, 85_d}, {D{"batch"}, 3_d, D{"height"}, D{"width"}});
    sig.metadata["stride"] = "32";
    sig.metadata["names"] = testing::names_literal(80);
    const auto m = match_family(sig);
    EXPECT_EQ(m.family, Family{"yolov5"}) << m.reason;
    EXPECT_EQ(m.candidates.size(), 1u) << m.reason;
}

TEST(FamilyMatch, GeneratedYoloxAndRtdetrModelsOfTheSameShapeEachMatchTheirOwnFamily) {
    for (const auto& [file, family] :
         {std::pair{"yolox_static.onnx", Family{"yolox"}}, std::pair{"yolox_dynamic.onnx", Family{"yolox"}},
          std::pair{"yolov5_static.onnx", Family{"yolov5"}},
          std::pair{"rtdetr_nc81_416_static.onnx", Family{"ultralytics_rtdetr"}},
          std::pair{"rtdetr_nc81_416_dynamic.onnx", Family{"ultralytics_rtdetr"}},
          std::pair{"ultralytics_rtdetr_static.onnx", Family{"ultralytics_rtdetr"}},
          std::pair{"ultralytics_rtdetr_dynamic.onnx", Family{"ultralytics_rtdetr"}}}) {
        TILEDET_REQUIRE_GENERATED(file);
        const Model model = Model::load(::tiledet::testing::generated_model(file).string());
        const auto m = match_family(model.signature());
        EXPECT_EQ(m.family, family) << file << ": " << m.reason;
        EXPECT_EQ(m.candidates.size(), 1u) << file << ": " << m.reason;
    }
}

TEST(FamilyMatch, Yolov7End2EndRowsOfSevenAreTheirOwnFamilyAndDynamicBatchIsRefused) {
    auto sig = objectness_signature("output", {D{"num_dets"}, 7_d}, k640);
    const auto m = match_family(sig);
    ASSERT_EQ(m.family, Family{"yolov7_end2end"}) << m.reason;
    EXPECT_EQ(m.candidates.size(), 1u) << m.reason;
    sig.inputs[0] = testing::tensor("images", ElementType::float32, {D{"batch"}, 3_d, 640_d, 640_d});
    try {
        make_detector(sig);
        FAIL() << "expected UnknownLayoutError";
    } catch (const UnknownLayoutError& e) {
        EXPECT_NE(std::string(e.what()).find("re-export without --dynamic-batch"), std::string::npos) << e.what();
    }
}

TEST(UnknownLayout, NoBatchAxisModelListsItsTensorsAndTheKnownLayouts) {
    TILEDET_REQUIRE_GENERATED("no_batch_axis.onnx");
    const Model model = Model::load(::tiledet::testing::generated_model("no_batch_axis.onnx").string());
    EXPECT_FALSE(match_family(model.signature()).family.has_value());
    try {
        make_detector(model.signature());
        FAIL() << "expected UnknownLayoutError";
    } catch (const UnknownLayoutError& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("x [3, 64, 64]"), std::string::npos) << msg;
        EXPECT_NE(msg.find("y [3]"), std::string::npos) << msg;
        for (Family f : all_families()) EXPECT_NE(msg.find(to_string(f) + ":"), std::string::npos) << msg;
    }
}

TEST(UnknownLayout, ForcingAFamilyTheModelLacksTensorsForSaysWhatIsMissing) {
    DetectorConfig cfg;
    cfg.family = Family{"hf_rtdetr"};
    try {
        make_detector(ultralytics_signature({1_d, 84_d, 8400_d}), cfg);
        FAIL() << "expected UnknownLayoutError";
    } catch (const UnknownLayoutError& e) {
        EXPECT_NE(std::string(e.what()).find("'logits'"), std::string::npos) << e.what();
    }
}

TEST(UnknownLayout, ForcingACompatibleFamilyOverridesTheMatchAndSaysSo) {
    DetectorConfig cfg;
    cfg.family = Family{"ultralytics_rtdetr"};
    const auto det = make_detector(ultralytics_signature({1_d, 300_d, 6_d}), cfg);
    EXPECT_EQ(det->family(), Family{"ultralytics_rtdetr"});
    EXPECT_NE(det->reason().find("forced"), std::string::npos);
    EXPECT_NE(det->reason().find("fits yolo_end2end, ultralytics_rtdetr"), std::string::npos) << det->reason();
}

}  // namespace
}  // namespace tiledet
