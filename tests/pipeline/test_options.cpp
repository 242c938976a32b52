// The library's option table: every option parses its default back to the library's default,
// bad values are OptionErrors naming the option and saying what was expected, and the fields
// that validation errors name map back to the option that sets them.
#include <gtest/gtest.h>

#include "tiledet/error.hpp"
#include "tiledet/pipeline/options.hpp"

using namespace tiledet;

namespace {

void expect_same_defaults(const PipelineOptions& a, const PipelineOptions& b, const std::string& what) {
    EXPECT_EQ(a.model.providers, b.model.providers) << what;
    EXPECT_EQ(a.model.device_id, b.model.device_id) << what;
    EXPECT_EQ(a.model.intra_op_threads, b.model.intra_op_threads) << what;
    EXPECT_EQ(a.model.io_binding, b.model.io_binding) << what;
    EXPECT_EQ(a.model.cuda_graphs, b.model.cuda_graphs) << what;
    EXPECT_EQ(a.decode.iou, b.decode.iou) << what;
    EXPECT_EQ(a.decode.max_det, b.decode.max_det) << what;
    EXPECT_EQ(a.decode.agnostic, b.decode.agnostic) << what;
    EXPECT_EQ(a.tile_mode, b.tile_mode) << what;
    EXPECT_EQ(a.tiles.overlap_ratio_w, b.tiles.overlap_ratio_w) << what;
    EXPECT_EQ(a.tiles.overlap_px_w, b.tiles.overlap_px_w) << what;
    EXPECT_EQ(a.tiles.add_full_image, b.tiles.add_full_image) << what;
    EXPECT_EQ(a.merge.algorithm, b.merge.algorithm) << what;
    EXPECT_EQ(a.merge.metric, b.merge.metric) << what;
    EXPECT_EQ(a.merge.threshold, b.merge.threshold) << what;
    EXPECT_EQ(a.merge.class_agnostic, b.merge.class_agnostic) << what;
    EXPECT_EQ(a.batching.max_batch_size, b.batching.max_batch_size) << what;
    EXPECT_EQ(a.batching.max_queue_delay, b.batching.max_queue_delay) << what;
    EXPECT_EQ(a.batching.instances, b.batching.instances) << what;
    EXPECT_EQ(a.batching.queue_capacity, b.batching.queue_capacity) << what;
    EXPECT_EQ(a.batching.probe_batch_sizes, b.batching.probe_batch_sizes) << what;
    EXPECT_EQ(a.batching.verbose, b.batching.verbose) << what;
    EXPECT_EQ(a.limits.max_image_pixels, b.limits.max_image_pixels) << what;
    EXPECT_EQ(a.limits.max_input_elements, b.limits.max_input_elements) << what;
    EXPECT_EQ(a.limits.max_output_elements, b.limits.max_output_elements) << what;
    EXPECT_EQ(a.limits.max_tiles_per_image, b.limits.max_tiles_per_image) << what;
    EXPECT_EQ(a.limits.min_tile_ratio, b.limits.min_tile_ratio) << what;
    EXPECT_EQ(a.max_tiles_in_flight, b.max_tiles_in_flight) << what;
}

std::string error_of(std::string_view name, std::string_view value, std::string* option = nullptr) {
    PipelineOptions o;
    try {
        set_option(o, name, value);
    } catch (const OptionError& e) {
        if (option) *option = e.option();
        return e.what();
    }
    return "";
}

}  // namespace

TEST(PipelineOptionTable, EveryDocumentedDefaultParsesBackToTheLibraryDefault) {
    const PipelineOptions defaults;
    for (const OptionSpec& s : pipeline_option_specs()) {
        if (s.default_text.empty()) continue;
        PipelineOptions o;
        ASSERT_NO_THROW(set_option(o, s.name, s.default_text)) << s.name << " = " << s.default_text;
        expect_same_defaults(o, defaults, s.name);
        EXPECT_FALSE(s.fields.empty()) << s.name;
        EXPECT_FALSE(s.help.empty()) << s.name;
    }
}

TEST(PipelineOptionTable, ValuesSetTheFieldsTheyName) {
    PipelineOptions o;
    set_option(o, "tile", "1024x768");
    set_option(o, "overlap", "64");
    set_option(o, "merge", "nms");
    set_option(o, "classes", "0,2,5");
    set_option(o, "max_delay_ms", "0.5");
    set_option(o, "probe_sizes", "none");
    set_option(o, "full_image", "yes");
    set_option(o, "provider", "cuda:1,cpu");
    set_option(o, "channel_order", "rgb");
    set_option(o, "mean", "0.485,0.456,0.406");
    set_option(o, "std", "0.229,0.224,0.225");
    set_option(o, "scale", "255");
    EXPECT_EQ(o.tile_mode, TileMode::fixed);
    EXPECT_EQ(o.tiles.tile_w, 1024);
    EXPECT_EQ(o.tiles.tile_h, 768);
    EXPECT_EQ(o.tiles.overlap_px_w, 64);
    EXPECT_EQ(o.tiles.overlap_px_h, 64);
    EXPECT_EQ(o.merge.algorithm, MergeAlgorithm::nms);
    EXPECT_EQ(o.decode.classes, (std::vector<int>{0, 2, 5}));
    EXPECT_EQ(o.batching.max_queue_delay, std::chrono::microseconds(500));
    EXPECT_FALSE(o.batching.probe_dynamic_batch);
    EXPECT_TRUE(o.tiles.add_full_image);
    EXPECT_EQ(o.model.providers, (std::vector<std::string>{"cuda", "cpu"}));
    EXPECT_EQ(o.model.device_id, 1);
    EXPECT_EQ(o.detector.bgr, false);
    ASSERT_TRUE(o.detector.mean && o.detector.std && o.detector.scale);
    EXPECT_FLOAT_EQ((*o.detector.mean)[1], 0.456f);
    EXPECT_FLOAT_EQ((*o.detector.std)[2], 0.225f);
    EXPECT_FLOAT_EQ(*o.detector.scale, 255.f);
    set_option(o, "overlap", "0.25");  // back to a ratio: the pixels are forgotten
    EXPECT_EQ(o.tiles.overlap_px_w, -1);
    EXPECT_EQ(o.tiles.overlap_ratio_h, 0.25);
}

TEST(PipelineOptionTable, BadValuesAreOptionErrorsSayingWhatWasExpected) {
    std::string option;
    EXPECT_EQ(error_of("tile", "64x", &option), "tile: expected none, auto, SIZE or WxH (e.g. 640 or 1024x768), got '64x'");
    EXPECT_EQ(option, "tile");
    EXPECT_EQ(error_of("conf", "1.5"), "conf: expected a confidence in [0, 1], got '1.5'");
    EXPECT_EQ(error_of("conf", "nan"), "conf: expected a confidence in [0, 1], got 'nan'");
    EXPECT_EQ(error_of("batch", "0"), "batch: expected a batch size from 1 to 65536 or auto, got '0'");
    EXPECT_EQ(error_of("batch", "8 "), "batch: expected a batch size from 1 to 65536 or auto, got '8 '");
    EXPECT_EQ(error_of("overlap", "-0.1"), "overlap: expected a ratio in [0, 1) or pixels >= 1, got '-0.1'");
    EXPECT_EQ(error_of("overlap", "12.5"), "overlap: expected a ratio in [0, 1) or whole pixels >= 1, got '12.5'");
    EXPECT_EQ(error_of("classes", "0,x"), "classes: expected comma-separated integers >= 0 (e.g. 0,2,5), got 'x'");
    EXPECT_EQ(error_of("verbose", "maybe"), "verbose: expected true or false, got 'maybe'");
    EXPECT_EQ(error_of("max_tiles", "-1"), "max_tiles: expected a tile count >= 0 (0: no limit), got '-1'");
    EXPECT_EQ(error_of("merge", "wbf"), "merge: expected nms, nmm or greedy-nmm, got 'wbf'");
    EXPECT_EQ(error_of("std", "0.2,0,0.2"),
              "std: expected three comma-separated numbers > 0, one per channel (e.g. 0.229,0.224,0.225), got "
              "'0.2,0,0.2'");
    EXPECT_EQ(error_of("mean", "0.5,0.5"),
              "mean: expected three comma-separated numbers, one per channel (e.g. 0.485,0.456,0.406), got "
              "'0.5,0.5'");
    EXPECT_EQ(error_of("scale", "0"), "scale: expected a divisor > 0 (255: bytes to 0..1; 1: raw bytes), got '0'");
    const std::string unknown = error_of("tile_size", "640", &option);
    EXPECT_EQ(option, "tile_size");
    EXPECT_EQ(unknown.rfind("unknown option 'tile_size'; known options: provider, ", 0), 0u) << unknown;
}

TEST(PipelineOptionTable, FieldsNamedByValidationErrorsMapToTheirOptionAndFlag) {
    EXPECT_EQ(option_for_field("tiles.overlap_px_w"), "overlap");
    EXPECT_EQ(option_for_field("tiles.overlap_ratio_h"), "overlap");
    EXPECT_EQ(option_for_field("limits.max_tiles_per_image"), "max_tiles");
    EXPECT_EQ(option_for_field("no.such.field"), "no.such.field");
    EXPECT_EQ(option_flag("max_delay_ms"), "--max-delay-ms");
    for (const OptionSpec& s : pipeline_option_specs())
        for (const std::string& f : s.fields) EXPECT_EQ(option_for_field(f), s.name) << f;
}

// fuzz_options found it (fuzz/regressions/fuzz_options/): a bad provider list surfaced the
// runtime's command-line name "--provider" as option(), where set_option promises the name given.
TEST(PipelineOptionTable, BadProviderListNamesTheOptionAsGiven) {
    std::string option;
    const std::string msg = error_of("provider", "cudgreedy-nmm48", &option);
    EXPECT_EQ(option, "provider");
    EXPECT_EQ(msg.rfind("provider: ", 0), 0u) << msg;
    EXPECT_NE(msg.find("got 'cudgreedy-nmm48'"), std::string::npos) << msg;
}

TEST(PipelineOptionTable, TilesInFlightSetsTheWindowAndRefusesNegatives) {
    PipelineOptions o;
    set_option(o, "tiles_in_flight", "32");
    EXPECT_EQ(o.max_tiles_in_flight, 32);
    EXPECT_EQ(error_of("tiles_in_flight", "-2"),
              "tiles_in_flight: expected a tile count >= 0 (0: two batches per instance), got '-2'");
}
