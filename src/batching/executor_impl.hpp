// The executor's insides, shared by batch_executor.cpp (submit, cancel, shutdown) and
// worker.cpp (batch formation and running).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <future>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "stats_recorder.hpp"
#include "tiledet/batching/batch_executor.hpp"

namespace tiledet {

namespace batching_detail {

constexpr auto kNoDeadline = ExecutorClock::time_point::max();

// How a request ends: its future's promise, or the caller's callback (Request::on_done).
class Completion {
public:
    explicit Completion(RequestCallback callback = {}) : callback_(std::move(callback)) {}
    std::future<Result> get_future() { return callback_ ? std::future<Result>{} : promise_.get_future(); }
    void set_value(Result&& r);
    void set_exception(std::exception_ptr e);

private:
    RequestCallback callback_;
    std::promise<Result> promise_;
};

// One accepted request, linked into its shape group's FIFO while queued.
struct Pending {
    std::vector<Tensor> inputs;
    Completion promise;
    ExecutorClock::time_point enqueued;
    ExecutorClock::time_point deadline = kNoDeadline;
    std::uint64_t tag = 0;
    std::uint64_t shape_hash = 0;
    // Requests submitted together share a group id (0: submitted alone) and know its size.
    std::uint64_t group = 0;
    std::size_t group_size = 1;
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
using Items = std::span<std::unique_ptr<Pending>>;

// A request's ending, held back while a failed batch is re-run in smaller batches so that what
// the re-runs teach (ExecutorStats::failed_batch_sizes) is recorded before any future is ready.
struct Outcome {
    Pending* request = nullptr;
    Result result;
    std::exception_ptr error;
};

// What the executor learned about a batch size of a dynamic model.
enum class SizeState : std::uint8_t { unknown, ran, failed };

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
    std::uint64_t next_group = 1;
    std::vector<int> preferred;  // sorted descending, each in [2, max_batch)

    std::atomic<bool> sequential{false};      // one at a time because the model cannot batch
    std::atomic<bool> batch_verified{false};  // a batch of more than 1 ran fine on this model
    std::atomic<bool> warned{false};
    std::atomic<bool> warned_sizes{false};
    std::atomic<std::uint64_t> next_batch_id{1};
    // Per batch size 0..policy.max_batch_size of a dynamic model: ran, failed, or not yet seen.
    // Read by pick_ready under mu, written by workers after a run.
    std::unique_ptr<std::atomic<batching_detail::SizeState>[]> size_state;
    std::size_t size_states = 0;
    std::mutex log_mu;
    batching_detail::StatsRecorder stats;
    std::mutex join_mu;  // one shutdown() joins the workers; others wait for it
    std::vector<std::thread> workers;
    std::vector<int> pinned_cpus;  // by instance; empty: not pinned (BatchPolicy::pin_instances)

    void log(LogLevel level, const std::string& line);
    void fall_back(const std::string& reason);  // once: sequential from now on, and say so
    void probe();
    // Queues `n` accepted requests as one unit (at most queue_capacity of them).
    void enqueue(std::unique_ptr<Pending>* nodes, std::size_t n);

    batching_detail::SizeState size_state_of(std::size_t n) const;
    bool size_failed(std::size_t n) const { return size_state_of(n) == batching_detail::SizeState::failed; }
    // A batch of n failed while its requests all ran in smaller batches: stop forming n, and
    // say so once (or fall back to one at a time when no batch of more than one ever ran).
    void learn_failed_size(std::size_t n, const std::string& error_text);
    std::vector<int> failed_sizes() const;

    // worker.cpp
    void worker_loop(std::size_t index);
    batching_detail::ShapeGroup* pick_ready(ExecutorClock::time_point now, ExecutorClock::time_point& wake,
                                            std::size_t& take);
    // How many of g's queued requests go when up to `want` may (see worker.cpp); 0: none now.
    std::size_t cut(const batching_detail::ShapeGroup& g, std::size_t want, bool need_boundary) const;
    void expire(ExecutorClock::time_point now, Batch& out);
    // Runs `items` as one batch; when a batch of more than one fails, re-runs it in halves, so
    // only a request that fails alone gets the error. Returns whether every request got outputs.
    // `held`: where endings go instead of the futures (a re-run in progress); null: deliver.
    bool run_batch(Backend& backend, batching_detail::Items items, std::uint64_t batch_id,
                   std::vector<batching_detail::Outcome>* held = nullptr);
    bool run_halves(Backend& backend, batching_detail::Items items, std::vector<batching_detail::Outcome>* held);
    static void deliver(std::vector<batching_detail::Outcome>& outcomes);
};

}  // namespace tiledet
