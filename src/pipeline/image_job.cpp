#include "image_job.hpp"

#include <algorithm>
#include <tuple>

#include "tiledet/batching/errors.hpp"
#include "tiledet/error.hpp"

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

void Completer::push(Item item) {
    {
        std::lock_guard lk(mu_);
        queue_.push_back(std::move(item));
    }
    cv_.notify_one();
}

void Completer::post(std::shared_ptr<JobState> job, std::size_t index, Result* result, std::exception_ptr error) {
    Item item;
    item.job = std::move(job);
    item.index = index;
    item.error = std::move(error);
    if (result) item.result.emplace(std::move(*result));
    push(std::move(item));
}

void Completer::post_skipped(std::shared_ptr<JobState> job, std::size_t index) {
    Item item;
    item.job = std::move(job);
    item.index = index;
    item.kind = Item::Kind::skipped;
    push(std::move(item));
}

void Completer::post_released(std::shared_ptr<JobState> job, std::size_t count, bool in_flight) {
    Item item;
    item.job = std::move(job);
    item.kind = Item::Kind::released;
    item.count = count;
    item.in_flight = in_flight;
    push(std::move(item));
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
    if (item.kind == Item::Kind::skipped) {
        TileReport& rep = job.reports[item.index];
        rep.tile = job.tiles[item.index];
        rep.skipped = true;
    } else if (item.kind == Item::Kind::released) {
        // Nothing to decode: these tiles are only counted off.
    } else if (item.error) {
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
    job.remaining -= item.count;
    if (job.on_progress) {
        try {
            job.on_progress(job.tiles.size() - job.remaining, job.tiles.size());
        } catch (...) {  // a progress display must not end the image
        }
    }
    if (job.pixels) {
        bool more;
        {
            std::lock_guard lk(job.mu);
            if (item.in_flight) job.in_flight -= item.count;
            more = job.next_tile < job.tiles.size();
        }
        // The window has room again: the feeder cuts the next group (or releases the rest of a
        // failed image, which then ends here when its last tile is counted off).
        if (more && feeder_) feeder_->wake(item.job);
    }
    if (job.remaining == 0) finish(job);
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
    job.pixels.reset();  // a raster's dataset closes now
    if (job.on_done) {
        try {
            job.on_done(std::move(out), error);
        } catch (...) {  // ImageCallback's contract: it does not throw; the thread must survive one that does
        }
    }
    job.on_done = nullptr;  // whatever the callback captured goes now
    job.on_progress = nullptr;
    {
        std::lock_guard lk(job.mu);
        job.done = true;
    }
    job.ended.notify_all();
}

CutTiles cut_tiles(const std::shared_ptr<JobState>& job, ImageSource& pixels, std::size_t first, std::size_t count,
                   Completer& completer) {
    CutTiles out;
    // Regions first: a tile whose region holds no data gets no input slot.
    std::vector<cv::Mat> regions;
    std::vector<std::size_t> run;
    std::vector<double> read_ms;
    for (std::size_t i = first; i < first + count; ++i) {
        const Tile& tile = job->tiles[i];
        const auto r0 = Clock::now();
        cv::Mat region = pixels.read(cv::Rect(tile.x, tile.y, tile.w, tile.h));
        if (region.empty()) {
            out.skipped.push_back(i);
            continue;
        }
        if (region.type() != CV_8UC3 || region.cols != tile.w || region.rows != tile.h)
            throw InputError((job->source.empty() ? std::string("image") : job->source) +
                             ": the image source gave a region of " + std::to_string(region.cols) + "x" +
                             std::to_string(region.rows) + " type " + std::to_string(region.type()) +
                             " for a tile of " + std::to_string(tile.w) + "x" + std::to_string(tile.h) +
                             "; expected 8-bit 3-channel BGR pixels of the tile's size");
        regions.push_back(std::move(region));
        run.push_back(i);
        read_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - r0).count());
    }
    if (run.empty()) return out;
    // Every tile is preprocessed straight into item k of one buffer: no per-tile allocation, and
    // a batch of consecutive tiles is that buffer's own bytes (concat_leading does not copy
    // adjacent views). Not zero-filled: preprocess writes every element of an item, pad included.
    std::vector<Tensor> slots;
    int base = 0;  // the item of `slots` that the first tile goes to
    if (run.size() == 1 && job->slot_ring)
        std::tie(slots, base) = job->slot_ring->take();
    else
        slots = job->detector->make_input_slots(static_cast<int>(run.size()), /*zero_fill=*/false);
    out.requests.resize(run.size());
    for (std::size_t k = 0; k < run.size(); ++k) {
        const std::size_t i = run[k];
        const auto p0 = Clock::now();
        const int item = base + static_cast<int>(k);
        job->geometry[i] = job->detector->preprocess(regions[k], slots, item);
        regions[k].release();
        job->preprocess_ms[i] = read_ms[k] + std::chrono::duration<double, std::milli>(Clock::now() - p0).count();
        Request& r = out.requests[k];
        r.inputs.reserve(slots.size());
        for (const Tensor& t : slots) r.inputs.push_back(t.item(item));
        r.tag = job->tag;
        r.deadline = job->deadline;
        r.on_done = [c = &completer, job, i](Result* res, std::exception_ptr e) { c->post(job, i, res, std::move(e)); };
    }
    return out;
}

// --- SlotRing

SlotRing::SlotRing(const Detector& detector, std::function<std::size_t()> capacity)
    : detector_(detector), capacity_(std::move(capacity)) {
    for (const Tensor& t : detector_.make_input_slots(1, /*zero_fill=*/false)) item_bytes_ += t.byte_size();
}

std::pair<std::vector<Tensor>, int> SlotRing::take() {
    std::lock_guard lk(mu_);
    if (next_ >= size_) {
        current_.clear();  // its last item is out: the buffer lives on in its requests only
        constexpr std::size_t kMaxBytes = std::size_t{64} << 20;
        const std::size_t cap = std::min(capacity_(), item_bytes_ ? std::max<std::size_t>(1, kMaxBytes / item_bytes_) : 1);
        if (cap <= 1) return {detector_.make_input_slots(1, /*zero_fill=*/false), 0};
        current_ = detector_.make_input_slots(static_cast<int>(cap), /*zero_fill=*/false);
        size_ = static_cast<int>(cap);
        next_ = 0;
    }
    return {current_, next_++};
}

// --- TileFeeder

TileFeeder::TileFeeder(Completer& completer) : completer_(completer), thread_([this] { loop(); }) {}

TileFeeder::~TileFeeder() {
    stop();
    thread_.join();
}

void TileFeeder::count_open() {
    std::lock_guard lk(mu_);
    ++open_;
}

void TileFeeder::start(std::shared_ptr<JobState> job, bool counted) {
    {
        std::lock_guard lk(mu_);
        if (!counted) ++open_;
        if (!stop_) {
            queue_.push_back(std::move(job));
            cv_.notify_one();
            return;
        }
    }
    release_rest(job, std::make_exception_ptr(ShutDown((job->source.empty() ? std::string("image") : job->source) +
                                                       ": submitted after the pipeline was closed")));
}

void TileFeeder::wake(std::shared_ptr<JobState> job) {
    {
        std::lock_guard lk(mu_);
        if (!stop_) {
            queue_.push_back(std::move(job));
            cv_.notify_one();
            return;
        }
    }
    release_rest(job, std::make_exception_ptr(Cancelled(
                          (job->source.empty() ? std::string("image") : job->source) +
                          ": cancelled: the pipeline was closed before all of its tiles were cut")));
}

void TileFeeder::wait_fed() {
    std::unique_lock lk(mu_);
    fed_cv_.wait(lk, [&] { return open_ == 0 || stop_; });
}

void TileFeeder::stop() {
    std::deque<std::shared_ptr<JobState>> waiting;
    {
        std::unique_lock lk(mu_);
        stop_ = true;
        cv_.notify_all();
        fed_cv_.notify_all();
        // The group being cut is submitted (or released) before stop returns.
        fed_cv_.wait(lk, [&] { return !busy_; });
        waiting.swap(queue_);
    }
    for (auto& job : waiting)
        release_rest(job, std::make_exception_ptr(Cancelled(
                              (job->source.empty() ? std::string("image") : job->source) +
                              ": cancelled: the pipeline was closed before all of its tiles were cut")));
}

void TileFeeder::closed_one() {
    std::lock_guard lk(mu_);
    if (open_ > 0) --open_;
    fed_cv_.notify_all();
}

void TileFeeder::release_rest(const std::shared_ptr<JobState>& job, std::exception_ptr error) {
    std::size_t rest;
    bool first_error = false;
    {
        std::lock_guard lk(job->mu);
        if (!job->error) {
            job->error = std::move(error);
            first_error = true;
        }
        rest = job->tiles.size() - job->next_tile;
        job->next_tile = job->tiles.size();
    }
    if (first_error) job->executor->cancel(job->tag);
    if (rest > 0) {
        completer_.post_released(job, rest, /*in_flight=*/false);
        closed_one();
    }
}

void TileFeeder::loop() {
    std::unique_lock lk(mu_);
    for (;;) {
        cv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
        if (stop_) return;
        std::shared_ptr<JobState> job = std::move(queue_.front());
        queue_.pop_front();
        busy_ = true;
        lk.unlock();
        feed(job);
        job.reset();
        lk.lock();
        busy_ = false;
        fed_cv_.notify_all();
    }
}

void TileFeeder::feed(const std::shared_ptr<JobState>& job) {
    const std::size_t n = job->tiles.size();
    for (;;) {
        std::size_t first, count;
        {
            std::lock_guard lk(job->mu);
            if (job->next_tile >= n) return;
            if (job->error) break;
            first = job->next_tile;
            count = std::min(job->group_size, n - first);
            // Only whole groups: a group smaller than a batch would send partial batches.
            if (job->in_flight + count > job->window) return;
            job->next_tile += count;
            job->in_flight += count;
        }
        const bool last = first + count == n;
        try {
            CutTiles cut = cut_tiles(job, *job->pixels, first, count, completer_);
            bool failed;
            {
                std::lock_guard lk(job->mu);
                failed = job->error != nullptr;
            }
            if (failed) {
                completer_.post_released(job, count, /*in_flight=*/true);
            } else {
                // The first group's time (set by submit() for an image in memory, whose first
                // groups are cut there); written before any of this image's tiles is queued.
                if (first == 0) job->enqueued = Clock::now();
                for (std::size_t i : cut.skipped) completer_.post_skipped(job, i);
                if (!cut.requests.empty()) job->executor->submit(std::move(cut.requests));
            }
        } catch (...) {
            if (job->fail(std::current_exception())) job->executor->cancel(job->tag);
            completer_.post_released(job, count, /*in_flight=*/true);
        }
        if (last) {
            closed_one();
            return;
        }
    }
    release_rest(job, nullptr);
}

}  // namespace tiledet::pipeline_detail
