// The auto configuration (instances x threads x max batch, measured once and cached): what is
// measured, what is read back, what invalidates an entry, and that given values win. Timing is
// never asserted: which cell wins depends on the machine; the tests check the bookkeeping.
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <string>

#include "test_paths.hpp"
#include "auto_config_impl.hpp"
#include "tiledet/error.hpp"
#include "tiledet/pipeline/auto_config.hpp"
#include "tiledet/pipeline/options.hpp"
#include "tiledet/pipeline/pipeline.hpp"
#include "tiledet/pipeline/result_json.hpp"

namespace fs = std::filesystem;
using namespace tiledet;
using tiledet::testing::generated_model;

namespace {

class AutoConfig : public ::testing::Test {
protected:
    void SetUp() override {
        // tests/common/test_env.cpp turns it off for every other test.
        ::setenv("TILEDET_AUTO_CONFIG", "on", 1);
        cache_ = fs::temp_directory_path() /
                 ("tiledet_auto_config_" + std::to_string(::getpid()) + "_" +
                  ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(cache_);
    }
    void TearDown() override {
        ::setenv("TILEDET_AUTO_CONFIG", "off", 1);
        fs::remove_all(cache_);
    }
    PipelineOptions options(int cores = 2) const {
        PipelineOptions o;
        o.auto_config.cache_dir = cache_.string();
        o.auto_config.cores = cores;
        o.auto_config.budget = std::chrono::milliseconds(1500);
        // CTest runs other tests beside this one: they must not keep an answer out of the cache
        // (ABusyMachinesAnswerIsUsedButNotCached tests the limit).
        o.auto_config.max_other_load = 1.0;
        o.batching.probe_cache_dir = "";
        return o;
    }
    std::size_t entries() const {
        if (!fs::exists(cache_ / "auto")) return 0;
        std::size_t n = 0;
        for (const auto& e : fs::directory_iterator(cache_ / "auto")) n += e.is_regular_file() ? 1 : 0;
        return n;
    }
    fs::path cache_;
};

const std::string kStatic = "yolo_static.onnx";    // static batch 1
const std::string kDynamic = "yolo_dynamic.onnx";  // dynamic batch

TEST_F(AutoConfig, MeasuresOnceThenReadsTheCache) {
    TILEDET_REQUIRE_GENERATED(kStatic);
    AutoConfigChoice first;
    {
        Pipeline p(generated_model(kStatic).string(), options());
        first = p.config();
        EXPECT_EQ(first.source, AutoConfigChoice::Source::measured) << first.describe();
        EXPECT_EQ(first.static_batch, 1);  // what runs, not the policy's max batch
        EXPECT_NE(first.describe().find("static batch 1"), std::string::npos) << first.describe();
        ASSERT_FALSE(first.cells.empty());
        EXPECT_GT(first.measure_ms, 0);
        EXPECT_FALSE(first.cache_file.empty());
        EXPECT_TRUE(fs::exists(first.cache_file));
        // The executor runs what was chosen.
        EXPECT_EQ(p.executor().instances(), static_cast<std::size_t>(first.instances));
        EXPECT_EQ(p.options().batching.instances, first.instances);
        // A static batch-1 model only has batch 1 to measure; on 2 cores, 1x2 and 2x1 are tried.
        std::set<int> instances;
        for (const AutoConfigCell& c : first.cells) {
            EXPECT_EQ(c.batch, 1);
            EXPECT_GT(c.tiles_per_s, 0);
            EXPECT_EQ(c.instances * c.threads, 2);
            instances.insert(c.instances);
        }
        EXPECT_EQ(instances, (std::set<int>{1, 2}));
        // The pick is the best measured cell, except that more instances win within 5 %
        // (AutoConfigPick below): a faster cell has fewer instances and is at most 5 % faster.
        const AutoConfigCell* picked = nullptr;
        for (const AutoConfigCell& c : first.cells)
            if (c.instances == first.instances && c.threads == first.threads) picked = &c;
        ASSERT_NE(picked, nullptr) << first.describe();
        for (const AutoConfigCell& c : first.cells)
            if (c.tiles_per_s > picked->tiles_per_s) {
                EXPECT_LT(c.instances, picked->instances) << first.describe();
                EXPECT_LE(c.tiles_per_s, picked->tiles_per_s * 1.05) << first.describe();
            }
    }
    EXPECT_EQ(entries(), 1u);
    Pipeline second(generated_model(kStatic).string(), options());
    EXPECT_EQ(second.config().source, AutoConfigChoice::Source::cached) << second.config().describe();
    EXPECT_TRUE(second.config().cells.empty());
    EXPECT_EQ(second.config().measure_ms, 0);
    EXPECT_EQ(second.config().instances, first.instances);
    EXPECT_EQ(second.config().threads, first.threads);
    EXPECT_EQ(second.config().max_batch_size, first.max_batch_size);
    EXPECT_EQ(second.executor().instances(), static_cast<std::size_t>(first.instances));
}

TEST_F(AutoConfig, AnotherModelOrCoreCountIsMeasuredAgain) {
    TILEDET_REQUIRE_GENERATED(kStatic);
    TILEDET_REQUIRE_GENERATED(kDynamic);
    { Pipeline p(generated_model(kStatic).string(), options(2)); }
    ASSERT_EQ(entries(), 1u);
    {
        Pipeline p(generated_model(kDynamic).string(), options(2));
        EXPECT_EQ(p.config().source, AutoConfigChoice::Source::measured);
        // A dynamic model is measured at more than one batch size for at least one instance count.
        std::set<int> batches;
        for (const AutoConfigCell& c : p.config().cells) batches.insert(c.batch);
        EXPECT_GE(batches.size(), 2u) << p.config().describe();
    }
    EXPECT_EQ(entries(), 2u);
    {
        Pipeline p(generated_model(kStatic).string(), options(1));
        EXPECT_EQ(p.config().source, AutoConfigChoice::Source::measured) << "a changed core count is a new key";
        EXPECT_EQ(p.config().cores, 1);
        for (const AutoConfigCell& c : p.config().cells) EXPECT_EQ(c.instances * c.threads, 1);
        EXPECT_EQ(p.config().instances, 1);
    }
    EXPECT_EQ(entries(), 3u);
    {
        PipelineOptions longer = options(2);
        set_option(longer, "auto_budget_ms", "3000");
        Pipeline p(generated_model(kStatic).string(), longer);
        EXPECT_EQ(p.config().source, AutoConfigChoice::Source::measured) << "a changed budget is a new key";
    }
    EXPECT_EQ(entries(), 4u);
    // The old entries are still good.
    Pipeline again(generated_model(kStatic).string(), options(2));
    EXPECT_EQ(again.config().source, AutoConfigChoice::Source::cached);
}

TEST_F(AutoConfig, GivenValuesWin) {
    TILEDET_REQUIRE_GENERATED(kDynamic);
    PipelineOptions o = options();
    set_option(o, "instances", "1");  // the default value, but given
    set_option(o, "batch", "2");
    {
        Pipeline p(generated_model(kDynamic).string(), o);
        const AutoConfigChoice& c = p.config();
        EXPECT_EQ(c.source, AutoConfigChoice::Source::measured);  // threads were not given
        EXPECT_EQ(c.instances, 1);
        EXPECT_EQ(c.max_batch_size, 2);
        for (const AutoConfigCell& cell : c.cells) {
            EXPECT_EQ(cell.instances, 1);
            EXPECT_EQ(cell.batch, 2);
        }
        EXPECT_EQ(p.options().batching.max_batch_size, 2);
    }
    // "auto" takes a value back.
    PipelineOptions back = o;
    set_option(back, "batch", "auto");
    EXPECT_FALSE(back.auto_config.batch_given);
    EXPECT_EQ(back.batching.max_batch_size, PipelineOptions{}.batching.max_batch_size);
    // All three given: nothing is measured or cached.
    set_option(o, "threads", "1");
    std::size_t before = entries();
    {
        Pipeline p(generated_model(kDynamic).string(), o);
        EXPECT_EQ(p.config().source, AutoConfigChoice::Source::manual);
        EXPECT_TRUE(p.config().cells.empty());
        EXPECT_EQ(p.config().max_batch_size, 2);
        EXPECT_NE(p.config().describe().find("(instances, threads and batch all given: nothing left to choose)"),
                  std::string::npos) << p.config().describe();
    }
    EXPECT_EQ(entries(), before);
    // A field changed from its default counts as given, for callers who do not use set_option.
    PipelineOptions direct = options();
    direct.batching.instances = 2;
    Pipeline p(generated_model(kDynamic).string(), direct);
    EXPECT_EQ(p.config().instances, 2);
    EXPECT_EQ(p.executor().instances(), 2u);
    for (const AutoConfigCell& cell : p.config().cells) EXPECT_EQ(cell.instances, 2);
}

TEST_F(AutoConfig, ManualOneTileAndTheEnvironmentMeasureNothing) {
    TILEDET_REQUIRE_GENERATED(kStatic);
    PipelineOptions o = options();
    set_option(o, "config", "manual");
    {
        Pipeline p(generated_model(kStatic).string(), o);
        EXPECT_EQ(p.config().source, AutoConfigChoice::Source::manual);
        EXPECT_EQ(p.config().instances, 1);
        EXPECT_EQ(p.executor().instances(), 1u);
    }
    PipelineOptions one = options();
    one.auto_config.expected_tiles = 1;
    {
        Pipeline p(generated_model(kStatic).string(), one);
        EXPECT_EQ(p.config().source, AutoConfigChoice::Source::one_tile);
        EXPECT_EQ(p.config().instances, 1);
        EXPECT_EQ(p.config().threads, 2);  // every core
        EXPECT_TRUE(p.config().cells.empty());
    }
    ::setenv("TILEDET_AUTO_CONFIG", "off", 1);
    {
        Pipeline p(generated_model(kStatic).string(), options());
        EXPECT_EQ(p.config().source, AutoConfigChoice::Source::manual);
        // The line names what turned auto off.
        EXPECT_NE(p.config().describe().find("(TILEDET_AUTO_CONFIG turned auto off)"), std::string::npos)
            << p.config().describe();
    }
    EXPECT_EQ(entries(), 0u);
    // A value that is neither on nor off is refused, not taken for the default.
    ::setenv("TILEDET_AUTO_CONFIG", "offf", 1);
    try {
        Pipeline p(generated_model(kStatic).string(), options());
        ADD_FAILURE() << "TILEDET_AUTO_CONFIG=offf was accepted: " << p.config().describe();
    } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("TILEDET_AUTO_CONFIG='offf': expected off, 0, manual"), std::string::npos)
            << e.what();
    }
    // ... with --config manual too (a typo is a typo wherever it is read; a review took the old
    // silence for a bug).
    EXPECT_THROW(Pipeline(generated_model(kStatic).string(), o), ConfigError);
    ::setenv("TILEDET_AUTO_CONFIG", "off", 1);
    EXPECT_THROW(set_option(o, "config", "fast"), OptionError);
    EXPECT_THROW(set_option(o, "auto_budget_ms", "5"), OptionError);
}

TEST_F(AutoConfig, ASearchTheBudgetCutShortIsUsedButNotCached) {
    TILEDET_REQUIRE_GENERATED(kStatic);
    // Planned for 8 cores: instance counts 1, 8, 2, 4. The first two are measured whatever the
    // budget; 100 ms (the smallest) leaves no room for the others.
    PipelineOptions o = options(8);
    set_option(o, "auto_budget_ms", "100");
    Pipeline p(generated_model(kStatic).string(), o);
    const AutoConfigChoice& c = p.config();
    EXPECT_EQ(c.source, AutoConfigChoice::Source::measured);
    EXPECT_FALSE(c.complete);
    ASSERT_EQ(c.cells.size(), 2u) << c.describe();
    EXPECT_EQ(c.cells[0].instances, 1);
    EXPECT_EQ(c.cells[1].instances, 8);
    EXPECT_TRUE(c.cache_file.empty());
    EXPECT_EQ(entries(), 0u);
    EXPECT_NE(c.describe().find("; the budget left instance counts untried, not cached: raise --auto-budget-ms)"), std::string::npos) << c.describe();
}

// Processes that keep every usable CPU busy until this goes out of scope (SIGKILL, then reaped).
class Spinners {
public:
    explicit Spinners(int n) {
        for (int i = 0; i < n; ++i) {
            const pid_t pid = ::fork();
            if (pid == 0) {
                volatile unsigned long x = 0;  // the child only spins: nothing that needs the parent's locks
                for (;;) x = x + 1;
            }
            if (pid > 0) pids_.push_back(pid);
        }
    }
    ~Spinners() {
        for (pid_t pid : pids_) ::kill(pid, SIGKILL);
        for (pid_t pid : pids_) ::waitpid(pid, nullptr, 0);
    }
    std::size_t size() const { return pids_.size(); }

private:
    std::vector<pid_t> pids_;
};

// A measurement taken while other processes keep the CPUs busy reads their load: the pick is
// used, not cached, and the line says why; --auto-max-other-load 1 caches it anyway.
TEST_F(AutoConfig, ABusyMachinesAnswerIsUsedButNotCached) {
    TILEDET_REQUIRE_GENERATED(kStatic);
    const int cpus = usable_cores();
    Spinners busy(cpus);  // as many as our CPUs: about half of them is theirs while we measure
    ASSERT_EQ(busy.size(), static_cast<std::size_t>(cpus));
    PipelineOptions o = options();
    o.auto_config.max_other_load = PipelineOptions{}.auto_config.max_other_load;  // the default, 0.25
    {
        Pipeline p(generated_model(kStatic).string(), o);
        const AutoConfigChoice& c = p.config();
        EXPECT_EQ(c.source, AutoConfigChoice::Source::measured) << c.describe();
        EXPECT_TRUE(c.complete);
        EXPECT_GT(c.other_load, 0.25) << c.describe();
        EXPECT_LE(c.other_load, 1.0);
        EXPECT_TRUE(c.cache_file.empty()) << c.describe();
        EXPECT_NE(c.describe().find("; not cached: other processes used "), std::string::npos) << c.describe();
        EXPECT_NE(c.describe().find("% of the CPUs while it measured"), std::string::npos) << c.describe();
        EXPECT_EQ(c.describe().find(", cached"), std::string::npos) << c.describe();
        EXPECT_EQ(p.executor().instances(), static_cast<std::size_t>(c.instances));  // the pick runs
    }
    EXPECT_EQ(entries(), 0u);
    set_option(o, "auto_max_other_load", "1");
    Pipeline p(generated_model(kStatic).string(), o);
    EXPECT_EQ(p.config().source, AutoConfigChoice::Source::measured) << "nothing was cached before";
    EXPECT_FALSE(p.config().cache_file.empty()) << p.config().describe();
    EXPECT_EQ(entries(), 1u);
    EXPECT_THROW(set_option(o, "auto_max_other_load", "1.5"), OptionError);
    EXPECT_THROW(set_option(o, "auto_max_other_load", "-0.1"), OptionError);
}

// The share of the CPUs other processes took, from two readings of /proc/stat's per-CPU lines.
TEST(AutoConfigLoad, OtherProcessesShareComesFromTheListedCpusLessOurOwnTime) {
    using pipeline_detail::other_cpu_share;
    // cpuN user nice system idle iowait irq softirq steal guest guest_nice, ticks of 1/100 s.
    const std::string before =
        "cpu  500 0 100 1000 0 0 0 0 0 0\n"
        "cpu0 200 0 50 500 0 0 0 0 0 0\n"
        "cpu1 300 0 50 500 0 0 0 0 0 0\n"
        "intr 12345\n";
    // Over 2 s: cpu0 busy 150 ticks (100 user, 20 system, 10 irq, 10 softirq, 10 steal) and 50
    // idle; cpu1 busy 50, idle 150 (20 of it iowait).
    const std::string after =
        "cpu  9999 0 9999 9999 0 0 0 0 0 0\n"
        "cpu0 300 0 70 550 0 10 10 10 0 0\n"
        "cpu1 350 0 50 630 20 0 0 0 0 0\n";
    // Both CPUs: 200 busy ticks of 400 = 2 s of 4; we used 1 s: others 1 s of 4.
    ASSERT_TRUE(other_cpu_share(before, after, 1.0, {0, 1}, 100.0).has_value());
    EXPECT_DOUBLE_EQ(*other_cpu_share(before, after, 1.0, {0, 1}, 100.0), 0.25);
    EXPECT_DOUBLE_EQ(*other_cpu_share(before, after, 1.0, {}, 100.0), 0.25);  // empty: every CPU listed
    // cpu0 only: 1.5 s busy of 2, we used 0.5 s there: 0.5.
    EXPECT_DOUBLE_EQ(*other_cpu_share(before, after, 0.5, {0}, 100.0), 0.5);
    // Our time above the busy time (tick rounding): none theirs, never negative.
    EXPECT_DOUBLE_EQ(*other_cpu_share(before, after, 3.0, {0, 1}, 100.0), 0.0);
    // Nothing to say: a CPU not in the readings, no tick passed, unreadable text.
    EXPECT_FALSE(other_cpu_share(before, after, 1.0, {7}, 100.0).has_value());
    EXPECT_FALSE(other_cpu_share(before, before, 0.0, {0, 1}, 100.0).has_value());
    EXPECT_FALSE(other_cpu_share("", after, 0.0, {0, 1}, 100.0).has_value());
    EXPECT_FALSE(other_cpu_share(before, "cpu0 garbage\n", 0.0, {0, 1}, 100.0).has_value());
}

TEST_F(AutoConfig, BadOptionsFailBeforeAnyMeasurement) {
    TILEDET_REQUIRE_GENERATED(kStatic);
    PipelineOptions o = options();
    set_option(o, "tile", "640");
    set_option(o, "overlap", "700");  // not smaller than the tile
    EXPECT_THROW(Pipeline(generated_model(kStatic).string(), o), OptionError);
    EXPECT_EQ(entries(), 0u);
    // Thousands of threads (in auto and in manual): refused with what to give instead, not run
    // (a review's --threads 4096 hung inside the runtime for 11 minutes).
    const auto message = [&](PipelineOptions opts) -> std::string {
        try {
            Pipeline p(generated_model(kStatic).string(), opts);
        } catch (const ConfigError& e) {
            return e.what();
        }
        return "(no error)";
    };
    const int most = 4 * usable_cores();
    for (const char* config : {"auto", "manual"}) {
        PipelineOptions many = options();
        set_option(many, "config", config);
        set_option(many, "threads", std::to_string(most + 1));
        const std::string m = message(many);
        EXPECT_NE(m.find("threads " + std::to_string(most + 1) + ": more CPU threads than this machine can use"),
                  std::string::npos) << m;
        EXPECT_NE(m.find("give at most " + std::to_string(most) + " ("), std::string::npos) << m;
        // Instances past the same limit: each runs at least one thread (a review's --instances 64
        // on 2 cores measured for 7 s and held about 1 GB).
        PipelineOptions sessions = options();
        set_option(sessions, "config", config);
        set_option(sessions, "instances", std::to_string(most + 1));
        const std::string mi = message(sessions);
        EXPECT_NE(mi.find("instances " + std::to_string(most + 1) + ": more instances than this machine can use"),
                  std::string::npos) << mi;
        EXPECT_NE(mi.find("give at most " + std::to_string(most) + " ("), std::string::npos) << mi;
        // More instances than a given total of threads.
        PipelineOptions split = options();
        set_option(split, "config", config);
        set_option(split, "instances", "3");
        set_option(split, "threads", "2");
        EXPECT_NE(message(split).find(": instances 3 with threads 2 in all: each instance needs at least one thread; "
                                      "give threads 3 or more, or at most 2 instances"),
                  std::string::npos) << message(split);
    }
    EXPECT_EQ(entries(), 0u);
}

// A given thread total that the instances cannot share equally: the line says what is used,
// measured and read back from the cache.
TEST_F(AutoConfig, AThreadTotalTheInstancesCannotShareSaysWhatIsUsed) {
    TILEDET_REQUIRE_GENERATED(kStatic);
    PipelineOptions o = options(2);
    set_option(o, "instances", "2");
    set_option(o, "threads", "3");
    const std::string note = "; threads 3 in all: 2 instances share them equally and use 2";
    {
        Pipeline p(generated_model(kStatic).string(), o);
        EXPECT_EQ(p.config().source, AutoConfigChoice::Source::measured) << p.config().describe();
        EXPECT_EQ(p.config().instances * p.config().threads, 2);
        EXPECT_NE(p.config().describe().find(note), std::string::npos) << p.config().describe();
    }
    Pipeline again(generated_model(kStatic).string(), o);
    EXPECT_EQ(again.config().source, AutoConfigChoice::Source::cached) << again.config().describe();
    EXPECT_NE(again.config().describe().find(note), std::string::npos) << again.config().describe();
}

// Given instances past the cores run one thread each, and that answer is read back (an entry of
// more threads in all than cores was taken for a foreign one: every run measured again).
TEST_F(AutoConfig, MoreInstancesThanCoresGivenAreCachedToo) {
    TILEDET_REQUIRE_GENERATED(kStatic);
    PipelineOptions o = options(2);
    set_option(o, "instances", "3");
    {
        Pipeline p(generated_model(kStatic).string(), o);
        EXPECT_EQ(p.config().source, AutoConfigChoice::Source::measured) << p.config().describe();
        EXPECT_EQ(p.config().instances, 3);
        EXPECT_EQ(p.config().threads, 1);
    }
    Pipeline again(generated_model(kStatic).string(), o);
    EXPECT_EQ(again.config().source, AutoConfigChoice::Source::cached) << again.config().describe();
    EXPECT_EQ(again.config().instances, 3);
    EXPECT_EQ(again.config().threads, 1);
}

TEST_F(AutoConfig, UnreadableOrForeignEntriesAreMisses) {
    TILEDET_REQUIRE_GENERATED(kStatic);
    std::string file;
    { file = Pipeline(generated_model(kStatic).string(), options()).config().cache_file; }
    ASSERT_FALSE(file.empty());
    std::string key;
    std::getline(std::ifstream(file), key);
    // Truncated; another configuration's key; more threads in all than the 2 cores planned for.
    for (const std::string& content : {std::string("tiledet-auto"), std::string("another key\n2 1 1 10 0\n"),
                                       key + "\n2 2 2 10 0\n"}) {
        std::ofstream(file, std::ios::trunc) << content;
        Pipeline p(generated_model(kStatic).string(), options());
        EXPECT_EQ(p.config().source, AutoConfigChoice::Source::measured) << content;
    }
    // The same key with a plausible answer is read as written (so the misses above are the checks).
    std::ofstream(file, std::ios::trunc) << key << "\n1 2 1 10 1\n";
    {
        Pipeline p(generated_model(kStatic).string(), options());
        EXPECT_EQ(p.config().source, AutoConfigChoice::Source::cached);
        EXPECT_EQ(p.config().instances, 1);
        EXPECT_EQ(p.config().threads, 2);
        EXPECT_TRUE(p.config().batches_cut);
        EXPECT_EQ(p.config().failed_batch, 0);  // an entry from before the field: none failed
    }
    // A failed batch and its line are read back; a negative one is a miss.
    std::ofstream(file, std::ios::trunc) << key << "\n1 2 4 10 0 4\nbatch 4: Reshape failed\n";
    {
        Pipeline p(generated_model(kStatic).string(), options());
        EXPECT_EQ(p.config().source, AutoConfigChoice::Source::cached);
        EXPECT_EQ(p.config().failed_batch, 4);
        EXPECT_EQ(p.config().failure, "batch 4: Reshape failed");
    }
    std::ofstream(file, std::ios::trunc) << key << "\n1 2 1 10 0 -3\n";
    {
        Pipeline p(generated_model(kStatic).string(), options());
        EXPECT_EQ(p.config().source, AutoConfigChoice::Source::measured);
    }
    // An entry that cannot be replaced (a folder in its place) is not claimed as cached, and the
    // line says why every run will measure again.
    fs::remove(file);
    fs::create_directory(file);
    {
        Pipeline p(generated_model(kStatic).string(), options());
        EXPECT_EQ(p.config().source, AutoConfigChoice::Source::measured);
        EXPECT_TRUE(p.config().cache_file.empty()) << p.config().describe();
        EXPECT_NE(p.config().describe().find("not cached: cannot write "), std::string::npos) << p.config().describe();
        EXPECT_EQ(p.config().describe().find(", cached"), std::string::npos) << p.config().describe();
    }
    fs::remove(file);
    // An unusable cache folder costs the cache only, and says so.
    PipelineOptions o = options();
    o.auto_config.cache_dir = "/proc/tiledet-cannot-write-here";
    Pipeline p(generated_model(kStatic).string(), o);
    EXPECT_EQ(p.config().source, AutoConfigChoice::Source::measured);
    EXPECT_TRUE(p.config().cache_file.empty());
    EXPECT_NE(p.config().describe().find("not cached: cannot write /proc/tiledet-cannot-write-here"), std::string::npos)
        << p.config().describe();
}

// A model that declares a dynamic batch but fails at 2: the failure is reported, the failing
// size stays the max batch so the executor's probe finds it, warns and runs one at a time (as
// with --config manual), and the cached answer does the same. A given batch that fails says so
// instead of blaming the model's inputs.
TEST_F(AutoConfig, AModelThatFailsAtBatchTwoIsReportedAndRunsOneAtATime) {
    TILEDET_REQUIRE_GENERATED("official_rtdetr_fake_dynamic.onnx");
    const std::string model = generated_model("official_rtdetr_fake_dynamic.onnx").string();
    PipelineOptions o = options();
    o.auto_config.budget = std::chrono::milliseconds(60000);  // the batch-2 cell always fits
    {
        Pipeline p(model, o);
        EXPECT_EQ(p.config().source, AutoConfigChoice::Source::measured) << p.config().describe();
        EXPECT_EQ(p.config().failed_batch, 2) << p.config().describe();
        EXPECT_NE(p.config().failure.find("Reshape"), std::string::npos) << p.config().failure;
        EXPECT_EQ(p.config().failure.find('\n'), std::string::npos);
        EXPECT_NE(p.config().describe().find("; batch 2 failed while measuring: "), std::string::npos)
            << p.config().describe();
        // The line says what runs, not the max batch kept for the executor's probe.
        EXPECT_NE(p.config().describe().find(" x 1 thread, one at a time (measured "), std::string::npos)
            << p.config().describe();
        EXPECT_EQ(p.config().describe().find("max batch"), std::string::npos) << p.config().describe();
        EXPECT_EQ(p.config().max_batch_size, 2);
        EXPECT_TRUE(p.executor().sequential()) << "the executor's probe should have found batch 2 failing";
    }
    Pipeline cached(model, o);
    EXPECT_EQ(cached.config().source, AutoConfigChoice::Source::cached) << cached.config().describe();
    EXPECT_EQ(cached.config().max_batch_size, 2);
    EXPECT_TRUE(cached.executor().sequential());
    // A cached run says what the measuring one said (a review found it back at "max batch 2").
    EXPECT_EQ(cached.config().failed_batch, 2) << cached.config().describe();
    EXPECT_NE(cached.config().failure.find("Reshape"), std::string::npos) << cached.config().failure;
    EXPECT_NE(cached.config().describe().find(" x 1 thread, one at a time (cached for "), std::string::npos)
        << cached.config().describe();
    EXPECT_NE(cached.config().describe().find("; batch 2 failed while measuring: "), std::string::npos)
        << cached.config().describe();

    PipelineOptions given = options();
    set_option(given, "batch", "4");
    Pipeline p4(model, given);
    EXPECT_EQ(p4.config().source, AutoConfigChoice::Source::fallback) << p4.config().describe();
    EXPECT_EQ(p4.config().failed_batch, 4);
    EXPECT_NE(p4.config().describe().find("measuring at the given batch 4 failed: "), std::string::npos)
        << p4.config().describe();
    EXPECT_EQ(p4.config().describe().find("no probe"), std::string::npos) << p4.config().describe();
    EXPECT_TRUE(p4.executor().sequential());
}

// --threads is the total: with 1 given, no instance count above 1 is tried (2 x 1 thread would
// be 2 threads in all).
TEST_F(AutoConfig, AGivenThreadTotalCapsTheInstanceCountsTried) {
    TILEDET_REQUIRE_GENERATED(kStatic);
    PipelineOptions o = options();
    set_option(o, "threads", "1");
    Pipeline p(generated_model(kStatic).string(), o);
    ASSERT_FALSE(p.config().cells.empty()) << p.config().describe();
    for (const AutoConfigCell& c : p.config().cells) EXPECT_EQ(c.instances * c.threads, 1) << p.config().describe();
    EXPECT_EQ(p.config().instances, 1);
}

// Instance counts within 5 % of each other: more single-threaded instances win (a bare cell
// overstates a session with an intra-op pool); beyond 5 % the faster count wins either way.
TEST(AutoConfigPick, WithinFivePercentMoreInstancesWinBeyondItTheFasterDoes) {
    const auto cell = [](int instances, int threads, double tiles_per_s) {
        AutoConfigCell c;
        c.instances = instances;
        c.threads = threads;
        c.tiles_per_s = tiles_per_s;
        return c;
    };
    using pipeline_detail::cell_beats;
    // The measured case: 1 x 2 threads read 19.5, 2 x 1 thread 19.0 (one run, 2 cores).
    EXPECT_TRUE(cell_beats(cell(2, 1, 19.0), cell(1, 2, 19.5)));
    EXPECT_FALSE(cell_beats(cell(1, 2, 19.5), cell(2, 1, 19.0)));
    // Beyond the margin the measurement decides.
    EXPECT_FALSE(cell_beats(cell(2, 1, 18.0), cell(1, 2, 19.5)));
    EXPECT_TRUE(cell_beats(cell(1, 2, 21.0), cell(2, 1, 19.0)));
    // The same instance count: the faster cell.
    EXPECT_TRUE(cell_beats(cell(2, 1, 19.1), cell(2, 1, 19.0)));
    EXPECT_FALSE(cell_beats(cell(2, 1, 19.0), cell(2, 1, 19.0)));
}

// A larger batch is taken only when it pays 5 % or more (README): a review's run took batch 2 at
// +4 % and stopped there.
TEST(AutoConfigPick, ALargerBatchIsTakenOnlyWhenItPaysFivePercent) {
    using pipeline_detail::larger_batch_pays;
    EXPECT_FALSE(larger_batch_pays(22.85, 21.97));  // +4 %
    EXPECT_FALSE(larger_batch_pays(21.0, 22.0));
    EXPECT_TRUE(larger_batch_pays(23.2, 22.0));  // +5.5 %
    EXPECT_TRUE(larger_batch_pays(30.0, 22.0));
}

TEST(AutoConfigDescribe, SaysWhatAndWhy) {
    AutoConfigChoice c;
    c.source = AutoConfigChoice::Source::measured;
    c.instances = 2;
    c.threads = 1;
    c.max_batch_size = 1;
    c.cores = 2;
    c.measure_ms = 1300;
    c.cells.resize(3);
    c.cache_file = "/x";
    EXPECT_EQ(c.describe(), "auto: 2 instances x 1 thread, max batch 1 (measured 3 cells in 1.3 s on 2 cores, cached)");
    // A JSON reader sees the load it was measured under (null when unknown).
    EXPECT_NE(config_json(c).find("\"other_load\":null"), std::string::npos) << config_json(c);
    c.other_load = 0.5;
    EXPECT_NE(config_json(c).find("\"other_load\":0.5"), std::string::npos) << config_json(c);
    c.source = AutoConfigChoice::Source::one_tile;
    c.instances = 1;
    c.threads = 0;
    EXPECT_EQ(c.describe(), "auto: 1 instance x all cores, max batch 1 (one tile: lowest latency, nothing measured)");
    EXPECT_GE(usable_cores(), 1);
    c.pinned_cpus = {0, 1};
    EXPECT_EQ(c.describe(),
              "auto: 1 instance x all cores, max batch 1 (one tile: lowest latency, nothing measured), pinned to CPUs 0,1");
    // What runs first (the pinning too), then the notes.
    c.source = AutoConfigChoice::Source::measured;
    c.instances = 2;
    c.threads = 1;
    c.batches_cut = true;
    c.cache_file.clear();
    c.note = "not cached: x";
    EXPECT_EQ(c.describe(),
              "auto: 2 instances x 1 thread, max batch 1 (measured 3 cells in 1.3 s on 2 cores), pinned to CPUs 0,1; "
              "larger batches not measured: the next would have overrun --auto-budget-ms (raise it, or give --batch); "
              "not cached: x");
    c.source = AutoConfigChoice::Source::manual;
    c.note = "instances, threads and batch all given: nothing left to choose";
    EXPECT_EQ(c.describe(),
              "manual: 2 instances x 1 thread, max batch 1 (instances, threads and batch all given: nothing left to "
              "choose), pinned to CPUs 0,1");
}

// One single-threaded CPU session per usable core: the pipeline's executor pins each to its own
// core and the configuration says so; two threads per session: nothing is pinned.
TEST(PipelinePinning, OneSingleThreadedSessionPerCoreIsPinnedAndSaysSo) {
    TILEDET_REQUIRE_GENERATED(kStatic);
    const int cores = usable_cores();
    if (cores < 2 || cores > 8) GTEST_SKIP() << "needs 2 to 8 usable cores, this process has " << cores;
    PipelineOptions o;
    o.auto_config.enabled = false;
    o.batching.probe_cache_dir = "";
    o.batching.instances = cores;
    o.model.intra_op_threads = cores;  // split: 1 thread per instance
    {
        Pipeline p(generated_model(kStatic).string(), o);
        ASSERT_EQ(p.config().pinned_cpus.size(), static_cast<std::size_t>(cores)) << p.config().describe();
        EXPECT_NE(p.config().describe().find(", pinned to CPUs "), std::string::npos) << p.config().describe();
        EXPECT_EQ(std::set<int>(p.config().pinned_cpus.begin(), p.config().pinned_cpus.end()).size(),
                  static_cast<std::size_t>(cores));
    }
    o.model.intra_op_threads = 2 * cores;  // 2 threads per instance
    Pipeline p(generated_model(kStatic).string(), o);
    EXPECT_TRUE(p.config().pinned_cpus.empty()) << p.config().describe();
    EXPECT_EQ(p.config().describe().find("pinned"), std::string::npos) << p.config().describe();
}

}  // namespace
