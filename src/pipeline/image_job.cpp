#include "image_job.hpp"

#include "tiledet/batching/errors.hpp"

namespace tiledet::pipeline_detail {
namespace {

double ms_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
}

}  // namespace

bool JobState::fail(std::exception_ptr e) {
    std::lock_guard lk(mu);
    if (error) return false;
    error = std::move(e);
    return true;
}

Completer::Completer() : thread_([this] { loop(); }) {}

Completer::~Completer() {
    {
        std::lock_guard lk(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
}

void Completer::post(std::shared_ptr<JobState> job, std::size_t index, Result* result, std::exception_ptr error) {
    Item item{std::move(job), index, std::nullopt, std::move(error)};
    if (result) item.result.emplace(std::move(*result));
    {
        std::lock_guard lk(mu_);
        queue_.push_back(std::move(item));
    }
    cv_.notify_one();
}

void Completer::drain() {
    std::unique_lock lk(mu_);
    idle_cv_.wait(lk, [&] { return queue_.empty() && !busy_; });
}

void Completer::loop() {
    std::unique_lock lk(mu_);
    for (;;) {
        cv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
        if (queue_.empty()) {
            if (stop_) return;
            continue;
        }
        Item item = std::move(queue_.front());
        queue_.pop_front();
        busy_ = true;
        lk.unlock();
        handle(item);
        item = Item{};  // the tile's batch outputs and, for the last tile, the job go now
        lk.lock();
        busy_ = false;
        if (queue_.empty()) idle_cv_.notify_all();
    }
}

void Completer::handle(Item& item) {
    JobState& job = *item.job;
    if (item.error) {
        // The first failed tile ends the image: its other queued tiles are dropped now rather
        // than run for nothing (those already running come back and are ignored).
        if (job.fail(item.error)) job.executor->cancel(job.tag);
    } else if (item.result) {
        bool failed;
        {
            std::lock_guard lk(job.mu);
            failed = job.error != nullptr;
        }
        if (!failed) {
            try {
                const Result& r = *item.result;
                const std::size_t i = item.index;
                const auto d0 = Clock::now();
                Detections dets =
                    job.detector->decode(job.detector->item_outputs(r.outputs, 0), job.geometry[i], job.decode);
                const auto d1 = Clock::now();
                TileReport& rep = job.reports[i];
                rep.tile = job.tiles[i];
                rep.detections = dets.size();
                rep.batch_size = r.batch_size;
                rep.batch_id = r.batch_id;
                rep.sequential = r.batch_size + r.padding == 1;
                rep.preprocess_ms = job.preprocess_ms[i];
                rep.queue_ms = std::chrono::duration<double, std::milli>(r.timings.queue()).count();
                rep.inference_ms = std::chrono::duration<double, std::milli>(r.timings.compute()).count();
                rep.decode_ms = ms_between(d0, d1);
                rep.latency_ms = ms_between(job.enqueued, r.timings.completed);
                job.detections[i] = shift_to_image(dets, job.tiles[i]);
            } catch (...) {
                if (job.fail(std::current_exception())) job.executor->cancel(job.tag);
            }
        }
    }
    if (--job.remaining == 0) finish(job);
}

void Completer::finish(JobState& job) {
    ImageResult out;
    out.source = job.source;
    out.width = job.width;
    out.height = job.height;
    std::exception_ptr error;
    {
        std::lock_guard lk(job.mu);
        error = job.error;
    }
    if (!error) {
        try {
            out.tiles = std::move(job.reports);
            for (const TileReport& t : out.tiles) out.preprocess_ms += t.preprocess_ms;
            const auto m0 = Clock::now();
            if (job.detections.size() > 1) {
                // Boxes of one object seen by overlapping tiles are merged; a single tile keeps
                // the family's own reference output untouched.
                Detections all;
                for (Detections& d : job.detections) all.insert(all.end(), d.begin(), d.end());
                out.detections = clip_to_image(merge_detections(std::move(all), job.merge), job.width, job.height);
            } else {
                out.detections = std::move(job.detections.front());
            }
            if (job.decode.max_det > 0 && out.detections.size() > static_cast<std::size_t>(job.decode.max_det))
                out.detections.resize(static_cast<std::size_t>(job.decode.max_det));
            const auto m1 = Clock::now();
            out.merge_ms = ms_between(m0, m1);
            out.end_to_end_ms = ms_between(job.submitted, m1);
        } catch (...) {
            error = std::current_exception();
            out.detections.clear();
            out.tiles.clear();
        }
    }
    job.detections.clear();
    if (job.on_done) {
        try {
            job.on_done(std::move(out), error);
        } catch (...) {  // ImageCallback's contract: it does not throw; the thread must survive one that does
        }
    }
    job.on_done = nullptr;  // whatever the callback captured goes now
    {
        std::lock_guard lk(job.mu);
        job.done = true;
    }
    job.ended.notify_all();
}

}  // namespace tiledet::pipeline_detail
