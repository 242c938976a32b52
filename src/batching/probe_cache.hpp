// The warm-up probe's answers kept across runs: one small file per (model key, batch size) under
// <dir>/probe/, written atomically (temporary file + rename), so concurrent processes never read
// half a file. A missing, unreadable or malformed entry is simply a miss.
#pragma once

#include <optional>
#include <string>

#include "tiledet/batching/backend.hpp"
#include "tiledet/batching/policy.hpp"

namespace tiledet::batching_detail {

// The environment variable `name`, "" when unset.
std::string env(const char* name);

// The folder BatchPolicy::probe_cache_dir names (see there); "" when caching is off.
std::string probe_cache_folder(const std::optional<std::string>& configured);

// The cached outcome of a probe batch of `batch_size` for `key`, if one was stored.
std::optional<ProbeOutcome> read_probe(const std::string& folder, const std::string& key, int batch_size);

// Stores `outcome` for `key`; failures to write are ignored (the cache is an optimisation).
void write_probe(const std::string& folder, const std::string& key, const ProbeOutcome& outcome);

}  // namespace tiledet::batching_detail
