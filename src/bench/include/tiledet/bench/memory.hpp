// Resident memory of this process, from /proc/self/status (Linux). A long benchmark reads it
// after warm-up and at the end: growth between the two is a leak or an unbounded cache.
#pragma once

#include <cstdint>
#include <string>

namespace tiledet::bench {

struct MemorySample {
    std::int64_t rss_kb = -1;  // VmRSS: resident now; -1 when unknown (no /proc)
    std::int64_t hwm_kb = -1;  // VmHWM: the process's peak resident size so far
    bool known() const { return rss_kb >= 0; }
};

MemorySample read_process_memory();

// Parses the text of a /proc/<pid>/status file (exposed for tests).
MemorySample parse_proc_status(const std::string& text);

}  // namespace tiledet::bench
