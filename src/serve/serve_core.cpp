// The transport-free part of tiledet serve: models, limits, one inference, metrics.
#include "serve_core.hpp"

#include <algorithm>
#include <future>
#include <set>

#include "tiledet/batching/errors.hpp"
#include "tiledet/error.hpp"
#include "tiledet/io/image.hpp"
#include "tiledet/pipeline/options.hpp"

namespace tiledet::serve {

using json = nlohmann::json;

namespace {

// The time covered by a request's batch runs (the union of their [start, end] intervals): Triton's
// compute_infer for a request is the time the model spent on it, so runs of its tiles on two
// instances at once count once, and a batch shared by several of its tiles counts once.
double covered(std::vector<std::pair<double, double>> runs) {
    std::sort(runs.begin(), runs.end());
    double total = 0, start = 0, end = 0;
    bool open = false;
    for (const auto& [a, b] : runs) {
        if (!open || a > end) {
            if (open) total += end - start;
            start = a, end = b, open = true;
        } else {
            end = std::max(end, b);
        }
    }
    if (open) total += end - start;
    return total;
}

// Per-request parameters of the detection model, by the pipeline option table's names.
const std::set<std::string> kRequestOptions = {"tile", "overlap", "conf", "iou", "classes", "max_det", "agnostic",
                                               "full_image", "merge", "match", "merge_threshold"};
// Parameters of the protocol and of Triton's clients that are not detection options: accepted and
// left to the protocol code (or ignored), where any other name is a typo and gets 400.
const std::set<std::string> kProtocolParameters = {"binary_data_output", "binary_data_size", "binary_data",
                                                   "priority", "timeout", "sequence_id", "sequence_start",
                                                   "sequence_end", "headers"};
// Raw requests' executor tags, far above the pipeline's image tags (which count up from 1), so
// cancelling one never touches the other.
std::atomic<std::uint64_t> g_raw_tag{std::uint64_t{1} << 62};

double us_between(SteadyClock::time_point a, SteadyClock::time_point b) {
    return std::chrono::duration<double, std::micro>(b - a).count();
}

std::string option_text(const json& v) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
    if (v.is_array()) {
        std::string s;
        for (const json& e : v) {
            if (!s.empty()) s += ',';
            s += option_text(e);
        }
        return s;
    }
    return v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

json tensor_metadata(const std::string& name, const std::string& datatype, const std::vector<int64_t>& shape) {
    return json{{"name", name}, {"datatype", datatype}, {"shape", shape}};
}

}  // namespace

void ServeCore::add_model(ServedModel model) {
    if (model.name.empty() || model.name.find('/') != std::string::npos)
        throw ConfigError("model name '" + model.name + "': expected a non-empty name without '/'");
    if (!model.pipeline) throw ConfigError("model '" + model.name + "': no pipeline");
    std::lock_guard lock(mu_);
    for (const std::string& name : {model.name, model.name + "_raw"})
        if (entries_.count(name)) throw ConfigError("model name '" + name + "' is served already");
    for (bool raw : {false, true}) {
        auto e = std::make_shared<Entry>();
        e->model = model;
        e->raw = raw;
        e->base_name = model.name;
        entries_[e->served_name()] = e;
        order_.push_back(e->served_name());
    }
}

std::shared_ptr<Entry> ServeCore::find(const std::string& name) const {
    std::lock_guard lock(mu_);
    auto it = entries_.find(name);
    return it == entries_.end() ? nullptr : it->second;
}

std::optional<InferFailure> ServeCore::check_model(const std::string& name, const std::string& version,
                                                   std::shared_ptr<Entry>& entry) const {
    entry = find(name);
    if (!entry) {
        std::string names;
        {
            std::lock_guard lock(mu_);
            for (const auto& n : order_) names += (names.empty() ? "" : ", ") + n;
        }
        return InferFailure{404, "unknown model '" + name + "': this server serves " +
                                     (names.empty() ? std::string("no models yet") : names)};
    }
    if (!version.empty() && version != entry->model.version)
        return InferFailure{404, "model '" + name + "' has no version '" + version + "' (it serves version " +
                                     entry->model.version + ")"};
    return std::nullopt;
}

json ServeCore::metadata(const Entry& e) const {
    json j = {{"name", e.served_name()}, {"versions", {e.model.version}}};
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

std::string ServeCore::metrics_text() const {
    std::vector<std::shared_ptr<Entry>> list;
    {
        std::lock_guard lock(mu_);
        for (const auto& n : order_) list.push_back(entries_.at(n));
    }
    std::vector<ExecutorStats> stats;
    stats.reserve(list.size());
    for (const auto& e : list)
        if (!e->raw) stats.push_back(e->model.pipeline->executor().stats());
    std::vector<MetricsSnapshot> snaps;
    std::size_t si = 0;
    for (const auto& e : list) {
        MetricsSnapshot s{e->served_name(), e->model.version, &e->metrics, nullptr};
        if (!e->raw) s.executor = &stats[si++];
        snaps.push_back(s);
    }
    return prometheus_text(snaps);
}

namespace {
constexpr auto kRecentWindow = std::chrono::seconds(60);
constexpr std::size_t kRecentMax = 100000;
}  // namespace

void ServeCore::record_latency(double ms) {
    const auto now = SteadyClock::now();
    std::lock_guard lock(recent_mu_);
    recent_.emplace_back(now, ms);
    while (!recent_.empty() && (now - recent_.front().first > kRecentWindow || recent_.size() > kRecentMax))
        recent_.pop_front();
}

json ServeCore::status() const {
    json j = {{"ready", ready()}, {"models", json::array()}};
    std::vector<std::shared_ptr<Entry>> list;
    {
        std::lock_guard lock(mu_);
        for (const auto& n : order_) list.push_back(entries_.at(n));
    }
    for (const auto& e : list) {
        json m = {{"name", e->served_name()},
                  {"version", e->model.version},
                  {"pending", e->metrics.pending.load()},
                  {"success", e->metrics.success.load()}};
        std::uint64_t failed = 0;
        for (const auto& f : e->metrics.failure) failed += f.load();
        m["failure"] = failed;
        if (!e->raw) {
            const ExecutorStats st = e->model.pipeline->executor().stats();
            m["tiles_pending"] = st.submitted - st.completed - st.failed - st.expired - st.cancelled - st.rejected - st.shut_down;
            m["batch_size_histogram"] = st.batch_size_histogram;
            m["max_batch_size"] = st.max_batch_size;
            m["sequential_fallback"] = st.sequential_fallback;
            m["device"] = st.device;
        }
        j["models"].push_back(std::move(m));
    }
    std::vector<double> ms;
    {
        std::lock_guard lock(recent_mu_);
        const auto now = SteadyClock::now();
        for (const auto& [t, v] : recent_)
            if (now - t <= kRecentWindow) ms.push_back(v);
    }
    std::sort(ms.begin(), ms.end());
    auto pct = [&](double p) { return ms.empty() ? 0.0 : ms[std::min(ms.size() - 1, static_cast<std::size_t>(p * ms.size()))]; };
    j["last_minute"] = {{"requests", ms.size()},
                        {"per_second", static_cast<double>(ms.size()) / 60.0},
                        {"p50_ms", pct(0.5)},
                        {"p99_ms", pct(0.99)}};
    return j;
}

std::optional<InferFailure> ServeCore::infer(const std::string& model, const std::string& version,
                                             SteadyClock::time_point t0, const std::function<InferRequest()>& parse,
                                             const EncodeResponse& encode) {
    std::shared_ptr<Entry> e;
    if (auto missing = check_model(model, version, e)) return missing;
    auto fail = [&](FailureReason reason, int status, std::string message) {
        e->metrics.fail(reason);
        return InferFailure{status, std::move(message)};
    };
    if (!ready())
        return fail(FailureReason::rejected, 503,
                    stopping_ ? "server is shutting down: retry on another replica"
                              : "server is not ready: models are loading, retry when /v2/health/ready answers 200");
    const std::size_t now_in_flight = in_flight_.fetch_add(1) + 1;
    ++e->metrics.pending;
    struct Release {
        ServeCore* self;
        Entry* e;
        ~Release() {
            --self->in_flight_;
            --e->metrics.pending;
        }
    } release{this, e.get()};
    if (options_.max_pending_requests && now_in_flight > options_.max_pending_requests)
        return fail(FailureReason::rejected, 503,
                    "server busy: " + std::to_string(options_.max_pending_requests) +
                        " requests in flight already (tiledet serve --max-pending): retry later");
    try {
        const InferRequest r = parse();
        json params = json::object();
        const std::vector<InferOutput> outputs = e->raw ? infer_raw(*e, r, t0) : infer_detect(*e, r, t0, params);
        const auto t_encode = SteadyClock::now();
        encode(r, *e, outputs, params);
        const auto t_end = SteadyClock::now();
        e->metrics.output_us += static_cast<std::uint64_t>(us_between(t_encode, t_end));
        e->metrics.request_us += static_cast<std::uint64_t>(us_between(t0, t_end));
        ++e->metrics.success;
        record_latency(us_between(t0, t_end) / 1000.0);
        return std::nullopt;
    } catch (const BadRequest& ex) {
        return fail(FailureReason::other, 400, ex.what());
    } catch (const QueueFull& ex) {
        return fail(FailureReason::rejected, 503, std::string("the model's queue is full: retry later (") + ex.what() + ")");
    } catch (const DeadlineExpired&) {
        return fail(FailureReason::rejected, 503,
                    "request timeout expired: some of its tiles had not started running " +
                        std::to_string(options_.request_timeout.count()) +
                        " ms after it arrived (tiledet serve --request-timeout-ms); retry, send fewer tiles (a larger "
                        "tile or less overlap), or raise the timeout");
    } catch (const ShutDown&) {
        return fail(FailureReason::canceled, 503, "server is shutting down: retry on another replica");
    } catch (const Cancelled&) {
        return fail(FailureReason::canceled, 503, "request cancelled: the server is shutting down");
    } catch (const RuntimeFailure& ex) {
        return fail(FailureReason::backend, 500, std::string("the model failed on this request: ") + ex.what());
    } catch (const OptionError& ex) {
        // A limit the image is over (limits.max_image_pixels): named as the library and the
        // server's command line know it, since raising it is the operator's call.
        const std::string option = option_for_field(ex.option());
        return fail(FailureReason::other, 400,
                    option == ex.option() ? std::string(ex.what())
                                          : ex.with_name(ex.option() + ", tiledet serve " + option_flag(option)));
    } catch (const Error& ex) {  // InputError (the image), ShapeError, ConfigError: the request's fault
        return fail(FailureReason::other, 400, ex.what());
    } catch (const std::bad_alloc&) {
        return fail(FailureReason::other, 500, "out of memory while handling this request");
    } catch (const std::exception& ex) {
        return fail(FailureReason::other, 500, ex.what());
    }
}

std::vector<InferOutput> ServeCore::infer_detect(Entry& e, const InferRequest& r, SteadyClock::time_point t0, json& params) {
    Pipeline& pipeline = *e.model.pipeline;
    const std::string usage = "model '" + e.base_name +
                              "' takes one BYTES input of shape [1]: an encoded JPEG or PNG image (its own tensors: "
                              "model '" + e.base_name + "_raw')";
    if (r.inputs.size() != 1) throw BadRequest(usage + "; got " + std::to_string(r.inputs.size()) + " inputs");
    const InferInput& in = r.inputs[0];
    if (in.type != ElementType::string) throw BadRequest(usage + "; got input '" + in.name + "' of " + in.datatype);
    if (in.name != "image") throw BadRequest(usage + " named 'image'; got input '" + in.name + "'");
    if (in.elements.size() != 1)
        throw BadRequest(usage + "; got " + std::to_string(in.elements.size()) + " elements (shape " + to_string(in.shape) + ")");
    PipelineOptions o = pipeline.options();
    json given = r.parameters;
    for (auto it = in.parameters.begin(); it != in.parameters.end(); ++it) given[it.key()] = it.value();
    for (auto it = given.begin(); it != given.end(); ++it) {
        if (!kRequestOptions.count(it.key())) {
            if (kProtocolParameters.count(it.key())) continue;  // binary_data_output and the like
            std::string known;
            for (const auto& k : kRequestOptions) known += (known.empty() ? "" : ", ") + k;
            throw BadRequest("unknown parameter '" + it.key() + "': model '" + e.base_name + "' takes " + known +
                             " (and the protocol's binary_data_output, binary_data_size, priority, timeout)");
        }
        try {
            set_option(o, it.key(), option_text(it.value()));
        } catch (const OptionError& ex) {
            throw BadRequest(ex.with_name("parameter '" + it.key() + "'"));
        }
    }
    const std::string& bytes = in.elements[0];
    cv::Mat image;
    try {
        image = decode_image(std::as_bytes(std::span(bytes.data(), bytes.size())), "input '" + in.name + "'",
                             o.limits.max_image_pixels);
    } catch (const InputError& ex) {
        if (!in.from_json_data) throw;
        // JSON strings are text: an encoded image's raw bytes cannot travel in one.
        throw BadRequest(std::string(ex.what()) + "; model '" + e.base_name +
                         "' takes the image's bytes through the binary-data extension (the input's "
                         "parameters.binary_data_size, the bytes after the JSON, the JSON's length in "
                         "Inference-Header-Content-Length, as Triton's clients send it) or over gRPC, not as a "
                         "JSON string");
    }
    SubmitOptions so;
    so.label = r.id.empty() ? "request" : r.id;
    so.decode = o.decode;
    so.tile_mode = o.tile_mode;
    so.tiles = o.tiles;
    so.merge = o.merge;
    if (options_.request_timeout.count() > 0) so.deadline = t0 + options_.request_timeout;
    auto promise = std::make_shared<std::promise<ImageResult>>();
    auto future = promise->get_future();
    const auto inputs_ready = SteadyClock::now();
    pipeline.submit(image, std::move(so), [promise](ImageResult&& result, std::exception_ptr error) {
        if (error)
            promise->set_exception(error);
        else
            promise->set_value(std::move(result));
    });
    // The deadline bounds the wait in the queue, and a tile that started running always ends.
    ImageResult result = future.get();

    double queue_ms = 0, preprocess_ms = result.preprocess_ms, decode_ms = result.merge_ms;
    std::vector<std::pair<double, double>> runs;  // each tile's batch run, ms after the tiles were queued
    std::string batch_ids;
    for (const TileReport& t : result.tiles) {
        queue_ms = std::max(queue_ms, t.queue_ms);
        if (!t.skipped) runs.emplace_back(t.latency_ms - t.inference_ms, t.latency_ms);
        decode_ms += t.decode_ms;
        if (!batch_ids.empty()) batch_ids += ',';
        batch_ids += std::to_string(t.batch_id);
    }
    const double infer_ms = covered(std::move(runs));
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
    params["class_names"] = names.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    params["image_width"] = result.width;
    params["image_height"] = result.height;
    params["tiles"] = static_cast<int64_t>(result.tiles.size());
    params["batch_ids"] = batch_ids;
    return {std::move(boxes), std::move(scores), std::move(classes)};
}

std::vector<InferOutput> ServeCore::infer_raw(Entry& e, const InferRequest& r, SteadyClock::time_point t0) {
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
        if (!sig.find_input(in.name))
            throw BadRequest("input '" + printable(in.name) + "' is not an input of model '" + e.base_name +
                             "_raw'; " + hint);
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
    if (options_.request_timeout.count() > 0) deadline = t0 + options_.request_timeout;
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
    std::vector<std::pair<double, double>> runs;  // each item's batch run, us on the executor's clock
    for (const Result& res : results) {
        queue_us = std::max(queue_us, std::chrono::duration<double, std::micro>(res.timings.queue()).count());
        const auto us = [](ExecutorClock::time_point t) {
            return std::chrono::duration<double, std::micro>(t.time_since_epoch()).count();
        };
        runs.emplace_back(us(res.timings.batch_started), us(res.timings.batch_finished));
    }
    const double infer_us = covered(std::move(runs));
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

}  // namespace tiledet::serve
