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
    EXPECT_EQ(parse_family("D-FINE"), Family::official_rtdetr);
    EXPECT_EQ(parse_family("YOLOv8"), Family::yolo);
    EXPECT_FALSE(parse_family("ssd").has_value());
}

TEST(FamilyMatch, ChannelMajorOutputIsYoloWithClassCountFromTheShape) {
    const auto m = match_family(ultralytics_signature({1_d, 7_d, 2100_d}));
    ASSERT_EQ(m.family, Family::yolo);
    EXPECT_EQ(m.candidates.size(), 1u);
    EXPECT_NE(m.reason.find("3 class rows"), std::string::npos) << m.reason;
}

TEST(FamilyMatch, QueryMajorOutputIsUltralyticsRtdetr) {
    EXPECT_EQ(match_family(ultralytics_signature({1_d, 300_d, 84_d})).family, Family::ultralytics_rtdetr);
}

TEST(FamilyMatch, DynamicOutputsAreToldApartByMetadataNames) {
    // Ultralytics names RT-DETR's axis 2 "anchors" in a dynamic export although it holds 4+nc.
    auto yolo = ultralytics_signature({D{"batch"}, 84_d, D{"anchors"}}, {D{"batch"}, 3_d, D{"height"}, D{"width"}});
    yolo.metadata["names"] = testing::names_literal(80);
    EXPECT_EQ(match_family(yolo).family, Family::yolo);
    auto rtdetr = ultralytics_signature({D{"batch"}, 300_d, D{"anchors"}});
    rtdetr.metadata["names"] = testing::names_literal(80);
    EXPECT_EQ(match_family(rtdetr).family, Family::ultralytics_rtdetr);
}

TEST(FamilyMatch, LastAxisOfSixIsAmbiguousAndTheReasonSaysWhichWasPicked) {
    const auto m = match_family(ultralytics_signature({1_d, 300_d, 6_d}));
    ASSERT_EQ(m.family, Family::yolo_end2end);
    EXPECT_EQ(m.candidates.size(), 2u);
    EXPECT_NE(m.reason.find("also fits ultralytics_rtdetr"), std::string::npos) << m.reason;
    EXPECT_NE(m.reason.find("picked yolo_end2end because"), std::string::npos) << m.reason;
}

TEST(FamilyMatch, MetadataDescriptionNamingRtdetrWinsTheTie) {
    auto sig = ultralytics_signature({1_d, 300_d, 6_d});
    sig.metadata["description"] = "Ultralytics RT-DETR-l model trained on two.yaml";
    sig.metadata["names"] = testing::names_literal(2);
    const auto m = match_family(sig);
    EXPECT_EQ(m.family, Family::ultralytics_rtdetr);
    EXPECT_NE(m.reason.find("RT-DETR"), std::string::npos) << m.reason;
}

TEST(FamilyMatch, EightyClassNamesRuleOutATwoClassRtdetrReading) {
    auto sig = ultralytics_signature({1_d, 300_d, 6_d});
    sig.metadata["names"] = testing::names_literal(80);
    const auto m = match_family(sig);
    EXPECT_EQ(m.family, Family::yolo_end2end);
    EXPECT_EQ(m.candidates.size(), 1u);
}

TEST(FamilyMatch, NamedOutputsPickTheDetrFamilies) {
    ModelSignature hf;
    hf.inputs = {testing::tensor("pixel_values", ElementType::float32, {D{"b"}, 3_d, D{"h"}, D{"w"}})};
    hf.outputs = {testing::tensor("logits", ElementType::float32, {D{"b"}, 300_d, 80_d}),
                  testing::tensor("pred_boxes", ElementType::float32, {D{"b"}, 300_d, 4_d})};
    EXPECT_EQ(match_family(hf).family, Family::hf_rtdetr);

    ModelSignature rf;
    rf.inputs = {testing::tensor("input", ElementType::float32, {1_d, 3_d, 384_d, 384_d})};
    rf.outputs = {testing::tensor("dets", ElementType::float32, {1_d, 300_d, 4_d}),
                  testing::tensor("labels", ElementType::float32, {1_d, 300_d, 4_d})};  // 3 classes: same width as dets
    EXPECT_EQ(match_family(rf).family, Family::rfdetr);
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
    cfg.family = Family::hf_rtdetr;
    try {
        make_detector(ultralytics_signature({1_d, 84_d, 8400_d}), cfg);
        FAIL() << "expected UnknownLayoutError";
    } catch (const UnknownLayoutError& e) {
        EXPECT_NE(std::string(e.what()).find("'logits'"), std::string::npos) << e.what();
    }
}

TEST(UnknownLayout, ForcingACompatibleFamilyOverridesTheMatchAndSaysSo) {
    DetectorConfig cfg;
    cfg.family = Family::ultralytics_rtdetr;
    const auto det = make_detector(ultralytics_signature({1_d, 300_d, 6_d}), cfg);
    EXPECT_EQ(det->family(), Family::ultralytics_rtdetr);
    EXPECT_NE(det->reason().find("forced"), std::string::npos);
    EXPECT_NE(det->reason().find("suggests yolo_end2end"), std::string::npos) << det->reason();
}

}  // namespace
}  // namespace tiledet
