// The gRPC front of tiledet serve: inference.GRPCInferenceService (grpc_service.proto) over the
// same ServeCore as the HTTP routes, with Debian's gRPC. Errors map as Triton's do: 400 ->
// INVALID_ARGUMENT, 404 -> NOT_FOUND, 503 -> UNAVAILABLE, anything else -> INTERNAL.
#pragma once

#include <memory>

namespace tiledet::serve {

class ServeCore;

class GrpcFront {
public:
    explicit GrpcFront(ServeCore& core);
    ~GrpcFront();
    // Binds core.options().host:grpc_port and starts serving; returns the port. Throws ConfigError.
    int start();
    // Stops taking calls and waits for those in progress. Idempotent.
    void shutdown();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace tiledet::serve
