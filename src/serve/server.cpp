// The HTTP front of tiledet serve (cpp-httplib): KServe v2 REST routes over ServeCore, and the
// gRPC front beside it when built with gRPC.
#include "tiledet/serve/server.hpp"

#include <httplib.h>
#include <sys/socket.h>

#include <cstdlib>
#include <thread>

#include "serve_core.hpp"
#include "status_page.hpp"
#include "tiledet/error.hpp"
#if TILEDET_SERVE_GRPC
#include "grpc_front.hpp"
#endif

namespace tiledet::serve {

using json = nlohmann::json;

namespace {

constexpr const char* kServerName = "tiledet";
constexpr const char* kServerVersion = "0.1.0";

void send_error(httplib::Response& res, int status, const std::string& message) {
    res.status = status;
    res.set_content(json{{"error", message}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json");
}

std::string body_limit_message(std::size_t cap) {
    return "request body larger than the server's limit of " + std::to_string(cap) +
           " bytes (tiledet serve --max-request-mb): send a smaller body (a smaller image or tensor) or raise the limit";
}

std::string version_of(const httplib::Request& req) {
    return req.matches.size() > 2 && req.matches[2].matched ? std::string(req.matches[2]) : std::string();
}

}  // namespace

bool grpc_available() { return TILEDET_SERVE_GRPC + 0 != 0; }

json server_metadata() {
    return json{{"name", kServerName}, {"version", kServerVersion}, {"extensions", {"binary_tensor_data"}}};
}

struct InferenceServer::Impl {
    explicit Impl(ServeOptions o) : core(std::move(o)) {}
    ServeCore core;
    httplib::Server http;
    std::unique_ptr<httplib::Server> metrics_http;
#if TILEDET_SERVE_GRPC
    std::unique_ptr<GrpcFront> grpc;
#endif
    std::thread http_thread, metrics_thread;
    int http_port = -1, metrics_port = -1, grpc_port = -1;
    std::atomic<bool> started{false};
    std::mutex stop_mu;

    void setup_routes();
};

void InferenceServer::Impl::setup_routes() {
    http.Get("/v2/health/live", [](const httplib::Request&, httplib::Response& res) { res.status = 200; });
    http.Get("/v2/health/ready", [this](const httplib::Request&, httplib::Response& res) {
        if (core.ready())
            res.status = 200;
        else
            send_error(res, 503, core.stopping() ? "server is shutting down" : "server is not ready: models are loading");
    });
    http.Get("/v2", [](const httplib::Request&, httplib::Response& res) {
        res.set_content(server_metadata().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json");
    });
    const std::string model_re = R"(/v2/models/([^/]+)(?:/versions/([^/]+))?)";
    http.Get(model_re, [this](const httplib::Request& req, httplib::Response& res) {
        std::shared_ptr<Entry> e;
        if (auto f = core.check_model(req.matches[1], version_of(req), e)) return send_error(res, f->status, f->message);
        res.set_content(core.metadata(*e).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json");
    });
    http.Get(model_re + "/ready", [this](const httplib::Request& req, httplib::Response& res) {
        std::shared_ptr<Entry> e;
        if (auto f = core.check_model(req.matches[1], version_of(req), e)) {
            // While the models load, a model not added yet is not ready rather than unknown.
            if (f->status == 404 && !e && !core.ready() && !core.stopping())
                return send_error(res, 503, "model '" + std::string(req.matches[1]) +
                                                "' is not ready: the server's models are loading");
            return send_error(res, f->status, f->message);
        }
        if (core.ready())
            res.status = 200;
        else
            send_error(res, 503, "model '" + std::string(req.matches[1]) + "' is not ready");
    });
    // The body is read here, through a content reader, rather than by httplib before the route:
    // httplib's own read parses an application/x-www-form-urlencoded body (curl --data-binary's
    // and urllib's default Content-Type) as form data and refuses one over 8 KB (its compiled-in
    // CPPHTTPLIB_FORM_URL_ENCODED_PAYLOAD_MAX_LENGTH). An infer body is never form data, so
    // --max-request-mb is its only cap, whatever the Content-Type says.
    http.Post(model_re + "/infer", [this](const httplib::Request& req, httplib::Response& res,
                                          const httplib::ContentReader& read_body) {
        const auto t0 = SteadyClock::now();
        if (req.is_multipart_form_data())
            return send_error(res, 415, "multipart/form-data is not an inference request: send the Open Inference "
                                        "Protocol's JSON, or its binary-data extension, as the body");
        const std::size_t cap = core.options().max_request_bytes;
        std::string body;
        bool over = false;
        const bool read_ok = read_body([&](const char* data, std::size_t n) {
            if (body.size() + n > cap) {
                over = true;
                return false;
            }
            body.append(data, n);
            return true;
        });
        if (over || res.status == 413) return send_error(res, 413, body_limit_message(cap));
        if (!read_ok) return send_error(res, 400, "could not read the request body (cut short, or a bad chunked encoding)");
        res.status = -1;
        auto parse = [&req, &body] {
            std::optional<std::size_t> json_length;
            if (req.has_header("Inference-Header-Content-Length"))
                json_length = parse_header_length(req.get_header_value("Inference-Header-Content-Length"), body.size());
            return parse_infer_request(body, json_length);
        };
        auto encode = [&res](const InferRequest& r, const Entry& e, const std::vector<InferOutput>& outputs,
                             const json& params) {
            EncodedResponse out = encode_infer_response(r, e.served_name(), e.model.version, outputs, params);
            if (out.json_length) {
                res.set_header("Inference-Header-Content-Length", std::to_string(*out.json_length));
                res.set_content(std::move(out.body), "application/octet-stream");
            } else {
                res.set_content(std::move(out.body), "application/json");
            }
        };
        if (auto f = core.infer(req.matches[1], version_of(req), t0, parse, encode)) send_error(res, f->status, f->message);
    });
    http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
        res.set_content(core.metrics_text(), "text/plain; version=0.0.4");
    });
    http.Get("/", [](const httplib::Request&, httplib::Response& res) {
        res.set_content(status_page_html(), "text/html; charset=utf-8");
    });
    http.Get("/status.json", [this](const httplib::Request&, httplib::Response& res) {
        res.set_content(core.status().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json");
    });
    http.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return;
        if (res.status == 413) {
            // Off the infer route httplib reads the body itself: over --max-request-mb, or a form
            // (application/x-www-form-urlencoded) over httplib's fixed 8 KB. Say which.
            const std::size_t cap = core.options().max_request_bytes;
            const std::string length = req.get_header_value("Content-Length");
            const unsigned long long declared = length.empty() ? 0 : std::strtoull(length.c_str(), nullptr, 10);
            if (declared > cap || length.empty())
                send_error(res, 413, body_limit_message(cap));
            else
                send_error(res, 413, "a form body (Content-Type: application/x-www-form-urlencoded) is limited to " +
                                         std::to_string(CPPHTTPLIB_FORM_URL_ENCODED_PAYLOAD_MAX_LENGTH) +
                                         " bytes on " + req.path +
                                         " by the HTTP library; inference is POST /v2/models/NAME/infer");
        } else if (res.status == 404)
            send_error(res, 404, "no endpoint " + req.method + " " + req.path +
                                     ": the Open Inference Protocol's are /v2, /v2/health/{live,ready}, "
                                     "/v2/models/NAME[/versions/V][/ready|/infer], /metrics, and the status page / (/status.json)");
        else if (res.status == 400)
            // httplib answers 400 itself for a request it cannot parse (its request line or headers).
            send_error(res, 400,
                       "malformed HTTP request: expected a request line 'METHOD /path HTTP/1.1' and header lines "
                       "'Name: value', each ending in CRLF (inference is POST /v2/models/NAME/infer)");
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

InferenceServer::InferenceServer(ServeOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

InferenceServer::~InferenceServer() { stop(); }

void InferenceServer::start() {
    Impl& s = *impl_;
    if (s.started.exchange(true)) return;
    const ServeOptions& o = s.core.options();
    const int threads = std::max(1, o.http_threads);
    s.http.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<std::size_t>(threads)); };
    s.http.set_payload_max_length(o.max_request_bytes);
    s.http.set_keep_alive_timeout(2);
    // Headers and body go out in separate writes: without this, Nagle holds the second one until the
    // client's delayed ACK (about 40 ms a response).
    s.http.set_tcp_nodelay(true);
    // Short: a client stalled mid-request holds a worker thread this long, so many of them starve
    // the others (liveness probes) and stop() waits for them (Kubernetes' grace period is 30 s).
    s.http.set_read_timeout(std::max(1, o.read_timeout_s));
    s.setup_routes();
    auto bind = [&](httplib::Server& srv, int port, const char* what) {
        const int got = port == 0 ? srv.bind_to_any_port(o.host) : (srv.bind_to_port(o.host, port) ? port : -1);
        if (got <= 0)
            throw ConfigError(std::string("tiledet serve: cannot listen on ") + o.host + ":" + std::to_string(port) + " (" +
                              what + "): the port is taken or the address is not this machine's; choose another");
        return got;
    };
    // httplib listens with a backlog of 5 (its compiled-in CPPHTTPLIB_LISTEN_BACKLOG): a burst of
    // new connections overflows it and the kernel drops SYNs, which clients retry after 1, 3, 7 s.
    // The listening socket passes through the socket-options hook before bind; once httplib has
    // listened on it, listen again with the system's largest backlog (Linux updates it in place).
    int http_fd = -1;
    s.http.set_socket_options([&http_fd](socket_t sock) {
        httplib::default_socket_options(sock);
        http_fd = static_cast<int>(sock);
    });
    s.http_port = bind(s.http, o.http_port, "--http-port");
    if (http_fd >= 0 && ::listen(http_fd, SOMAXCONN) != 0)
        throw ConfigError("tiledet serve: cannot raise the HTTP listen backlog (listen failed)");
    if (o.metrics_port >= 0) {
        s.metrics_http = std::make_unique<httplib::Server>();
        s.metrics_http->new_task_queue = [] { return new httplib::ThreadPool(2); };
        s.metrics_http->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
            res.set_content(impl_->core.metrics_text(), "text/plain; version=0.0.4");
        });
        s.metrics_port = bind(*s.metrics_http, o.metrics_port, "--metrics-port");
        s.metrics_thread = std::thread([this] { impl_->metrics_http->listen_after_bind(); });
    }
#if TILEDET_SERVE_GRPC
    if (o.grpc_port >= 0) {
        s.grpc = std::make_unique<GrpcFront>(s.core);
        s.grpc_port = s.grpc->start();
    }
#else
    if (o.grpc_port >= 0)
        throw ConfigError("tiledet serve: --grpc-port: this build has no gRPC (Debian: libgrpc++-dev and "
                          "protobuf-compiler-grpc, as scripts/setup.sh installs); use -1");
#endif
    s.http_thread = std::thread([this] { impl_->http.listen_after_bind(); });
    // stop() right after start() must find the server running, or its listen would never end.
    for (int i = 0; i < 2000 && !(s.http.is_running() && (!s.metrics_http || s.metrics_http->is_running())); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

int InferenceServer::http_port() const { return impl_->http_port; }
int InferenceServer::metrics_port() const { return impl_->metrics_port; }
int InferenceServer::grpc_port() const { return impl_->grpc_port; }

void InferenceServer::add_model(ServedModel model) { impl_->core.add_model(std::move(model)); }
void InferenceServer::set_ready(bool ready) { impl_->core.set_ready(ready); }
bool InferenceServer::ready() const { return impl_->core.ready(); }

void InferenceServer::stop() {
    Impl& s = *impl_;
    std::lock_guard lock(s.stop_mu);
    s.core.set_stopping();
    if (!s.started) return;
    // httplib's stop() closes the listening socket; its listen returns once the worker pool has
    // finished the requests it holds, so joining the thread is the drain. gRPC's Shutdown waits
    // for the calls in progress the same way.
#if TILEDET_SERVE_GRPC
    if (s.grpc) s.grpc->shutdown();
#endif
    s.http.stop();
    if (s.http_thread.joinable()) s.http_thread.join();
    if (s.metrics_http) s.metrics_http->stop();
    if (s.metrics_thread.joinable()) s.metrics_thread.join();
}

std::string InferenceServer::metrics_text() const { return impl_->core.metrics_text(); }

}  // namespace tiledet::serve
