// One submitted image between submit() and its callback (include/tiledet/pipeline/pipeline.hpp,
// ImageJob): its tiles, their decoded detections as they come back, the first error, and the
// completion thread that decodes each tile, merges the last one's image and calls back.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "tiledet/pipeline/image_source.hpp"
#include "tiledet/pipeline/pipeline.hpp"

namespace tiledet::pipeline_detail {

class TileFeeder;

// Input slots for single-tile images, handed out as consecutive items of shared buffers: images
// submitted one after another sit side by side, so a batch of them is a view of one buffer
// (concat_leading copies nothing), as the tiles of one image already are. Without it a batch of
// 2 whole 640 x 640 photos copied 9.8 MB on the worker before each run. A buffer holds
// `capacity` items (the executor's max batch, at most 64 MiB in all) and is freed when the last
// of its items is; at most capacity - 1 unused items are held between images. Thread-safe.
class SlotRing {
public:
    // `capacity` is read at each take (the max batch can drop after the warm-up probe).
    SlotRing(const Detector& detector, std::function<std::size_t()> capacity);
    // Slots to write item `index` of, every input's; fresh slots of one item when the capacity
    // is 1.
    std::pair<std::vector<Tensor>, int> take();

private:
    const Detector& detector_;
    std::function<std::size_t()> capacity_;
    std::mutex mu_;
    std::size_t item_bytes_ = 0;  // one item of every input
    std::vector<Tensor> current_;
    int next_ = 0, size_ = 0;
};

struct JobState {
    // Set at submit, read-only afterwards.
    BatchExecutor* executor = nullptr;
    const Detector* detector = nullptr;
    std::uint64_t tag = 0;
    std::string source;
    int width = 0, height = 0;
    Clock::time_point submitted;
    DecodeOptions decode;
    MergeOptions merge;
    std::vector<Tile> tiles;
    std::vector<Geometry> geometry;
    std::vector<double> preprocess_ms;
    Clock::time_point enqueued;
    std::optional<Clock::time_point> deadline;
    ImageCallback on_done;
    std::function<void(std::size_t, std::size_t)> on_progress;

    SlotRing* slot_ring = nullptr;  // for groups of one tile; null: slots of their own
    // A windowed image (more tiles than the pipeline keeps in flight): its pixels, read a tile's
    // region at a time by the feeder thread, which cuts groups of `group_size` tiles while fewer
    // than `window` of its tiles are in flight. Null: every tile was cut at submit.
    std::shared_ptr<ImageSource> pixels;
    std::size_t group_size = 0, window = 0;

    // Touched by the completion thread only.
    std::vector<Detections> detections;  // per tile, in image pixels
    std::vector<TileReport> reports;
    std::size_t remaining = 0;

    // Guarded by mu: the first error (a failed tile, a deadline, cancel()) and the ending.
    mutable std::mutex mu;
    mutable std::condition_variable ended;
    std::exception_ptr error;
    bool done = false;
    std::size_t next_tile = 0;  // windowed: tiles before it are cut (run, skipped or failed)
    std::size_t in_flight = 0;  // windowed: cut and not yet handled by the completion thread

    // Records `e` unless an error is recorded already; true when it was the first.
    bool fail(std::exception_ptr e);
};

// The pipeline's completion thread: tile outcomes in, in the order they arrive; per image, each
// tile is decoded as it comes (so its batch outputs are freed at once) and the last one merges
// the image and calls back.
class Completer {
public:
    Completer();
    ~Completer();  // drains, then joins
    Completer(const Completer&) = delete;
    Completer& operator=(const Completer&) = delete;

    // The feeder that cuts windowed images' next tiles as earlier ones come back.
    void set_feeder(TileFeeder* feeder) { feeder_ = feeder; }

    // Called by the executor (any thread): tile `index` of `job` ended with `result` or `error`.
    void post(std::shared_ptr<JobState> job, std::size_t index, Result* result, std::exception_ptr error);
    // Tile `index` was not run: its region holds no data (ImageSource::read gave an empty Mat).
    void post_skipped(std::shared_ptr<JobState> job, std::size_t index);
    // `count` tiles of `job` will never be cut (the image failed first); `in_flight`: they had
    // been counted in flight (cut, then failed before they were submitted).
    void post_released(std::shared_ptr<JobState> job, std::size_t count, bool in_flight);
    // Until everything posted so far is handled.
    void drain();

private:
    struct Item {
        std::shared_ptr<JobState> job;
        std::size_t index = 0;
        std::optional<Result> result;
        std::exception_ptr error;
        enum class Kind { tile, skipped, released } kind = Kind::tile;
        std::size_t count = 1;   // tiles this item counts off
        bool in_flight = true;   // they were counted in JobState::in_flight
    };
    void push(Item item);
    void loop();
    void handle(Item& item);
    void finish(JobState& job);

    std::mutex mu_;
    std::condition_variable cv_, idle_cv_;
    std::deque<Item> queue_;
    bool busy_ = false, stop_ = false;
    TileFeeder* feeder_ = nullptr;
    std::thread thread_;
};

// Cuts tiles [first, first + count) of `job` from `pixels`: reads each region, preprocesses the
// ones with data into one input buffer and returns their requests (callbacks posting to
// `completer`); `skipped` gets the tiles whose region holds no data. Throws what reading or
// preprocessing throws, before anything is submitted or posted.
struct CutTiles {
    std::vector<Request> requests;
    std::vector<std::size_t> skipped;
};
CutTiles cut_tiles(const std::shared_ptr<JobState>& job, ImageSource& pixels, std::size_t first, std::size_t count,
                   Completer& completer);

// The feeder thread: for each windowed image, cuts and submits the next group of tiles as soon
// as a whole group fits in its window (back-pressure: an image's pixels are read, and its input
// buffers allocated, only as the executor takes its tiles). An image that failed, or was
// cancelled, has its remaining tiles released instead.
class TileFeeder {
public:
    explicit TileFeeder(Completer& completer);
    ~TileFeeder();  // stop(), then joins
    TileFeeder(const TileFeeder&) = delete;
    TileFeeder& operator=(const TileFeeder&) = delete;

    // A new windowed image: the feeder cuts its tiles from job->next_tile on. `counted`: the
    // caller already called count_open() (before cutting the first window itself, whose
    // completions may wake the feeder before start() is reached).
    void start(std::shared_ptr<JobState> job, bool counted = false);
    // Counts an image whose tiles are not all cut yet, for wait_fed(); closed_one() undoes it.
    void count_open();
    void closed_one();
    // Some of `job`'s tiles came back: cut more if the window has room. Once the feeder is
    // stopped, the image's remaining tiles are released and it ends with Cancelled.
    void wake(std::shared_ptr<JobState> job);
    // Until every image handed in has all its tiles cut or released (shutdown() lets them finish).
    void wait_fed();
    // Cuts no more tiles: images still waiting end with Cancelled once their running tiles are back.
    void stop();

private:
    void loop();
    void feed(const std::shared_ptr<JobState>& job);
    void release_rest(const std::shared_ptr<JobState>& job, std::exception_ptr error);

    Completer& completer_;
    std::mutex mu_;
    std::condition_variable cv_, fed_cv_;
    std::deque<std::shared_ptr<JobState>> queue_;
    std::size_t open_ = 0;  // images with tiles not yet cut
    bool busy_ = false, stop_ = false;
    std::thread thread_;
};

}  // namespace tiledet::pipeline_detail
