// A served Pipeline on the bright-box fake backend (tests/pipeline/bright_box.hpp: each bright
// rectangle of a tile comes back as a class-0 box), on a free port of 127.0.0.1, and the
// requests a Triton HTTP client sends (binary-data extension).
#pragma once

#include <httplib.h>

#include <memory>
#include <opencv2/imgcodecs.hpp>
#include <string>

#include <nlohmann/json.hpp>

#include "bright_box.hpp"
#include "tiledet/serve/server.hpp"

namespace tiledet::testing_serve {

using json = nlohmann::json;
namespace bb = tiledet::testing_bright_box;

struct Served {
    std::shared_ptr<Pipeline> pipeline;
    std::unique_ptr<serve::InferenceServer> server;

    explicit Served(serve::ServeOptions so = {}, std::chrono::milliseconds backend_delay = {}, int max_batch = 8,
                    std::chrono::microseconds max_delay = std::chrono::microseconds(2000))
        : Served(bb::one_backend(backend_delay), std::move(so), max_batch, max_delay) {}
    // The same on the given backends (one instance each).
    Served(std::vector<std::unique_ptr<Backend>> backends, serve::ServeOptions so, int max_batch,
           std::chrono::microseconds max_delay = std::chrono::microseconds(2000), Limits limits = {}) {
        PipelineOptions po;
        po.limits = limits;
        po.batching.max_batch_size = max_batch;
        po.batching.max_queue_delay = max_delay;
        po.batching.probe_cache_dir = "";
        po.log = [](LogLevel, std::string_view) {};
        pipeline = std::make_shared<Pipeline>(std::move(backends), bb::yolo_signature(), po);
        so.host = "127.0.0.1";
        so.http_port = 0;
        server = std::make_unique<serve::InferenceServer>(so);
        server->start();
        server->add_model({"bright", pipeline});
        server->set_ready(true);
    }
    ~Served() {
        server->stop();
        pipeline->shutdown();
    }
    httplib::Client client() const {
        httplib::Client c("127.0.0.1", server->http_port());
        c.set_read_timeout(60);
        c.set_write_timeout(60);
        return c;
    }
};

inline std::string png(const cv::Mat& img) {
    std::vector<uchar> buf;
    cv::imencode(".png", img, buf);
    return std::string(buf.begin(), buf.end());
}

// A detection request as Triton's HTTP client writes it: the JSON header, then the image as one
// BYTES element (4-byte little-endian length + bytes); the JSON's length in a header.
struct BinaryRequest {
    std::string body;
    httplib::Headers headers;
};

inline BinaryRequest image_request(const std::string& image_bytes, const std::string& id, const json& params = json::object()) {
    std::string element(4, '\0');
    const auto n = static_cast<std::uint32_t>(image_bytes.size());
    for (int i = 0; i < 4; ++i) element[i] = static_cast<char>((n >> (8 * i)) & 0xff);
    element += image_bytes;
    json j = {{"id", id},
              {"inputs", {{{"name", "image"}, {"datatype", "BYTES"}, {"shape", {1}},
                           {"parameters", {{"binary_data_size", element.size()}}}}}}};
    if (!params.empty()) j["parameters"] = params;
    const std::string header = j.dump();
    return {header + element, {{"Inference-Header-Content-Length", std::to_string(header.size())}}};
}

}  // namespace tiledet::testing_serve
