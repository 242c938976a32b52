// Images in, merged detections out: every tile of every image, from every caller thread, goes
// through one shared BatchExecutor. Each submitted image is a job that completes by itself: the
// last of its tiles to come back is decoded and merged on the pipeline's completion thread, which
// then calls the job's callback (or fulfils the future of the future-returning submit).
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <opencv2/core.hpp>
#include <optional>
#include <string>
#include <vector>

#include "tiledet/batching/backend.hpp"
#include "tiledet/batching/batch_executor.hpp"
#include "tiledet/batching/policy.hpp"
#include "tiledet/detection.hpp"
#include "tiledet/detectors/detector.hpp"
#include "tiledet/limits.hpp"
#include "tiledet/pipeline/auto_config.hpp"
#include "tiledet/pipeline/image_source.hpp"
#include "tiledet/runtime/model.hpp"
#include "tiledet/tiling/merge.hpp"
#include "tiledet/tiling/tile_grid.hpp"

namespace tiledet {

enum class TileMode {
    none,   // the whole image is one tile, resized to the model input (a plain prediction)
    fixed,  // tiles of tile_w x tile_h (0: the model's input size) with the given overlap
    automatic,  // auto_tile_spec(): picks tile size and overlap from the image size
};

struct PipelineOptions {
    ModelOptions model;          // providers, threads (split between instances)
    DetectorConfig detector;     // family override, imgsz, names file
    DecodeOptions decode;        // confidence, IoU, max detections, classes
    BatchPolicy batching;        // max batch, max queue delay, queue, instances

    TileMode tile_mode = TileMode::none;
    TileSpec tiles;              // tile_w/tile_h 0: the model's input size
    MergeOptions merge;          // how detections of overlapping tiles are merged
    LogSink log;                 // executor log lines (fallback warning, per-batch lines); default stderr
    Limits limits;               // model and image sizes refused before anything large is allocated
    // Instances, threads and max batch picked by measurement when a model file is opened
    // (see auto_config.hpp); values given through set_option, or changed from their defaults,
    // are kept. Not used by the constructor that takes backends.
    AutoConfigOptions auto_config;
    // Tiles of one image cut (read, preprocessed into input slots, queued or running) at a
    // time. An image with more tiles is fed in groups of the executor's batch size as earlier
    // ones come back, so its input memory is this many slots (4.9 MB each at 640 x 640 float32),
    // whatever the image size. 0: two batches per instance (max batch x instances x 2); a value
    // below one batch counts as one batch.
    int max_tiles_in_flight = 0;
};

using Clock = std::chrono::steady_clock;

// One tile's journey; durations in milliseconds.
struct TileReport {
    Tile tile;
    std::size_t detections = 0;   // after decoding, before the cross-tile merge
    int batch_size = 0;           // items in the batch it ran in (without padding)
    std::uint64_t batch_id = 0;   // the executor batch it ran in: equal ids ran together
    bool sequential = false;      // ran alone (a batch of one, without padding)
    bool skipped = false;         // not run: its region holds no data (a raster's nodata area)
    double preprocess_ms = 0;
    double queue_ms = 0;          // waiting for a batch to form and an instance to be free
    double inference_ms = 0;      // the batch's model run
    double decode_ms = 0;
    double latency_ms = 0;  // the image's tiles entering the queue -> this tile's batch handing back outputs
};

struct ImageResult {
    std::string source;           // file name or caller's label
    int width = 0, height = 0;
    Detections detections;        // merged, in original image pixels
    std::vector<TileReport> tiles;  // in tile order; each says the executor batch it ran in
    double preprocess_ms = 0;     // sum over tiles
    double merge_ms = 0;
    double end_to_end_ms = 0;     // submit() -> result ready
};

// Per-image settings of Pipeline::submit; each unset override takes the PipelineOptions value.
struct SubmitOptions {
    std::string label;  // ImageResult::source, and the name errors give the image ("image" when empty)
    // Tiles that have not started running by then are dropped and the image ends with
    // DeadlineExpired (a stream drops a stale frame this way). Unset: batching.default_deadline.
    std::optional<Clock::time_point> deadline;
    std::optional<DecodeOptions> decode;  // conf, iou, max_det, classes for this image only
    std::optional<TileMode> tile_mode;
    std::optional<TileSpec> tiles;
    std::optional<MergeOptions> merge;
    // Called on the pipeline's completion thread each time one of the image's tiles is done
    // (run, skipped for no data, or dropped after an error): tiles done so far and the total.
    // For progress bars; keep it short; an exception is swallowed.
    std::function<void(std::size_t done, std::size_t total)> on_progress;
};

// Called exactly once per image that submit() accepted: with the result (error null), or with
// the error that ended it (result then holds source, width and height only): the first failed
// tile's RuntimeFailure, DeadlineExpired, Cancelled (ImageJob::cancel, or the Pipeline destroyed
// with the image queued), QueueFull, or ShutDown (submitted after shutdown()). Runs on the
// pipeline's completion thread, one image at a time: keep it short; an exception is swallowed.
using ImageCallback = std::function<void(ImageResult&& result, std::exception_ptr error)>;

namespace pipeline_detail {
struct JobState;
}

// A handle to one submitted image. Copies refer to the same image; it stays usable (cancel()
// then returns false) after the image ended and after the Pipeline is gone.
class ImageJob {
public:
    ImageJob() = default;
    std::uint64_t id() const;  // the executor tag its tiles carry
    // Drops the image's queued tiles; the image ends with Cancelled once its running tiles (if
    // any) come back. Returns false when the image had already ended.
    bool cancel();
    bool done() const;  // its callback has returned
    void wait() const;  // until done()
    bool wait_for(std::chrono::milliseconds timeout) const;

private:
    friend class Pipeline;
    explicit ImageJob(std::shared_ptr<pipeline_detail::JobState> state) : state_(std::move(state)) {}
    std::shared_ptr<pipeline_detail::JobState> state_;
};

// The constructors check the options against the model before anything large is allocated and
// throw OptionError naming the option ("tiles.overlap_px_w", "limits.max_input_elements"): an
// overlap not smaller than the tile, a tile below limits.min_tile_ratio of the model input, a
// model input or output item over limits.max_*_elements. submit() throws OptionError for an
// image over limits.max_image_pixels, cut into more than limits.max_tiles_per_image tiles, or
// with a bad SubmitOptions override; the other images are not affected.
//
// Destroying a Pipeline cancels the images still queued (their callbacks get Cancelled, their
// futures throw it), waits for running batches and for every callback to return; ImageJob
// handles and futures stay valid. shutdown() instead lets everything queued finish.
class Pipeline {
public:
    Pipeline(const std::string& model_path, PipelineOptions options);
    // Any backends (tests, other engines) that take inputs and give outputs as `signature` says.
    Pipeline(std::vector<std::unique_ptr<Backend>> backends, const ModelSignature& signature, PipelineOptions options);
    ~Pipeline();
    Pipeline(const Pipeline&) = delete;
    Pipeline& operator=(const Pipeline&) = delete;

    // The one entry point. Cuts `image` (8-bit BGR, any size up to limits.max_image_pixels)
    // into tiles. With at most max_tiles_in_flight tiles, preprocesses them on the calling
    // thread into one input buffer (tile i is item i) and submits them to the executor as one
    // group, so they share a batch whenever they fit in one; the pixels are then copied and
    // `image` may be released or reused on return. With more tiles, the first window is cut
    // here, in groups of one batch, and the pipeline's feeder thread cuts the rest a group at a
    // time as earlier tiles come back (input memory bounded by the window, not the image); the
    // pipeline holds a reference to `image`'s pixels (a copy when the Mat does not own them)
    // until the last tile is cut: release it, but do not write into it.
    // Returns then; the image completes by itself (see ImageCallback). A failed tile
    // cancels the image's queued tiles and cuts no more. Thread-safe: call from any number of
    // threads.
    ImageJob submit(const cv::Mat& image, SubmitOptions options, ImageCallback on_done);

    // An image read a region at a time (a raster read by window, tiledet/raster): always fed
    // through the window, so the whole image is never in memory. limits.max_image_pixels does
    // not apply (nothing image-sized is allocated); limits.max_tiles_per_image does. Tiles whose
    // region holds no data are not run (TileReport::skipped). An error reading a region ends the
    // image with that error.
    ImageJob submit(std::shared_ptr<ImageSource> source, SubmitOptions options, ImageCallback on_done);
    std::future<ImageResult> submit(std::shared_ptr<ImageSource> source, SubmitOptions options);

    // The tiles one image keeps cut at a time (max_tiles_in_flight resolved) and the group
    // size it is fed in (the executor's batch size).
    std::size_t tiles_in_flight() const;

    // submit() with a callback that fulfils the returned future (a real one: wait_for works).
    std::future<ImageResult> submit(const cv::Mat& image, std::string source = {});
    std::future<ImageResult> submit(const cv::Mat& image, SubmitOptions options);

    // submit() and wait; throws the image's error.
    ImageResult detect(const cv::Mat& image, std::string source = {});

    // How instances, threads and max batch were chosen (auto_config).
    const AutoConfigChoice& config() const;
    const Detector& detector() const;
    const ModelSignature& signature() const;
    BatchExecutor& executor();
    const PipelineOptions& options() const;

    // The tiles an image of this size is cut into, under the current options (or `overrides`'
    // tiling). Throws OptionError when they would be more than limits.max_tiles_per_image.
    std::vector<Tile> tiles_for(int width, int height, const SubmitOptions& overrides = {}) const;

    // Stops accepting images (later ones end with ShutDown) and waits until everything
    // submitted has run and every callback has returned. Idempotent.
    void shutdown();
    // cancel_pending: as destroying the Pipeline does, images still queued (and the tiles of big
    // images not cut yet) end with Cancelled; running batches finish; every callback has
    // returned when it returns. false: shutdown().
    void shutdown(bool cancel_pending);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace tiledet
