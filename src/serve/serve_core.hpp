// What the HTTP and gRPC fronts share: the served models, readiness, the in-flight cap, one
// inference from a parsed request to its outputs, and the metrics. No transport here.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "metrics.hpp"
#include "protocol.hpp"
#include "tiledet/serve/server.hpp"

namespace tiledet::serve {

using SteadyClock = std::chrono::steady_clock;

// The server metadata (/v2, ServerMetadata): name, version, protocol extensions.
nlohmann::json server_metadata();

struct Entry {
    ServedModel model;
    bool raw = false;
    std::string base_name;  // NAME for both NAME and NAME_raw
    RequestMetrics metrics;
    std::string served_name() const { return raw ? base_name + "_raw" : base_name; }
};

// Why a request got no outputs: the HTTP status (gRPC maps it), the message, Triton's reason.
struct InferFailure {
    int status = 500;
    std::string message;
};

// Writes the response from the outputs and the response parameters; may throw BadRequest (a
// requested output the model lacks).
using EncodeResponse = std::function<void(const InferRequest& request, const Entry& entry,
                                          const std::vector<InferOutput>& outputs, const nlohmann::json& parameters)>;

class ServeCore {
public:
    explicit ServeCore(ServeOptions options) : options_(std::move(options)) {}

    const ServeOptions& options() const { return options_; }
    void add_model(ServedModel model);
    std::shared_ptr<Entry> find(const std::string& name) const;
    // The failure for an unknown model or a version it does not serve; nullopt when found.
    std::optional<InferFailure> check_model(const std::string& name, const std::string& version,
                                            std::shared_ptr<Entry>& entry) const;
    nlohmann::json metadata(const Entry& e) const;

    bool ready() const { return ready_ && !stopping_; }
    bool stopping() const { return stopping_; }
    void set_ready(bool r) { ready_ = r; }
    void set_stopping() {
        stopping_ = true;
        ready_ = false;
    }

    // One inference request, from whichever front: checks the model, readiness and the in-flight
    // cap, parses (parse may throw BadRequest), runs it through the model's pipeline or executor,
    // encodes, and counts it in the metrics. nullopt: answered; otherwise the failure to send.
    std::optional<InferFailure> infer(const std::string& model, const std::string& version, SteadyClock::time_point t0,
                                      const std::function<InferRequest()>& parse, const EncodeResponse& encode);

    std::string metrics_text() const;
    // The status page's numbers: per model, the queue, batch sizes, and requests, throughput and
    // latency percentiles over the last minute.
    nlohmann::json status() const;

private:
    void record_latency(double ms);

    std::vector<InferOutput> infer_detect(Entry& e, const InferRequest& r, SteadyClock::time_point t0,
                                          nlohmann::json& params);
    std::vector<InferOutput> infer_raw(Entry& e, const InferRequest& r, SteadyClock::time_point t0);

    ServeOptions options_;
    std::atomic<bool> ready_{false}, stopping_{false};
    std::atomic<std::size_t> in_flight_{0};
    mutable std::mutex mu_;
    std::map<std::string, std::shared_ptr<Entry>> entries_;  // by served name
    std::vector<std::string> order_;                         // served names in the order added
    mutable std::mutex recent_mu_;
    mutable std::deque<std::pair<SteadyClock::time_point, double>> recent_;  // answered requests: when, ms
};

}  // namespace tiledet::serve
