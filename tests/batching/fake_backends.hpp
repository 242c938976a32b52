// Backends for executor tests: they compute something per item that a test can predict, and
// record what they were given.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tiledet/batching/batch_executor.hpp"

namespace tiledet::testing {

// A one-float request [1, width] holding `value` everywhere.
inline std::vector<Tensor> item(float value, int64_t width = 4) {
    Tensor t(ElementType::float32, {1, width});
    for (float& v : t.values<float>()) v = value;
    return {t};
}

inline float first_value(const Result& r) {
    return r.outputs.at(0).values<float>()[0];
}

// out0 = 2 * in0 + 1 per element (same shape), out1 = [B] holding each item's row sum. Records
// the batch sizes and shapes it ran; optionally sleeps, blocks until released, or throws.
class EchoBackend : public Backend {
public:
    explicit EchoBackend(BatchKind kind = dynamic()) : kind_(std::move(kind)) {}

    static BatchKind dynamic() { return BatchKind{BatchKind::Kind::dynamic, 0, "batch"}; }
    static BatchKind static_of(int64_t n) { return BatchKind{BatchKind::Kind::static_size, n, {}}; }

    std::vector<Tensor> run(const std::vector<Tensor>& in) override {
        const int64_t b = in.at(0).dim(0);
        int run_no = 0;
        {
            std::lock_guard lk(mu_);
            run_no = ++runs_;
            batch_sizes_.push_back(b);
            shapes_.push_back(in.at(0).shape());
        }
        entered_.fetch_add(1);
        if (block_) {
            std::unique_lock lk(gate_mu_);
            gate_cv_.wait(lk, [&] { return released_; });
        }
        if (sleep_.count() > 0) std::this_thread::sleep_for(sleep_);
        if (throw_on_run_ == run_no) throw RuntimeFailure("fake model failed on run " + std::to_string(run_no));
        if (fail_above_ > 0 && b > fail_above_)
            throw RuntimeFailure("fake model: Reshape cannot take batch " + std::to_string(b) + "\nsecond line");
        if (fail_sizes_.count(b))
            throw RuntimeFailure("fake model: Reshape cannot take batch " + std::to_string(b) + "\nsecond line");
        for (int64_t i = 0; i < b && fail_value_; ++i)
            if (in[0].values<float>()[static_cast<std::size_t>(i * in[0].numel() / b)] == *fail_value_)
                throw RuntimeFailure("fake model cannot take an item holding " + std::to_string(*fail_value_));
        if (kind_.is_static() && b != kind_.size) throw ShapeError("fake static model got batch " + std::to_string(b));
        Tensor out(ElementType::float32, in[0].shape());
        Tensor sums(ElementType::float32, {b});
        const auto src = in[0].values<float>();
        auto dst = out.values<float>();
        for (std::size_t i = 0; i < src.size(); ++i) dst[i] = 2 * src[i] + 1;
        const int64_t per = b ? in[0].numel() / b : 0;
        for (int64_t i = 0; i < b; ++i)
            for (int64_t k = 0; k < per; ++k) sums.data<float>()[i] += src[static_cast<std::size_t>(i * per + k)];
        return {out, sums};
    }
    BatchKind batch_kind() const override { return kind_; }
    std::optional<std::vector<Tensor>> probe_item() const override {
        if (!probe_) return std::nullopt;
        return item(0.f);
    }

    // Configuration (before the executor starts).
    EchoBackend& sleep_for(std::chrono::microseconds d) {
        sleep_ = d;
        return *this;
    }
    EchoBackend& throw_on_run(int k) {
        throw_on_run_ = k;
        return *this;
    }
    EchoBackend& fail_above_batch(int64_t b) {
        fail_above_ = b;
        return *this;
    }
    // Fails every batch whose size is in `sizes` (a graph that divides a constant by the batch).
    EchoBackend& fail_at_sizes(std::set<int64_t> sizes) {
        fail_sizes_ = std::move(sizes);
        return *this;
    }
    // Fails every batch that holds an item whose values are `v` (a request the model rejects).
    EchoBackend& fail_on_value(float v) {
        fail_value_ = v;
        return *this;
    }
    EchoBackend& with_probe() {
        probe_ = true;
        return *this;
    }
    EchoBackend& blocking() {
        block_ = true;
        return *this;
    }

    void release() {
        std::lock_guard lk(gate_mu_);
        released_ = true;
        gate_cv_.notify_all();
    }
    // Waits until run() has been entered `n` times in all (or 10 s pass: then the test fails).
    bool wait_entered(int n) const {
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (entered_.load() < n) {
            if (std::chrono::steady_clock::now() > until) return false;
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        return true;
    }
    int runs() const {
        std::lock_guard lk(mu_);
        return runs_;
    }
    std::vector<int64_t> batch_sizes() const {
        std::lock_guard lk(mu_);
        return batch_sizes_;
    }
    std::vector<Shape> shapes() const {
        std::lock_guard lk(mu_);
        return shapes_;
    }

private:
    BatchKind kind_;
    std::chrono::microseconds sleep_{0};
    int throw_on_run_ = 0;
    int64_t fail_above_ = 0;
    std::set<int64_t> fail_sizes_;
    std::optional<float> fail_value_;
    bool probe_ = false;
    bool block_ = false;

    mutable std::mutex mu_;
    int runs_ = 0;
    std::vector<int64_t> batch_sizes_;
    std::vector<Shape> shapes_;
    std::atomic<int> entered_{0};
    std::mutex gate_mu_;
    std::condition_variable gate_cv_;
    bool released_ = false;
};

// Collects log lines (thread-safe).
struct CapturedLog {
    std::mutex mu;
    std::vector<std::pair<LogLevel, std::string>> lines;

    LogSink sink() {
        return [this](LogLevel level, std::string_view line) {
            std::lock_guard lk(mu);
            lines.emplace_back(level, std::string(line));
        };
    }
    int count_containing(const std::string& needle) {
        std::lock_guard lk(mu);
        int n = 0;
        for (const auto& l : lines) n += l.second.find(needle) != std::string::npos;
        return n;
    }
    std::vector<std::string> at(LogLevel level) {
        std::lock_guard lk(mu);
        std::vector<std::string> out;
        for (const auto& l : lines)
            if (l.first == level) out.push_back(l.second);
        return out;
    }
};

// A policy that sends a batch only when it is full (or at shutdown): batches are deterministic.
inline BatchPolicy full_batches_only(int max_batch) {
    BatchPolicy p;
    p.max_batch_size = max_batch;
    p.max_queue_delay = std::chrono::hours(1);
    return p;
}

}  // namespace tiledet::testing
