// `tiledet bench` end to end on a tiny generated model: the report's structure and internal
// consistency (counts add up, percentiles ordered, histogram sums to the batch count,
// efficiency is the ratio of the two throughputs), never its speed.
#include <gtest/gtest.h>

#include <utility>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "test_paths.hpp"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct CliResult {
    int code;
    std::string output;
};

CliResult run_cli(const std::string& args, const std::string& env = {}) {
    const std::string cmd = env + (env.empty() ? "" : " ") + std::string(TILEDET_CLI_PATH) + " " + args + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    CliResult r{-1, {}};
    if (!p) return r;
    std::array<char, 4096> buf{};
    while (fgets(buf.data(), buf.size(), p)) r.output += buf.data();
    const int status = pclose(p);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

fs::path temp_path(const std::string& name) {
    return fs::temp_directory_path() / ("tiledet_bench_test_" + std::to_string(::getpid()) + "_" + name);
}

json read_json(const fs::path& p) {
    std::ifstream f(p);
    return json::parse(f);
}

std::string model(const char* file) { return tiledet::testing::generated_model(file).string(); }

// Seconds-long windows would make the suite slow; these are enough to exercise every path.
const std::string kTiny = " --duration 0.25 --warmup 0.1 --max-windows 4 ";

void expect_ordered(const json& p, const std::string& what) {
    if (p["count"].get<std::uint64_t>() == 0) return;
    EXPECT_LE(p["min"].get<double>(), p["p50"].get<double>()) << what;
    EXPECT_LE(p["p50"].get<double>(), p["p90"].get<double>()) << what;
    EXPECT_LE(p["p90"].get<double>(), p["p99"].get<double>()) << what;
    EXPECT_LE(p["p99"].get<double>(), p["max"].get<double>()) << what;
}

void expect_consistent_row(const json& r) {
    const std::string label = r["kind"].get<std::string>() + "/" + r["mode"].get<std::string>() + " b" +
                              std::to_string(r["batch"].get<int>()) + " c" + std::to_string(r["concurrency"].get<int>());
    ASSERT_EQ(r["error"], "") << label;
    const double seconds = r["stability"]["measured_s"];
    const auto tiles = r["counts"]["tiles"].get<std::uint64_t>();
    const auto images = r["counts"]["images"].get<std::uint64_t>();
    const auto requests = r["counts"]["requests"].get<std::uint64_t>();
    ASSERT_GT(seconds, 0) << label;
    ASSERT_GT(tiles, 0u) << label;
    EXPECT_NEAR(r["tiles_per_s"].get<double>() * seconds, static_cast<double>(tiles), 1e-6 * tiles) << label;
    EXPECT_NEAR(r["images_per_s"].get<double>() * seconds, static_cast<double>(images), 1e-6 * (images + 1)) << label;
    EXPECT_LE(r["stability"]["reported_windows"].get<int>(), r["stability"]["windows"].get<int>()) << label;
    EXPECT_EQ(r["stability"]["window_requests_per_s"].size(), r["stability"]["windows"].get<std::size_t>()) << label;

    for (const char* part : {"tile", "image"})
        for (auto& [stage, p] : r["latency_ms"][part].items()) expect_ordered(p, label + " " + part + "." + stage);
    EXPECT_EQ(r["latency_ms"]["tile"]["total"]["count"].get<std::uint64_t>(), tiles) << label;

    std::uint64_t hist_batches = 0;
    double hist_items = 0;
    for (auto& [size, count] : r["batches"]["histogram"].items()) {
        const int s = std::stoi(size);
        EXPECT_GE(s, 1) << label;
        EXPECT_LE(s, r["effective_batch"].get<int>()) << label;
        hist_batches += count.get<std::uint64_t>();
        hist_items += s * count.get<double>();
    }
    EXPECT_EQ(hist_batches, r["batches"]["count"].get<std::uint64_t>()) << label;
    EXPECT_NEAR(r["batches"]["mean_size"].get<double>(), hist_items / hist_batches, 1e-9) << label;

    if (r["kind"] == "bare") {
        EXPECT_EQ(images, 0u) << label;
        EXPECT_EQ(hist_batches, requests) << label;  // one batch per run
        EXPECT_EQ(tiles, requests * r["batch"].get<std::uint64_t>()) << label;
        EXPECT_TRUE(r["efficiency"].is_null()) << label;
    } else {
        EXPECT_EQ(images, requests) << label;
        EXPECT_EQ(tiles, images * r["tiles_per_image"].get<std::uint64_t>()) << label;
        EXPECT_EQ(r["latency_ms"]["image"]["total"]["count"].get<std::uint64_t>(), images) << label;
        // Every tile sits in one batch, so the batches seen hold at least the tiles seen
        // (batches straddling the window edges hold tiles of images outside it).
        EXPECT_GE(hist_items, static_cast<double>(tiles)) << label;
        ASSERT_FALSE(r["efficiency"].is_null()) << label;
        EXPECT_NEAR(r["efficiency"].get<double>(), r["tiles_per_s"].get<double>() / r["bare_tiles_per_s"].get<double>(),
                    1e-9)
            << label;
    }
    EXPECT_GE(r["memory_kb"]["peak_hwm"].get<std::int64_t>(), r["memory_kb"]["rss_at_end"].get<std::int64_t>()) << label;
    EXPECT_EQ(r["memory_kb"]["rss_growth"].get<std::int64_t>(),
              r["memory_kb"]["rss_at_end"].get<std::int64_t>() - r["memory_kb"]["rss_after_warmup"].get<std::int64_t>())
        << label;
}

std::vector<std::string> split_csv_line(const std::string& line) {
    std::vector<std::string> out;
    std::string cur;
    bool quoted = false;
    for (std::size_t i = 0; i < line.size(); ++i) {
        const char c = line[i];
        if (quoted) {
            if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') cur += '"', ++i;
            else if (c == '"') quoted = false;
            else cur += c;
        } else if (c == '"') {
            quoted = true;
        } else if (c == ',') {
            out.push_back(cur), cur.clear();
        } else {
            cur += c;
        }
    }
    out.push_back(cur);
    return out;
}

}  // namespace

TEST(BenchCli, TinyBenchReportIsInternallyConsistent) {
    TILEDET_REQUIRE_GENERATED("yolo_nc3_dynamic.onnx");
    const auto js = temp_path("tiny.json"), csv = temp_path("tiny.csv");
    // 640x320 cut into two 320x320 tiles, sequential and dynamic batch 2, two producers.
    const CliResult r = run_cli("bench --model " + model("yolo_nc3_dynamic.onnx") +
                                " --synthetic 640x320 --tile 320x320 --overlap 0 --batch 2"
                                " --mode sequential,dynamic --concurrency 2 --threads 1" +
                                kTiny + "--json " + js.string() + " --csv " + csv.string());
    ASSERT_EQ(r.code, 0) << r.output;
    const json j = read_json(js);
    EXPECT_EQ(j["model"], model("yolo_nc3_dynamic.onnx"));
    ASSERT_FALSE(j["rows"].empty());
    bool pipeline_built = true;
    for (const auto& n : j["notes"])
        if (n.get<std::string>().find("no pipeline module") != std::string::npos) pipeline_built = false;
    std::size_t bare = 0, pipe = 0;
    for (const auto& row : j["rows"]) {
        SCOPED_TRACE(row.dump().substr(0, 200));
        expect_consistent_row(row);
        (row["kind"] == "bare" ? bare : pipe)++;
    }
    EXPECT_EQ(bare, 2u);  // batch 1 (for sequential) and batch 2
    if (pipeline_built) {
        ASSERT_EQ(pipe, 2u);
        for (const auto& row : j["rows"])
            if (row["kind"] == "pipeline") {
                EXPECT_EQ(row["tiles_per_image"], 2);
                EXPECT_EQ(row["concurrency"], 2);
                EXPECT_EQ(row["effective_batch"], row["mode"] == "sequential" ? 1 : 2);
            }
    }

    std::ifstream f(csv);
    std::string line;
    std::vector<std::string> lines;
    while (std::getline(f, line)) lines.push_back(line);
    ASSERT_EQ(lines.size(), j["rows"].size() + 1);
    const auto header = split_csv_line(lines[0]);
    for (std::size_t i = 1; i < lines.size(); ++i) EXPECT_EQ(split_csv_line(lines[i]).size(), header.size()) << lines[i];
    fs::remove(js), fs::remove(csv);
}

TEST(BenchCli, MissingGnuplotIsSaidClearlyAndJsonCsvAreStillWritten) {
    TILEDET_REQUIRE_GENERATED("yolo_nc3_dynamic.onnx");
    const auto js = temp_path("nognuplot.json"), csv = temp_path("nognuplot.csv"), png = temp_path("nognuplot.png");
    const CliResult r = run_cli("bench --model " + model("yolo_nc3_dynamic.onnx") + " --bare-only --batch 1" + kTiny +
                                    "--json " + js.string() + " --csv " + csv.string() + " --plot " + png.string(),
                                "TILEDET_GNUPLOT=/nonexistent/gnuplot");
    EXPECT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find("gnuplot is not installed"), std::string::npos) << r.output;
    EXPECT_TRUE(fs::exists(js));
    EXPECT_TRUE(fs::exists(csv));
    EXPECT_FALSE(fs::exists(png));
    fs::remove(js), fs::remove(csv), fs::remove(png.string() + ".gp");
}

TEST(BenchCli, PlotIsAPngWhenGnuplotIsInstalled) {
    TILEDET_REQUIRE_GENERATED("yolo_nc3_dynamic.onnx");
    if (!fs::exists("/usr/bin/gnuplot")) GTEST_SKIP() << "gnuplot is not installed here";
    const auto png = temp_path("plot.png");
    const CliResult r = run_cli("bench --model " + model("yolo_nc3_dynamic.onnx") + " --bare-only --batch 1,2" + kTiny +
                                "--plot " + png.string());
    ASSERT_EQ(r.code, 0) << r.output;
    std::ifstream f(png, std::ios::binary);
    char magic[4] = {};
    f.read(magic, 4);
    EXPECT_EQ(std::string(magic + 1, 3), "PNG") << r.output;
    fs::remove(png), fs::remove(png.string() + ".gp");
}

TEST(BenchCli, ModelWithoutADetectorFamilyStillGetsItsBareRows) {
    TILEDET_REQUIRE_GENERATED("no_batch_axis.onnx");
    const auto js = temp_path("nobatch.json");
    const CliResult r = run_cli("bench --model " + model("no_batch_axis.onnx") + " --batch 1,2" + kTiny + "--json " +
                                js.string());
    ASSERT_EQ(r.code, 0) << r.output;
    const json j = read_json(js);
    ASSERT_FALSE(j["rows"].empty());
    for (const auto& row : j["rows"]) {
        expect_consistent_row(row);
        EXPECT_EQ(row["kind"], "bare");
        EXPECT_EQ(row["batch"], 1);  // batch 2 cannot run without a batch axis
    }
    fs::remove(js);
}

TEST(BenchCli, BadBatchListIsBadUsageInOneLine) {
    TILEDET_REQUIRE_GENERATED("yolo_nc3_dynamic.onnx");
    const CliResult r = run_cli("bench --model " + model("yolo_nc3_dynamic.onnx") + " --batch 0,x");
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.output.find("--batch"), std::string::npos) << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
}

TEST(BenchCli, LimitsRefuseAHugeSyntheticImageAndAHugeModelInputInOneLineBeforeAnyRow) {
    // --synthetic 100000x100000 once allocated 30 GB; a model over the input limit printed an
    // error per row and exited 1.
    TILEDET_REQUIRE_GENERATED("yolo_nc3_dynamic.onnx");
    CliResult r = run_cli("bench --model " + model("yolo_nc3_dynamic.onnx") + " --synthetic 100000x100000");
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_NE(r.output.find("--synthetic 100000x100000 has pixels: 10,000,000,000 exceeds the limit of 268,435,456 "
                            "(--max-image-pixels)"),
              std::string::npos)
        << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
    r = run_cli("bench --model " + model("yolo_nc3_dynamic.onnx") + " --max-input-elements 1000");
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_NE(r.output.find("yolo_nc3_dynamic.onnx: model input"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("exceeds the limit of 1,000 (--max-input-elements)"), std::string::npos) << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
    // --batch 100000 once started 200000 producer threads and grew to 22 GB before the OOM killer.
    r = run_cli("bench --model " + model("yolo_nc3_dynamic.onnx") + " --batch 100000");
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_NE(r.output.find("--batch: expected comma-separated whole numbers from 1 to 256, got '100000'"),
              std::string::npos)
        << r.output;
    r = run_cli("bench --model " + model("yolo_nc3_dynamic.onnx") + " --concurrency 1,5000");
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_NE(r.output.find("--concurrency: expected comma-separated whole numbers from 1 to 1024"), std::string::npos)
        << r.output;
    // --duration nan printed an all-zero row and exited 0; --warmup 1e9 waited for 30 years.
    for (const auto& [flag, words] : std::vector<std::pair<std::string, std::string>>{
             {"--duration nan", "--duration: expected seconds from 0 to 86400"},
             {"--warmup 1e9", "--warmup: expected seconds from 0 to 3600, got 1000000000"},
             {"--stability -5", "--stability: expected a percentage from 0.1 to 100, got -5"},
             {"--max-windows 0", "--max-windows: expected a window count from 1 to 1000, got 0"},
             {"--mode ,", "--mode: expected sequential, dynamic and/or instances"}}) {
        r = run_cli("bench --model " + model("yolo_nc3_dynamic.onnx") + " " + flag);
        EXPECT_EQ(r.code, 2) << flag << ": " << r.output;
        EXPECT_NE(r.output.find(words), std::string::npos) << flag << ": " << r.output;
    }
    r = run_cli("bench --model " + model("yolo_nc3_dynamic.onnx") + " --synthetic 0x0");
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_NE(r.output.find("got '0x0'"), std::string::npos) << "the value as typed: " << r.output;
}
