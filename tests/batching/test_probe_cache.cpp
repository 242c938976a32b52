// The warm-up probe's answers are cached per model file: a restart reads them instead of running
// the probe batches again, and what the cache says is what the executor acts on.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "fake_backends.hpp"
#include "test_paths.hpp"

using namespace tiledet;
using namespace tiledet::testing;
namespace fs = std::filesystem;

namespace {

ModelOptions one_thread() {
    ModelOptions o;
    o.intra_op_threads = 1;
    return o;
}

struct TempCache {
    fs::path dir = fs::temp_directory_path() / ("tiledet_probe_cache_" + std::to_string(::getpid()) + "_" +
                                                ::testing::UnitTest::GetInstance()->current_test_info()->name());
    TempCache() { fs::remove_all(dir); }
    ~TempCache() { fs::remove_all(dir); }
};

BatchPolicy cached_policy(const std::string& dir) {
    BatchPolicy p;
    p.max_batch_size = 4;
    p.probe_cache_dir = dir;
    return p;
}

std::string read_all(const fs::path& p) {
    std::ifstream in(p);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST(ProbeCache, FirstStartWritesOneEntryPerProbedSizeForThisModelFile) {
    TILEDET_REQUIRE_GENERATED("official_rtdetr_dynamic.onnx");
    TempCache cache;
    auto backend = std::make_unique<ModelBackend>(
        Model::load(generated_model("official_rtdetr_dynamic.onnx").string(), one_thread()));
    const std::string key = backend->probe_cache_key();
    ASSERT_FALSE(key.empty());
    BatchExecutor ex(std::move(backend), cached_policy(cache.dir.string()));
    EXPECT_FALSE(ex.sequential());
    for (int size : {2, 3, 4}) {
        const fs::path entry = cache.dir / "probe" / (key + "-b" + std::to_string(size));
        ASSERT_TRUE(fs::exists(entry)) << entry;
        EXPECT_EQ(read_all(entry).rfind("ok ", 0), 0u) << read_all(entry);
    }
}

TEST(ProbeCache, CachedAnswerIsUsedInsteadOfRunningTheProbe) {
    TILEDET_REQUIRE_GENERATED("official_rtdetr_dynamic.onnx");
    TempCache cache;
    // A model that runs at every size, with a planted cached failure at 2: the executor can only
    // fall back if it read the cache instead of probing.
    auto backend = std::make_unique<ModelBackend>(
        Model::load(generated_model("official_rtdetr_dynamic.onnx").string(), one_thread()));
    fs::create_directories(cache.dir / "probe");
    std::ofstream(cache.dir / "probe" / (backend->probe_cache_key() + "-b2")) << "fail 1.5\nplanted failure";
    CapturedLog log;
    BatchExecutor ex(std::move(backend), cached_policy(cache.dir.string()), log.sink());
    EXPECT_TRUE(ex.sequential());
    EXPECT_EQ(log.count_containing("planted failure"), 1);
}

TEST(ProbeCache, AnotherModelFileHasAnotherKeyAndAnEmptyFolderSettingTurnsTheCacheOff) {
    TILEDET_REQUIRE_GENERATED("official_rtdetr_dynamic.onnx");
    TILEDET_REQUIRE_GENERATED("rfdetr_dynamic.onnx");
    const ModelBackend a(Model::load(generated_model("official_rtdetr_dynamic.onnx").string(), one_thread()));
    const ModelBackend b(Model::load(generated_model("rfdetr_dynamic.onnx").string(), one_thread()));
    const ModelBackend a_again(Model::load(generated_model("official_rtdetr_dynamic.onnx").string(), one_thread()));
    EXPECT_NE(a.probe_cache_key(), b.probe_cache_key());
    EXPECT_EQ(a.probe_cache_key(), a_again.probe_cache_key());

    // The default folder comes from $TILEDET_CACHE_DIR; "" turns the cache off even so.
    TempCache cache;
    ASSERT_EQ(::setenv("TILEDET_CACHE_DIR", cache.dir.c_str(), 1), 0);
    BatchPolicy off = cached_policy("");
    {
        BatchExecutor ex(std::make_unique<ModelBackend>(
                             Model::load(generated_model("official_rtdetr_dynamic.onnx").string(), one_thread())),
                         off);
        EXPECT_FALSE(ex.sequential());
    }
    EXPECT_FALSE(fs::exists(cache.dir / "probe"));
    BatchPolicy by_default = cached_policy("");
    by_default.probe_cache_dir.reset();
    {
        BatchExecutor ex(std::make_unique<ModelBackend>(
                             Model::load(generated_model("official_rtdetr_dynamic.onnx").string(), one_thread())),
                         by_default);
    }
    EXPECT_TRUE(fs::exists(cache.dir / "probe" / (a.probe_cache_key() + "-b2")));
    ::unsetenv("TILEDET_CACHE_DIR");
}
