#include "metrics.hpp"

#include <sstream>

namespace tiledet::serve {

void RequestMetrics::observe_tiles(std::size_t tiles) {
    std::size_t b = 0;
    while (b < kTileBuckets.size() && tiles > static_cast<std::size_t>(kTileBuckets[b])) ++b;
    ++tiles_bucket[b];
    tiles_sum += tiles;
    ++tiles_count;
}

namespace {

std::string labels(const MetricsSnapshot& m, const std::string& extra = {}) {
    return "{model=\"" + m.model + "\",version=\"" + m.version + "\"" + (extra.empty() ? "" : "," + extra) + "}";
}

void family(std::ostringstream& os, const char* name, const char* type, const char* help) {
    os << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
}

}  // namespace

std::string prometheus_text(const std::vector<MetricsSnapshot>& models) {
    std::ostringstream os;
    auto per_request = [&](const char* name, const char* type, const char* help, auto value) {
        family(os, name, type, help);
        for (const MetricsSnapshot& m : models) os << name << labels(m) << " " << value(*m.requests) << "\n";
    };
    per_request("nv_inference_request_success", "counter",
                "Number of successful inference requests, all batch sizes",
                [](const RequestMetrics& r) { return r.success.load(); });
    family(os, "nv_inference_request_failure", "counter", "Number of failed inference requests, all batch sizes");
    static const char* kReasons[] = {"REJECTED", "CANCELED", "BACKEND", "OTHER"};
    for (const MetricsSnapshot& m : models)
        for (std::size_t i = 0; i < 4; ++i)
            os << "nv_inference_request_failure" << labels(m, std::string("reason=\"") + kReasons[i] + "\"") << " "
               << m.requests->failure[i].load() << "\n";
    auto per_executor = [&](const char* name, const char* type, const char* help, auto value) {
        family(os, name, type, help);
        for (const MetricsSnapshot& m : models)
            if (m.executor) os << name << labels(m) << " " << value(*m.executor) << "\n";
    };
    per_executor("nv_inference_count", "counter",
                 "Number of inferences performed (a tile or a raw request's batch item counts one)",
                 [](const ExecutorStats& s) { return s.completed + s.failed; });
    per_executor("nv_inference_exec_count", "counter",
                 "Number of model executions performed (batches); inference_count / exec_count is the mean batch",
                 [](const ExecutorStats& s) { return s.batches; });
    per_request("nv_inference_pending_request_count", "gauge",
                "Instantaneous number of pending requests awaiting execution per-model",
                [](const RequestMetrics& r) { return r.pending.load(); });
    per_request("nv_inference_request_duration_us", "counter",
                "Cumulative inference request duration in microseconds (arrival to response)",
                [](const RequestMetrics& r) { return r.request_us.load(); });
    per_request("nv_inference_queue_duration_us", "counter",
                "Cumulative inference queuing duration in microseconds (per request: its longest-waiting tile or item)",
                [](const RequestMetrics& r) { return r.queue_us.load(); });
    per_request("nv_inference_compute_input_duration_us", "counter",
                "Cumulative compute input duration in microseconds (body parsing, image decoding, preprocessing)",
                [](const RequestMetrics& r) { return r.input_us.load(); });
    per_request("nv_inference_compute_infer_duration_us", "counter",
                "Cumulative compute inference duration in microseconds (the time covered by the model runs of the "
                "batches a request's tiles or items ran in, overlapping runs counted once)",
                [](const RequestMetrics& r) { return r.infer_us.load(); });
    per_request("nv_inference_compute_output_duration_us", "counter",
                "Cumulative inference compute output duration in microseconds (decoding, merging, encoding the "
                "response)",
                [](const RequestMetrics& r) { return r.output_us.load(); });

    family(os, "tiledet_tiles_per_request", "histogram", "Tiles (or raw batch items) per successful request");
    for (const MetricsSnapshot& m : models) {
        std::uint64_t cumulative = 0;
        for (std::size_t b = 0; b < kTileBuckets.size(); ++b) {
            cumulative += m.requests->tiles_bucket[b].load();
            os << "tiledet_tiles_per_request_bucket" << labels(m, "le=\"" + std::to_string(kTileBuckets[b]) + "\"")
               << " " << cumulative << "\n";
        }
        cumulative += m.requests->tiles_bucket[kTileBuckets.size()].load();
        os << "tiledet_tiles_per_request_bucket" << labels(m, "le=\"+Inf\"") << " " << cumulative << "\n";
        os << "tiledet_tiles_per_request_sum" << labels(m) << " " << m.requests->tiles_sum.load() << "\n";
        os << "tiledet_tiles_per_request_count" << labels(m) << " " << m.requests->tiles_count.load() << "\n";
    }
    family(os, "tiledet_batch_size", "histogram", "Real items (tiles) per executed batch, without padding");
    for (const MetricsSnapshot& m : models) {
        if (!m.executor) continue;
        const auto& h = m.executor->batch_size_histogram;
        std::uint64_t cumulative = 0, sum = 0;
        for (std::size_t n = 1; n < h.size(); ++n) {
            cumulative += h[n];
            sum += h[n] * n;
            os << "tiledet_batch_size_bucket" << labels(m, "le=\"" + std::to_string(n) + "\"") << " " << cumulative
               << "\n";
        }
        os << "tiledet_batch_size_bucket" << labels(m, "le=\"+Inf\"") << " " << cumulative << "\n";
        os << "tiledet_batch_size_sum" << labels(m) << " " << sum << "\n";
        os << "tiledet_batch_size_count" << labels(m) << " " << cumulative << "\n";
    }
    per_executor("tiledet_sequential_fallback", "gauge",
                 "1 when the model could not run batches and the executor runs one item at a time",
                 [](const ExecutorStats& s) { return s.sequential_fallback ? 1 : 0; });
    per_executor("tiledet_batch_retries", "counter",
                 "Failed batches of more than one item that were re-run in smaller batches",
                 [](const ExecutorStats& s) { return s.retried_batches; });
    per_executor("tiledet_padded_slots", "counter", "Padded slots in static-batch runs",
                 [](const ExecutorStats& s) { return s.padded_slots; });
    per_executor("tiledet_max_batch_size", "gauge", "The batch size the executor forms",
                 [](const ExecutorStats& s) { return s.max_batch_size; });
    return os.str();
}

}  // namespace tiledet::serve
