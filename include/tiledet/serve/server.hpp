// tiledet serve: KServe's Open Inference Protocol (v2) over HTTP and gRPC, with Triton's binary-data
// extension and Triton's Prometheus metric names, in front of Pipelines. Every request's tiles go
// through its model's one BatchExecutor, so tiles of concurrent clients share batches exactly as
// tiles of one process do. The server knows the pipeline only through its public API.
//
// Each model is served under two names:
//   NAME      the detection pipeline: one BYTES input (an encoded JPEG/PNG) and optional
//             parameters tile, overlap, conf, iou, classes, max_det; outputs boxes [N,4] FP32
//             (x1,y1,x2,y2 in image pixels), scores [N] FP32, classes [N] INT64, and the class
//             names in the response parameters.
//   NAME_raw  the model's own input and output tensors; a request of batch B is split into B
//             items that the executor batches with everyone else's, as Triton's dynamic batcher does.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "tiledet/pipeline/pipeline.hpp"

namespace tiledet::serve {

struct ServeOptions {
    std::string host = "0.0.0.0";
    int http_port = 8000;    // 0: a free port chosen by the system (see InferenceServer::http_port)
    int metrics_port = -1;   // -1: /metrics on the HTTP port only; 0: a free port; Triton uses 8002
    int grpc_port = -1;      // -1: no gRPC; 0: a free port; Triton uses 8001 (needs a build with gRPC)
    // A body larger than this is refused with 413 before it is read.
    std::size_t max_request_bytes = 64u << 20;
    // From the request's arrival: tiles not started by then are dropped and the request ends with
    // 503 ("request timeout expired"), as Triton's queue policy timeout does. 0: none.
    std::chrono::milliseconds request_timeout{30000};
    // Requests being handled at once, over all models; one more gets 503 at once. 0: no cap.
    std::size_t max_pending_requests = 256;
    // HTTP worker threads: each handles one request at a time and waits for its results, so this
    // bounds the requests whose tiles can share a batch.
    int http_threads = 64;
    // Seconds an HTTP connection may go without sending a byte while its request (headers or
    // body) is being read; then it is closed. A client stalled mid-body holds a worker thread
    // (and delays stop()) for at most this long.
    int read_timeout_s = 5;
};

// One model: the name clients use, and the pipeline that runs it (shared with the caller).
struct ServedModel {
    std::string name;
    std::shared_ptr<Pipeline> pipeline;
    std::string version = "1";
};

// Whether this build has the gRPC front (ServeOptions::grpc_port).
bool grpc_available();

class InferenceServer {
public:
    explicit InferenceServer(ServeOptions options);
    ~InferenceServer();  // stop()
    InferenceServer(const InferenceServer&) = delete;
    InferenceServer& operator=(const InferenceServer&) = delete;

    // Binds the ports and starts answering (live at once; ready only after set_ready(true)).
    // Throws ConfigError when a port cannot be bound.
    void start();
    int http_port() const;
    int metrics_port() const;  // -1 when metrics are on the HTTP port only
    int grpc_port() const;     // -1 without gRPC

    // Thread-safe, before or after start(). A name taken already is a ConfigError.
    void add_model(ServedModel model);
    // Ready: /v2/health/ready answers 200 and models answer requests. The caller sets it when
    // every model has loaded (a Pipeline's constructor runs the warm-up and the batch probe).
    void set_ready(bool ready);
    bool ready() const;

    // Stops accepting connections and new requests (ready goes false), lets the requests being
    // handled finish and answers them, then returns. Idempotent. The pipelines stay up.
    void stop();

    // The Prometheus text of /metrics.
    std::string metrics_text() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace tiledet::serve
