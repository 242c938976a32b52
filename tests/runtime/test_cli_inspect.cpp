// The CLI's exit codes and messages on good and bad model files.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "cli_runner.hpp"
#include "test_paths.hpp"

namespace {

using tiledet::testing::CliResult;
using tiledet::testing::run_cli;

std::filesystem::path temp_file(const std::string& name, const std::string& content) {
    auto p = std::filesystem::temp_directory_path() / ("tiledet_test_" + std::to_string(::getpid()) + "_" + name);
    std::ofstream(p, std::ios::binary) << content;
    return p;
}

int count_lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

}  // namespace

TEST(CliInspect, MissingFileIsOneLineAndExitTwo) {
    const auto r = run_cli("inspect /nonexistent/model.onnx");
    EXPECT_EQ(r.code, 2);
    EXPECT_EQ(count_lines(r.output), 1) << r.output;
    EXPECT_NE(r.output.find("/nonexistent/model.onnx"), std::string::npos);
}

TEST(CliInspect, NonOnnxFileIsOneLineAndExitTwo) {
    const auto p = temp_file("junk.onnx", "this is not a model\n");
    const auto r = run_cli("inspect " + p.string());
    EXPECT_EQ(r.code, 2);
    EXPECT_EQ(count_lines(r.output), 1) << r.output;
    std::filesystem::remove(p);
}

TEST(CliInspect, TruncatedModelIsOneLineAndExitTwo) {
    TILEDET_REQUIRE_GENERATED("yolo_dynamic.onnx");
    std::ifstream in(tiledet::testing::generated_model("yolo_dynamic.onnx"), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    const auto p = temp_file("truncated.onnx", bytes.substr(0, bytes.size() / 2));
    const auto r = run_cli("inspect " + p.string());
    EXPECT_EQ(r.code, 2);
    EXPECT_EQ(count_lines(r.output), 1) << r.output;
    std::filesystem::remove(p);
}

TEST(CliInspect, StaticModelReportsStaticBatchOneInTheOriginalWords) {
    TILEDET_REQUIRE_GENERATED("yolo_static.onnx");
    const auto r = run_cli("inspect " + tiledet::testing::generated_model("yolo_static.onnx").string());
    EXPECT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find("images [1, 3, 640, 640]"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("static batch 1: batches of more than 1 will be rejected"), std::string::npos);
    EXPECT_NE(r.output.find("tiledet batchify"), std::string::npos);
}

TEST(CliInspect, Yolov8nInt8IsStaticAndDeimv2IsDynamicN) {
    TILEDET_REQUIRE_SHARED("models/yolov8n_int8.onnx");
    auto r = run_cli("inspect " + tiledet::testing::shared_path("models/yolov8n_int8.onnx").string());
    EXPECT_EQ(r.code, 0);
    EXPECT_NE(r.output.find("images [1, 3, 640, 640]"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("static batch 1"), std::string::npos);
    r = run_cli("inspect --json " + tiledet::testing::shared_path("models/deimv2_hgnetv2_atto_coco.onnx").string());
    EXPECT_EQ(r.code, 0);
    const auto j = nlohmann::json::parse(r.output);
    EXPECT_EQ(j["batch"]["kind"], "dynamic");
    EXPECT_EQ(j["batch"]["symbol"], "N");
    EXPECT_EQ(j["inputs"].size(), 2u);
    EXPECT_EQ(j["inputs"][0]["dims"][0], "N");
}

// ONNX Runtime 1.29 on Linux keeps a telemetry device id and event cache under
// $HOME/.cache/Microsoft/DeveloperTools/.onnxruntime and uploads usage events unless
// ORT_DISABLE_TELEMETRY is set before its first OrtEnv. tiledet opts out unless the user set the
// variable: a run with a fresh HOME leaves no such folder, and ORT_DISABLE_TELEMETRY=0 (the
// user's explicit choice) still lets ONNX Runtime create it, which shows the check can fail.
TEST(CliInspect, OnnxRuntimeTelemetryIsOffUnlessTheUserAsksForIt) {
    TILEDET_REQUIRE_GENERATED("yolo_static.onnx");
    const auto model = tiledet::testing::generated_model("yolo_static.onnx").string();
    const auto home = std::filesystem::temp_directory_path() / ("tiledet_test_home_" + std::to_string(::getpid()));
    std::filesystem::remove_all(home);
    std::filesystem::create_directories(home);
    // ONNX Runtime also keeps telemetry off on CI services it recognizes by these variables (the
    // names are strings in libonnxruntime.so 1.29; a generic CI=true is one of them).
    std::string env = "env -u ORT_DISABLE_TELEMETRY -u XDG_CACHE_HOME";
    for (const char* ci : {"CI", "TF_BUILD", "GITHUB_ACTIONS", "GITLAB_CI", "CIRCLECI", "TRAVIS", "JENKINS_URL", "CODEBUILD_BUILD_ID", "BUILDKITE", "TEAMCITY_VERSION", "APPVEYOR", "BITBUCKET_BUILD_NUMBER"})
        env += std::string(" -u ") + ci;
    env += " HOME=" + home.string() + " ";
    const auto cache = home / ".cache" / "Microsoft";

    auto r = tiledet::testing::run_command(env + TILEDET_CLI_PATH + " inspect " + model);
    EXPECT_EQ(r.code, 0) << r.output;
    EXPECT_FALSE(std::filesystem::exists(cache)) << "ONNX Runtime wrote its telemetry cache: " << cache;

    r = tiledet::testing::run_command(env + "ORT_DISABLE_TELEMETRY=0 " + TILEDET_CLI_PATH + " inspect " + model);
    EXPECT_EQ(r.code, 0) << r.output;
    EXPECT_TRUE(std::filesystem::exists(cache)) << "with ORT_DISABLE_TELEMETRY=0 ONNX Runtime's telemetry should run";
    std::filesystem::remove_all(home);
}
