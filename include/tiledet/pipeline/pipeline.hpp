// Images in, merged detections out: every tile of every image, from every caller thread, goes
// through one shared BatchExecutor; results come back per image, merged, in submission order
// per caller (each submit() returns its own future).
#pragma once

#include <chrono>
#include <cstdint>
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
};

using Clock = std::chrono::steady_clock;

// One tile's journey; durations in milliseconds.
struct TileReport {
    Tile tile;
    std::size_t detections = 0;   // after decoding, before the cross-tile merge
    int batch_size = 0;           // items in the batch it ran in (without padding)
    std::uint64_t batch_id = 0;   // the executor batch it ran in: equal ids ran together
    bool sequential = false;      // ran alone (a batch of one, without padding)
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
    std::vector<TileReport> tiles;
    double preprocess_ms = 0;     // sum over tiles
    double merge_ms = 0;
    double end_to_end_ms = 0;     // submit() -> result ready
    std::vector<uint64_t> batch_ids;  // the executor batches its tiles ran in
};

// The constructors check the options against the model before anything large is allocated and
// throw OptionError naming the option ("tiles.overlap_px_w", "limits.max_input_elements"): an
// overlap not smaller than the tile, a tile below limits.min_tile_ratio of the model input, a
// model input or output item over limits.max_*_elements. submit() throws OptionError for an
// image over limits.max_image_pixels or cut into more than limits.max_tiles_per_image tiles.
class Pipeline {
public:
    Pipeline(const std::string& model_path, PipelineOptions options);
    Pipeline(std::vector<Model> instances, PipelineOptions options);  // models already loaded
    // Any backends (tests, other engines) that take inputs and give outputs as `signature` says.
    Pipeline(std::vector<std::unique_ptr<Backend>> backends, const ModelSignature& signature, PipelineOptions options);
    ~Pipeline();
    Pipeline(const Pipeline&) = delete;
    Pipeline& operator=(const Pipeline&) = delete;

    // Cuts `image` (8-bit BGR) into tiles, preprocesses each into its own input slot on the
    // calling thread and submits them as one group, so they share a batch whenever they fit in
    // one; returns at once. The future's get() decodes and
    // merges. Thread-safe: call from any number of threads.
    std::future<ImageResult> submit(const cv::Mat& image, std::string source = {});

    // submit() and wait.
    ImageResult detect(const cv::Mat& image, std::string source = {});

    const Detector& detector() const;
    const ModelSignature& signature() const;
    BatchExecutor& executor();
    const PipelineOptions& options() const;

    // The tiles an image of this size is cut into, under the current options. Throws
    // OptionError when they would be more than limits.max_tiles_per_image.
    std::vector<Tile> tiles_for(int width, int height) const;

    // Waits for everything submitted, then stops the executor (also done by the destructor).
    void shutdown();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace tiledet
