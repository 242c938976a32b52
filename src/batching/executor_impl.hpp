// The executor's insides, shared by batch_executor.cpp (submit, cancel, shutdown) and
// worker.cpp (batch formation and running).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "stats_recorder.hpp"
#include "tiledet/batching/batch_executor.hpp"

namespace tiledet {

namespace batching_detail {

constexpr auto kNoDeadline = ExecutorClock::time_point::max();

// One accepted request, linked into its shape group's FIFO while queued.
struct Pending {
    std::vector<Tensor> inputs;
    std::promise<Result> promise;
    ExecutorClock::time_point enqueued;
    ExecutorClock::time_point deadline = kNoDeadline;
    std::uint64_t tag = 0;
    std::uint64_t shape_hash = 0;
    Pending* next = nullptr;
};

// Requests whose inputs have equal shapes and types, oldest first: only these batch together.
struct ShapeGroup {
    std::uint64_t hash = 0;
    std::vector<std::pair<ElementType, Shape>> key;
    Pending* head = nullptr;
    Pending* tail = nullptr;
    std::size_t count = 0;

    bool matches(std::uint64_t h, const std::vector<Tensor>& inputs) const;
    void push(Pending* p);
    Pending* pop();
    // Unlinks every request for which pred(p) holds, appending it to `out`.
    template <class Pred>
    void remove_if(Pred pred, std::vector<std::unique_ptr<Pending>>& out);
};

template <class Pred>
void ShapeGroup::remove_if(Pred pred, std::vector<std::unique_ptr<Pending>>& out) {
    Pending** link = &head;
    Pending* prev = nullptr;
    while (*link) {
        Pending* p = *link;
        if (pred(*p)) {
            *link = p->next;
            if (tail == p) tail = prev;
            p->next = nullptr;
            --count;
            out.emplace_back(p);
        } else {
            prev = p;
            link = &p->next;
        }
    }
}

std::uint64_t shape_hash(const std::vector<Tensor>& inputs);

using Batch = std::vector<std::unique_ptr<Pending>>;

}  // namespace batching_detail

struct BatchExecutor::Impl {
    using Pending = batching_detail::Pending;
    using Batch = batching_detail::Batch;

    Impl(std::vector<std::unique_ptr<Backend>> backends, BatchPolicy policy, LogSink sink);
    ~Impl();

    // --- set at construction, read-only afterwards
    BatchPolicy policy;
    LogSink sink;
    std::vector<std::unique_ptr<Backend>> backends;
    BatchKind kind;
    std::string device;
    int static_size = 0;  // N for a static batch N > 1: batches are padded to it

    // --- the queue, guarded by mu
    mutable std::mutex mu;
    std::condition_variable work_cv;  // workers: a batch may be ready, or a timer changed
    std::condition_variable room_cv;  // blocked submitters: room in the queue, or shutdown
    std::vector<std::unique_ptr<batching_detail::ShapeGroup>> groups;
    std::size_t queued = 0;
    std::size_t blocked_submitters = 0;
    ExecutorClock::time_point next_deadline = batching_detail::kNoDeadline;  // no queued deadline before it
    bool stopping = false;
    int max_batch = 1;  // falls to 1 when the model turns out unable to batch
    std::uint64_t next_batch_id = 1;
    std::vector<int> preferred;  // sorted descending, each in [2, max_batch)

    std::atomic<bool> sequential{false};      // one at a time because the model cannot batch
    std::atomic<bool> batch_verified{false};  // a batch of more than 1 ran fine on this model
    std::atomic<bool> warned{false};
    std::mutex log_mu;
    batching_detail::StatsRecorder stats;
    std::mutex join_mu;  // one shutdown() joins the workers; others wait for it
    std::vector<std::thread> workers;

    void log(LogLevel level, const std::string& line);
    void fall_back(const std::string& reason);  // once: sequential from now on, and say so
    void probe();

    // worker.cpp
    void worker_loop(std::size_t index);
    batching_detail::ShapeGroup* pick_ready(ExecutorClock::time_point now, ExecutorClock::time_point& wake,
                                            std::size_t& take);
    void expire(ExecutorClock::time_point now, Batch& out);
    void run_batch(Backend& backend, Batch& batch, std::uint64_t batch_id);
    void run_individually(Backend& backend, Batch& batch, const std::string& batch_error);
};

}  // namespace tiledet
