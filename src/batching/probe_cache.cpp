#include "probe_cache.hpp"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

namespace tiledet::batching_detail {
namespace fs = std::filesystem;

std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v ? std::string(v) : std::string();
}

namespace {

fs::path entry_path(const std::string& folder, const std::string& key, int batch_size) {
    return fs::path(folder) / "probe" / (key + "-b" + std::to_string(batch_size));
}

}  // namespace

std::string probe_cache_folder(const std::optional<std::string>& configured) { return tiledet::cache_folder(configured); }

}  // namespace tiledet::batching_detail

namespace tiledet {

std::string cache_folder(const std::optional<std::string>& configured) {
    namespace fs = std::filesystem;
    using batching_detail::env;
    if (configured) return *configured;
    if (std::string d = env("TILEDET_CACHE_DIR"); !d.empty()) return d;
    if (std::string d = env("XDG_CACHE_HOME"); !d.empty()) return (fs::path(d) / "tiledet").string();
    if (std::string d = env("HOME"); !d.empty()) return (fs::path(d) / ".cache" / "tiledet").string();
    return {};
}

}  // namespace tiledet

namespace tiledet::batching_detail {

// Format: "ok <ms>" or "fail <ms>\n<error text>".
std::optional<ProbeOutcome> read_probe(const std::string& folder, const std::string& key, int batch_size) {
    if (folder.empty() || key.empty()) return std::nullopt;
    std::ifstream in(entry_path(folder, key, batch_size));
    if (!in) return std::nullopt;
    std::string verdict;
    ProbeOutcome o;
    o.batch_size = batch_size;
    if (!(in >> verdict >> o.ms) || (verdict != "ok" && verdict != "fail")) return std::nullopt;
    o.ok = verdict == "ok";
    if (!o.ok) {
        std::ostringstream rest;
        in.ignore(1);
        rest << in.rdbuf();
        o.error = rest.str();
        if (o.error.empty()) return std::nullopt;
    }
    return o;
}

void write_probe(const std::string& folder, const std::string& key, const ProbeOutcome& outcome) {
    if (folder.empty() || key.empty()) return;
    std::error_code ec;
    const fs::path final_path = entry_path(folder, key, outcome.batch_size);
    fs::create_directories(final_path.parent_path(), ec);
    if (ec) return;
    fs::path tmp = final_path;
    tmp += ".tmp" + std::to_string(::getpid());
    {
        std::ofstream out(tmp, std::ios::trunc);
        if (!out) return;
        out << (outcome.ok ? "ok " : "fail ") << outcome.ms;
        if (!outcome.ok) out << "\n" << outcome.error;
        if (!out.flush()) {
            fs::remove(tmp, ec);
            return;
        }
    }
    fs::rename(tmp, final_path, ec);
    if (ec) fs::remove(tmp, ec);
}

}  // namespace tiledet::batching_detail
