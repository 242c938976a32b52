// The worker side of the executor: one thread per backend forms a batch under the lock, runs it
// without the lock, splits the outputs per request and delivers them.
#include <algorithm>
#include <exception>

#include "executor_impl.hpp"
#include "log_lines.hpp"

namespace tiledet {

using batching_detail::kNoDeadline;
using batching_detail::Pending;
using batching_detail::ShapeGroup;
using Clock = ExecutorClock;

namespace {

// The batch failure as delivered to its requests: tiledet errors as thrown, anything else as
// a RuntimeFailure with its text.
std::exception_ptr capture_error(std::string& text) {
    try {
        throw;
    } catch (const Error& e) {
        text = e.what();
        return std::current_exception();
    } catch (const std::exception& e) {
        text = std::string("the model backend failed: ") + e.what();
    } catch (...) {
        text = "the model backend failed with an exception that is not a std::exception";
    }
    return std::make_exception_ptr(RuntimeFailure(text));
}

// Every output must keep the batch axis when the batch is larger than one; at batch 1 an output
// without it is passed whole.
void check_outputs(const std::vector<Tensor>& outputs, int64_t batch) {
    if (batch == 1) return;
    for (std::size_t i = 0; i < outputs.size(); ++i)
        if (outputs[i].rank() == 0 || outputs[i].dim(0) != batch)
            throw ShapeError("the model returned output " + std::to_string(i) + " with shape " +
                             to_string(outputs[i].shape()) + " for a batch of " + std::to_string(batch) +
                             "; expected the batch as its leading dim");
}

Tensor item_of(const Tensor& out, int64_t item, int64_t batch) {
    if (batch == 1 && (out.rank() == 0 || out.dim(0) != 1)) return out;
    return out.item(item);
}

struct Scratch {
    std::vector<Tensor> parts, inputs;
    std::vector<Result> results;
    std::vector<RequestTimings> timings;
};

thread_local Scratch scratch;

}  // namespace

void BatchExecutor::Impl::worker_loop(std::size_t index) {
    Backend& backend = *backends[index];
    Batch batch, expired;
    std::unique_lock lk(mu);
    batch.reserve(static_cast<std::size_t>(max_batch));
    for (;;) {
        const Clock::time_point now = Clock::now();
        if (now >= next_deadline) expire(now, expired);
        if (!expired.empty()) {
            const bool room = blocked_submitters > 0;
            lk.unlock();
            if (room) room_cv.notify_all();
            for (auto& p : expired) {
                stats.expired.fetch_add(1, std::memory_order_relaxed);
                p->promise.set_exception(std::make_exception_ptr(
                    DeadlineExpired("the request's deadline passed while it waited in the queue; give it a later "
                                    "deadline, raise instances, or lower max_queue_delay")));
            }
            expired.clear();
            lk.lock();
            continue;
        }
        Clock::time_point wake = next_deadline;
        std::size_t take = 0;
        if (ShapeGroup* g = pick_ready(now, wake, take)) {
            for (std::size_t i = 0; i < take; ++i) batch.emplace_back(g->pop());
            queued -= take;
            const std::uint64_t id = next_batch_id.fetch_add(1, std::memory_order_relaxed);
            const bool more = queued > 0, room = blocked_submitters > 0;
            lk.unlock();
            if (room) room_cv.notify_all();
            if (more) work_cv.notify_one();  // another idle worker may take or time the rest
            run_batch(backend, batching_detail::Items(batch), id);
            batch.clear();
            lk.lock();
            continue;
        }
        if (stopping && queued == 0) return;
        if (wake == kNoDeadline)
            work_cv.wait(lk);
        else
            work_cv.wait_until(lk, wake);
    }
}

ShapeGroup* BatchExecutor::Impl::pick_ready(Clock::time_point now, Clock::time_point& wake, std::size_t& take) {
    ShapeGroup* best = nullptr;
    const auto max_n = static_cast<std::size_t>(max_batch);
    for (auto& gp : groups) {
        ShapeGroup& g = *gp;
        if (!g.count) continue;
        std::size_t n = 0;
        if (g.count >= max_n) {
            n = cut(g, max_n, false);
        } else {
            for (int p : preferred)  // descending: the largest that the queue fills
                if (static_cast<std::size_t>(p) <= g.count && (n = cut(g, static_cast<std::size_t>(p), true))) break;
            if (!n) {
                const Clock::time_point due = g.head->enqueued + policy.max_queue_delay;
                if (stopping || due <= now)
                    n = cut(g, g.count, false);
                else
                    wake = std::min(wake, due);
            }
        }
        // Among ready groups the one whose oldest request waited longest goes first.
        if (n && (!best || g.head->enqueued < best->head->enqueued)) {
            best = &g;
            take = n;
        }
    }
    return best;
}

std::size_t BatchExecutor::Impl::cut(const ShapeGroup& g, std::size_t want, bool need_boundary) const {
    // A cut after k requests is clean when it does not split a submitted group that fits in one
    // batch (a larger one is cut into full batches anyway). Sizes the model failed at are never
    // formed: that wins over keeping a group together.
    const auto max_n = static_cast<std::size_t>(max_batch);
    std::size_t clean = 0, runnable = 0;
    const Pending* p = g.head;
    for (std::size_t k = 1; k <= want && p; ++k, p = p->next) {
        if (k > 1 && size_failed(k)) continue;
        runnable = k;
        const Pending* next = p->next;
        if (!next || p->group == 0 || next->group != p->group || p->group_size > max_n) clean = k;
    }
    if (clean) return clean;
    return need_boundary ? 0 : runnable;
}

void BatchExecutor::Impl::expire(Clock::time_point now, Batch& out) {
    Clock::time_point next = kNoDeadline;
    const std::size_t before = out.size();
    for (auto& g : groups)
        g->remove_if(
            [&](const Pending& p) {
                if (p.deadline <= now) return true;
                next = std::min(next, p.deadline);
                return false;
            },
            out);
    queued -= out.size() - before;
    next_deadline = next;
}

bool BatchExecutor::Impl::run_batch(Backend& backend, batching_detail::Items batch, std::uint64_t batch_id,
                                    std::vector<batching_detail::Outcome>* held) {
    const auto n = static_cast<int64_t>(batch.size());
    const int64_t padded = std::max<int64_t>(n, static_size);
    // A smaller batch may run where a larger one failed: a dynamic model is re-run in halves.
    const bool can_split = n > 1 && kind.is_dynamic();
    if (can_split && size_failed(static_cast<std::size_t>(n))) {
        std::vector<batching_detail::Outcome> mine;
        const bool all_ran = run_halves(backend, batch, held ? held : &mine);
        deliver(mine);
        return all_ran;
    }
    const Clock::time_point started = Clock::now();
    std::vector<Tensor> outputs;
    std::exception_ptr error;
    std::string error_text;
    try {
        if (padded == 1) {
            outputs = backend.run(batch.front()->inputs);  // zero-copy: the request's own tensors
        } else {
            auto& s = scratch;
            s.inputs.clear();
            const std::size_t n_inputs = batch.front()->inputs.size();
            for (std::size_t j = 0; j < n_inputs; ++j) {
                s.parts.clear();
                for (const auto& p : batch) s.parts.push_back(p->inputs[j]);
                s.inputs.push_back(concat_leading(s.parts, padded));
            }
            s.parts.clear();
            outputs = backend.run(s.inputs);
            s.inputs.clear();  // release the batch buffers now, not at the next batch
        }
        check_outputs(outputs, padded);
    } catch (...) {
        error = capture_error(error_text);
        scratch.inputs.clear();
        scratch.parts.clear();
    }
    const Clock::time_point finished = Clock::now();
    const bool seq = sequential.load();
    BatchRecord record{static_cast<int>(n), static_cast<int>(padded - n),
                       std::chrono::duration_cast<std::chrono::nanoseconds>(finished - started), seq, error != nullptr};

    if (error) {
        stats.add_batch(record, started, finished, nullptr, 0);
        if (can_split) {
            stats.retried_batches.fetch_add(1, std::memory_order_relaxed);
            stats.retried_requests.fetch_add(static_cast<std::uint64_t>(n), std::memory_order_relaxed);
            if (policy.verbose)
                log(LogLevel::verbose,
                    device + " Batch Execution failed for " + std::to_string(n) +
                        " images; re-running them in smaller batches: " + batching_detail::first_line(error_text));
            std::vector<batching_detail::Outcome> mine;
            const bool all_ran = run_halves(backend, batch, held ? held : &mine);
            // Every request ran in a smaller batch: the size, not a request, was the problem.
            if (all_ran) learn_failed_size(static_cast<std::size_t>(n), error_text);
            deliver(mine);
            return all_ran;
        }
        stats.failed.fetch_add(static_cast<std::uint64_t>(n), std::memory_order_relaxed);
        if (policy.verbose)
            log(LogLevel::verbose, device + (seq ? " Sequential" : " Batch") + " Execution failed for " +
                                       std::to_string(n) + (n == 1 ? " image: " : " images: ") +
                                       batching_detail::first_line(error_text));
        for (auto& p : batch) {  // the same error, this batch only
            if (held)
                held->push_back({p.get(), {}, error});
            else
                p->promise.set_exception(error);
        }
        return false;
    }
    if (padded > 1 && kind.is_dynamic()) {
        batch_verified.store(true);
        if (static_cast<std::size_t>(n) < size_states)
            size_state[static_cast<std::size_t>(n)].store(batching_detail::SizeState::ran, std::memory_order_relaxed);
    }

    auto& results = scratch.results;
    auto& timings = scratch.timings;
    results.clear();
    timings.clear();
    // One completion time for the whole batch: its requests got their outputs together.
    const Clock::time_point completed = Clock::now();
    for (int64_t i = 0; i < n; ++i) {
        Pending& p = *batch[static_cast<std::size_t>(i)];
        Result& r = results.emplace_back();
        r.outputs.reserve(outputs.size());
        for (const Tensor& o : outputs) r.outputs.push_back(item_of(o, i, padded));
        r.batch_size = static_cast<int>(n);
        r.padding = static_cast<int>(padded - n);
        r.tag = p.tag;
        r.batch_id = batch_id;
        r.timings = RequestTimings{p.enqueued, started, finished, completed};
        timings.push_back(r.timings);
    }
    // Stats and the log line come before the futures are ready, so a caller who has all its
    // results also sees them counted.
    stats.completed.fetch_add(static_cast<std::uint64_t>(n), std::memory_order_relaxed);
    stats.add_batch(record, started, finished, timings.data(), timings.size());
    if (policy.verbose)
        log(LogLevel::verbose,
            execution_line(device, std::vector<int>{static_cast<int>(n)},
                           std::chrono::duration<double, std::milli>(record.duration).count(), "image", seq));
    for (int64_t i = 0; i < n; ++i) {
        Pending* p = batch[static_cast<std::size_t>(i)].get();
        if (held)
            held->push_back({p, std::move(results[static_cast<std::size_t>(i)]), nullptr});
        else
            p->promise.set_value(std::move(results[static_cast<std::size_t>(i)]));
    }
    results.clear();
    return true;
}

bool BatchExecutor::Impl::run_halves(Backend& backend, batching_detail::Items batch,
                                     std::vector<batching_detail::Outcome>* held) {
    // Halves, not one at a time: a model that fails only at some sizes (a Reshape dividing a
    // constant by the batch) keeps most of its batching, e.g. 7 -> 4 + 3 -> 4 + 2 + 1.
    const std::size_t first = (batch.size() + 1) / 2;
    const bool a = run_batch(backend, batch.first(first), next_batch_id.fetch_add(1, std::memory_order_relaxed), held);
    const bool b =
        run_batch(backend, batch.subspan(first), next_batch_id.fetch_add(1, std::memory_order_relaxed), held);
    return a && b;
}

void BatchExecutor::Impl::deliver(std::vector<batching_detail::Outcome>& outcomes) {
    for (batching_detail::Outcome& o : outcomes) {
        if (o.error)
            o.request->promise.set_exception(o.error);
        else
            o.request->promise.set_value(std::move(o.result));
    }
    outcomes.clear();
}

}  // namespace tiledet
