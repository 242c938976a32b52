// BatchPolicy::pin_instances: one core per instance when each instance keeps exactly one CPU
// thread busy and there is one instance per core this process may use; never otherwise.
#include <gtest/gtest.h>

#include <pthread.h>
#include <sched.h>

#include <cstdlib>
#include <tuple>
#include <memory>
#include <mutex>
#include <vector>

#include "fake_backends.hpp"

using namespace tiledet;
using namespace tiledet::testing;

namespace {

std::vector<int> cpus_of(const cpu_set_t& set) {
    std::vector<int> v;
    for (int c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &set)) v.push_back(c);
    return v;
}

std::vector<int> process_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return {};
    return cpus_of(set);
}

// An EchoBackend that says how many CPU threads a run keeps busy and records the CPUs the
// thread calling run() may use.
class CpuBackend : public EchoBackend {
public:
    explicit CpuBackend(int threads) : threads_(threads) {}
    int cpu_threads_per_run() const override { return threads_; }
    std::vector<Tensor> run(const std::vector<Tensor>& in) override {
        cpu_set_t set;
        CPU_ZERO(&set);
        pthread_getaffinity_np(pthread_self(), sizeof set, &set);
        {
            std::lock_guard lk(mu_);
            seen_ = cpus_of(set);
        }
        return EchoBackend::run(in);
    }
    std::vector<int> seen() const {
        std::lock_guard lk(mu_);
        return seen_;
    }

private:
    int threads_;
    mutable std::mutex mu_;
    std::vector<int> seen_;
};

struct PinnedRun {
    std::vector<int> pinned;
    std::vector<std::vector<int>> seen;  // by instance
};

// One request per instance, held until all have entered run(), so every instance runs one.
PinnedRun run_instances(std::size_t n, int threads_per_run, bool pin) {
    std::vector<std::unique_ptr<Backend>> backends;
    std::vector<CpuBackend*> raw;
    for (std::size_t i = 0; i < n; ++i) {
        auto b = std::make_unique<CpuBackend>(threads_per_run);
        b->blocking();
        raw.push_back(b.get());
        backends.push_back(std::move(b));
    }
    BatchPolicy policy;
    policy.max_batch_size = 1;
    policy.pin_instances = pin;
    BatchExecutor ex(std::move(backends), policy);
    std::vector<std::future<Result>> futures;
    for (std::size_t i = 0; i < n; ++i) futures.push_back(ex.submit(item(static_cast<float>(i))));
    for (CpuBackend* b : raw) EXPECT_TRUE(b->wait_entered(1));
    for (CpuBackend* b : raw) b->release();
    for (auto& f : futures) EXPECT_NO_THROW(f.get());
    PinnedRun r;
    r.pinned = ex.pinned_cpus();
    for (CpuBackend* b : raw) r.seen.push_back(b->seen());
    return r;
}

}  // namespace

TEST(Pinning, OneSingleThreadedInstancePerCoreRunsEachOnItsOwnCore) {
    const std::vector<int> cpus = process_cpus();
    if (cpus.size() < 2 || cpus.size() > 16) GTEST_SKIP() << "needs 2 to 16 usable CPUs, this process has " << cpus.size();
    const PinnedRun r = run_instances(cpus.size(), 1, true);
    EXPECT_EQ(r.pinned, cpus);
    for (std::size_t i = 0; i < cpus.size(); ++i)
        EXPECT_EQ(r.seen[i], std::vector<int>{cpus[i]}) << "instance " << i << " ran outside its core";
}

TEST(Pinning, NeverWhenOffWhenThreadsAreUnknownOrManyOrInstancesAreFewerThanCores) {
    const std::vector<int> cpus = process_cpus();
    if (cpus.size() < 2 || cpus.size() > 16) GTEST_SKIP() << "needs 2 to 16 usable CPUs, this process has " << cpus.size();
    for (const auto& [n, threads, pin] : {std::tuple{cpus.size(), 1, false},   // pin_instances = false
                                          std::tuple{cpus.size(), 0, true},    // a GPU, or unknown
                                          std::tuple{cpus.size(), 2, true},    // several threads per run
                                          std::tuple{cpus.size() - 1, 1, true}}) {
        const PinnedRun r = run_instances(n, threads, pin);
        EXPECT_TRUE(r.pinned.empty()) << n << " instances, " << threads << " threads, pin " << pin;
        for (const auto& seen : r.seen) EXPECT_EQ(seen, cpus) << "a worker was pinned: " << n << " instances";
    }
}

TEST(Pinning, TheEnvironmentTurnsItOff) {
    const std::vector<int> cpus = process_cpus();
    if (cpus.size() < 2 || cpus.size() > 16) GTEST_SKIP() << "needs 2 to 16 usable CPUs, this process has " << cpus.size();
    ::setenv("TILEDET_PIN_INSTANCES", "off", 1);
    const PinnedRun r = run_instances(cpus.size(), 1, true);
    ::unsetenv("TILEDET_PIN_INSTANCES");
    EXPECT_TRUE(r.pinned.empty());
    for (const auto& seen : r.seen) EXPECT_EQ(seen, cpus);
}
