#include "grpc_front.hpp"

#include <grpcpp/grpcpp.h>

#include <cstring>

#include "grpc_service.grpc.pb.h"
#include "serve_core.hpp"
#include "tiledet/error.hpp"

namespace tiledet::serve {

using json = nlohmann::json;

namespace {

grpc::Status to_status(const InferFailure& f) {
    const grpc::StatusCode code = f.status == 400   ? grpc::StatusCode::INVALID_ARGUMENT
                                  : f.status == 404 ? grpc::StatusCode::NOT_FOUND
                                  : f.status == 503 ? grpc::StatusCode::UNAVAILABLE
                                  : f.status == 413 ? grpc::StatusCode::RESOURCE_EXHAUSTED
                                                    : grpc::StatusCode::INTERNAL;
    return {code, f.message};
}

json to_json(const google::protobuf::Map<std::string, inference::InferParameter>& params) {
    json j = json::object();
    for (const auto& [key, p] : params) {
        switch (p.parameter_choice_case()) {
            case inference::InferParameter::kBoolParam: j[key] = p.bool_param(); break;
            case inference::InferParameter::kInt64Param: j[key] = p.int64_param(); break;
            case inference::InferParameter::kStringParam: j[key] = p.string_param(); break;
            case inference::InferParameter::kDoubleParam: j[key] = p.double_param(); break;
            case inference::InferParameter::kUint64Param: j[key] = p.uint64_param(); break;
            default: break;
        }
    }
    return j;
}

void from_json(const json& j, google::protobuf::Map<std::string, inference::InferParameter>& out) {
    for (auto it = j.begin(); it != j.end(); ++it) {
        inference::InferParameter p;
        if (it->is_boolean()) p.set_bool_param(it->get<bool>());
        else if (it->is_number_unsigned()) p.set_int64_param(static_cast<int64_t>(it->get<std::uint64_t>()));
        else if (it->is_number_integer()) p.set_int64_param(it->get<int64_t>());
        else if (it->is_number_float()) p.set_double_param(it->get<double>());
        else if (it->is_string()) p.set_string_param(it->get<std::string>());
        else p.set_string_param(it->dump());
        out[it.key()] = p;
    }
}

// The protocol's typed contents as the JSON "data" of the same tensor, so one parser checks both.
json contents_json(const inference::ModelInferRequest::InferInputTensor& t) {
    const auto& c = t.contents();
    json data = json::array();
    const std::string& d = t.datatype();
    if (d == "BOOL") for (bool v : c.bool_contents()) data.push_back(v);
    else if (d == "INT8" || d == "INT16" || d == "INT32") for (int32_t v : c.int_contents()) data.push_back(v);
    else if (d == "INT64") for (int64_t v : c.int64_contents()) data.push_back(v);
    else if (d == "UINT8" || d == "UINT16" || d == "UINT32") for (uint32_t v : c.uint_contents()) data.push_back(v);
    else if (d == "UINT64") for (uint64_t v : c.uint64_contents()) data.push_back(v);
    else if (d == "FP32") for (float v : c.fp32_contents()) data.push_back(v);
    else if (d == "FP64") for (double v : c.fp64_contents()) data.push_back(v);
    else if (d == "BYTES") {
        // Carried as raw bytes below (JSON strings must be UTF-8); see to_request.
    }
    return data;
}

// The request in the REST form (JSON header + binary section), parsed by the same code.
InferRequest to_request(const inference::ModelInferRequest& req) {
    json j = {{"inputs", json::array()}};
    if (!req.id().empty()) j["id"] = req.id();
    j["parameters"] = to_json(req.parameters());
    const bool raw = req.raw_input_contents_size() > 0;
    if (raw && req.raw_input_contents_size() != req.inputs_size())
        throw BadRequest("raw_input_contents has " + std::to_string(req.raw_input_contents_size()) + " entries for " +
                         std::to_string(req.inputs_size()) + " inputs: give one per input, in order, or none");
    std::string binary;
    for (int i = 0; i < req.inputs_size(); ++i) {
        const auto& t = req.inputs(i);
        json in = {{"name", t.name()}, {"datatype", t.datatype()}, {"shape", json::array()}};
        for (int64_t d : t.shape()) in["shape"].push_back(d);
        json params = to_json(t.parameters());
        params.erase("binary_data_size");
        if (raw) {
            params["binary_data_size"] = req.raw_input_contents(i).size();
            binary += req.raw_input_contents(i);
        } else if (t.datatype() == "BYTES") {
            std::string packed;
            for (const std::string& e : t.contents().bytes_contents()) {
                const auto n = static_cast<std::uint32_t>(e.size());
                for (int k = 0; k < 4; ++k) packed.push_back(static_cast<char>((n >> (8 * k)) & 0xff));
                packed += e;
            }
            params["binary_data_size"] = packed.size();
            binary += packed;
        } else {
            in["data"] = contents_json(t);
        }
        in["parameters"] = params;
        j["inputs"].push_back(std::move(in));
    }
    for (const auto& o : req.outputs()) j["outputs"].push_back({{"name", o.name()}});
    const std::string header = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return parse_infer_request(header + binary, header.size());
}

}  // namespace

struct GrpcFront::Impl final : public inference::GRPCInferenceService::Service {
    explicit Impl(ServeCore& c) : core(c) {}
    ServeCore& core;
    std::unique_ptr<grpc::Server> server;
    std::mutex mu;

    grpc::Status ServerLive(grpc::ServerContext*, const inference::ServerLiveRequest*,
                            inference::ServerLiveResponse* res) override {
        res->set_live(true);
        return grpc::Status::OK;
    }
    grpc::Status ServerReady(grpc::ServerContext*, const inference::ServerReadyRequest*,
                             inference::ServerReadyResponse* res) override {
        res->set_ready(core.ready());
        return grpc::Status::OK;
    }
    grpc::Status ModelReady(grpc::ServerContext*, const inference::ModelReadyRequest* req,
                            inference::ModelReadyResponse* res) override {
        std::shared_ptr<Entry> e;
        if (auto f = core.check_model(req->name(), req->version(), e)) return to_status(*f);
        res->set_ready(core.ready());
        return grpc::Status::OK;
    }
    grpc::Status ServerMetadata(grpc::ServerContext*, const inference::ServerMetadataRequest*,
                                inference::ServerMetadataResponse* res) override {
        const json m = server_metadata();
        res->set_name(m["name"].get<std::string>());
        res->set_version(m["version"].get<std::string>());
        for (const json& x : m["extensions"]) res->add_extensions(x.get<std::string>());
        return grpc::Status::OK;
    }
    grpc::Status ModelMetadata(grpc::ServerContext*, const inference::ModelMetadataRequest* req,
                               inference::ModelMetadataResponse* res) override {
        std::shared_ptr<Entry> e;
        if (auto f = core.check_model(req->name(), req->version(), e)) return to_status(*f);
        const json m = core.metadata(*e);
        res->set_name(m["name"].get<std::string>());
        for (const json& v : m["versions"]) res->add_versions(v.get<std::string>());
        res->set_platform(m["platform"].get<std::string>());
        auto fill = [](const json& list, auto add) {
            for (const json& t : list) {
                auto* tm = add();
                tm->set_name(t["name"].get<std::string>());
                tm->set_datatype(t["datatype"].get<std::string>());
                for (const json& d : t["shape"]) tm->add_shape(d.get<int64_t>());
            }
        };
        fill(m["inputs"], [res] { return res->add_inputs(); });
        fill(m["outputs"], [res] { return res->add_outputs(); });
        return grpc::Status::OK;
    }
    grpc::Status ModelInfer(grpc::ServerContext*, const inference::ModelInferRequest* req,
                            inference::ModelInferResponse* res) override {
        const auto t0 = SteadyClock::now();
        auto parse = [req] { return to_request(*req); };
        auto encode = [req, res](const InferRequest& r, const Entry& e, const std::vector<InferOutput>& outputs,
                                 const json& params) {
            res->set_model_name(e.served_name());
            res->set_model_version(e.model.version);
            res->set_id(r.id);
            from_json(params, *res->mutable_parameters());
            auto emit = [res](const InferOutput& o) {
                auto* t = res->add_outputs();
                t->set_name(o.name);
                t->set_datatype(datatype_name(o.type));
                for (int64_t d : o.shape) t->add_shape(d);
                if (o.tensor.byte_size() == 0)
                    res->add_raw_output_contents(std::string());
                else
                    res->add_raw_output_contents(reinterpret_cast<const char*>(o.tensor.bytes()), o.tensor.byte_size());
            };
            if (req->outputs_size() == 0) {
                for (const InferOutput& o : outputs) emit(o);
                return;
            }
            for (const auto& want : req->outputs()) {
                const InferOutput* found = nullptr;
                for (const InferOutput& o : outputs)
                    if (o.name == want.name()) found = &o;
                if (!found) throw BadRequest("requested output '" + want.name() + "' is not an output of model '" + e.served_name() + "'");
                emit(*found);
            }
        };
        if (auto f = core.infer(req->model_name(), req->model_version(), t0, parse, encode)) return to_status(*f);
        return grpc::Status::OK;
    }
};

GrpcFront::GrpcFront(ServeCore& core) : impl_(std::make_unique<Impl>(core)) {}
GrpcFront::~GrpcFront() { shutdown(); }

int GrpcFront::start() {
    const ServeOptions& o = impl_->core.options();
    grpc::ServerBuilder builder;
    int port = 0;
    const std::string address = (o.host.find(':') != std::string::npos ? "[" + o.host + "]" : o.host) + ":" +
                                std::to_string(std::max(0, o.grpc_port));
    builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(impl_.get());
    builder.SetMaxReceiveMessageSize(static_cast<int>(std::min<std::size_t>(o.max_request_bytes, INT32_MAX)));
    builder.SetMaxSendMessageSize(INT32_MAX);
    impl_->server = builder.BuildAndStart();
    if (!impl_->server || port <= 0)
        throw ConfigError("tiledet serve: cannot listen on " + address +
                          " (--grpc-port): the port is taken or the address is not this machine's; choose another");
    return port;
}

void GrpcFront::shutdown() {
    std::lock_guard lock(impl_->mu);
    if (!impl_->server) return;
    // Calls in progress finish (up to the request timeout and a margin); new ones are refused.
    const auto grace = impl_->core.options().request_timeout + std::chrono::seconds(30);
    impl_->server->Shutdown(std::chrono::system_clock::now() + grace);
    impl_->server->Wait();
    impl_->server.reset();
}

}  // namespace tiledet::serve
