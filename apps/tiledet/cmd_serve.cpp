// tiledet serve -m MODEL | --model-repository DIR: KServe's Open Inference Protocol (v2) over
// HTTP and gRPC with Triton's binary-data extension and metric names (tiledet/serve/server.hpp). Live at
// once, ready once every model has loaded and passed its warm-up; SIGTERM or SIGINT stops
// accepting, answers every request already accepted, and exits 0.
#if TILEDET_HAS_SERVE
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "command.hpp"
#include "pipeline_flags.hpp"
#include "tiledet/error.hpp"
#include "tiledet/serve/server.hpp"

namespace tiledet::cli {
namespace {

namespace fs = std::filesystem;

struct ServeArgs {
    std::vector<std::string> models;
    std::string repository;
    std::string name;  // the one --model's served name (default: its file name's stem)
    std::string host = "0.0.0.0";
    int http_port = 8000;
    int metrics_port = 8002;
    int grpc_port = serve::grpc_available() ? 8001 : -1;
    double max_request_mb = 64;
    int request_timeout_ms = 30000;
    long long max_pending = 256;  // signed, so that -1 is refused as -1
    int http_threads = 64;
    int read_timeout_s = 5;
    PipelineFlags flags;
};

struct ModelSpec {
    std::string name, path, version = "1";
    std::map<std::string, std::string> options;  // config.json's "options", over the command line's
    std::string config_path;                      // where they came from (for messages)
};

// The server's own flags, refused before anything starts: "--FLAG: expected WHAT, got VALUE".
// The upper bounds keep each one within what a process can give (threads, memory, a port).
void check_serve_args(const ServeArgs& a) {
    require_flag_in("--http-port", a.http_port, 0, 65535, "a port from 0 to 65535 (0: any free port)");
    require_flag_in("--grpc-port", a.grpc_port, -1, 65535, "a port from 0 to 65535 (0: any free port; -1: no gRPC)");
    require_flag_in("--metrics-port", a.metrics_port, -1, 65535, "a port from 0 to 65535 (-1: none)");
    require_flag(a.max_request_mb > 0 && a.max_request_mb <= 4096, "--max-request-mb",
                 "a size in MB above 0 and at most 4096", a.max_request_mb);
    require_flag_in("--request-timeout-ms", a.request_timeout_ms, 0, 3.6e6, "milliseconds from 0 to 3600000 (0: none)");
    require_flag_in("--max-pending", static_cast<double>(a.max_pending), 0, 1e6,
                    "a request count from 0 to 1000000 (0: no cap)");
    require_flag_in("--http-threads", a.http_threads, 1, 1024, "a thread count from 1 to 1024");
    require_flag_in("--read-timeout-s", a.read_timeout_s, 1, 3600, "whole seconds from 1 to 3600");
}

// DIR/NAME/model.onnx, or Triton's layout DIR/NAME/VERSION/model.onnx (the highest numeric
// version); optional DIR/NAME/config.json: {"options": {"tile": "640", "conf": 0.3, ...}} with
// the pipeline option table's names (as the command line's flags, without dashes).
std::vector<ModelSpec> read_repository(const std::string& dir) {
    if (!fs::is_directory(dir))
        throw InputError(dir + ": --model-repository expects a folder with one folder per model (NAME/model.onnx)");
    std::vector<ModelSpec> out;
    std::vector<fs::path> folders;
    for (const auto& entry : fs::directory_iterator(dir))
        if (entry.is_directory()) folders.push_back(entry.path());
    std::sort(folders.begin(), folders.end());
    for (const fs::path& folder : folders) {
        ModelSpec m;
        m.name = folder.filename().string();
        if (fs::exists(folder / "model.onnx")) {
            m.path = (folder / "model.onnx").string();
        } else {
            long best = -1;
            for (const auto& v : fs::directory_iterator(folder)) {
                const std::string s = v.path().filename().string();
                if (!v.is_directory() || s.empty() || !std::all_of(s.begin(), s.end(), ::isdigit) || s.size() > 9) continue;
                if (fs::exists(v.path() / "model.onnx") && std::stol(s) > best) best = std::stol(s);
            }
            if (best < 0)
                throw InputError(folder.string() + ": no model.onnx (expected " + m.name + "/model.onnx or " + m.name +
                                 "/1/model.onnx)");
            m.version = std::to_string(best);
            m.path = (folder / m.version / "model.onnx").string();
        }
        const fs::path config = folder / "config.json";
        if (fs::exists(config)) {
            if (!fs::is_regular_file(config))  // a pipe would block the server's start
                throw InputError(config.string() + ": not a regular file; expected a JSON file {\"options\": {...}}");
            m.config_path = config.string();
            std::ifstream in(config);
            const auto j = nlohmann::json::parse(in, nullptr, false);
            if (j.is_discarded() || !j.is_object() || (j.contains("options") && !j["options"].is_object()))
                throw InputError(config.string() + ": expected a JSON object {\"options\": {\"tile\": \"640\", ...}}");
            if (j.contains("options"))
                for (auto it = j["options"].begin(); it != j["options"].end(); ++it)
                    m.options[it.key()] = it.value().is_string() ? it.value().get<std::string>() : it.value().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        }
        out.push_back(std::move(m));
    }
    if (out.empty()) throw InputError(dir + ": no model folders in the --model-repository");
    return out;
}

int run_serve(const ServeArgs& a) {
    if (a.models.empty() == a.repository.empty())
        throw ConfigError("tiledet serve: give either --model/-m MODEL (repeatable) or --model-repository DIR");
    std::vector<ModelSpec> specs;
    if (!a.repository.empty()) {
        specs = read_repository(a.repository);
    } else {
        if (!a.name.empty() && a.models.size() != 1)
            throw ConfigError("tiledet serve: --name names the one --model; with several, each is served under its file name");
        for (const std::string& path : a.models) {
            ModelSpec m;
            m.path = path;
            m.name = a.name.empty() ? fs::path(path).stem().string() : a.name;
            specs.push_back(std::move(m));
        }
    }
    check_serve_args(a);
    // Every model's options are checked before the server listens: a bad config.json is one line
    // naming the file and its key, and nothing was started.
    std::vector<PipelineOptions> model_options;
    for (const ModelSpec& m : specs) {
        PipelineOptions options = to_pipeline_options(a.flags);
        for (const auto& [k, v] : m.options) {
            try {
                set_option(options, k, v);
            } catch (const OptionError& e) {
                throw ConfigError(m.config_path + ": \"options\": " + e.with_name("\"" + k + "\""));
            }
        }
        model_options.push_back(std::move(options));
    }
    // Signals are taken by this thread alone (sigwait below): block them before any thread starts,
    // so every thread the server and the pipelines start inherits the mask.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    serve::ServeOptions so;
    so.host = a.host;
    so.http_port = a.http_port;
    so.metrics_port = a.metrics_port;
    so.grpc_port = a.grpc_port;
    so.max_request_bytes = static_cast<std::size_t>(a.max_request_mb * 1024 * 1024);  // checked: at most 4096
    so.request_timeout = std::chrono::milliseconds(a.request_timeout_ms);
    so.max_pending_requests = static_cast<std::size_t>(a.max_pending);  // checked: 0 to 10^6
    so.http_threads = a.http_threads;
    so.read_timeout_s = a.read_timeout_s;
    serve::InferenceServer server(so);
    server.start();
    std::cerr << "tiledet serve: HTTP on " << a.host << ":" << server.http_port();
    if (server.grpc_port() >= 0) std::cerr << ", gRPC on " << a.host << ":" << server.grpc_port();
    if (server.metrics_port() >= 0) std::cerr << ", metrics on " << a.host << ":" << server.metrics_port();
    std::cerr << std::endl;

    std::vector<std::shared_ptr<Pipeline>> pipelines;
    for (std::size_t i = 0; i < specs.size(); ++i) {
        const ModelSpec& m = specs[i];
        auto pipeline = std::make_shared<Pipeline>(m.path, model_options[i]);
        server.add_model({m.name, pipeline, m.version});
        pipelines.push_back(pipeline);
        std::cerr << "model " << m.name << " (" << m.path << ", version " << m.version << "): "
                  << pipeline->config().describe() << "; served as '" << m.name << "' (image in, detections out) and '"
                  << m.name << "_raw' (its own tensors)" << std::endl;
    }
    server.set_ready(true);
    std::cerr << "tiledet serve: ready" << std::endl;

    int sig = 0;
    sigwait(&signals, &sig);
    std::cerr << "tiledet serve: " << (sig == SIGTERM ? "SIGTERM" : "SIGINT")
              << ": no new connections; draining the requests in flight" << std::endl;
    server.stop();
    for (auto& p : pipelines) p->shutdown();
    std::cerr << "tiledet serve: drained, exiting" << std::endl;
    return kExitOk;
}

const CommandRegistrar reg{Command{"serve", 70, [](CLI::App& app) {
    auto* sub = app.add_subcommand("serve",
                                   "Serve models over KServe's Open Inference Protocol (v2 REST and gRPC) with Triton's "
                                   "binary-data extension and Prometheus metrics");
    auto a = std::make_shared<ServeArgs>();
    sub->add_option("--model,-m", a->models, "ONNX model file, served under its file name's stem (repeatable)");
    sub->add_option("--name", a->name, "The name to serve the one --model under (KServe passes the InferenceService's)");
    sub->add_option("--model-repository", a->repository,
                    "Folder of models: NAME/model.onnx or NAME/VERSION/model.onnx, each with an optional "
                    "NAME/config.json {\"options\": {...}} of pipeline options");
    sub->add_option("--host", a->host, "Address to listen on")->capture_default_str();
    sub->add_option("--http-port", a->http_port, "HTTP port (0: any free port, printed at start)")->capture_default_str();
    sub->add_option("--grpc-port", a->grpc_port,
                    "gRPC port of inference.GRPCInferenceService (0: any free port; -1: no gRPC; builds without gRPC: "
                    "-1 only)")
        ->capture_default_str();
    sub->add_option("--metrics-port", a->metrics_port,
                    "Port of a second listener with only /metrics, as Triton's (-1: none; /metrics is always on the "
                    "HTTP port too)")
        ->capture_default_str();
    sub->add_option("--max-request-mb", a->max_request_mb, "Largest request body in MB (413 beyond)")->capture_default_str();
    sub->add_option("--request-timeout-ms", a->request_timeout_ms,
                    "A request whose tiles have not started running this long after it arrived ends with 503 (0: none)")
        ->capture_default_str();
    sub->add_option("--max-pending", a->max_pending,
                    "Requests handled at once; one more gets 503 at once (0: no cap)")
        ->capture_default_str();
    sub->add_option("--http-threads", a->http_threads,
                    "HTTP worker threads (each waits for its request's results: the concurrency whose tiles can share "
                    "a batch)")
        ->capture_default_str();
    sub->add_option("--read-timeout-s", a->read_timeout_s,
                    "Seconds a connection may send nothing while its request is read; then it is closed (a stalled "
                    "client holds an HTTP thread, and delays shutdown, at most this long)")
        ->capture_default_str();
    add_pipeline_flags(*sub, a->flags);
    return std::function<int()>([a] { return run_serve(*a); });
}}};

}  // namespace
}  // namespace tiledet::cli
#endif
