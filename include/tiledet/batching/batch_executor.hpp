// BatchExecutor: requests from any number of threads, batches formed by policy, run on one or
// more backends, outputs split per request and delivered through futures. It knows nothing of
// detection: a request is one item's input tensors.
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tiledet/batching/backend.hpp"
#include "tiledet/batching/errors.hpp"
#include "tiledet/batching/policy.hpp"
#include "tiledet/batching/stats.hpp"
#include "tiledet/runtime/tensor.hpp"

namespace tiledet {

struct Result;

// Called exactly once per request instead of fulfilling a future: with the Result (error null)
// or with the error (result null; the same exceptions the future would throw). It runs on a
// worker thread, or on the thread whose submit, cancel or shutdown ended the request there: keep
// it short, never block in it, and do not let it throw (an exception is swallowed).
using RequestCallback = std::function<void(Result* result, std::exception_ptr error)>;

struct Request {
    // One tensor per model input, each with leading dim 1 (for a model without a batch axis:
    // the tensors as the model takes them).
    std::vector<Tensor> inputs;
    // Latest time to start running; unset: the policy's default_deadline (if any).
    std::optional<ExecutorClock::time_point> deadline;
    // The caller's label, returned in the Result; cancel(tag) cancels every queued request
    // that carries it (e.g. all tiles of one image).
    std::uint64_t tag = 0;
    // Set: the request ends through this callback and its future is left empty (!valid()).
    RequestCallback on_done;
};

struct Result {
    // One per model output: this request's item (leading dim 1), a view into the batch's
    // output. An output without a batch axis (a model run at batch 1) is passed whole.
    std::vector<Tensor> outputs;
    RequestTimings timings;
    int batch_size = 0;  // real requests in the batch it ran in
    int padding = 0;     // padded slots in that batch
    std::uint64_t tag = 0;
    std::uint64_t batch_id = 0;  // requests with equal batch_id ran together
};

enum class LogLevel { verbose, info, warning };
// Where log lines go; the default writes them to stderr. Called from worker threads, one call
// at a time.
using LogSink = std::function<void(LogLevel, std::string_view)>;
LogSink stderr_log_sink();

class BatchExecutor {
public:
    // One worker thread per backend; all backends must be instances of the same model. Runs the
    // warm-up probe (see BatchPolicy::probe_dynamic_batch) before returning.
    BatchExecutor(std::vector<std::unique_ptr<Backend>> backends, BatchPolicy policy = {}, LogSink sink = {});
    BatchExecutor(std::unique_ptr<Backend> backend, BatchPolicy policy = {}, LogSink sink = {});

    // policy.instances sessions of the model (see make_model_backends).
    static BatchExecutor open(const std::string& path, BatchPolicy policy = {}, ModelOptions options = {},
                              LogSink sink = {});
    static BatchExecutor open(std::span<const std::byte> bytes, BatchPolicy policy = {}, ModelOptions options = {},
                              LogSink sink = {});

    BatchExecutor(BatchExecutor&&) noexcept;
    BatchExecutor& operator=(BatchExecutor&&) noexcept;
    // Drains: shutdown(false).
    ~BatchExecutor();

    // Thread-safe. The future yields the Result, or throws RuntimeFailure (the model's error for
    // this request: a failed batch is re-run in smaller batches, so only a request that also
    // fails alone gets it), DeadlineExpired, Cancelled, QueueFull or
    // ShutDown. Throws ShapeError at once for a request the executor cannot batch (no inputs,
    // or a leading dim other than 1).
    std::future<Result> submit(Request request);
    std::future<Result> submit(std::vector<Tensor> inputs) { return submit(Request{std::move(inputs), {}, 0, {}}); }

    // Enqueues `requests` as one group (the tiles of one image, a caller's burst): all of them
    // enter the queue at once, under one lock, and the batcher does not split a group that fits
    // in one batch; a larger group is cut into full batches. Returns one future per request, in
    // order, each ending as submit(Request)'s does. Throws ShapeError, enqueuing none, when any
    // request cannot be batched. Requests of different input shapes never share a batch, so a
    // group is kept together per shape. A group larger than BatchPolicy::queue_capacity enters
    // in pieces of at most that many (memory stays bounded by the policy).
    std::vector<std::future<Result>> submit(std::vector<Request> requests);

    // Cancels the queued requests carrying `tag` (those already running complete); returns
    // how many.
    std::size_t cancel(std::uint64_t tag);

    // Stops accepting requests and waits for the workers. Queued requests still run, or, with
    // cancel_pending, end as Cancelled. Idempotent.
    void shutdown(bool cancel_pending = false);

    ExecutorStats stats() const;
    std::string summary() const { return format_summary(stats()); }

    // What the executor decided from the model: the batch size it forms (static N, the
    // policy's max for a dynamic batch, 1 when it fell back) and whether it fell back.
    int max_batch_size() const;
    bool sequential() const;
    std::size_t instances() const;
    const Backend& backend(std::size_t i) const;
    // The CPU each instance's worker thread is pinned to, by instance (BatchPolicy::pin_instances);
    // empty when the workers are not pinned.
    const std::vector<int>& pinned_cpus() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace tiledet
