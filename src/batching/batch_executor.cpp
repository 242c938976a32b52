// The executor's public side: construction and warm-up, submit, cancel, shutdown, stats.
// Batch formation and running live in worker.cpp.
#include "tiledet/batching/batch_executor.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <string>

#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#endif

#include "executor_impl.hpp"
#include "log_lines.hpp"
#include "probe_cache.hpp"

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

void Completion::set_value(Result&& r) {
    if (!callback_) return promise_.set_value(std::move(r));
    try {
        callback_(&r, nullptr);
    } catch (...) {  // the contract says the callback does not throw; a worker must survive one that does
    }
}

void Completion::set_exception(std::exception_ptr e) {
    if (!callback_) return promise_.set_exception(std::move(e));
    try {
        callback_(nullptr, std::move(e));
    } catch (...) {
    }
}


// TILEDET_PIN_INSTANCES=off (or 0, false, no) turns pinning off for every executor of the process.
bool pinning_turned_off_by_env() {
    const char* v = std::getenv("TILEDET_PIN_INSTANCES");
    if (!v) return false;
    std::string s(v);
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s == "off" || s == "0" || s == "false" || s == "no";
}

}  // namespace batching_detail

namespace {

// Shape groups kept while empty (a new shape reuses nothing; old ones are dropped past this).
constexpr std::size_t kMaxGroups = 16;

template <class E>
void fail_with(batching_detail::Completion& promise, const std::string& what) {
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
        size_states = static_cast<std::size_t>(max_batch) + 1;
        size_state = std::make_unique<std::atomic<batching_detail::SizeState>[]>(size_states);
        for (std::size_t i = 0; i < size_states; ++i) size_state[i] = batching_detail::SizeState::unknown;
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
    // One core per instance when each instance keeps exactly one CPU thread busy and there is
    // one instance per core this process may use (BatchPolicy::pin_instances).
    if (policy.pin_instances && backends.size() > 1 && !batching_detail::pinning_turned_off_by_env() &&
        std::all_of(backends.begin(), backends.end(), [](const auto& b) { return b->cpu_threads_per_run() == 1; })) {
        if (std::vector<int> cpus = usable_cpus(); cpus.size() == backends.size())
            pinned_cpus = std::move(cpus);
    }
    workers.reserve(backends.size());
    for (std::size_t i = 0; i < backends.size(); ++i) {
        workers.emplace_back([this, i] { worker_loop(i); });
#if defined(__linux__)
        if (!pinned_cpus.empty()) {
            cpu_set_t set;
            CPU_ZERO(&set);
            CPU_SET(pinned_cpus[i], &set);
            // A failure (a cpuset changed meanwhile) leaves the thread unpinned: only speed is at stake.
            if (pthread_setaffinity_np(workers.back().native_handle(), sizeof set, &set) != 0) pinned_cpus.clear();
        }
#endif
    }
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
    std::vector<int> sizes;
    for (int n : policy.probe_batch_sizes) {
        const int s = n == 0 ? max_batch : n;
        if (s >= 2 && s <= max_batch && std::find(sizes.begin(), sizes.end(), s) == sizes.end()) sizes.push_back(s);
    }
    std::sort(sizes.begin(), sizes.end());
    const std::string cache = batching_detail::probe_cache_folder(policy.probe_cache_dir);
    const std::string key = backends.front()->probe_cache_key();
    for (int size : sizes) {
        std::optional<ProbeOutcome> cached = batching_detail::read_probe(cache, key, size);
        if (!cached) {
            const std::vector<ProbeOutcome> outcome = probe_batch_sizes(*backends.front(), {size});
            if (outcome.empty()) return;  // the backend cannot make a probe item
            cached = outcome.front();
            batching_detail::write_probe(cache, key, *cached);
        } else if (policy.verbose) {
            log(LogLevel::verbose, "probe batch of " + std::to_string(size) + ": " + (cached->ok ? "runs" : "fails") +
                                       " (cached answer for this model file)");
        }
        const ProbeOutcome& o = *cached;
        if (o.ok) {
            size_state[static_cast<std::size_t>(o.batch_size)] = batching_detail::SizeState::ran;
            batch_verified = true;
            continue;
        }
        if (!batch_verified) {
            fall_back("the model declares a dynamic batch but a probe batch of " + std::to_string(o.batch_size) +
                      " failed: " + o.error);
            return;
        }
        learn_failed_size(static_cast<std::size_t>(o.batch_size), o.error);
    }
}

batching_detail::SizeState BatchExecutor::Impl::size_state_of(std::size_t n) const {
    return n < size_states ? size_state[n].load(std::memory_order_relaxed) : batching_detail::SizeState::unknown;
}

void BatchExecutor::Impl::learn_failed_size(std::size_t n, const std::string& error_text) {
    if (n < 2 || n >= size_states) return;
    // A size that ran before failed for another reason (the requests, the moment): keep it.
    auto expected = batching_detail::SizeState::unknown;
    if (!size_state[n].compare_exchange_strong(expected, batching_detail::SizeState::failed)) return;
    if (!batch_verified.load()) {
        // No batch of more than one ever ran: the graph most likely has batch 1 baked in.
        fall_back("the model declares a dynamic batch but failed at batch " + std::to_string(n) + ": " +
                  first_line(error_text));
        return;
    }
    if (!warned_sizes.exchange(true))
        log(LogLevel::warning, batching_detail::failed_size_warning(n, first_line(error_text)));
    else if (policy.verbose)
        log(LogLevel::verbose, "batches of " + std::to_string(n) + " also fail; no longer formed");
}

std::vector<int> BatchExecutor::Impl::failed_sizes() const {
    std::vector<int> out;
    for (std::size_t n = 2; n < size_states; ++n)
        if (size_failed(n)) out.push_back(static_cast<int>(n));
    return out;
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

namespace {

// Throws ShapeError for a request the executor cannot batch; `which` names it in a group.
void check_batchable(const BatchKind& kind, const Request& request, const std::string& which) {
    if (request.inputs.empty()) throw ShapeError(which + "needs one input tensor per model input, got none");
    if (kind.kind == BatchKind::Kind::none) return;
    for (std::size_t i = 0; i < request.inputs.size(); ++i) {
        const Tensor& t = request.inputs[i];
        if (t.rank() == 0 || t.dim(0) != 1)
            throw ShapeError(which + "input " + std::to_string(i) + " has shape " + to_string(t.shape()) +
                             "; expected one item with leading (batch) dim 1: submit each item as its own "
                             "request and let the executor batch them");
    }
}

std::unique_ptr<Pending> make_pending(Request&& request, const BatchPolicy& policy, ExecutorClock::time_point now) {
    auto node = std::make_unique<Pending>();
    node->promise = batching_detail::Completion(std::move(request.on_done));
    node->inputs = std::move(request.inputs);
    node->tag = request.tag;
    node->shape_hash = batching_detail::shape_hash(node->inputs);
    if (request.deadline)
        node->deadline = *request.deadline;
    else if (policy.default_deadline.count() > 0)
        node->deadline = now + policy.default_deadline;
    return node;
}

}  // namespace

std::future<Result> BatchExecutor::submit(Request request) {
    Impl& m = *impl_;
    check_batchable(m.kind, request, "a request ");
    auto node = make_pending(std::move(request), m.policy, ExecutorClock::now());
    std::future<Result> future = node->promise.get_future();
    m.enqueue(&node, 1);
    return future;
}

std::vector<std::future<Result>> BatchExecutor::submit(std::vector<Request> requests) {
    Impl& m = *impl_;
    for (std::size_t i = 0; i < requests.size(); ++i)
        check_batchable(m.kind, requests[i], "request " + std::to_string(i) + " of the group ");
    const ExecutorClock::time_point now = ExecutorClock::now();
    std::vector<std::unique_ptr<Pending>> nodes;
    std::vector<std::future<Result>> futures;
    nodes.reserve(requests.size());
    futures.reserve(requests.size());
    std::uint64_t group = 0;
    if (requests.size() > 1) {
        std::lock_guard lk(m.mu);
        group = m.next_group++;
    }
    for (Request& r : requests) {
        nodes.push_back(make_pending(std::move(r), m.policy, now));
        nodes.back()->group = group;
        nodes.back()->group_size = requests.size();
        futures.push_back(nodes.back()->promise.get_future());
    }
    const std::size_t cap = m.policy.queue_capacity;
    if (cap && nodes.size() > cap && m.policy.when_full == FullQueue::reject) {
        // Entered in pieces of `cap`, the second piece would always find the queue full.
        m.stats.rejected.fetch_add(nodes.size(), std::memory_order_relaxed);
        for (auto& node : nodes)
            fail_with<QueueFull>(node->promise,
                                 "a group of " + std::to_string(nodes.size()) +
                                     " requests (say, an image's tiles) can never fit a queue of capacity " +
                                     std::to_string(cap) +
                                     " under FullQueue::reject; raise BatchPolicy::queue_capacity to at least " +
                                     std::to_string(nodes.size()) + ", or use FullQueue::block");
        return futures;
    }
    const std::size_t piece = cap ? cap : nodes.size();
    for (std::size_t i = 0; i < nodes.size(); i += piece)
        m.enqueue(nodes.data() + i, std::min(piece, nodes.size() - i));
    return futures;
}

void BatchExecutor::Impl::enqueue(std::unique_ptr<Pending>* nodes, std::size_t n) {
    Impl& m = *this;
    bool notify = false;
    std::vector<std::unique_ptr<Pending>> late;  // deadline already passed
    ExecutorClock::time_point now = ExecutorClock::now();
    {
        std::unique_lock lk(m.mu);
        const std::size_t cap = m.policy.queue_capacity;
        if (!m.stopping && cap && m.queued + n > cap) {
            if (m.policy.when_full == FullQueue::reject) {
                lk.unlock();
                m.stats.rejected.fetch_add(n, std::memory_order_relaxed);
                for (std::size_t i = 0; i < n; ++i)
                    fail_with<QueueFull>(nodes[i]->promise,
                                         "the request queue is full (capacity " + std::to_string(cap) +
                                             " waiting requests, " + std::to_string(m.queued) + " waiting, " +
                                             std::to_string(n) +
                                             " submitted together); raise BatchPolicy::queue_capacity, use "
                                             "FullQueue::block to wait for room, or add instances");
                return;
            }
            ++m.blocked_submitters;
            m.room_cv.wait(lk, [&] { return m.stopping || m.queued + n <= cap; });
            --m.blocked_submitters;
            now = ExecutorClock::now();
        }
        if (m.stopping) {
            lk.unlock();
            m.stats.shut_down.fetch_add(n, std::memory_order_relaxed);
            for (std::size_t i = 0; i < n; ++i)
                fail_with<ShutDown>(nodes[i]->promise,
                                    "the executor is shutting down and accepts no new requests; submit before "
                                    "shutdown() or to a new executor");
            return;
        }
        m.stats.submitted.fetch_add(n, std::memory_order_relaxed);
        ShapeGroup* group = nullptr;
        for (std::size_t i = 0; i < n; ++i) {
            std::unique_ptr<Pending>& node = nodes[i];
            node->enqueued = now;
            if (node->deadline <= now) {
                late.push_back(std::move(node));
                continue;
            }
            if (!group || !group->matches(node->shape_hash, node->inputs)) {
                group = nullptr;
                for (auto& g : m.groups)
                    if (g->matches(node->shape_hash, node->inputs)) {
                        group = g.get();
                        break;
                    }
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
            const auto count = static_cast<int>(group->count);
            // Wake a worker only when it has something new to decide: a first request to time,
            // or a full or preferred-size batch.
            notify = notify || count == 1 || count >= m.max_batch ||
                     std::find(m.preferred.begin(), m.preferred.end(), count) != m.preferred.end();
        }
    }
    if (notify) m.work_cv.notify_one();
    if (!late.empty()) m.stats.expired.fetch_add(late.size(), std::memory_order_relaxed);
    for (auto& node : late)
        fail_with<DeadlineExpired>(node->promise,
                                   "the request's deadline had passed when it was submitted; give it a later "
                                   "deadline");
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
    s.failed_batch_sizes = m.failed_sizes();
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
const std::vector<int>& BatchExecutor::pinned_cpus() const {
    return impl_->pinned_cpus;
}

std::vector<int> usable_cpus() {
    std::vector<int> cpus;
#if defined(__linux__)
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        for (int c = 0; c < CPU_SETSIZE; ++c)
            if (CPU_ISSET(c, &set)) cpus.push_back(c);
#endif
    return cpus;
}

}  // namespace tiledet
