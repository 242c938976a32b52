// Pixel formats as data (issue 12): 1-channel and NHWC and uint8 image inputs, how the layout is
// read from the signature or forced, the writer against OpenCV and against the float NCHW path,
// the no-zero-fill promise of make_input_slots, and families registered at run time.
#include <gtest/gtest.h>

#include <cmath>
#include <array>
#include <cstring>
#include <opencv2/imgproc.hpp>
#include <vector>

#include "planted_scene.hpp"
#include "preprocess.hpp"
#include "signatures.hpp"
#include "tiledet/detectors/detector.hpp"
#include "tiledet/error.hpp"
#include "tiledet/runtime/model.hpp"

namespace tiledet {
namespace {

using testing::D;
constexpr int64_t operator""_d(unsigned long long v) {
    return static_cast<int64_t>(v);
}

ModelSignature yolo_with_input(ElementType type, std::vector<D> in) {
    ModelSignature s = testing::ultralytics_signature({D{"batch"}, 84_d, 8400_d}, std::move(in));
    s.inputs[0].type = type;
    return s;
}

// OpenCV's fixed-point BGR2GRAY for 8-bit images (imgproc color_yuv: R2Y 4899, G2Y 9617,
// B2Y 1868, shift 14, rounded), written out so that the test does not call the code it checks.
int grey_of(int b, int g, int r) {
    return (b * 1868 + g * 9617 + r * 4899 + (1 << 13)) >> 14;
}

cv::Mat noisy_image(int h, int w, int seed) {
    cv::Mat img(h, w, CV_8UC3);
    cv::RNG rng(static_cast<uint64_t>(seed));
    rng.fill(img, cv::RNG::UNIFORM, 0, 256);
    return img;
}

TEST(PixelFormat, OneChannelNchwInputIsReadFromTheSignatureAndWrittenAsOpenCvGrey) {
    const auto det = make_detector(yolo_with_input(ElementType::float32, {D{"batch"}, 1_d, 640_d, 640_d}));
    EXPECT_EQ(det->pixel_format().channels, 1);
    EXPECT_EQ(det->pixel_format().layout, TensorLayout::nchw);
    auto slots = det->make_input_slots(2);
    EXPECT_EQ(slots[0].shape(), (Shape{2, 1, 640, 640}));
    // Same size as the input: no resize, so every pixel is exactly grey/255.
    const cv::Mat img = noisy_image(640, 640, 1);
    det->preprocess(img, slots, 1);
    const float* item1 = slots[0].data<float>() + 640 * 640;
    for (int y : {0, 17, 320, 639})
        for (int x : {0, 5, 401, 639}) {
            const cv::Vec3b p = img.at<cv::Vec3b>(y, x);
            EXPECT_FLOAT_EQ(item1[y * 640 + x], static_cast<float>(grey_of(p[0], p[1], p[2])) / 255.0f)
                << y << "," << x;
        }
    EXPECT_EQ(slots[0].data<float>()[123], 0.0f) << "item 0 untouched";
}

TEST(PixelFormat, Uint8NhwcInputIsReadFromTheSignatureAndGetsRawRgbBytesInterleaved) {
    const auto det = make_detector(yolo_with_input(ElementType::uint8, {D{"batch"}, 640_d, 640_d, 3_d}));
    EXPECT_EQ(det->pixel_format().layout, TensorLayout::nhwc);
    EXPECT_EQ(det->pixel_format().channels, 3);
    EXPECT_EQ(det->pixel_format().type, ElementType::uint8);
    EXPECT_EQ(det->input_size(), (std::pair<int, int>{640, 640}));
    auto slots = det->make_input_slots(1);
    ASSERT_EQ(slots[0].shape(), (Shape{1, 640, 640, 3}));
    ASSERT_EQ(slots[0].type(), ElementType::uint8);
    // 320x640 letterboxes to 640x320 centred: rows 160..479 content, the rest pad 114.
    const cv::Mat img(320, 640, CV_8UC3, cv::Scalar(10, 20, 200));  // B, G, R
    det->preprocess(img, slots, 0);
    const uint8_t* px = slots[0].data<uint8_t>();
    const auto at = [&](int y, int x, int c) { return px[(y * 640 + x) * 3 + c]; };
    EXPECT_EQ(at(300, 7, 0), 200);  // R first: the family's RGB order
    EXPECT_EQ(at(300, 7, 1), 20);
    EXPECT_EQ(at(300, 7, 2), 10);
    for (int c = 0; c < 3; ++c) {
        EXPECT_EQ(at(0, 0, c), 114) << "pad above";
        EXPECT_EQ(at(639, 639, c), 114) << "pad below";
    }
}

TEST(PixelFormat, NhwcFloatHoldsExactlyTheNchwValuesTransposed) {
    const auto nchw = make_detector(yolo_with_input(ElementType::float32, {D{"batch"}, 3_d, 640_d, 640_d}));
    const auto nhwc = make_detector(yolo_with_input(ElementType::float32, {D{"batch"}, 640_d, 640_d, 3_d}));
    const cv::Mat img = noisy_image(333, 517, 2);  // resized and padded
    auto a = nchw->make_input_slots(1);
    auto b = nhwc->make_input_slots(1);
    nchw->preprocess(img, a, 0);
    nhwc->preprocess(img, b, 0);
    const float* p = a[0].data<float>();
    const float* q = b[0].data<float>();
    int mismatches = 0;
    for (int c = 0; c < 3; ++c)
        for (int y = 0; y < 640; ++y)
            for (int x = 0; x < 640; ++x)
                mismatches += p[(c * 640 + y) * 640 + x] != q[(y * 640 + x) * 3 + c];
    EXPECT_EQ(mismatches, 0);
}

TEST(PixelFormat, GreyIsConvertedBeforeTheResizeAndPaddedWithThePadByte) {
    const auto det = make_detector(yolo_with_input(ElementType::float32, {1_d, 1_d, 640_d, 640_d}));
    const cv::Mat img = noisy_image(300, 640, 3);  // content 640x300 at rows 170..469
    auto slots = det->make_input_slots(1);
    const Geometry g = det->preprocess(img, slots, 0);
    ASSERT_FLOAT_EQ(g.pad_y, 170.0f);
    cv::Mat grey, resized;
    cv::cvtColor(img, grey, cv::COLOR_BGR2GRAY);
    cv::resize(grey, resized, cv::Size(640, 300), 0, 0, cv::INTER_LINEAR);  // same size: a copy
    const float* v = slots[0].data<float>();
    EXPECT_FLOAT_EQ(v[0], 114.0f / 255.0f);
    EXPECT_FLOAT_EQ(v[639 * 640 + 639], 114.0f / 255.0f);
    for (int y : {0, 150, 299})
        for (int x : {0, 300, 639})
            EXPECT_FLOAT_EQ(v[(170 + y) * 640 + x], resized.at<uchar>(y, x) / 255.0f) << y << "," << x;
}

TEST(PixelFormat, WithoutZeroFillPreprocessStillWritesEveryElementOfItsItem) {
    for (const auto& [type, dims] :
         {std::pair{ElementType::float32, std::vector<D>{D{"b"}, 3_d, 640_d, 640_d}},
          std::pair{ElementType::float16, std::vector<D>{D{"b"}, 3_d, 640_d, 640_d}},
          std::pair{ElementType::float32, std::vector<D>{D{"b"}, 1_d, 640_d, 640_d}},
          std::pair{ElementType::uint8, std::vector<D>{D{"b"}, 640_d, 640_d, 3_d}},
          std::pair{ElementType::float32, std::vector<D>{D{"b"}, 640_d, 640_d, 3_d}}}) {
        const auto det = make_detector(yolo_with_input(type, dims));
        auto slots = det->make_input_slots(2, /*zero_fill=*/false);
        // 0xFF bytes: NaN in float32/float16, 255 in uint8 (the pad byte is 114, the image 7).
        std::memset(slots[0].bytes(), 0xFF, slots[0].byte_size());
        det->preprocess(cv::Mat(200, 500, CV_8UC3, cv::Scalar::all(7)), slots, 1);
        const std::size_t half = slots[0].byte_size() / 2;
        std::size_t untouched = 0;
        for (std::size_t i = 0; i < half; i += element_size(type)) {
            bool all_ff = true;
            for (std::size_t k = 0; k < element_size(type); ++k) all_ff &= slots[0].bytes()[half + i + k] == std::byte{0xFF};
            untouched += all_ff;
        }
        EXPECT_EQ(untouched, 0u) << to_string(type) << " " << to_string(slots[0].shape());
        EXPECT_EQ(slots[0].bytes()[0], std::byte{0xFF}) << "item 0 is not item 1's to write";
    }
}

TEST(PixelFormat, ForcedLayoutAndChannelsApplyToASymbolicInputAndContradictionsAreConfigErrors) {
    const auto sig = yolo_with_input(ElementType::float32, {D{"b"}, D{"c"}, D{"h"}, D{"w"}});
    EXPECT_EQ(make_detector(sig)->pixel_format().channels, 3) << "a symbolic channel axis takes the family's";
    DetectorConfig grey;
    grey.channels = 1;
    grey.imgsz = std::pair{320, 320};
    const auto det = make_detector(sig, grey);
    EXPECT_EQ(det->pixel_format().channels, 1);
    EXPECT_EQ(det->make_input_slots(1)[0].shape(), (Shape{1, 1, 320, 320}));
    DetectorConfig nhwc;
    nhwc.input_layout = TensorLayout::nhwc;
    nhwc.imgsz = std::pair{320, 256};
    EXPECT_EQ(make_detector(sig, nhwc)->make_input_slots(1)[0].shape(), (Shape{1, 320, 256, 3}));

    const auto fixed = yolo_with_input(ElementType::float32, {1_d, 3_d, 640_d, 640_d});
    DetectorConfig wrong;
    wrong.channels = 1;
    EXPECT_THROW(make_detector(fixed, wrong), OptionError);
    DetectorConfig wrong_layout;
    wrong_layout.input_layout = TensorLayout::nhwc;
    EXPECT_THROW(make_detector(fixed, wrong_layout), OptionError);
}

TEST(PixelFormat, AnInputWhereBothAxesCouldBeChannelsIsRefusedUntilTheLayoutIsGiven) {
    const auto sig = yolo_with_input(ElementType::float32, {1_d, 3_d, 640_d, 3_d});
    try {
        make_detector(sig);
        FAIL() << "an ambiguous layout was accepted";
    } catch (const UnknownLayoutError& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("NCHW with 3 channels or NHWC with 3"), std::string::npos) << msg;
        EXPECT_NE(msg.find("--input-layout"), std::string::npos) << msg;
    }
    DetectorConfig c;
    c.input_layout = TensorLayout::nhwc;
    EXPECT_EQ(make_detector(sig, c)->input_size(), (std::pair<int, int>{3, 640}));
}

TEST(PixelFormat, AnInputWithNoChannelAxisOfOneOrThreeIsRefused) {
    try {
        make_detector(yolo_with_input(ElementType::float32, {1_d, 4_d, 640_d, 640_d}));
        FAIL() << "4 channels accepted";
    } catch (const UnknownLayoutError& e) {
        EXPECT_NE(std::string(e.what()).find("expected 1 or 3 colour channels"), std::string::npos) << e.what();
    }
    EXPECT_THROW(make_detector(yolo_with_input(ElementType::int32, {1_d, 3_d, 640_d, 640_d})), UnknownLayoutError);
}

TEST(PixelFormat, FamilyTransformIsData) {
    ModelSignature rf;
    rf.inputs = {testing::tensor("input", ElementType::float32, {1_d, 3_d, 64_d, 64_d})};
    rf.outputs = {testing::tensor("dets", ElementType::float32, {1_d, 300_d, 4_d}),
                  testing::tensor("labels", ElementType::float32, {1_d, 300_d, 91_d})};
    const PixelFormat f = make_detector(rf)->pixel_format();  // a copy: the detector is a temporary
    EXPECT_FLOAT_EQ(f.mean[0], 0.485f);
    EXPECT_FLOAT_EQ(f.std[2], 0.225f);
    EXPECT_EQ(f.resize, ResizeMode::stretch);
    ModelSignature yx;
    yx.inputs.push_back(testing::tensor("images", ElementType::float32, {1_d, 3_d, 416_d, 416_d}));
    yx.outputs.push_back(testing::tensor("output", ElementType::float32, {1_d, 3549_d, 85_d}));
    const PixelFormat x = make_detector(yx)->pixel_format();
    EXPECT_TRUE(x.bgr);
    EXPECT_FLOAT_EQ(x.scale, 1.0f);
    EXPECT_EQ(x.letterbox, LetterboxStyle::top_left);
}

TEST(PixelFormat, NormalisationOverridesGiveYoloxLegacyPreprocessing) {
    ModelSignature yx;
    yx.inputs.push_back(testing::tensor("images", ElementType::float32, {1_d, 3_d, 416_d, 416_d}));
    yx.outputs.push_back(testing::tensor("output", ElementType::float32, {1_d, 3549_d, 85_d}));
    DetectorConfig legacy;
    legacy.bgr = false;
    legacy.scale = 255.0f;
    legacy.mean = std::array<float, 3>{0.485f, 0.456f, 0.406f};
    legacy.std = std::array<float, 3>{0.229f, 0.224f, 0.225f};
    const auto det = make_detector(yx, legacy);
    EXPECT_FALSE(det->pixel_format().bgr);
    EXPECT_EQ(det->pixel_format().letterbox, LetterboxStyle::top_left) << "only the normalisation is overridden";
    // One pixel colour everywhere: every element of channel c is (byte_c / 255 - mean_c) / std_c
    // with channels in R, G, B order.
    const cv::Mat img(416, 416, CV_8UC3, cv::Scalar(10, 120, 230));  // B, G, R
    std::vector<Tensor> slots = det->make_input_slots(1);
    det->preprocess(img, slots, 0);
    const float* v = slots[0].data<float>();
    const int plane = 416 * 416;
    const float want[3] = {(230 / 255.0f - 0.485f) / 0.229f, (120 / 255.0f - 0.456f) / 0.224f,
                           (10 / 255.0f - 0.406f) / 0.225f};
    for (int c = 0; c < 3; ++c) {
        EXPECT_NEAR(v[c * plane], want[c], 1e-4) << "channel " << c;
        EXPECT_NEAR(v[c * plane + plane - 1], want[c], 1e-4) << "channel " << c;
    }
}

// --- generated models with these inputs, run by ONNX Runtime --------------------------------

void expect_scene(const testing::GeneratedModel& g, const Detections& dets, const testing::Scene& scene,
                  bool grey, const std::string& what) {
    for (const auto& p : g.planted) {
        if (p.duplicate) continue;
        const auto hit = std::find_if(dets.begin(), dets.end(), [&](const Detection& d) {
            return d.class_id == p.class_id && iou(d.box, p.box) > 0.99f;
        });
        ASSERT_NE(hit, dets.end()) << what << ": object " << p.object << " missing";
        const int v = scene[static_cast<std::size_t>(p.object)];
        // paint_scene paints the object's channel (R for a grey model's channel 0) over a
        // background of 40, so the grey byte mixes 40, 40 and v.
        const float want = grey ? static_cast<float>(grey_of(40, 40, v)) / 255.0f * p.scale
                                : testing::expected_score(g, p, v);
        EXPECT_NEAR(hit->score, want, 1e-4) << what << ": object " << p.object;
    }
}

class PixelFormatModel : public ::testing::TestWithParam<std::string> {};

TEST_P(PixelFormatModel, DecodesThePlantedScenesAtBatchTwoWithoutZeroFill) {
    const std::string name = GetParam();
    TILEDET_REQUIRE_GENERATED(name + ".onnx");
    const testing::GeneratedModel g = testing::generated_entry(name);
    const Model model = Model::load(testing::generated_model(name + ".onnx").string());
    const auto det = make_detector(model.signature());
    ASSERT_EQ(det->family(), Family{"yolo"}) << det->reason();
    const bool grey = name.find("grey") != std::string::npos;
    EXPECT_EQ(det->pixel_format().channels, grey ? 1 : 3);
    auto slots = det->make_input_slots(2, /*zero_fill=*/false);
    const Geometry ga = det->preprocess(testing::paint_scene(g, testing::kSceneA), slots, 0);
    const Geometry gb = det->preprocess(testing::paint_scene(g, testing::kSceneB), slots, 1);
    const std::vector<Tensor> out = model.run(slots);
    DecodeOptions o;
    expect_scene(g, det->decode(det->item_outputs(out, 0), ga, o), testing::kSceneA, grey, name + " item 0");
    expect_scene(g, det->decode(det->item_outputs(out, 1), gb, o), testing::kSceneB, grey, name + " item 1");
}

INSTANTIATE_TEST_SUITE_P(Inputs, PixelFormatModel, ::testing::Values("yolo_grey_dynamic", "yolo_u8_nhwc_dynamic"),
                         [](const auto& info) { return info.param; });

// --- families registered at run time ---------------------------------------------------------

class ConstantDetector final : public Detector {
public:
    ConstantDetector(const ModelSignature& sig, const DetectorConfig& config, std::string reason)
        : Detector(sig, config, [&] {
              Setup s;
              s.family = Family{"test_constant"};
              s.reason = std::move(reason);
              s.pixels.channels = 1;
              s.pixels.type = ElementType::uint8;
              return s;
          }()) {}
    Detections decode(const std::vector<Tensor>&, const Geometry&, const DecodeOptions&) const override {
        return {Detection{Box{1, 2, 3, 4}, 0.5f, 7}};
    }
};

TEST(FamilyRegistry, AFamilyRegisteredAtRunTimeIsParsedMatchedAndBuilt) {
    FamilyRegistration r;
    r.id = "test_constant";
    r.aliases = {"Test-Const"};
    r.layout = "test: x [B,?,?,?] -> constant_out [1]";
    r.fits = [](const ModelSignature& sig) -> FamilyFit {
        if (sig.outputs.size() == 1 && sig.outputs[0].name == "constant_out") return "an output named constant_out";
        return std::nullopt;
    };
    r.make = [](const ModelSignature& sig, const DetectorConfig& c, std::string why) -> std::unique_ptr<Detector> {
        return std::make_unique<ConstantDetector>(sig, c, std::move(why));
    };
    register_family(r);
    EXPECT_THROW(register_family(r), ConfigError) << "the id is taken now";

    EXPECT_EQ(parse_family("test_const"), Family{"test_constant"});
    EXPECT_EQ(to_string(Family{"test_constant"}), "test_constant");
    const auto all = all_families();
    EXPECT_EQ(all.back(), Family{"test_constant"});
    EXPECT_NE(known_layouts().find("test_constant: test: x"), std::string::npos);

    ModelSignature sig;
    sig.inputs = {testing::tensor("x", ElementType::uint8, {D{"b"}, D{"c"}, D{"h"}, D{"w"}})};
    sig.outputs = {testing::tensor("constant_out", ElementType::float32, {1_d})};
    EXPECT_EQ(match_family(sig).family, Family{"test_constant"});
    const auto det = make_detector(sig);
    EXPECT_EQ(det->family(), Family{"test_constant"});
    EXPECT_EQ(det->make_input_slots(1)[0].shape(), (Shape{1, 1, 640, 640})) << "the family's 1 channel, NCHW";
    EXPECT_EQ(det->decode({}, Geometry{}, {}).at(0).class_id, 7);
}

TEST(FamilyRegistry, UnknownFamilyIdsAreConfigErrorsListingTheKnownOnes) {
    DetectorConfig c;
    c.family = Family{"ssd"};
    try {
        make_detector(testing::ultralytics_signature({1_d, 84_d, 8400_d}), c);
        FAIL();
    } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("unknown family 'ssd'"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("yolox"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace tiledet

namespace tiledet {
namespace {

// The float NCHW writer's vector row kernel (AVX2, picked at run time) must give exactly the
// bits of the per-byte tables: every byte value in every channel, with and without mean/std, RGB
// and BGR order, a letterbox pad and a resize, from an ROI view. On a CPU without AVX2 both sides
// walk the tables and the comparison with the formula below still holds.
TEST(PixelFormat, FloatPlanesFromTheVectorKernelAreBitIdenticalToTheTablesAndTheFormula) {
    // 256 x 256 pixels inside a larger image: B = x, G = y, R = (x + 3 y) mod 256, so every byte
    // value reaches every channel.
    cv::Mat big(260, 270, CV_8UC3, cv::Scalar(7, 7, 7));
    for (int y = 0; y < 256; ++y)
        for (int x = 0; x < 256; ++x)
            big.at<cv::Vec3b>(y + 2, x + 5) = cv::Vec3b(static_cast<uchar>(x), static_cast<uchar>(y),
                                                        static_cast<uchar>((x + 3 * y) % 256));
    const cv::Mat view = big(cv::Rect(5, 2, 256, 256));
    struct Case {
        const char* name;
        float divisor;
        std::array<float, 3> mean, std;
        bool bgr;
        int input_w, input_h;
        ResizeMode mode;
    };
    const Case cases[] = {
        {"byte/255, RGB, same size", 255.0f, {0, 0, 0}, {1, 1, 1}, false, 256, 256, ResizeMode::stretch},
        {"ImageNet mean/std, RGB, same size", 255.0f, {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}, false, 256,
         256, ResizeMode::stretch},
        {"raw bytes, BGR, same size", 1.0f, {0, 0, 0}, {1, 1, 1}, true, 256, 256, ResizeMode::stretch},
        {"byte/255, letterboxed into 320 x 200 (resize + pad)", 255.0f, {0, 0, 0}, {1, 1, 1}, false, 320, 200,
         ResizeMode::letterbox},
        {"mean/std, BGR, stretched to 333 x 97", 255.0f, {0.5f, 0.25f, 0.125f}, {0.5f, 0.3f, 0.7f}, true, 333, 97,
         ResizeMode::stretch},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        detail::PixelTransform t;
        t.divisor = c.divisor;
        t.mean = c.mean;
        t.std = c.std;
        t.bgr = c.bgr;
        const detail::Placement p = detail::plan_placement(256, 256, c.input_w, c.input_h, c.mode);
        const std::size_t n = 3 * static_cast<std::size_t>(c.input_w) * static_cast<std::size_t>(c.input_h);
        std::vector<float> fast(n, -1.0f), table(n, -2.0f);
        detail::write_planes(view, p, t, fast.data());
        detail::write_planes_by_table(view, p, t, table.data());
        ASSERT_EQ(std::memcmp(fast.data(), table.data(), n * sizeof(float)), 0);
        if (p.content_w == 256 && p.content_h == 256 && p.left == 0 && p.top == 0) {
            const std::size_t plane = n / 3;
            for (int y = 0; y < 256; ++y)
                for (int x = 0; x < 256; ++x) {
                    const cv::Vec3b px = view.at<cv::Vec3b>(y, x);
                    for (int ch = 0; ch < 3; ++ch) {
                        const int byte = px[c.bgr ? ch : 2 - ch];
                        const float want = (static_cast<float>(byte) / c.divisor - c.mean[static_cast<std::size_t>(ch)]) /
                                           c.std[static_cast<std::size_t>(ch)];
                        const float got = fast[plane * static_cast<std::size_t>(ch) + static_cast<std::size_t>(y * 256 + x)];
                        ASSERT_EQ(std::memcmp(&want, &got, sizeof(float)), 0)
                            << "channel " << ch << " byte " << byte << ": " << got << " vs " << want;
                    }
                }
        }
    }
}

// A stretch that changes only the height (640 x 480 into 640 x 640: RT-DETR, RF-DETR) blends two
// source rows per output row instead of calling cv::resize; its bytes must be cv::resize's, in
// all three writers, from ROI views of noise (every rounding case of the fixed-point blend).
TEST(PixelFormat, AHeightOnlyStretchGivesCvResizesBytesInEveryWriter) {
    // Debian 12's OpenCV 4.6 (what scripts/setup.sh installs): the blend's arithmetic is its own.
    EXPECT_TRUE(detail::row_blend_matches_opencv());
    cv::RNG rng(7);
    struct Case {
        int w, h, to_h;
    };
    for (const Case c : {Case{640, 480, 640}, Case{333, 97, 250}, Case{77, 300, 41}, Case{5, 2, 9}}) {
        SCOPED_TRACE(std::to_string(c.w) + " x " + std::to_string(c.h) + " -> height " + std::to_string(c.to_h));
        cv::Mat big(c.h + 3, c.w + 4, CV_8UC3);
        rng.fill(big, cv::RNG::UNIFORM, 0, 256);
        const cv::Mat view = big(cv::Rect(3, 1, c.w, c.h));
        const detail::Placement p = detail::plan_placement(c.w, c.h, c.w, c.to_h, ResizeMode::stretch);
        ASSERT_EQ(p.content_w, c.w);
        ASSERT_EQ(p.content_h, c.to_h);
        cv::Mat want;
        cv::resize(view, want, cv::Size(c.w, c.to_h), 0, 0, cv::INTER_LINEAR);
        const std::size_t n = 3 * static_cast<std::size_t>(c.w) * static_cast<std::size_t>(c.to_h);

        detail::PixelTransform t;  // byte / 255, RGB
        std::vector<float> fast(n, -1.0f), table(n, -2.0f);
        detail::write_planes(view, p, t, fast.data());
        detail::write_planes_by_table(view, p, t, table.data());  // through cv::resize
        ASSERT_EQ(std::memcmp(fast.data(), table.data(), n * sizeof(float)), 0);

        detail::PixelTransform bytes;  // the bytes as they are, BGR order: the resized image itself
        bytes.divisor = 1.0f;
        bytes.bgr = true;
        std::vector<std::uint8_t> nhwc(n, 1);
        detail::write_interleaved(view, p, bytes, nhwc.data());
        for (int y = 0; y < c.to_h; ++y)
            ASSERT_EQ(std::memcmp(nhwc.data() + static_cast<std::size_t>(y) * 3 * static_cast<std::size_t>(c.w),
                                  want.ptr<uchar>(y), 3 * static_cast<std::size_t>(c.w)),
                      0)
                << "interleaved row " << y;
        std::vector<std::uint8_t> planes(n, 1);
        detail::write_planes(view, p, bytes, planes.data());
        for (int y = 0; y < c.to_h; ++y)
            for (int x = 0; x < c.w; ++x)
                for (int ch = 0; ch < 3; ++ch)
                    ASSERT_EQ(planes[static_cast<std::size_t>(ch) * n / 3 + static_cast<std::size_t>(y * c.w + x)],
                              want.at<cv::Vec3b>(y, x)[ch])
                        << "planar row " << y << " column " << x << " channel " << ch;

        cv::Mat grey, want_grey;
        cv::cvtColor(view, grey, cv::COLOR_BGR2GRAY);
        cv::resize(grey, want_grey, cv::Size(c.w, c.to_h), 0, 0, cv::INTER_LINEAR);
        std::vector<std::uint8_t> one(n / 3, 1);
        detail::write_grey(view, p, bytes, one.data());
        for (int y = 0; y < c.to_h; ++y)
            ASSERT_EQ(std::memcmp(one.data() + static_cast<std::size_t>(y * c.w), want_grey.ptr<uchar>(y),
                                  static_cast<std::size_t>(c.w)),
                      0)
                << "grey row " << y;
    }
}

TEST(PixelFormat, DescribesItselfInOneLine) {
    PixelFormat rf;
    rf.mean = {0.485f, 0.456f, 0.406f};
    rf.std = {0.229f, 0.224f, 0.225f};
    EXPECT_EQ(to_string(rf), "3 channels RGB, NCHW float32, byte/255, mean 0.485,0.456,0.406 std 0.229,0.224,0.225, stretch");
    PixelFormat yx;
    yx.bgr = true;
    yx.scale = 1;
    yx.resize = ResizeMode::letterbox;
    yx.letterbox = LetterboxStyle::top_left;
    EXPECT_EQ(to_string(yx), "3 channels BGR, NCHW float32, byte, letterbox top-left, pad 114");
}

}  // namespace
}  // namespace tiledet
