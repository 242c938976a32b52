// The HTTP front of tiledet serve (cpp-httplib): routes of KServe's v2 REST protocol, limits, and
// the hand-over of each request to its model's Pipeline (detection) or BatchExecutor (raw tensors).
#include "tiledet/serve/server.hpp"

#include <httplib.h>

#include <algorithm>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "metrics.hpp"
#include "protocol.hpp"
#include "tiledet/batching/errors.hpp"
#include "tiledet/error.hpp"
#include "tiledet/io/image.hpp"
#include "tiledet/pipeline/options.hpp"

namespace tiledet::serve {

using json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr const char* kServerName = "tiledet";
constexpr const char* kServerVersion = "0.1.0";
// Per-request parameters of the detection model, by the pipeline option table's names.
const std::set<std::string> kRequestOptions = {"tile", "overlap", "conf", "iou", "classes", "max_det", "agnostic",
                                               "full_image", "merge", "match", "merge_threshold"};
// Raw requests' executor tags, far above the pipeline's image tags (which count up from 1), so
// cancelling one never touches the other.
std::atomic<std::uint64_t> g_raw_tag{std::uint64_t{1} << 62};

// An answer other than 200, with the status and Triton's failure reason.
struct HttpError {
    int status;
    std::string message;
    FailureReason reason;
};

double us_between(SteadyClock::time_point a, SteadyClock::time_point b) {
    return std::chrono::duration<double, std::micro>(b - a).count();
}

void send_error(httplib::Response& res, int status, const std::string& message) {
    res.status = status;
    res.set_content(json{{"error", message}}.dump(), "application/json");
}

std::string option_text(const json& v) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
    if (v.is_array()) {
        std::string s;
        for (const json& e : v) s += (s.empty() ? "" : ",") + option_text(e);
        return s;
    }
    return v.dump();
}

json tensor_metadata(const std::string& name, const std::string& datatype, const std::vector<int64_t>& shape) {
    return json{{"name", name}, {"datatype", datatype}, {"shape", shape}};
}

}  // namespace

struct Entry {
    ServedModel model;
    bool raw = false;
    std::string base_name;  // NAME for both NAME and NAME_raw
    RequestMetrics metrics;
};

struct InferenceServer::Impl {
    ServeOptions options;
    httplib::Server http;
    std::unique_ptr<httplib::Server> metrics_http;
    std::thread http_thread, metrics_thread;
    int http_port = -1, metrics_port = -1;
    std::atomic<bool> ready{false}, stopping{false}, started{false};
    std::atomic<std::size_t> in_flight{0};
    mutable std::mutex mu;
    std::map<std::string, std::shared_ptr<Entry>> entries;  // by served name
    std::vector<std::string> order;                         // names in the order added
    std::mutex stop_mu;

    std::shared_ptr<Entry> find(const std::string& name) const {
        std::lock_guard lock(mu);
        auto it = entries.find(name);
        return it == entries.end() ? nullptr : it->second;
    }

    // 404 for an unknown model or version; the entry otherwise.
    std::shared_ptr<Entry> model_or_error(const httplib::Request& req, httplib::Response& res) const {
        const std::string name = req.matches[1];
        auto e = find(name);
        if (!e) {
            std::string names;
            {
                std::lock_guard lock(mu);
                for (const auto& n : order) names += (names.empty() ? "" : ", ") + n;
            }
            send_error(res, 404, "unknown model '" + name + "': this server serves " + (names.empty() ? "no models yet" : names));
            return nullptr;
        }
        if (req.matches.size() > 2 && req.matches[2].matched && req.matches[2] != e->model.version) {
            send_error(res, 404, "model '" + name + "' has no version '" + std::string(req.matches[2]) +
                                     "' (it serves version " + e->model.version + ")");
            return nullptr;
        }
        return e;
    }

    json metadata(const Entry& e) const {
        json j = {{"name", e.raw ? e.base_name + "_raw" : e.base_name}, {"versions", {e.model.version}}};
        if (!e.raw) {
            j["platform"] = "tiledet_detection";
            j["inputs"] = json::array({tensor_metadata("image", "BYTES", {1})});
            j["outputs"] = json::array({tensor_metadata("boxes", "FP32", {-1, 4}), tensor_metadata("scores", "FP32", {-1}),
                                        tensor_metadata("classes", "INT64", {-1})});
            return j;
        }
        j["platform"] = "onnxruntime_onnx";
        auto infos = [](const std::vector<TensorInfo>& list) {
            json a = json::array();
            for (const TensorInfo& t : list) {
                std::vector<int64_t> dims;
                for (const Dim& d : t.dims) dims.push_back(d.fixed() ? d.value : -1);
                a.push_back(tensor_metadata(t.name, datatype_name(t.type), dims));
            }
            return a;
        };
        j["inputs"] = infos(e.model.pipeline->signature().inputs);
        j["outputs"] = infos(e.model.pipeline->signature().outputs);
        return j;
    }

    void setup_routes();
    void infer(const httplib::Request& req, httplib::Response& res);
    std::vector<InferOutput> infer_detect(Entry& e, const InferRequest& r, SteadyClock::time_point t0, json& params,
                                          SteadyClock::time_point& inputs_ready);
    std::vector<InferOutput> infer_raw(Entry& e, const InferRequest& r, SteadyClock::time_point t0);
    std::string metrics_text() const;
};

std::string InferenceServer::Impl::metrics_text() const {
    std::vector<std::shared_ptr<Entry>> list;
    {
        std::lock_guard lock(mu);
        for (const auto& n : order) list.push_back(entries.at(n));
    }
    std::vector<ExecutorStats> stats;
    stats.reserve(list.size());
    std::vector<MetricsSnapshot> snaps;
    for (const auto& e : list) {
        if (!e->raw) stats.push_back(e->model.pipeline->executor().stats());
    }
    std::size_t si = 0;
    for (const auto& e : list) {
        MetricsSnapshot s{e->raw ? e->base_name + "_raw" : e->base_name, e->model.version, &e->metrics, nullptr};
        if (!e->raw) s.executor = &stats[si++];
        snaps.push_back(s);
    }
    return prometheus_text(snaps);
}

void InferenceServer::Impl::setup_routes() {
    http.Get("/v2/health/live", [](const httplib::Request&, httplib::Response& res) { res.status = 200; });
    http.Get("/v2/health/ready", [this](const httplib::Request&, httplib::Response& res) {
        if (ready && !stopping)
            res.status = 200;
        else
            send_error(res, 503, stopping ? "server is shutting down" : "server is not ready: models are loading");
    });
    http.Get("/v2", [](const httplib::Request&, httplib::Response& res) {
        res.set_content(json{{"name", kServerName},
                             {"version", kServerVersion},
                             {"extensions", {"binary_tensor_data"}}}
                            .dump(),
                        "application/json");
    });
    const std::string model_re = R"(/v2/models/([^/]+)(?:/versions/([^/]+))?)";
    http.Get(model_re, [this](const httplib::Request& req, httplib::Response& res) {
        if (auto e = model_or_error(req, res)) res.set_content(metadata(*e).dump(), "application/json");
    });
    http.Get(model_re + "/ready", [this](const httplib::Request& req, httplib::Response& res) {
        if (auto e = model_or_error(req, res)) {
            if (ready && !stopping)
                res.status = 200;
            else
                send_error(res, 503, "model '" + std::string(req.matches[1]) + "' is not ready");
        }
    });
    http.Post(model_re + "/infer", [this](const httplib::Request& req, httplib::Response& res) { infer(req, res); });
    http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
        res.set_content(metrics_text(), "text/plain; version=0.0.4");
    });
    http.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return;
        if (res.status == 413)
            send_error(res, 413, "request body larger than the server's limit of " + std::to_string(options.max_request_bytes) +
                                     " bytes (tiledet serve --max-request-mb): send a smaller image or raise the limit");
        else if (res.status == 404)
            send_error(res, 404, "no endpoint " + req.method + " " + req.path +
                                     ": the Open Inference Protocol's are /v2, /v2/health/{live,ready}, "
                                     "/v2/models/NAME[/versions/V][/ready|/infer] and /metrics");
        else
            send_error(res, res.status, "HTTP error " + std::to_string(res.status));
    });
    http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "internal error";
        try {
            if (ep) std::rethrow_exception(ep);
        } catch (const std::exception& e) {
            what = e.what();
        } catch (...) {
        }
        send_error(res, 500, what);
    });
}

void InferenceServer::Impl::infer(const httplib::Request& req, httplib::Response& res) {
    const auto t0 = SteadyClock::now();
    auto e = model_or_error(req, res);
    if (!e) return;
    if (!ready || stopping) {
        e->metrics.fail(FailureReason::rejected);
        return send_error(res, 503, stopping ? "server is shutting down: retry on another replica"
                                             : "server is not ready: models are loading, retry when /v2/health/ready answers 200");
    }
    const std::size_t now_in_flight = in_flight.fetch_add(1) + 1;
    struct Release {
        Impl* self;
        Entry* e;
        ~Release() {
            --self->in_flight;
            --e->metrics.pending;
        }
    } release{this, e.get()};
    ++e->metrics.pending;
    if (options.max_pending_requests && now_in_flight > options.max_pending_requests) {
        e->metrics.fail(FailureReason::rejected);
        return send_error(res, 503, "server busy: " + std::to_string(options.max_pending_requests) +
                                        " requests in flight already (tiledet serve --max-pending): retry later");
    }
    try {
        std::optional<std::size_t> json_length;
        if (req.has_header("Inference-Header-Content-Length"))
            json_length = parse_header_length(req.get_header_value("Inference-Header-Content-Length"), req.body.size());
        const InferRequest r = parse_infer_request(req.body, json_length);
        json params = json::object();
        std::vector<InferOutput> outputs;
        SteadyClock::time_point inputs_ready = SteadyClock::now();
        if (e->raw)
            outputs = infer_raw(*e, r, t0);
        else
            outputs = infer_detect(*e, r, t0, params, inputs_ready);
        const auto t_encode = SteadyClock::now();
        EncodedResponse out = encode_infer_response(r, e->raw ? e->base_name + "_raw" : e->base_name, e->model.version,
                                                    outputs, params);
        if (out.json_length) {
            res.set_header("Inference-Header-Content-Length", std::to_string(*out.json_length));
            res.set_content(std::move(out.body), "application/octet-stream");
        } else {
            res.set_content(std::move(out.body), "application/json");
        }
        const auto t_end = SteadyClock::now();
        e->metrics.output_us += static_cast<std::uint64_t>(us_between(t_encode, t_end));
        e->metrics.request_us += static_cast<std::uint64_t>(us_between(t0, t_end));
        ++e->metrics.success;
        return;
    } catch (const BadRequest& ex) {
        e->metrics.fail(FailureReason::other);
        return send_error(res, 400, ex.what());
    } catch (const OptionError& ex) {
        e->metrics.fail(FailureReason::other);
        return send_error(res, 400, ex.what());
    } catch (const QueueFull& ex) {
        e->metrics.fail(FailureReason::rejected);
        return send_error(res, 503, std::string("the model's queue is full: retry later (") + ex.what() + ")");
    } catch (const DeadlineExpired&) {
        e->metrics.fail(FailureReason::rejected);
        return send_error(res, 503, "request timeout expired: it waited longer than " +
                                        std::to_string(options.request_timeout.count()) +
                                        " ms (tiledet serve --request-timeout-ms) before running; retry or raise it");
    } catch (const ShutDown&) {
        e->metrics.fail(FailureReason::canceled);
        return send_error(res, 503, "server is shutting down: retry on another replica");
    } catch (const Cancelled&) {
        e->metrics.fail(FailureReason::canceled);
        return send_error(res, 503, "request cancelled: the server is shutting down");
    } catch (const RuntimeFailure& ex) {
        e->metrics.fail(FailureReason::backend);
        return send_error(res, 500, std::string("the model failed on this request: ") + ex.what());
    } catch (const InputError& ex) {
        e->metrics.fail(FailureReason::other);
        return send_error(res, 400, ex.what());
    } catch (const ShapeError& ex) {
        e->metrics.fail(FailureReason::other);
        return send_error(res, 400, ex.what());
    } catch (const ConfigError& ex) {
        e->metrics.fail(FailureReason::other);
        return send_error(res, 400, ex.what());
    } catch (const std::bad_alloc&) {
        e->metrics.fail(FailureReason::other);
        return send_error(res, 500, "out of memory while handling this request");
    } catch (const std::exception& ex) {
        e->metrics.fail(FailureReason::other);
        return send_error(res, 500, ex.what());
    }
}

std::vector<InferOutput> InferenceServer::Impl::infer_detect(Entry& e, const InferRequest& r, SteadyClock::time_point t0,
                                                             json& params, SteadyClock::time_point& inputs_ready) {
    Pipeline& pipeline = *e.model.pipeline;
    const std::string usage = "model '" + e.base_name +
                              "' takes one BYTES input of shape [1]: an encoded JPEG or PNG image (its own tensors: "
                              "model '" + e.base_name + "_raw')";
    if (r.inputs.size() != 1) throw BadRequest(usage + "; got " + std::to_string(r.inputs.size()) + " inputs");
    const InferInput& in = r.inputs[0];
    if (in.type != ElementType::string) throw BadRequest(usage + "; got input '" + in.name + "' of " + in.datatype);
    if (in.elements.size() != 1)
        throw BadRequest(usage + "; got " + std::to_string(in.elements.size()) + " elements (shape " + to_string(in.shape) + ")");
    PipelineOptions o = pipeline.options();
    json given = r.parameters;
    for (auto it = in.parameters.begin(); it != in.parameters.end(); ++it) given[it.key()] = it.value();
    for (auto it = given.begin(); it != given.end(); ++it) {
        if (!kRequestOptions.count(it.key())) continue;  // binary_data_output and the like
        try {
            set_option(o, it.key(), option_text(it.value()));
        } catch (const OptionError& ex) {
            throw BadRequest(ex.with_name("parameter '" + it.key() + "'"));
        }
    }
    const std::string& bytes = in.elements[0];
    const cv::Mat image = decode_image(std::as_bytes(std::span(bytes.data(), bytes.size())), "input '" + in.name + "'",
                                       o.limits.max_image_pixels);
    SubmitOptions so;
    so.label = r.id.empty() ? "request" : r.id;
    so.decode = o.decode;
    so.tile_mode = o.tile_mode;
    so.tiles = o.tiles;
    so.merge = o.merge;
    if (options.request_timeout.count() > 0) so.deadline = t0 + options.request_timeout;
    auto promise = std::make_shared<std::promise<ImageResult>>();
    auto future = promise->get_future();
    inputs_ready = SteadyClock::now();
    pipeline.submit(image, std::move(so), [promise](ImageResult&& result, std::exception_ptr error) {
        if (error)
            promise->set_exception(error);
        else
            promise->set_value(std::move(result));
    });
    // The deadline bounds the wait in the queue, and a tile that started running always ends.
    ImageResult result = future.get();

    double queue_ms = 0, preprocess_ms = result.preprocess_ms, decode_ms = result.merge_ms;
    std::map<std::uint64_t, double> batches;
    std::string batch_ids;
    for (const TileReport& t : result.tiles) {
        queue_ms = std::max(queue_ms, t.queue_ms);
        if (!t.skipped) batches[t.batch_id] = t.inference_ms;
        decode_ms += t.decode_ms;
        batch_ids += (batch_ids.empty() ? "" : ",") + std::to_string(t.batch_id);
    }
    double infer_ms = 0;
    for (const auto& [id, ms] : batches) infer_ms += ms;
    e.metrics.queue_us += static_cast<std::uint64_t>(queue_ms * 1000);
    e.metrics.infer_us += static_cast<std::uint64_t>(infer_ms * 1000);
    e.metrics.input_us += static_cast<std::uint64_t>(us_between(t0, inputs_ready) + preprocess_ms * 1000);
    e.metrics.output_us += static_cast<std::uint64_t>(decode_ms * 1000);
    e.metrics.observe_tiles(result.tiles.size());

    const auto n = static_cast<int64_t>(result.detections.size());
    InferOutput boxes{"boxes", ElementType::float32, {n, 4}, Tensor(ElementType::float32, {n, 4})};
    InferOutput scores{"scores", ElementType::float32, {n}, Tensor(ElementType::float32, {n})};
    InferOutput classes{"classes", ElementType::int64, {n}, Tensor(ElementType::int64, {n})};
    json names = json::array();
    for (int64_t i = 0; i < n; ++i) {
        const Detection& d = result.detections[static_cast<std::size_t>(i)];
        float* b = boxes.tensor.data<float>() + i * 4;
        b[0] = d.box.x1, b[1] = d.box.y1, b[2] = d.box.x2, b[3] = d.box.y2;
        scores.tensor.data<float>()[i] = d.score;
        classes.tensor.data<std::int64_t>()[i] = d.class_id;
        names.push_back(pipeline.detector().class_name(d.class_id));
    }
    // Protocol parameters are scalars: the names travel as one JSON array in a string.
    params["class_names"] = names.dump();
    params["image_width"] = result.width;
    params["image_height"] = result.height;
    params["tiles"] = static_cast<int64_t>(result.tiles.size());
    params["batch_ids"] = batch_ids;
    return {std::move(boxes), std::move(scores), std::move(classes)};
}

std::vector<InferOutput> InferenceServer::Impl::infer_raw(Entry& e, const InferRequest& r, SteadyClock::time_point t0) {
    Pipeline& pipeline = *e.model.pipeline;
    const ModelSignature& sig = pipeline.signature();
    const BatchKind kind = sig.batch_kind();
    const bool batched = kind.kind != BatchKind::Kind::none;
    std::string expected;
    for (const TensorInfo& t : sig.inputs)
        expected += (expected.empty() ? "" : ", ") + t.name + " " + datatype_name(t.type) + " " + t.dims_string();
    const std::string hint = "model '" + e.base_name + "_raw' takes " + expected +
                             (batched ? " (any batch along the first axis)" : "");
    for (const InferInput& in : r.inputs)
        if (!sig.find_input(in.name)) throw BadRequest("input '" + in.name + "' is not an input of " + hint);
    std::vector<const InferInput*> ordered;
    int64_t n = -1;
    for (const TensorInfo& t : sig.inputs) {
        const InferInput* in = nullptr;
        for (const InferInput& x : r.inputs)
            if (x.name == t.name) in = &x;
        if (!in) throw BadRequest("input '" + t.name + "' missing: " + hint);
        if (in->type != t.type)
            throw BadRequest("input '" + t.name + "': datatype " + in->datatype + ", but " + hint);
        bool ok = in->shape.size() == t.dims.size();
        for (std::size_t d = 0; ok && d < t.dims.size(); ++d)
            if (t.dims[d].fixed() && !(batched && d == 0) && in->shape[d] != t.dims[d].value) ok = false;
        if (!ok) throw BadRequest("input '" + t.name + "': shape " + to_string(in->shape) + ", but " + hint);
        if (batched) {
            if (in->shape[0] < 1) throw BadRequest("input '" + t.name + "': batch 0: send at least one item");
            if (n >= 0 && in->shape[0] != n)
                throw BadRequest("inputs disagree on the batch (first) dim: " + std::to_string(n) + " and " +
                                 std::to_string(in->shape[0]));
            n = in->shape[0];
        }
        ordered.push_back(in);
    }
    const std::uint64_t tag = g_raw_tag.fetch_add(1);
    std::optional<ExecutorClock::time_point> deadline;
    if (options.request_timeout.count() > 0) deadline = t0 + options.request_timeout;
    std::vector<Request> requests;
    const int64_t items = batched ? n : 1;
    for (int64_t i = 0; i < items; ++i) {
        Request q;
        for (const InferInput* in : ordered) q.inputs.push_back(batched ? in->tensor.item(i) : in->tensor);
        q.deadline = deadline;
        q.tag = tag;
        requests.push_back(std::move(q));
    }
    const auto t_submit = SteadyClock::now();
    e.metrics.input_us += static_cast<std::uint64_t>(us_between(t0, t_submit));
    auto futures = pipeline.executor().submit(std::move(requests));
    std::vector<Result> results;
    std::exception_ptr first_error;
    for (auto& f : futures) {
        try {
            results.push_back(f.get());
        } catch (...) {
            if (!first_error) {
                first_error = std::current_exception();
                pipeline.executor().cancel(tag);
            }
        }
    }
    if (first_error) std::rethrow_exception(first_error);
    double queue_us = 0;
    std::map<std::uint64_t, double> batches;
    for (const Result& res : results) {
        queue_us = std::max(queue_us, std::chrono::duration<double, std::micro>(res.timings.queue()).count());
        batches[res.batch_id] = std::chrono::duration<double, std::micro>(res.timings.compute()).count();
    }
    double infer_us = 0;
    for (const auto& [id, us] : batches) infer_us += us;
    e.metrics.queue_us += static_cast<std::uint64_t>(queue_us);
    e.metrics.infer_us += static_cast<std::uint64_t>(infer_us);
    e.metrics.observe_tiles(results.size());
    std::vector<InferOutput> outputs;
    for (std::size_t j = 0; j < sig.outputs.size() && !results.empty() && j < results[0].outputs.size(); ++j) {
        std::vector<Tensor> parts;
        for (const Result& res : results) parts.push_back(res.outputs[j]);
        Tensor t = parts.size() == 1 ? parts[0].clone() : concat_leading(parts);
        outputs.push_back(InferOutput{sig.outputs[j].name, t.type(), t.shape(), t});
    }
    return outputs;
}

InferenceServer::InferenceServer(ServeOptions options) : impl_(std::make_unique<Impl>()) {
    impl_->options = std::move(options);
}

InferenceServer::~InferenceServer() { stop(); }

void InferenceServer::start() {
    Impl& s = *impl_;
    if (s.started.exchange(true)) return;
    const int threads = std::max(1, s.options.http_threads);
    s.http.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<std::size_t>(threads)); };
    s.http.set_payload_max_length(s.options.max_request_bytes);
    s.http.set_keep_alive_timeout(2);
    s.http.set_read_timeout(30);
    s.setup_routes();
    auto bind = [&](httplib::Server& srv, int port, const char* what) {
        const int got = port == 0 ? srv.bind_to_any_port(s.options.host) : (srv.bind_to_port(s.options.host, port) ? port : -1);
        if (got <= 0)
            throw ConfigError(std::string("tiledet serve: cannot listen on ") + s.options.host + ":" + std::to_string(port) +
                              " (" + what + "): the port is taken or the address is not this machine's; choose another");
        return got;
    };
    s.http_port = bind(s.http, s.options.http_port, "--http-port");
    if (s.options.metrics_port >= 0) {
        s.metrics_http = std::make_unique<httplib::Server>();
        s.metrics_http->new_task_queue = [] { return new httplib::ThreadPool(2); };
        s.metrics_http->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
            res.set_content(impl_->metrics_text(), "text/plain; version=0.0.4");
        });
        s.metrics_port = bind(*s.metrics_http, s.options.metrics_port, "--metrics-port");
        s.metrics_thread = std::thread([this] { impl_->metrics_http->listen_after_bind(); });
    }
    s.http_thread = std::thread([this] { impl_->http.listen_after_bind(); });
    // stop() right after start() must find the server running, or its listen would never end.
    for (int i = 0; i < 2000 && !(s.http.is_running() && (!s.metrics_http || s.metrics_http->is_running())); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

int InferenceServer::http_port() const { return impl_->http_port; }
int InferenceServer::metrics_port() const { return impl_->metrics_port; }

void InferenceServer::add_model(ServedModel model) {
    if (model.name.empty() || model.name.find('/') != std::string::npos)
        throw ConfigError("model name '" + model.name + "': expected a non-empty name without '/'");
    if (!model.pipeline) throw ConfigError("model '" + model.name + "': no pipeline");
    std::lock_guard lock(impl_->mu);
    for (const std::string& name : {model.name, model.name + "_raw"})
        if (impl_->entries.count(name)) throw ConfigError("model name '" + name + "' is served already");
    auto det = std::make_shared<Entry>();
    det->model = model;
    det->base_name = model.name;
    auto raw = std::make_shared<Entry>();
    raw->model = model;
    raw->raw = true;
    raw->base_name = model.name;
    impl_->entries[model.name] = det;
    impl_->entries[model.name + "_raw"] = raw;
    impl_->order.push_back(model.name);
    impl_->order.push_back(model.name + "_raw");
}

void InferenceServer::set_ready(bool ready) { impl_->ready = ready; }
bool InferenceServer::ready() const { return impl_->ready && !impl_->stopping; }

void InferenceServer::stop() {
    Impl& s = *impl_;
    std::lock_guard lock(s.stop_mu);
    s.stopping = true;
    s.ready = false;
    if (!s.started) return;
    // httplib's stop() closes the listening socket; its listen returns once the worker pool has
    // finished the requests it holds, so joining the thread is the drain.
    s.http.stop();
    if (s.http_thread.joinable()) s.http_thread.join();
    if (s.metrics_http) s.metrics_http->stop();
    if (s.metrics_thread.joinable()) s.metrics_thread.join();
}

std::string InferenceServer::metrics_text() const { return impl_->metrics_text(); }

}  // namespace tiledet::serve
