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
#include <vector>

#include "tiledet/pipeline/pipeline.hpp"

namespace tiledet::pipeline_detail {

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
    ImageCallback on_done;

    // Touched by the completion thread only.
    std::vector<Detections> detections;  // per tile, in image pixels
    std::vector<TileReport> reports;
    std::size_t remaining = 0;

    // Guarded by mu: the first error (a failed tile, a deadline, cancel()) and the ending.
    mutable std::mutex mu;
    mutable std::condition_variable ended;
    std::exception_ptr error;
    bool done = false;

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

    // Called by the executor (any thread): tile `index` of `job` ended with `result` or `error`.
    void post(std::shared_ptr<JobState> job, std::size_t index, Result* result, std::exception_ptr error);
    // Until everything posted so far is handled.
    void drain();

private:
    struct Item {
        std::shared_ptr<JobState> job;
        std::size_t index = 0;
        std::optional<Result> result;
        std::exception_ptr error;
    };
    void loop();
    void handle(Item& item);
    void finish(JobState& job);

    std::mutex mu_;
    std::condition_variable cv_, idle_cv_;
    std::deque<Item> queue_;
    bool busy_ = false, stop_ = false;
    std::thread thread_;
};

}  // namespace tiledet::pipeline_detail
