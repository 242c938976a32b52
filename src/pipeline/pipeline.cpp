#include "tiledet/pipeline/pipeline.hpp"

#include <atomic>
#include <exception>
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
        detector = make_detector(signature, options.detector);
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
    impl_->init(make_model_backends(bytes, impl_->options.model, std::max(1, impl_->options.batching.instances),
                                    model_path));
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
    switch (impl_->options.tile_mode) {
        case TileMode::none:
            return {Tile{0, 0, 0, width, height, false}};
        case TileMode::automatic:
            return make_tile_grid(width, height, auto_tile_spec(width, height, in_w, in_h));
        case TileMode::fixed: {
            TileSpec spec = impl_->options.tiles;
            if (spec.tile_w <= 0) spec.tile_w = in_w;
            if (spec.tile_h <= 0) spec.tile_h = in_h;
            return make_tile_grid(width, height, spec);
        }
    }
    return {};
}

std::future<ImageResult> Pipeline::submit(const cv::Mat& image, std::string source) {
    if (image.empty() || image.type() != CV_8UC3)
        throw InputError((source.empty() ? std::string("image") : source) +
                         ": expected a non-empty 8-bit 3-channel (BGR) image, got " +
                         (image.empty() ? std::string("an empty one") : "type " + std::to_string(image.type())));
    auto pending = std::make_shared<PendingImage>();
    pending->source = std::move(source);
    pending->width = image.cols;
    pending->height = image.rows;
    pending->submitted = Clock::now();
    const std::uint64_t tag = impl_->next_tag.fetch_add(1);
    const std::vector<Tile> tiles = tiles_for(image.cols, image.rows);
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
