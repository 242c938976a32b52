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

namespace tiledet {
namespace {

double ms_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
}

// One submitted tile: where it sits, where it went in the model's input frame, and its ticket.
struct PendingTile {
    Tile tile;
    Geometry geometry;
    std::future<Result> result;
    Clock::time_point submitted;
    double preprocess_ms = 0;
};

// Preprocesses each tile into its own input slot (requests[i].inputs), on the calling thread:
// spreading the tiles over OpenCV's threads was measured slower on 2 shared cores, where the
// executor's worker needs them for inference (BENCHMARKS.md, "Preprocessing an image's tiles").
void preprocess_tiles(const Detector& detector, const cv::Mat& image, const std::vector<Tile>& tiles,
                      std::vector<PendingTile>& out, std::vector<Request>& requests) {
    for (std::size_t i = 0; i < tiles.size(); ++i) {
        const Tile& tile = tiles[i];
        PendingTile& pt = out[i];
        pt.tile = tile;
        const auto p0 = Clock::now();
        // The tile is an ROI view of the caller's image: preprocessing reads it in place and
        // writes straight into this request's input slot.
        std::vector<Tensor> slots = detector.make_input_slots(1);
        pt.geometry = detector.preprocess(image(cv::Rect(tile.x, tile.y, tile.w, tile.h)), slots, 0);
        pt.preprocess_ms = ms_between(p0, Clock::now());
        requests[i].inputs = std::move(slots);
    }
}

std::string count_text(std::int64_t n) {
    std::string digits = std::to_string(n), out;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0 && digits[i - 1] != '-') out += ',';
        out += digits[i];
    }
    return out;
}

// Elements of one item: the dims after the batch axis (all dims for rank <= 1); symbolic dims
// count as 1. Saturates instead of overflowing on hostile dims.
std::int64_t item_elements(const TensorInfo& t) {
    std::int64_t n = 1;
    for (std::size_t i = t.rank() >= 2 ? 1 : 0; i < t.rank(); ++i) {
        const std::int64_t d = t.dims[i].fixed() ? t.dims[i].value : 1;
        if (d > 0 && n > std::numeric_limits<std::int64_t>::max() / d) return std::numeric_limits<std::int64_t>::max();
        n *= std::max<std::int64_t>(d, 0);
    }
    return n;
}

void check_limit(std::int64_t seen, std::int64_t limit, const std::string& option, const std::string& what,
                 const std::string& advice) {
    if (limit > 0 && seen > limit)
        throw OptionError(option, what + ": " + count_text(seen) + " exceeds the limit of " + count_text(limit) + " (",
                          ")" + advice);
}

void check_limit_values(const Limits& l) {
    const std::pair<const char*, double> values[] = {
        {"limits.max_image_pixels", static_cast<double>(l.max_image_pixels)},
        {"limits.max_input_elements", static_cast<double>(l.max_input_elements)},
        {"limits.max_output_elements", static_cast<double>(l.max_output_elements)},
        {"limits.max_tiles_per_image", static_cast<double>(l.max_tiles_per_image)},
        {"limits.min_tile_ratio", l.min_tile_ratio},
    };
    for (const auto& [name, v] : values)
        if (!(v >= 0)) throw OptionError(name, "", ": expected >= 0 (0: no limit), got " + std::to_string(v));
}

// Before the detector or the executor allocates a single input slot.
void check_signature_limits(const ModelSignature& sig, const Limits& limits) {
    check_limit_values(limits);
    for (const TensorInfo& t : sig.inputs)
        check_limit(item_elements(t), limits.max_input_elements, "limits.max_input_elements",
                    "model input '" + t.name + "' " + t.dims_string() + " takes elements per item",
                    "; re-export the model at a smaller input size, or raise the limit");
    for (const TensorInfo& t : sig.outputs)
        check_limit(item_elements(t), limits.max_output_elements, "limits.max_output_elements",
                    "model output '" + t.name + "' " + t.dims_string() + " gives elements per item",
                    "; re-export the model with fewer outputs, or raise the limit");
}

// The fixed-mode tile spec with 0 sizes resolved to the model input.
TileSpec resolved_spec(const PipelineOptions& o, int in_w, int in_h) {
    TileSpec spec = o.tiles;
    if (spec.tile_w <= 0) spec.tile_w = in_w;
    if (spec.tile_h <= 0) spec.tile_h = in_h;
    return spec;
}

void check_tile_options(const PipelineOptions& o, int in_w, int in_h) {
    if (o.tile_mode != TileMode::fixed) return;
    if (o.tiles.tile_w < 0 || o.tiles.tile_h < 0)
        throw OptionError("tiles.tile_w", "",
                          ": expected a tile size >= 0 (0: the model's input size), got " +
                              std::to_string(o.tiles.tile_w) + "x" + std::to_string(o.tiles.tile_h));
    const TileSpec spec = resolved_spec(o, in_w, in_h);
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
    if (o.limits.min_tile_ratio > 0 && in_w > 0 && in_h > 0 && ratio < o.limits.min_tile_ratio) {
        const int min_w = static_cast<int>(std::ceil(o.limits.min_tile_ratio * in_w));
        const int min_h = static_cast<int>(std::ceil(o.limits.min_tile_ratio * in_h));
        throw OptionError("limits.min_tile_ratio",
                          "tiles of " + std::to_string(spec.tile_w) + "x" + std::to_string(spec.tile_h) +
                              " would each be upscaled to the model input " + std::to_string(in_w) + "x" +
                              std::to_string(in_h) + " (" + std::to_string(ratio) + " of it, below ",
                          " = " + std::to_string(o.limits.min_tile_ratio) + "); use tiles of at least " +
                              std::to_string(min_w) + "x" + std::to_string(min_h) + ", or " + std::to_string(in_w) +
                              "x" + std::to_string(in_h) + " (tile size 0: the model's input size)");
    }
}

struct PendingImage {
    std::string source;
    int width = 0, height = 0;
    Clock::time_point submitted;
    std::vector<PendingTile> tiles;
};

}  // namespace

struct Pipeline::Impl {
    PipelineOptions options;
    std::unique_ptr<Detector> detector;
    ModelSignature signature;
    std::unique_ptr<BatchExecutor> executor;
    std::atomic<std::uint64_t> next_tag{1};

    void init(std::vector<std::unique_ptr<Backend>> backends, const ModelSignature* sig = nullptr) {
        if (backends.empty()) throw ConfigError("pipeline: at least one model instance is needed");
        if (sig) {
            signature = *sig;
        } else {
            const auto* mb = dynamic_cast<const ModelBackend*>(backends.front().get());
            if (!mb) throw ConfigError("pipeline: give the signature of backends that are not ModelBackend");
            signature = mb->model().signature();
        }
        check_signature_limits(signature, options.limits);
        detector = make_detector(signature, options.detector);
        // A dynamic H/W input takes its size from the options (imgsz), so check it resolved too.
        const auto [in_h, in_w] = detector->input_size();
        const std::int64_t channels = 3;
        check_limit(
            channels * in_h * in_w, options.limits.max_input_elements, "limits.max_input_elements",
            "model input size " + std::to_string(in_w) + "x" + std::to_string(in_h) + " takes elements per item",
            "; give a smaller input size, or raise the limit");
        check_tile_options(options, in_w, in_h);
        executor = std::make_unique<BatchExecutor>(std::move(backends), options.batching, options.log);
    }

    ImageResult finish(PendingImage& p) const {
        ImageResult out;
        out.source = std::move(p.source);
        out.width = p.width;
        out.height = p.height;
        Detections all;
        for (PendingTile& t : p.tiles) {
            Result r = t.result.get();  // rethrows the executor's error for this tile
            const auto d0 = Clock::now();
            Detections dets = detector->decode(detector->item_outputs(r.outputs, 0), t.geometry, options.decode);
            const auto d1 = Clock::now();
            TileReport rep;
            rep.tile = t.tile;
            rep.detections = dets.size();
            rep.batch_size = r.batch_size;
            rep.batch_id = r.batch_id;
            rep.sequential = r.batch_size + r.padding == 1;
            rep.preprocess_ms = t.preprocess_ms;
            rep.queue_ms = std::chrono::duration<double, std::milli>(r.timings.queue()).count();
            rep.inference_ms = std::chrono::duration<double, std::milli>(r.timings.compute()).count();
            rep.decode_ms = ms_between(d0, d1);
            rep.latency_ms = ms_between(t.submitted, r.timings.completed);
            out.preprocess_ms += t.preprocess_ms;
            out.tiles.push_back(rep);
            out.batch_ids.push_back(r.batch_id);
            const Detections shifted = shift_to_image(dets, t.tile);
            all.insert(all.end(), shifted.begin(), shifted.end());
        }
        const auto m0 = Clock::now();
        if (p.tiles.size() > 1) {
            // Boxes of one object seen by overlapping tiles are merged; a single tile keeps the
            // family's own reference output untouched.
            out.detections = clip_to_image(merge_detections(std::move(all), options.merge), p.width, p.height);
        } else {
            out.detections = std::move(all);
        }
        if (options.decode.max_det > 0 && out.detections.size() > static_cast<std::size_t>(options.decode.max_det))
            out.detections.resize(static_cast<std::size_t>(options.decode.max_det));
        const auto m1 = Clock::now();
        out.merge_ms = ms_between(m0, m1);
        out.end_to_end_ms = ms_between(p.submitted, m1);
        return out;
    }
};

Pipeline::Pipeline(const std::string& model_path, PipelineOptions options) : impl_(std::make_unique<Impl>()) {
    impl_->options = std::move(options);
    const std::vector<std::byte> bytes = read_file_bytes(model_path);
    auto backends =
        make_model_backends(bytes, impl_->options.model, std::max(1, impl_->options.batching.instances), model_path);
    try {
        impl_->init(std::move(backends));
    } catch (const OptionError& e) {
        throw e.prefixed(model_path + ": ");
    }
}

Pipeline::Pipeline(std::vector<Model> instances, PipelineOptions options) : impl_(std::make_unique<Impl>()) {
    if (instances.empty()) throw ConfigError("pipeline: at least one model instance is needed");
    impl_->options = std::move(options);
    std::vector<std::unique_ptr<Backend>> backends;
    for (Model& m : instances)
        backends.push_back(std::make_unique<ModelBackend>(std::move(m), impl_->options.model.intra_op_threads));
    impl_->init(std::move(backends));
}

Pipeline::Pipeline(std::vector<std::unique_ptr<Backend>> backends, const ModelSignature& signature,
                   PipelineOptions options)
    : impl_(std::make_unique<Impl>()) {
    impl_->options = std::move(options);
    impl_->init(std::move(backends), &signature);
}

Pipeline::~Pipeline() {
    if (impl_) shutdown();
}

std::vector<Tile> Pipeline::tiles_for(int width, int height) const {
    const auto [in_h, in_w] = impl_->detector->input_size();
    TileSpec spec;
    switch (impl_->options.tile_mode) {
        case TileMode::none:
            return {Tile{0, 0, 0, width, height, false}};
        case TileMode::automatic:
            spec = auto_tile_spec(width, height, in_w, in_h);
            break;
        case TileMode::fixed:
            spec = resolved_spec(impl_->options, in_w, in_h);
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

std::future<ImageResult> Pipeline::submit(const cv::Mat& image, std::string source) {
    if (image.empty() || image.type() != CV_8UC3)
        throw InputError((source.empty() ? std::string("image") : source) +
                         ": expected a non-empty 8-bit 3-channel (BGR) image, got " +
                         (image.empty() ? std::string("an empty one") : "type " + std::to_string(image.type())));
    const std::string label = source.empty() ? std::string("image") : source;
    check_limit(std::int64_t{image.cols} * image.rows, impl_->options.limits.max_image_pixels,
                "limits.max_image_pixels",
                label + ": " + std::to_string(image.cols) + "x" + std::to_string(image.rows) + " has pixels",
                "; downscale it, or raise the limit");
    std::vector<Tile> tiles;
    try {
        tiles = tiles_for(image.cols, image.rows);
    } catch (const OptionError& e) {
        throw e.prefixed(label + ": ");
    }
    auto pending = std::make_shared<PendingImage>();
    pending->source = std::move(source);
    pending->width = image.cols;
    pending->height = image.rows;
    pending->submitted = Clock::now();
    const std::uint64_t tag = impl_->next_tag.fetch_add(1);
    pending->tiles.resize(tiles.size());
    std::vector<Request> requests(tiles.size());
    preprocess_tiles(*impl_->detector, image, tiles, pending->tiles, requests);
    const Clock::time_point submitted = Clock::now();
    for (std::size_t i = 0; i < tiles.size(); ++i) {
        pending->tiles[i].submitted = submitted;
        requests[i].tag = tag;
    }
    // One group: the tiles enter the queue together and share a batch whenever they fit in one.
    std::vector<std::future<Result>> futures = impl_->executor->submit(std::move(requests));
    for (std::size_t i = 0; i < tiles.size(); ++i) pending->tiles[i].result = std::move(futures[i]);
    Impl* impl = impl_.get();
    return std::async(std::launch::deferred, [impl, pending]() { return impl->finish(*pending); });
}

ImageResult Pipeline::detect(const cv::Mat& image, std::string source) { return submit(image, std::move(source)).get(); }

const Detector& Pipeline::detector() const { return *impl_->detector; }
const ModelSignature& Pipeline::signature() const { return impl_->signature; }
BatchExecutor& Pipeline::executor() { return *impl_->executor; }
const PipelineOptions& Pipeline::options() const { return impl_->options; }

void Pipeline::shutdown() {
    if (impl_->executor) impl_->executor->shutdown(false);
}

}  // namespace tiledet
