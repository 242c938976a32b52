#include "tiledet/bench/memory.hpp"

#include <fstream>
#include <sstream>

namespace tiledet::bench {

namespace {
// "VmRSS:\t  123456 kB" -> 123456
std::int64_t field_kb(const std::string& line, const std::string& key) {
    if (line.rfind(key, 0) != 0) return -1;
    std::istringstream in(line.substr(key.size()));
    std::int64_t v = -1;
    in >> v;
    return in ? v : -1;
}
}  // namespace

MemorySample parse_proc_status(const std::string& text) {
    MemorySample s;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (auto v = field_kb(line, "VmRSS:"); v >= 0) s.rss_kb = v;
        if (auto v = field_kb(line, "VmHWM:"); v >= 0) s.hwm_kb = v;
    }
    return s;
}

MemorySample read_process_memory() {
    std::ifstream f("/proc/self/status");
    if (!f) return {};
    std::stringstream buf;
    buf << f.rdbuf();
    return parse_proc_status(buf.str());
}

}  // namespace tiledet::bench
