#include "tiledet/pipeline/pipeline.hpp"

#include <atomic>
#include <cmath>
#include <exception>
#include <limits>
#include <mutex>
#include <opencv2/core/utility.hpp>

#include "tiledet/batching/backend.hpp"
#include "tiledet/batching/batch_executor.hpp"
#include "tiledet/error.hpp"
#include "tiledet/batching/errors.hpp"
#include "auto_config_impl.hpp"
#include "image_job.hpp"

namespace tiledet {
namespace {

// Decode options as set_option checks them, for options given as a struct (PipelineOptions,
// SubmitOptions::decode): `field` names follow the struct ("decode.conf").
void check_decode_options(const DecodeOptions& d) {
    const auto unit = [](const char* field, const std::optional<float>& v) {
        if (v && !(*v >= 0.f && *v <= 1.f))
            throw OptionError(field, "", ": expected a value in [0, 1], got " + std::to_string(*v));
    };
    unit("decode.conf", d.conf);
    unit("decode.iou", d.iou);
    if (d.max_det < 0)
        throw OptionError("decode.max_det", "", ": expected a count >= 0 (0: no limit), got " + std::to_string(d.max_det));
    for (int c : d.classes)
        if (c < 0) throw OptionError("decode.classes", "", ": expected class ids >= 0, got " + std::to_string(c));
}

// The fixed-mode tile spec with 0 sizes resolved to the model input.
TileSpec resolved_spec(const TileSpec& tiles, int in_w, int in_h) {
    TileSpec spec = tiles;
    if (spec.tile_w <= 0) spec.tile_w = in_w;
    if (spec.tile_h <= 0) spec.tile_h = in_h;
    return spec;
}

void check_tile_options(TileMode mode, const TileSpec& tiles, const Limits& limits, int in_w, int in_h) {
    if (mode != TileMode::fixed) return;
    if (tiles.tile_w < 0 || tiles.tile_h < 0)
        throw OptionError("tiles.tile_w", "",
                          ": expected a tile size >= 0 (0: the model's input size), got " +
                              std::to_string(tiles.tile_w) + "x" + std::to_string(tiles.tile_h));
    const TileSpec spec = resolved_spec(tiles, in_w, in_h);
    const auto axis = [&](const char* a, int tile, int px, double ratio) {
        const std::string s(a);
        if (px < 0 && !(ratio >= 0.0 && ratio < 1.0))
            throw OptionError("tiles.overlap_ratio_" + s, "",
                              ": expected a ratio in [0, 1), got " + std::to_string(ratio));
        const int overlap = px >= 0 ? px : static_cast<int>(ratio * tile);
        if (overlap >= tile)
            throw OptionError(px >= 0 ? "tiles.overlap_px_" + s : "tiles.overlap_ratio_" + s, "",
                              ": expected an overlap smaller than the tile (" + std::to_string(tile) + " px along " +
                                  s + "), got " + std::to_string(overlap) +
                                  " px; the grid would never advance: give a ratio below 1 or fewer pixels");
    };
    axis("w", spec.tile_w, spec.overlap_px_w, spec.overlap_ratio_w);
    axis("h", spec.tile_h, spec.overlap_px_h, spec.overlap_ratio_h);
    const double ratio = std::min(static_cast<double>(spec.tile_w) / std::max(1, in_w),
                                  static_cast<double>(spec.tile_h) / std::max(1, in_h));
    if (limits.min_tile_ratio > 0 && in_w > 0 && in_h > 0 && ratio < limits.min_tile_ratio) {
        const int min_w = static_cast<int>(std::ceil(limits.min_tile_ratio * in_w));
        const int min_h = static_cast<int>(std::ceil(limits.min_tile_ratio * in_h));
        throw OptionError("limits.min_tile_ratio",
                          "tiles of " + std::to_string(spec.tile_w) + "x" + std::to_string(spec.tile_h) +
                              " would each be upscaled to the model input " + std::to_string(in_w) + "x" +
                              std::to_string(in_h) + " (" + std::to_string(ratio) + " of it, below ",
                          " = " + std::to_string(limits.min_tile_ratio) + "); use tiles of at least " +
                              std::to_string(min_w) + "x" + std::to_string(min_h) + ", or " + std::to_string(in_w) +
                              "x" + std::to_string(in_h) + " (tile size 0: the model's input size)");
    }
}

}  // namespace

struct Pipeline::Impl {
    PipelineOptions options;
    std::unique_ptr<Detector> detector;
    ModelSignature signature;
    std::unique_ptr<BatchExecutor> executor;
    std::atomic<std::uint64_t> next_tag{1};

    AutoConfigChoice config;

    // Everything that can be checked before a batch runs: limits, decode and tile options, the
    // family. Creates the detector.
    void validate(const ModelSignature& sig) {
        signature = sig;
        check_signature_limits(signature, options.limits);
        // An input with a fixed dim of 0 (a batch of 0) runs no item: refused here, not by the
        // runtime at the first image with a message about batches.
        for (const TensorInfo& t : signature.inputs)
            for (const Dim& d : t.dims)
                if (d.fixed() && d.value == 0)
                    throw ConfigError("model input '" + t.name + "' " + t.dims_string() +
                                      " has a dim of 0, so no image can be fed to it; re-export the model with batch "
                                      "1 (or a dynamic batch axis) and a positive input size");
        check_decode_options(options.decode);
        detector = make_detector(signature, options.detector);
        // A dynamic H/W input takes its size from the options (imgsz), so check it resolved too.
        const auto [in_h, in_w] = detector->input_size();
        const std::int64_t channels = 3;
        check_limit(
            channels * in_h * in_w, options.limits.max_input_elements, "limits.max_input_elements",
            "model input size " + std::to_string(in_w) + "x" + std::to_string(in_h) + " takes elements per item",
            "; give a smaller input size, or raise the limit");
        check_tile_options(options.tile_mode, options.tiles, options.limits, in_w, in_h);
    }

    void init(std::vector<std::unique_ptr<Backend>> backends, const ModelSignature* sig = nullptr) {
        if (backends.empty()) throw ConfigError("pipeline: at least one model instance is needed");
        if (sig) {
            validate(*sig);
        } else if (!detector) {
            const auto* mb = dynamic_cast<const ModelBackend*>(backends.front().get());
            if (!mb) throw ConfigError("pipeline: give the signature of backends that are not ModelBackend");
            validate(mb->model().signature());
        }
        executor = std::make_unique<BatchExecutor>(std::move(backends), options.batching, options.log);
        config.pinned_cpus = executor->pinned_cpus();
        slot_ring = std::make_unique<pipeline_detail::SlotRing>(*detector, [this] { return group_size(); });
    }

    std::unique_ptr<pipeline_detail::SlotRing> slot_ring;

    // Declared after the executor so it goes first: its last tasks may still call executor->cancel().
    std::unique_ptr<pipeline_detail::Completer> completer = std::make_unique<pipeline_detail::Completer>();
    // Declared last so it stops first: it posts to the completer and submits to the executor.
    std::unique_ptr<pipeline_detail::TileFeeder> feeder = [this] {
        auto f = std::make_unique<pipeline_detail::TileFeeder>(*completer);
        completer->set_feeder(f.get());
        return f;
    }();
    std::mutex close_mu;

    std::size_t group_size() const { return static_cast<std::size_t>(std::max(1, executor->max_batch_size())); }
    std::size_t window() const {
        const std::size_t g = group_size();
        if (options.max_tiles_in_flight > 0)
            return std::max(g, static_cast<std::size_t>(options.max_tiles_in_flight));
        return g * std::max<std::size_t>(1, executor->instances()) * 2;
    }

    // Stops the executor (queued tiles run, or end as Cancelled) and waits for every callback.
    // Draining first lets windowed images cut all their tiles; cancelling stops the feeder first.
    void close(bool cancel_pending) {
        std::lock_guard lk(close_mu);
        if (cancel_pending)
            feeder->stop();
        else
            feeder->wait_fed();
        if (executor) executor->shutdown(cancel_pending);
        completer->drain();
    }

    ImageJob submit(const cv::Mat* image, std::shared_ptr<ImageSource> source, int width, int height,
                    SubmitOptions options, ImageCallback on_done, const Pipeline& self);
};

namespace {

// The error being handled, said about the model file: prefixed with its path unless it already
// starts so. Called from a catch block.
template <class E>
[[noreturn]] void about_model(const E& e, const std::string& model_path) {
    const std::string what = e.what();
    if (what.rfind(model_path, 0) == 0) throw;  // the exception being handled, as it is
    throw E(model_path + ": " + what);
}

}  // namespace

Pipeline::Pipeline(const std::string& model_path, PipelineOptions options) : impl_(std::make_unique<Impl>()) {
    impl_->options = std::move(options);
    const std::vector<std::byte> bytes = read_file_bytes(model_path);
    try {
        // The options are checked against the model's signature before any measurement runs.
        auto backends = pipeline_detail::open_configured(bytes, model_path, impl_->options, impl_->config,
                                                         [this](const ModelSignature& s) { impl_->validate(s); });
        impl_->init(std::move(backends));
    } catch (const OptionError& e) {
        throw e.prefixed(model_path + ": ");
    } catch (const ConfigError& e) {
        about_model(e, model_path);  // the detector's own checks do not know its file
    } catch (const UnknownLayoutError& e) {
        about_model(e, model_path);
    } catch (const ShapeError& e) {
        about_model(e, model_path);
    }
}

Pipeline::Pipeline(std::vector<std::unique_ptr<Backend>> backends, const ModelSignature& signature,
                   PipelineOptions options)
    : impl_(std::make_unique<Impl>()) {
    impl_->options = std::move(options);
    impl_->init(std::move(backends), &signature);
}

Pipeline::~Pipeline() {
    if (impl_) impl_->close(/*cancel_pending=*/true);
}

std::vector<Tile> Pipeline::tiles_for(int width, int height, const SubmitOptions& overrides) const {
    const auto [in_h, in_w] = impl_->detector->input_size();
    const TileMode mode = overrides.tile_mode.value_or(impl_->options.tile_mode);
    const TileSpec& given = overrides.tiles ? *overrides.tiles : impl_->options.tiles;
    if (overrides.tile_mode || overrides.tiles) check_tile_options(mode, given, impl_->options.limits, in_w, in_h);
    TileSpec spec;
    switch (mode) {
        case TileMode::none:
            return {Tile{0, 0, 0, width, height, false}};
        case TileMode::automatic:
            spec = auto_tile_spec(width, height, in_w, in_h);
            break;
        case TileMode::fixed:
            spec = resolved_spec(given, in_w, in_h);
            break;
    }
    // Counted before placing: a hostile grid (1-px tiles, 0.99 overlap) must not allocate first.
    const std::int64_t n = tile_grid_count(width, height, spec);
    check_limit(n, impl_->options.limits.max_tiles_per_image, "limits.max_tiles_per_image",
                "image " + std::to_string(width) + "x" + std::to_string(height) + " cut into " +
                    std::to_string(spec.tile_w) + "x" + std::to_string(spec.tile_h) + " tiles (overlap " +
                    std::to_string(spec.overlap_w()) + "x" + std::to_string(spec.overlap_h()) + " px) gives tiles",
                "; use larger tiles or less overlap, or raise the limit");
    return make_tile_grid(width, height, spec);
}

ImageJob Pipeline::submit(const cv::Mat& image, SubmitOptions options, ImageCallback on_done) {
    Impl& m = *impl_;
    const std::string label = options.label.empty() ? std::string("image") : options.label;
    if (image.empty() || image.type() != CV_8UC3)
        throw InputError(label + ": expected a non-empty 8-bit 3-channel (BGR) image, got " +
                         (image.empty() ? std::string("an empty one") : "type " + std::to_string(image.type())));
    check_limit(std::int64_t{image.cols} * image.rows, m.options.limits.max_image_pixels, "limits.max_image_pixels",
                label + ": " + std::to_string(image.cols) + "x" + std::to_string(image.rows) + " has pixels",
                "; downscale it, or raise the limit");
    return m.submit(&image, nullptr, image.cols, image.rows, std::move(options), std::move(on_done), *this);
}

ImageJob Pipeline::submit(std::shared_ptr<ImageSource> source, SubmitOptions options, ImageCallback on_done) {
    const std::string label = options.label.empty() ? std::string("image") : options.label;
    if (!source || source->width() <= 0 || source->height() <= 0)
        throw InputError(label + ": expected an image source with a size of at least 1x1, got " +
                         (source ? std::to_string(source->width()) + "x" + std::to_string(source->height())
                                 : std::string("none")));
    const int w = source->width(), h = source->height();
    return impl_->submit(nullptr, std::move(source), w, h, std::move(options), std::move(on_done), *this);
}

std::future<ImageResult> Pipeline::submit(std::shared_ptr<ImageSource> source, SubmitOptions options) {
    auto promise = std::make_shared<std::promise<ImageResult>>();
    std::future<ImageResult> future = promise->get_future();
    submit(std::move(source), std::move(options), [promise](ImageResult&& r, std::exception_ptr e) {
        if (e)
            promise->set_exception(std::move(e));
        else
            promise->set_value(std::move(r));
    });
    return future;
}

std::size_t Pipeline::tiles_in_flight() const { return impl_->window(); }

ImageJob Pipeline::Impl::submit(const cv::Mat* image, std::shared_ptr<ImageSource> source, int width, int height,
                                SubmitOptions options, ImageCallback on_done, const Pipeline& self) {
    const std::string label = options.label.empty() ? std::string("image") : options.label;
    auto job = std::make_shared<pipeline_detail::JobState>();
    try {
        job->tiles = self.tiles_for(width, height, options);
    } catch (const OptionError& e) {
        throw e.prefixed(label + ": ");
    }
    if (options.decode) {
        try {
            check_decode_options(*options.decode);
        } catch (const OptionError& e) {
            throw e.prefixed(label + ": ");
        }
    }
    job->executor = executor.get();
    job->detector = detector.get();
    job->slot_ring = slot_ring.get();
    job->tag = next_tag.fetch_add(1);
    job->source = std::move(options.label);
    job->width = width;
    job->height = height;
    job->submitted = Clock::now();
    job->deadline = options.deadline;
    job->decode = options.decode.value_or(this->options.decode);
    job->merge = options.merge.value_or(this->options.merge);
    job->on_done = std::move(on_done);
    job->on_progress = std::move(options.on_progress);
    const std::size_t n = job->tiles.size();
    job->geometry.resize(n);
    job->preprocess_ms.resize(n);
    job->detections.resize(n);
    job->reports.resize(n);
    job->remaining = n;

    if (image && n <= window()) {
        // Every tile now, on the calling thread: spreading the tiles over OpenCV's threads was
        // measured slower on 2 shared cores, where the executor's worker needs them for
        // inference (BENCHMARKS.md, "Preprocessing an image's tiles"). The tiles are ROI views
        // of the caller's image, read in place.
        MatImageSource view(*image);
        pipeline_detail::CutTiles cut = pipeline_detail::cut_tiles(job, view, 0, n, *completer);
        job->enqueued = Clock::now();
        // One group: the tiles enter the queue together and share a batch whenever they fit in one.
        executor->submit(std::move(cut.requests));
        return ImageJob(std::move(job));
    }
    if (image) {
        // A Mat that does not own its pixels (a caller's buffer) may be gone before the last
        // tile is cut.
        source = std::make_shared<MatImageSource>(image->u ? *image : image->clone());
    }
    job->pixels = std::move(source);
    job->group_size = group_size();
    job->window = window();
    if (image) {
        // An image in memory: its first window is cut here, on the calling thread, so callers
        // on several threads still preprocess in parallel; the feeder cuts the rest as tiles
        // come back. The window is reserved first, so the feeder never cuts the same tiles (it
        // only cuts into room freed by completions). A GDAL source is read from one thread
        // only, so it is cut by the feeder alone.
        const std::size_t reserved = std::min(n, job->window);
        {
            std::lock_guard lk(job->mu);
            job->next_tile = reserved;
            job->in_flight = reserved;
        }
        // Counted before its first tile is queued: the completions of the first groups may wake
        // the feeder, which may cut the rest (and count the image closed) before start() below.
        feeder->count_open();
        job->enqueued = Clock::now();
        for (std::size_t first = 0; first < reserved; first += job->group_size) {
            const std::size_t count = std::min(job->group_size, reserved - first);
            try {
                pipeline_detail::CutTiles cut = pipeline_detail::cut_tiles(job, *job->pixels, first, count, *completer);
                executor->submit(std::move(cut.requests));
            } catch (...) {
                if (first == 0) {  // nothing accepted yet: the caller gets the error, as for a small image
                    feeder->closed_one();
                    throw;
                }
                if (job->fail(std::current_exception())) executor->cancel(job->tag);
                completer->post_released(job, reserved - first, /*in_flight=*/true);
                break;
            }
        }
    }
    feeder->start(job, /*counted=*/image != nullptr);
    return ImageJob(std::move(job));
}

std::future<ImageResult> Pipeline::submit(const cv::Mat& image, SubmitOptions options) {
    auto promise = std::make_shared<std::promise<ImageResult>>();
    std::future<ImageResult> future = promise->get_future();
    submit(image, std::move(options), [promise](ImageResult&& r, std::exception_ptr e) {
        if (e)
            promise->set_exception(std::move(e));
        else
            promise->set_value(std::move(r));
    });
    return future;
}

std::future<ImageResult> Pipeline::submit(const cv::Mat& image, std::string source) {
    SubmitOptions o;
    o.label = std::move(source);
    return submit(image, std::move(o));
}

ImageResult Pipeline::detect(const cv::Mat& image, std::string source) { return submit(image, std::move(source)).get(); }

const Detector& Pipeline::detector() const { return *impl_->detector; }
const AutoConfigChoice& Pipeline::config() const { return impl_->config; }
const ModelSignature& Pipeline::signature() const { return impl_->signature; }
BatchExecutor& Pipeline::executor() { return *impl_->executor; }
const PipelineOptions& Pipeline::options() const { return impl_->options; }

void Pipeline::shutdown() {
    impl_->close(/*cancel_pending=*/false);
}

void Pipeline::shutdown(bool cancel_pending) { impl_->close(cancel_pending); }

// --- ImageJob

std::uint64_t ImageJob::id() const { return state_ ? state_->tag : 0; }

bool ImageJob::cancel() {
    if (!state_) return false;
    pipeline_detail::JobState& s = *state_;
    // Under the job's lock the image cannot end, so the executor (which outlives every job that
    // has not ended) is still there.
    std::lock_guard lk(s.mu);
    if (s.done) return false;
    if (!s.error)
        s.error = std::make_exception_ptr(Cancelled((s.source.empty() ? std::string("image") : s.source) +
                                                    ": cancelled by the caller (ImageJob::cancel)"));
    s.executor->cancel(s.tag);
    return true;
}

bool ImageJob::done() const {
    if (!state_) return true;
    std::lock_guard lk(state_->mu);
    return state_->done;
}

void ImageJob::wait() const {
    if (!state_) return;
    std::unique_lock lk(state_->mu);
    state_->ended.wait(lk, [&] { return state_->done; });
}

bool ImageJob::wait_for(std::chrono::milliseconds timeout) const {
    if (!state_) return true;
    std::unique_lock lk(state_->mu);
    return state_->ended.wait_for(lk, timeout, [&] { return state_->done; });
}

}  // namespace tiledet
