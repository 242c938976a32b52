// The auto configuration's search, used by the Pipeline constructor that opens a model file.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "tiledet/batching/backend.hpp"
#include "tiledet/pipeline/auto_config.hpp"
#include "tiledet/pipeline/pipeline.hpp"

namespace tiledet::pipeline_detail {

// Opens the model's sessions. With options.auto_config enabled, first picks instances, threads
// per instance and max batch (from the cache, or by measuring on the sessions it then keeps),
// and writes the pick into options.batching / options.model; `choice` says what and why.
// `validate` is called with the model's signature once the first sessions are open, before
// anything runs: what it throws ends the call.
std::vector<std::unique_ptr<Backend>> open_configured(std::span<const std::byte> bytes, const std::string& name,
                                                      PipelineOptions& options, AutoConfigChoice& choice,
                                                      const std::function<void(const ModelSignature&)>& validate);

// The cache entry's key text for these options on this machine (exposed for tests).
std::string auto_config_key(std::span<const std::byte> bytes, const PipelineOptions& options, int cores);

}  // namespace tiledet::pipeline_detail
