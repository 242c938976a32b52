// Bare-runtime inputs and measurement, report rows (counts, histogram, efficiency), JSON/CSV
// shape, auto-tune grid and pick, and the gnuplot script.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include <nlohmann/json.hpp>

#include "test_paths.hpp"
#include "tiledet/bench/autotune.hpp"
#include "tiledet/bench/bare.hpp"
#include "tiledet/bench/plot.hpp"
#include "tiledet/bench/report.hpp"
#include "tiledet/error.hpp"

using namespace tiledet;
using namespace tiledet::bench;
using tiledet::testing::generated_model;

namespace {
WindowOptions tiny_windows() {
    WindowOptions w;
    w.duration = std::chrono::milliseconds(100);
    w.warmup = std::chrono::milliseconds(50);
    w.max_windows = 4;
    return w;
}

Completion image(std::vector<std::pair<int, std::uint64_t>> tiles, double latency) {
    Completion c;
    c.images = 1;
    c.latency_ms = latency;
    c.merge_ms = 0.5;
    for (auto [size, id] : tiles) {
        TileSample t;
        t.batch_size = size;
        t.batch_id = id;
        t.latency_ms = latency - 1;
        c.tiles.push_back(t);
    }
    return c;
}
}  // namespace

TEST(BareInputs, OfficialRtdetrGetsImagesAndInt64SizesAtTheAskedBatch) {
    TILEDET_REQUIRE_GENERATED("official_rtdetr_dynamic.onnx");
    const Model m = Model::load(generated_model("official_rtdetr_dynamic.onnx").string());
    const auto inputs = make_bare_inputs(m.signature(), 3);
    ASSERT_EQ(inputs.size(), 2u);
    EXPECT_EQ(inputs[0].shape(), (Shape{3, 3, 640, 640}));
    EXPECT_EQ(inputs[1].shape(), (Shape{3, 2}));
    ASSERT_EQ(inputs[1].type(), ElementType::int64);
    for (auto v : inputs[1].values<std::int64_t>()) EXPECT_EQ(v, 640);
    EXPECT_NO_THROW(m.check_inputs(inputs));
    EXPECT_NO_THROW(m.run(inputs));
}

TEST(BareInputs, StaticBatchModelRefusesOtherBatchSizesWithTheReason) {
    TILEDET_REQUIRE_GENERATED("yolo_static.onnx");
    const Model m = Model::load(generated_model("yolo_static.onnx").string());
    EXPECT_TRUE(batch_supported(m.signature(), 1));
    EXPECT_FALSE(batch_supported(m.signature(), 2));
    try {
        make_bare_inputs(m.signature(), 2);
        FAIL() << "batch 2 on a static batch-1 model must throw";
    } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("static batch 1"), std::string::npos) << e.what();
    }
}

TEST(BareRuntime, ThroughputIsItemsCountedOverTheReportedWindows) {
    TILEDET_REQUIRE_GENERATED("yolo_nc3_dynamic.onnx");
    const BareResult r = measure_bare(generated_model("yolo_nc3_dynamic.onnx").string(), BareConfig{2, 1, 1}, {},
                                      tiny_windows());
    ASSERT_TRUE(r.error.empty()) << r.error;
    ASSERT_GT(r.run.measured_seconds, 0);
    EXPECT_EQ(r.run_latency.count, r.run.measured.size());
    EXPECT_NEAR(r.tiles_per_s * r.run.measured_seconds, 2.0 * static_cast<double>(r.run.measured.size()), 1e-6);
    EXPECT_LE(r.run_latency.p50, r.run_latency.p90);
    EXPECT_LE(r.run_latency.p90, r.run_latency.p99);
}

TEST(BareRuntime, UnsupportedBatchEndsInAnErrorNotAnException) {
    TILEDET_REQUIRE_GENERATED("yolo_static.onnx");
    const BareResult r = measure_bare(generated_model("yolo_static.onnx").string(), BareConfig{4, 1, 1}, {},
                                      tiny_windows());
    EXPECT_NE(r.error.find("batch 4"), std::string::npos) << r.error;
}

TEST(ReportRow, HistogramCountsDistinctBatchesSharedAcrossImages) {
    WindowedRun run;
    run.measured_seconds = 2.0;
    run.reported_windows = 3;
    // Batch 10 holds tiles of two images; batch 11 is a single; batch 12 a pair of one image.
    run.measured = {image({{2, 10}, {1, 11}}, 20), image({{2, 10}, {2, 12}}, 30), image({{2, 12}}, 25)};
    BenchRow row;
    row.kind = "pipeline";
    fill_row(row, run);
    EXPECT_EQ(row.requests, 3u);
    EXPECT_EQ(row.images, 3u);
    EXPECT_EQ(row.tiles, 5u);
    EXPECT_DOUBLE_EQ(row.tiles_per_s, 2.5);
    EXPECT_DOUBLE_EQ(row.images_per_s, 1.5);
    EXPECT_EQ(row.batches, 3u);
    EXPECT_EQ(row.batch_histogram.at(2), 2u);
    EXPECT_EQ(row.batch_histogram.at(1), 1u);
    EXPECT_DOUBLE_EQ(row.mean_batch, 5.0 / 3.0);
    EXPECT_DOUBLE_EQ(row.image_total.p50, 25);
    EXPECT_EQ(row.tile_total.count, 5u);
}

TEST(ReportRow, BareRunsAreOneBatchEach) {
    WindowedRun run;
    run.measured_seconds = 1.0;
    Completion c;
    c.latency_ms = 10;
    c.tiles.assign(4, TileSample{10, 0, 0, 10, 0, 4, 0});
    run.measured = {c, c};
    BenchRow row;
    row.kind = "bare";
    fill_row(row, run);
    EXPECT_EQ(row.batches, 2u);
    EXPECT_EQ(row.batch_histogram.at(4), 2u);
    EXPECT_DOUBLE_EQ(row.tiles_per_s, 8);
    EXPECT_EQ(row.images, 0u);
}

TEST(ReportRow, EfficiencyIsPipelineOverBareAtTheEffectiveBatchAndInstances) {
    std::vector<BenchRow> rows(4);
    rows[0].kind = "bare", rows[0].batch = 1, rows[0].instances = 1, rows[0].tiles_per_s = 10;
    rows[1].kind = "bare", rows[1].batch = 4, rows[1].instances = 1, rows[1].tiles_per_s = 20;
    rows[2].kind = "pipeline", rows[2].batch = 4, rows[2].effective_batch = 4, rows[2].tiles_per_s = 18;
    // A static model fell back to batch 1: compared with the bare batch 1.
    rows[3].kind = "pipeline", rows[3].batch = 4, rows[3].effective_batch = 1, rows[3].tiles_per_s = 9.5;
    link_efficiency(rows);
    ASSERT_TRUE(rows[2].efficiency.has_value());
    EXPECT_DOUBLE_EQ(*rows[2].efficiency, 0.9);
    EXPECT_DOUBLE_EQ(rows[2].bare_tiles_per_s, 20);
    ASSERT_TRUE(rows[3].efficiency.has_value());
    EXPECT_DOUBLE_EQ(*rows[3].efficiency, 0.95);
    EXPECT_FALSE(rows[0].efficiency.has_value());
}

TEST(ReportRow, EfficiencyUsesTheBareRowMeasuredJustBeforeIt) {
    std::vector<BenchRow> rows(4);
    rows[0].kind = "bare", rows[0].batch = 2, rows[0].tiles_per_s = 10;  // measured under load
    rows[1].kind = "pipeline", rows[1].effective_batch = 2, rows[1].tiles_per_s = 9;
    rows[2].kind = "bare", rows[2].batch = 2, rows[2].tiles_per_s = 20;  // load gone
    rows[3].kind = "pipeline", rows[3].effective_batch = 2, rows[3].tiles_per_s = 19;
    link_efficiency(rows);
    EXPECT_DOUBLE_EQ(*rows[1].efficiency, 0.9);
    EXPECT_DOUBLE_EQ(*rows[3].efficiency, 0.95);
}

TEST(ReportFormats, JsonAndCsvCarryEveryRowWithTheDocumentedFields) {
    BenchReport report;
    report.model = "m.onnx";
    BenchRow bare;
    bare.kind = "bare", bare.mode = "bare", bare.tiles_per_s = 10;
    BenchRow pipe;
    pipe.kind = "pipeline", pipe.mode = "dynamic", pipe.tiles_per_s = 9, pipe.efficiency = 0.9;
    pipe.batch_histogram = {{1, 2}, {2, 3}};
    pipe.error = "a, \"quoted\" error";
    report.rows = {bare, pipe};
    const auto j = nlohmann::json::parse(to_json(report));
    ASSERT_EQ(j["rows"].size(), 2u);
    for (const char* key : {"tiles_per_s", "images_per_s", "efficiency", "stability", "latency_ms", "batches",
                            "memory_kb", "counts"})
        EXPECT_TRUE(j["rows"][1].contains(key)) << key;
    EXPECT_EQ(j["rows"][1]["batches"]["histogram"]["2"], 3);
    EXPECT_TRUE(j["rows"][0]["efficiency"].is_null());
    EXPECT_TRUE(j["rows"][1]["latency_ms"]["tile"].contains("queue"));

    std::istringstream csv(to_csv(report));
    std::string line;
    std::vector<std::string> lines;
    while (std::getline(csv, line)) lines.push_back(line);
    ASSERT_EQ(lines.size(), 3u);
    EXPECT_EQ(lines[0].rfind("kind,mode,batch", 0), 0u);
    EXPECT_NE(lines[2].find("1:2;2:3"), std::string::npos);
    EXPECT_NE(lines[2].find("\"a, \"\"quoted\"\" error\""), std::string::npos);
}

TEST(AutoTune, GridKeepsInstancesTimesThreadsWithinTheMachineAndBatchesTheModelTakes) {
    TILEDET_REQUIRE_GENERATED("yolo_static.onnx");
    const Model m = Model::load(generated_model("yolo_static.onnx").string());
    AutoTuneOptions o;
    o.total_threads = 4;
    const auto grid = autotune_grid(m.signature(), o);
    ASSERT_FALSE(grid.empty());
    for (const BareConfig& c : grid) {
        EXPECT_EQ(c.batch, 1);  // static batch 1
        EXPECT_LE(c.instances * c.threads, 4);
    }
    // (1,1) (1,2) (1,3) (1,4) (2,1) (2,2) (3,1) (4,1)
    EXPECT_EQ(grid.size(), 8u);
}

TEST(AutoTune, PicksTheFastestWithinBudgetAndSaysWhenNoneFits) {
    std::vector<AutoTuneCandidate> c(3);
    c[0].config = {1, 1, 2}, c[0].tiles_per_s = 18;
    c[1].config = {1, 2, 1}, c[1].tiles_per_s = 22;
    c[2].config = {4, 1, 2}, c[2].tiles_per_s = 30, c[2].within_budget = false;
    EXPECT_EQ(pick_best(c), 1u);
    c[1].error = "failed";
    EXPECT_EQ(pick_best(c), 0u);
    c[0].within_budget = false;
    EXPECT_FALSE(pick_best(c).has_value());

    BatchPolicy policy;
    ModelOptions model;
    apply_choice(c[1], policy, model);
    EXPECT_EQ(policy.max_batch_size, 1);
    EXPECT_EQ(policy.instances, 2);
    EXPECT_EQ(model.intra_op_threads, 2);
}

TEST(AutoTune, MeasuresATinyGridOnARealModel) {
    TILEDET_REQUIRE_GENERATED("yolo_nc3_dynamic.onnx");
    AutoTuneOptions o;
    o.batch_sizes = {1, 2};
    o.instances = {1};
    o.threads = {1};
    o.windows = tiny_windows();
    const AutoTuneResult r = autotune(generated_model("yolo_nc3_dynamic.onnx").string(), o);
    ASSERT_EQ(r.candidates.size(), 2u);
    ASSERT_TRUE(r.best.has_value()) << r.reason;
    for (const auto& c : r.candidates) EXPECT_GT(c.tiles_per_s, 0) << c.error;
}

TEST(Plot, ScriptHasOneSeriesPerModeAndDrawsBothPanels) {
    BenchReport report;
    report.model = "m.onnx";
    BenchRow b;
    b.kind = "bare", b.mode = "bare", b.batch = 2, b.tiles_per_s = 10;
    BenchRow p;
    p.kind = "pipeline", p.mode = "dynamic", p.batch = 2, p.concurrency = 4, p.tiles_per_s = 9;
    p.image_total.p50 = 100, p.image_total.p99 = 150;
    report.rows = {b, p};
    const std::string s = plot_script(report, "/tmp/x.png");
    EXPECT_NE(s.find("set output '/tmp/x.png'"), std::string::npos);
    EXPECT_NE(s.find("'bare runtime'"), std::string::npos);
    EXPECT_NE(s.find("'pipeline dynamic'"), std::string::npos);
    EXPECT_NE(s.find("4 100 150"), std::string::npos);
    EXPECT_NE(s.find("multiplot layout 1,2"), std::string::npos);
}
