// The executor's public side: construction and warm-up, submit, cancel, shutdown, stats.
// Batch formation and running live in worker.cpp.
#include "tiledet/batching/batch_executor.hpp"

#include <algorithm>

#include "executor_impl.hpp"
#include "log_lines.hpp"

namespace tiledet {

using batching_detail::first_line;
using batching_detail::kNoDeadline;
using batching_detail::Pending;
using batching_detail::ShapeGroup;

namespace batching_detail {

std::uint64_t shape_hash(const std::vector<Tensor>& inputs) {
    // FNV-1a over the count, types and dims: cheap, and a collision only costs a full compare.
    std::uint64_t h = 1469598103934665603ull;
    auto mix = [&](std::uint64_t v) { h = (h ^ v) * 1099511628211ull; };
    mix(inputs.size());
    for (const Tensor& t : inputs) {
        mix(static_cast<std::uint64_t>(t.type()));
        mix(t.rank());
        for (int64_t d : t.shape()) mix(static_cast<std::uint64_t>(d));
    }
    return h;
}

bool ShapeGroup::matches(std::uint64_t h, const std::vector<Tensor>& inputs) const {
    if (h != hash || inputs.size() != key.size()) return false;
    for (std::size_t i = 0; i < inputs.size(); ++i)
        if (inputs[i].type() != key[i].first || inputs[i].shape() != key[i].second) return false;
    return true;
}

void ShapeGroup::push(Pending* p) {
    p->next = nullptr;
    if (tail)
        tail->next = p;
    else
        head = p;
    tail = p;
    ++count;
}

Pending* ShapeGroup::pop() {
    Pending* p = head;
    head = p->next;
    if (!head) tail = nullptr;
    p->next = nullptr;
    --count;
    return p;
}

}  // namespace batching_detail

namespace {

// Shape groups kept while empty (a new shape reuses nothing; old ones are dropped past this).
constexpr std::size_t kMaxGroups = 16;

template <class E>
void fail_with(std::promise<Result>& promise, const std::string& what) {
    promise.set_exception(std::make_exception_ptr(E(what)));
}

}  // namespace

BatchExecutor::Impl::Impl(std::vector<std::unique_ptr<Backend>> backends_in, BatchPolicy policy_in, LogSink sink_in)
    : policy(std::move(policy_in)),
      sink(sink_in ? std::move(sink_in) : stderr_log_sink()),
      backends(std::move(backends_in)) {
    if (backends.empty()) throw ConfigError("BatchExecutor needs at least one backend (model instance), got none");
    for (const auto& b : backends)
        if (!b) throw ConfigError("BatchExecutor was given an empty backend pointer");
    if (policy.max_batch_size < 1)
        throw ConfigError("BatchPolicy::max_batch_size must be at least 1, got " +
                          std::to_string(policy.max_batch_size) + "; use 1 to run requests one at a time");
    if (policy.max_queue_delay.count() < 0 || policy.default_deadline.count() < 0)
        throw ConfigError("BatchPolicy::max_queue_delay and default_deadline must not be negative");
    kind = backends.front()->batch_kind();
    device = backends.front()->device();
    if (kind.is_dynamic()) {
        max_batch = policy.max_batch_size;
        for (int p : policy.preferred_batch_sizes)
            if (p >= 1 && p < max_batch) preferred.push_back(p);
        std::sort(preferred.rbegin(), preferred.rend());
        preferred.erase(std::unique(preferred.begin(), preferred.end()), preferred.end());
        if (policy.probe_dynamic_batch && max_batch > 1) probe();
    } else if (kind.is_static() && kind.size > 1) {
        max_batch = static_cast<int>(kind.size);
        static_size = max_batch;
    } else if (kind.is_static()) {
        fall_back("the model has a static batch of 1");
    } else {
        fall_back("the model's inputs have no batch axis");
    }
    workers.reserve(backends.size());
    for (std::size_t i = 0; i < backends.size(); ++i) workers.emplace_back([this, i] { worker_loop(i); });
}

BatchExecutor::Impl::~Impl() {
    // Workers are joined and drained by shutdown(); this only guards against leaks.
    Batch left;
    for (auto& g : groups) g->remove_if([](const Pending&) { return true; }, left);
}

void BatchExecutor::Impl::log(LogLevel level, const std::string& line) {
    std::lock_guard lk(log_mu);
    sink(level, line);
}

void BatchExecutor::Impl::fall_back(const std::string& reason) {
    {
        std::lock_guard lk(mu);
        max_batch = 1;
        preferred.clear();
        sequential = true;
    }
    work_cv.notify_all();  // queued requests are ready at once now
    if (!warned.exchange(true)) log(LogLevel::warning, batching_detail::fallback_warning(reason, backends.size()));
}

void BatchExecutor::Impl::probe() {
    std::optional<std::vector<Tensor>> item = backends.front()->probe_item();
    if (!item) return;
    try {
        std::vector<Tensor> two;
        for (const Tensor& t : *item) two.push_back(concat_leading({t, t}));
        const std::vector<Tensor> out = backends.front()->run(two);
        for (std::size_t i = 0; i < out.size(); ++i)
            if (out[i].rank() == 0 || out[i].dim(0) != 2)
                throw ShapeError("output " + std::to_string(i) + " has shape " + to_string(out[i].shape()) +
                                 " for a batch of 2");
        batch_verified = true;
    } catch (const std::exception& e) {
        fall_back("the model declares a dynamic batch but a probe batch of 2 failed: " + first_line(e.what()));
    }
}

BatchExecutor::BatchExecutor(std::vector<std::unique_ptr<Backend>> backends, BatchPolicy policy, LogSink sink)
    : impl_(std::make_unique<Impl>(std::move(backends), std::move(policy), std::move(sink))) {}

BatchExecutor::BatchExecutor(std::unique_ptr<Backend> backend, BatchPolicy policy, LogSink sink)
    : BatchExecutor(
          [&] {
              std::vector<std::unique_ptr<Backend>> v;
              v.push_back(std::move(backend));
              return v;
          }(),
          std::move(policy), std::move(sink)) {}

BatchExecutor BatchExecutor::open(const std::string& path, BatchPolicy policy, ModelOptions options, LogSink sink) {
    auto backends = make_model_backends(path, std::move(options), policy.instances);
    return BatchExecutor(std::move(backends), std::move(policy), std::move(sink));
}

BatchExecutor BatchExecutor::open(std::span<const std::byte> bytes, BatchPolicy policy, ModelOptions options,
                                  LogSink sink) {
    auto backends = make_model_backends(bytes, std::move(options), policy.instances);
    return BatchExecutor(std::move(backends), std::move(policy), std::move(sink));
}

BatchExecutor::BatchExecutor(BatchExecutor&&) noexcept = default;
BatchExecutor& BatchExecutor::operator=(BatchExecutor&& other) noexcept {
    if (this != &other) {
        if (impl_) shutdown();
        impl_ = std::move(other.impl_);
    }
    return *this;
}

BatchExecutor::~BatchExecutor() {
    if (impl_) shutdown();
}

std::future<Result> BatchExecutor::submit(Request request) {
    Impl& m = *impl_;
    if (request.inputs.empty()) throw ShapeError("a request needs one input tensor per model input, got none");
    if (m.kind.kind != BatchKind::Kind::none) {
        for (std::size_t i = 0; i < request.inputs.size(); ++i) {
            const Tensor& t = request.inputs[i];
            if (t.rank() == 0 || t.dim(0) != 1)
                throw ShapeError("request input " + std::to_string(i) + " has shape " + to_string(t.shape()) +
                                 "; expected one item with leading (batch) dim 1: submit each item as its own "
                                 "request and let the executor batch them");
        }
    }
    auto node = std::make_unique<Pending>();
    node->inputs = std::move(request.inputs);
    node->tag = request.tag;
    node->shape_hash = batching_detail::shape_hash(node->inputs);
    std::future<Result> future = node->promise.get_future();
    ExecutorClock::time_point now = ExecutorClock::now();
    if (request.deadline)
        node->deadline = *request.deadline;
    else if (m.policy.default_deadline.count() > 0)
        node->deadline = now + m.policy.default_deadline;

    bool notify = false;
    {
        std::unique_lock lk(m.mu);
        const std::size_t cap = m.policy.queue_capacity;
        if (!m.stopping && cap && m.queued >= cap) {
            if (m.policy.when_full == FullQueue::reject) {
                lk.unlock();
                m.stats.rejected.fetch_add(1, std::memory_order_relaxed);
                fail_with<QueueFull>(node->promise, "the request queue is full (capacity " + std::to_string(cap) +
                                                        " waiting requests); raise BatchPolicy::queue_capacity, use "
                                                        "FullQueue::block to wait for room, or add instances");
                return future;
            }
            ++m.blocked_submitters;
            m.room_cv.wait(lk, [&] { return m.stopping || m.queued < cap; });
            --m.blocked_submitters;
            now = ExecutorClock::now();
        }
        if (m.stopping) {
            lk.unlock();
            m.stats.shut_down.fetch_add(1, std::memory_order_relaxed);
            fail_with<ShutDown>(node->promise,
                                "the executor is shutting down and accepts no new requests; submit before "
                                "shutdown() or to a new executor");
            return future;
        }
        m.stats.submitted.fetch_add(1, std::memory_order_relaxed);
        node->enqueued = now;
        if (node->deadline <= now) {
            lk.unlock();
            m.stats.expired.fetch_add(1, std::memory_order_relaxed);
            fail_with<DeadlineExpired>(node->promise,
                                       "the request's deadline had passed when it was submitted; give it a later "
                                       "deadline");
            return future;
        }
        ShapeGroup* group = nullptr;
        for (auto& g : m.groups)
            if (g->matches(node->shape_hash, node->inputs)) {
                group = g.get();
                break;
            }
        if (!group) {
            if (m.groups.size() >= kMaxGroups)
                std::erase_if(m.groups, [](const std::unique_ptr<ShapeGroup>& g) { return g->count == 0; });
            auto g = std::make_unique<ShapeGroup>();
            g->hash = node->shape_hash;
            for (const Tensor& t : node->inputs) g->key.emplace_back(t.type(), t.shape());
            group = g.get();
            m.groups.push_back(std::move(g));
        }
        if (node->deadline < m.next_deadline) {
            m.next_deadline = node->deadline;
            notify = true;  // a waiting worker must wake by this deadline
        }
        group->push(node.release());
        ++m.queued;
        const auto n = static_cast<int>(group->count);
        // Wake a worker only when it has something new to decide: a first request to time, or a
        // full or preferred-size batch.
        notify = notify || n == 1 || n >= m.max_batch ||
                 std::find(m.preferred.begin(), m.preferred.end(), n) != m.preferred.end();
    }
    if (notify) m.work_cv.notify_one();
    return future;
}

std::size_t BatchExecutor::cancel(std::uint64_t tag) {
    Impl& m = *impl_;
    Impl::Batch removed;
    {
        std::lock_guard lk(m.mu);
        for (auto& g : m.groups) g->remove_if([tag](const Pending& p) { return p.tag == tag; }, removed);
        m.queued -= removed.size();
    }
    if (!removed.empty() && m.policy.when_full == FullQueue::block) m.room_cv.notify_all();
    for (auto& p : removed) {
        m.stats.cancelled.fetch_add(1, std::memory_order_relaxed);
        fail_with<Cancelled>(p->promise, "the request was cancelled (tag " + std::to_string(tag) + ") before it ran");
    }
    return removed.size();
}

void BatchExecutor::shutdown(bool cancel_pending) {
    Impl& m = *impl_;
    std::lock_guard join_lk(m.join_mu);
    Impl::Batch removed;
    {
        std::lock_guard lk(m.mu);
        m.stopping = true;
        if (cancel_pending) {
            for (auto& g : m.groups) g->remove_if([](const Pending&) { return true; }, removed);
            m.queued -= removed.size();
        }
    }
    m.work_cv.notify_all();
    m.room_cv.notify_all();
    for (auto& p : removed) {
        m.stats.cancelled.fetch_add(1, std::memory_order_relaxed);
        fail_with<Cancelled>(p->promise, "the request was cancelled by shutdown(cancel_pending=true) before it ran");
    }
    bool joined_now = false;
    for (std::thread& t : m.workers)
        if (t.joinable()) {
            t.join();
            joined_now = true;
        }
    if (joined_now && m.policy.verbose && stats().batches > 0) m.log(LogLevel::info, summary());
}

ExecutorStats BatchExecutor::stats() const {
    const Impl& m = *impl_;
    ExecutorStats s;
    m.stats.fill(s);
    s.device = m.device;
    s.sequential_fallback = m.sequential.load();
    s.instances = static_cast<int>(m.backends.size());
    std::lock_guard lk(m.mu);
    s.max_batch_size = m.max_batch;
    return s;
}

int BatchExecutor::max_batch_size() const {
    std::lock_guard lk(impl_->mu);
    return impl_->max_batch;
}
bool BatchExecutor::sequential() const {
    return impl_->sequential.load();
}
std::size_t BatchExecutor::instances() const {
    return impl_->backends.size();
}
const Backend& BatchExecutor::backend(std::size_t i) const {
    return *impl_->backends.at(i);
}

}  // namespace tiledet
