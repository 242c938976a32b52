#include "tiledet/pipeline/auto_config.hpp"

#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <system_error>
#include <thread>

#include "auto_config_impl.hpp"
#include "tiledet/batching/policy.hpp"
#include "tiledet/error.hpp"
#include "tiledet/runtime/model.hpp"
#include "tiledet/runtime/tensor.hpp"

#ifndef TILEDET_VERSION_STRING
#define TILEDET_VERSION_STRING "unknown"
#endif

namespace tiledet {
namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;

const char* to_string(AutoConfigChoice::Source s) {
    switch (s) {
        case AutoConfigChoice::Source::manual: return "manual";
        case AutoConfigChoice::Source::one_tile: return "one-tile";
        case AutoConfigChoice::Source::measured: return "measured";
        case AutoConfigChoice::Source::cached: return "cached";
        case AutoConfigChoice::Source::fallback: return "fallback";
    }
    return "?";
}

int usable_cores() {
    if (const std::size_t n = usable_cpus().size(); n > 0) return static_cast<int>(n);
    return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

std::string AutoConfigChoice::describe() const {
    std::ostringstream os;
    os << (source == Source::manual ? "manual" : "auto") << ": " << instances << " instance"
       << (instances == 1 ? "" : "s") << " x ";
    if (threads > 0)
        os << threads << " thread" << (threads == 1 ? "" : "s");
    else
        os << "all cores";
    // A batch that failed while measuring is reported by the measuring run and the cached ones.
    const bool searched = source == Source::measured || source == Source::cached;
    if (static_batch > 0)
        os << ", static batch " << static_batch;
    else if (searched && failed_batch > 1 && max_batch_size == failed_batch)
        // The max batch stays at the size that failed so the executor's probe confirms it and warns
        // with the fix; what runs is one image or tile at a time.
        os << ", one at a time";
    else
        os << ", max batch " << max_batch_size;
    char buf[256];  // the longest, with the budget note, is about 130
    switch (source) {
        case Source::manual: break;
        case Source::one_tile: os << " (one tile: lowest latency, nothing measured)"; break;
        case Source::measured:
            std::snprintf(buf, sizeof buf, " (measured %zu cell%s in %.1f s on %d core%s%s)", cells.size(),
                          cells.size() == 1 ? "" : "s", measure_ms / 1000.0, cores, cores == 1 ? "" : "s",
                          !complete ? "; the budget left instance counts untried, not cached: raise --auto-budget-ms"
                                    : (cache_file.empty() ? "" : ", cached"));
            os << buf;
            break;
        case Source::cached:
            os << " (cached for " << cores << " core" << (cores == 1 ? "" : "s")
               << (batches_cut ? "; larger batches were not measured within --auto-budget-ms: raise it, or give --batch"
                               : "")
               << ")";
            break;
        case Source::fallback:
            if (failed_batch > 0)
                os << " (defaults: measuring at the given batch " << failed_batch << " failed: " << failure << ")";
            else
                os << " (defaults: the model's inputs give no probe to measure with)";
            break;
    }
    if (source == Source::manual && !note.empty()) os << " (" << note << ")";
    for (std::size_t i = 0; i < pinned_cpus.size(); ++i) os << (i == 0 ? ", pinned to CPUs " : ",") << pinned_cpus[i];
    // The notes last, after what runs: each begins with "; ".
    if (source == Source::measured && batches_cut)
        os << "; larger batches not measured: the next would have overrun --auto-budget-ms (raise it, or give --batch)";
    if (searched && failed_batch > 0)
        os << "; batch " << failed_batch << " failed while measuring: " << failure;
    if (source != Source::manual && !note.empty()) os << "; " << note;
    return os.str();
}

namespace pipeline_detail {
namespace {

// TILEDET_AUTO_CONFIG: off, 0, manual, false or no turn the auto configuration off (it acts as
// --config manual, whatever was given); unset, empty, on, 1, auto, true or yes leave it as
// configured. Anything else is refused: a typo must not pass for the default.
bool env_turns_off() {
    const char* v = std::getenv("TILEDET_AUTO_CONFIG");
    if (!v) return false;
    std::string s(v);
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (s == "off" || s == "0" || s == "manual" || s == "false" || s == "no") return true;
    if (s.empty() || s == "on" || s == "1" || s == "auto" || s == "true" || s == "yes") return false;
    throw ConfigError("TILEDET_AUTO_CONFIG='" + printable(v) +
                      "': expected off, 0, manual, false or no (the auto configuration off, as --config manual), or "
                      "on, 1, auto, true, yes or nothing (--config decides); unset it to let --config decide");
}

std::string cpu_model() {
    std::ifstream in("/proc/cpuinfo");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("model name", 0) == 0) {
            const auto colon = line.find(':');
            if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
        }
    return "unknown-cpu";
}

struct Fixed {
    bool instances, threads, batch;
};

Fixed fixed_fields(const PipelineOptions& o) {
    const PipelineOptions d;
    const AutoConfigOptions& a = o.auto_config;
    return {a.instances_given || o.batching.instances != d.batching.instances,
            a.threads_given || o.model.intra_op_threads != d.model.intra_op_threads,
            a.batch_given || o.batching.max_batch_size != d.batching.max_batch_size};
}

fs::path entry_path(const std::string& folder, const std::string& key) {
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx",
                  static_cast<unsigned long long>(
                      fingerprint_bytes(std::span(reinterpret_cast<const std::byte*>(key.data()), key.size()))));
    return fs::path(folder) / "auto" / hex;
}

struct Entry {
    AutoConfigCell cell;
    bool batches_cut = false;
    int failed_batch = 0;  // a batch that failed while measuring (0: none), and its first line
    std::string failure;
};

// Entry format: the key on line 1 (a hash collision reads as a miss), then
// "instances threads batch tiles_per_s batches_cut [failed_batch]", then, when a batch failed
// while measuring, its error's first line (so a cached run says what the measuring one said).
// An entry the search could not have written (more threads in all than `max_threads`, say) is a
// miss too.
std::optional<Entry> read_entry(const fs::path& path, const std::string& key, int max_threads) {
    std::ifstream in(path);
    std::string stored;
    if (!in || !std::getline(in, stored) || stored != key) return std::nullopt;
    Entry e;
    AutoConfigCell& c = e.cell;
    int cut = 0;
    std::string fields;
    if (!std::getline(in, fields)) return std::nullopt;
    std::istringstream line(fields);
    if (!(line >> c.instances >> c.threads >> c.batch >> c.tiles_per_s >> cut)) return std::nullopt;
    if (!(line >> e.failed_batch)) e.failed_batch = 0;  // written before the field existed
    if (e.failed_batch < 0 || e.failed_batch > (1 << 16)) return std::nullopt;
    if (e.failed_batch > 0 && !std::getline(in, e.failure)) e.failure.clear();
    // The search gives each instance max(1, total / instances) threads: one thread each (any
    // count of instances, as given) or a total within max_threads.
    if (c.instances < 1 || c.threads < 1 || c.instances > 256 || c.threads > max_threads ||
        (c.threads > 1 && c.instances * c.threads > max_threads) || c.batch < 1 || c.batch > (1 << 16) || (cut != 0 && cut != 1))
        return std::nullopt;
    e.batches_cut = cut == 1;
    return e;
}

bool write_entry(const fs::path& path, const std::string& key, const AutoConfigCell& c, bool batches_cut,
                 int failed_batch, const std::string& failure) {
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    if (ec) return false;
    fs::path tmp = path;
    tmp += ".tmp" + std::to_string(::getpid());
    {
        std::ofstream out(tmp, std::ios::trunc);
        if (!out) return false;
        out << key << "\n"
            << c.instances << " " << c.threads << " " << c.batch << " " << c.tiles_per_s << " " << (batches_cut ? 1 : 0)
            << " " << failed_batch << "\n";
        if (failed_batch > 0) out << failure << "\n";  // first_line_of: one line
        if (!out.flush()) {
            fs::remove(tmp, ec);
            return false;
        }
    }
    fs::rename(tmp, path, ec);
    if (!ec) return true;
    std::error_code ignored;  // the rename's error is the answer, whatever removing tmp says
    fs::remove(tmp, ignored);
    return false;
}

// Timed runs and seconds per instance of one cell, added up over its slices.
struct CellTimes {
    std::vector<int> runs;
    std::vector<double> seconds;
};

// Runs batches of `batch` copies of `item` on every backend at once for about `window` (at least
// one run each), after one untimed run each when `warm_up` (a new shape's first run plans memory),
// and adds each instance's timed runs and seconds (from the common start to its own last run's
// end) to `times`. The cell's tiles per second is the sum of the instances' own rates over all
// slices so far: with runs as long as the window, the time to the slowest instance's end would
// count the other's idle tail against every multi-instance cell. Throws what a run throws (a
// batch size the graph cannot take).
AutoConfigCell measure_slice(std::vector<std::unique_ptr<Backend>>& backends, const std::vector<Tensor>& inputs,
                             int batch, std::chrono::milliseconds window, bool warm_up, CellTimes& times) {
    const std::size_t n = backends.size();
    times.runs.resize(n, 0);
    times.seconds.resize(n, 0.0);
    std::vector<int> runs(n, 0);
    std::vector<SteadyClock::time_point> ends(n);
    std::vector<std::exception_ptr> errors(n);
    std::atomic<std::size_t> warmed{0};
    std::atomic<bool> go{false};
    SteadyClock::time_point start;
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < n; ++i)
        threads.emplace_back([&, i] {
            try {
                if (warm_up) (void)backends[i]->run(inputs);
            } catch (...) {
                errors[i] = std::current_exception();
            }
            if (++warmed == n) {
                start = SteadyClock::now();
                go = true;
                go.notify_all();
            }
            go.wait(false);
            if (errors[i]) return;
            const auto stop = start + window;
            try {
                do {
                    (void)backends[i]->run(inputs);
                    ++runs[i];
                } while (SteadyClock::now() < stop);
            } catch (...) {
                errors[i] = std::current_exception();
            }
            ends[i] = SteadyClock::now();
        });
    for (auto& t : threads) t.join();
    for (const auto& e : errors)
        if (e) std::rethrow_exception(e);
    AutoConfigCell c;
    c.instances = static_cast<int>(n);
    c.batch = batch;
    for (std::size_t i = 0; i < n; ++i) {
        times.runs[i] += runs[i];
        times.seconds[i] += std::chrono::duration<double>(ends[i] - start).count();
        c.runs += times.runs[i];
        if (times.seconds[i] > 0) c.tiles_per_s += static_cast<double>(times.runs[i]) * batch / times.seconds[i];
    }
    return c;
}

std::vector<Tensor> batch_of(const std::vector<Tensor>& item, int batch) {
    std::vector<Tensor> inputs;
    for (const Tensor& t : item)
        inputs.push_back(batch == 1 ? t : concat_leading(std::vector<Tensor>(static_cast<std::size_t>(batch), t)));
    return inputs;
}

// A pause before a slice that follows another cell's slice. Without it the cell measured second
// read low: on the RT-DETR layout (2 cores, 2 s budget) 2 x 1 thread read 0.905 of 1 x 2
// threads at batch 1 (mean of 6 first runs; 0.94 with a 10 ms pause, 0.93-1.01 with 30 ms, 1.05
// with 60 ms), where the bench's bare sweep, seconds per cell, read 1.04, and the whole pipeline
// ran 5 % faster on 2 x 1. What the previous cell leaves behind was not pinned down (ONNX
// Runtime's pool threads spin-wait for work a while before they sleep; caches; the scheduler).
// The pick went to 1 x 2 threads in 4 of 6 first runs without it, in 0 of 12 with it
// (BENCHMARKS.md, ac41). It costs 60 ms per cell after the first, inside the budget.
void settle() { std::this_thread::sleep_for(std::chrono::milliseconds(60)); }

// One cell measured whole: measure_slice with a warm-up.
AutoConfigCell measure_cell(std::vector<std::unique_ptr<Backend>>& backends, const std::vector<Tensor>& item,
                            int batch, std::chrono::milliseconds window) {
    CellTimes times;
    return measure_slice(backends, batch_of(item, batch), batch, window, true, times);
}

// The first line of a model's error, for the one-line configuration report.
std::string first_line_of(const std::string& text) {
    return text.substr(0, text.find('\n'));
}

// Instance counts to try on `cores` CPU cores: 1, then every core its own instance, then the
// powers of two between (at most 8 instances: sessions cost memory and opening time).
std::vector<int> instance_candidates(int cores) {
    const int most = std::min(cores, 8);
    std::vector<int> out{1};
    if (most > 1) out.push_back(most);
    for (int i = 2; i < most; i *= 2) out.push_back(i);
    return out;
}

// Busy and all ticks of the listed CPUs in one reading of /proc/stat (see other_cpu_share), and
// which of them it had.
struct StatTicks {
    unsigned long long busy = 0, all = 0;
    std::set<int> seen;
};

StatTicks stat_ticks(const std::string& text, const std::vector<int>& cpus) {
    const std::set<int> want(cpus.begin(), cpus.end());
    StatTicks t;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        // "cpuN ..." only: the first line ("cpu  ...") adds up every CPU, listed or not.
        if (line.size() < 4 || line.compare(0, 3, "cpu") != 0 || !std::isdigit(static_cast<unsigned char>(line[3])))
            continue;
        std::istringstream ls(line.substr(3));
        int id = -1;
        unsigned long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
        if (!(ls >> id >> user >> nice >> system >> idle)) continue;
        ls >> iowait >> irq >> softirq >> steal;  // older kernels stop earlier: the rest stay 0
        if (!want.empty() && !want.count(id)) continue;
        const unsigned long long busy = user + nice + system + irq + softirq + steal;
        t.busy += busy;
        t.all += busy + idle + iowait;
        t.seen.insert(id);
    }
    return t;
}

std::string read_proc_stat() {
    std::ifstream in("/proc/stat");
    std::ostringstream text;
    if (in) text << in.rdbuf();
    return text.str();
}

// This process's CPU time so far, every thread's, in seconds; -1 when getrusage fails.
double self_cpu_s() {
    rusage ru{};
    if (::getrusage(RUSAGE_SELF, &ru) != 0) return -1;
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

}  // namespace

std::optional<double> other_cpu_share(const std::string& before, const std::string& after, double self_s,
                                      const std::vector<int>& cpus, double ticks_per_s) {
    const StatTicks a = stat_ticks(before, cpus), b = stat_ticks(after, cpus);
    if (a.seen.empty() || a.seen != b.seen || b.all <= a.all || b.busy < a.busy || !(ticks_per_s > 0))
        return std::nullopt;
    const double all_s = static_cast<double>(b.all - a.all) / ticks_per_s;
    const double busy_s = static_cast<double>(b.busy - a.busy) / ticks_per_s;
    return std::clamp((busy_s - std::max(0.0, self_s)) / all_s, 0.0, 1.0);
}

bool larger_batch_pays(double tiles_per_s, double smaller_tiles_per_s) {
    return tiles_per_s >= smaller_tiles_per_s * 1.05;
}

bool cell_beats(const AutoConfigCell& cell, const AutoConfigCell& incumbent) {
    if (cell.instances > incumbent.instances) return cell.tiles_per_s >= incumbent.tiles_per_s * 0.95;
    if (cell.instances < incumbent.instances) return cell.tiles_per_s > incumbent.tiles_per_s * 1.05;
    return cell.tiles_per_s > incumbent.tiles_per_s;
}

std::string auto_config_key(std::span<const std::byte> bytes, const PipelineOptions& o, int cores) {
    const Fixed f = fixed_fields(o);
    std::ostringstream k;
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(fingerprint_bytes(bytes)));
    k << "tiledet-auto-config 3 model=" << hex << " providers=";
    for (const std::string& p : o.model.providers) k << p << ",";
    k << " device_id=" << o.model.device_id << " cpu=" << cpu_model() << " cores=" << cores
      << " tiledet=" << TILEDET_VERSION_STRING << " ort=" << Model::runtime_version()
      << " instances=" << (f.instances ? std::to_string(o.batching.instances) : "auto")
      << " threads=" << (f.threads ? std::to_string(o.model.intra_op_threads) : "auto")
      << " batch=" << (f.batch ? std::to_string(o.batching.max_batch_size) : "auto")
      << " budget_ms=" << o.auto_config.budget.count();
    return k.str();
}

std::vector<std::unique_ptr<Backend>> open_configured(std::span<const std::byte> bytes, const std::string& name,
                                                      PipelineOptions& o, AutoConfigChoice& choice,
                                                      const std::function<void(const ModelSignature&)>& validate) {
    const AutoConfigOptions& a = o.auto_config;
    const Fixed fixed = fixed_fields(o);
    choice = AutoConfigChoice{};
    choice.cores = a.cores > 0 ? a.cores : usable_cores();
    // A thread total far past the CPUs only makes threads wait for each other (and thousands of
    // them can exhaust a process's address space inside the runtime, which then hangs); more
    // instances than a given total cannot each have a thread.
    const int given_threads = fixed.threads ? o.model.intra_op_threads : 0;
    const int usable = usable_cores();
    const int most_threads = 4 * usable;
    // Each instance runs at least one thread: the same limit bounds a given instance count (64
    // sessions on 2 cores measured for 7 s against a 2 s budget and held about 1 GB).
    const auto past_the_cpus = [&](const std::string& what, int given, const std::string& why,
                                   const std::string& otherwise) {
        return ConfigError(what + " " + std::to_string(given) + ": more " + (what == "threads" ? "CPU threads" : what) +
                           " than this machine can use (" + std::to_string(usable) + " usable CPU" +
                           (usable == 1 ? "" : "s") + "; " + why + "); give at most " + std::to_string(most_threads) +
                           " (" + std::to_string(usable) + ", one per CPU, is usually fastest), or " + otherwise);
    };
    if (given_threads > most_threads)
        throw past_the_cpus("threads", given_threads, "threads past the CPUs only wait for each other",
                            "0 for every core");
    if (fixed.instances && o.batching.instances > most_threads)
        throw past_the_cpus("instances", o.batching.instances,
                            "each instance runs at least one thread, and threads past the CPUs only wait for each other",
                            "leave --instances to auto");
    // A given total that instances cannot share equally: what is left over is not used.
    const auto threads_note = [&](int instances, int threads) -> std::string {
        if (given_threads <= 0 || instances * threads >= given_threads) return "";
        return "threads " + std::to_string(given_threads) + " in all: " + std::to_string(instances) +
               " instances share them equally and use " + std::to_string(instances * threads);
    };
    if (given_threads > 0 && fixed.instances && o.batching.instances > given_threads)
        throw ConfigError("instances " + std::to_string(o.batching.instances) + " with threads " +
                          std::to_string(given_threads) + " in all: each instance needs at least one thread; give "
                          "threads " + std::to_string(o.batching.instances) + " or more, or at most " +
                          std::to_string(given_threads) + " instance" + (given_threads == 1 ? "" : "s"));
    // Threads per instance for `instances` sessions: a given total is split, else every core is.
    const auto threads_for = [&](int instances) {
        const int total = fixed.threads && o.model.intra_op_threads > 0 ? o.model.intra_op_threads : choice.cores;
        return std::max(1, total / instances);
    };
    const auto apply = [&](int instances, int threads, int batch) {
        o.batching.instances = instances;
        o.batching.max_batch_size = batch;
        // make_model_backends splits a total between instances; one instance takes it as given.
        o.model.intra_op_threads = threads > 0 ? threads * instances : 0;
        choice.instances = instances;
        choice.threads = threads;
        choice.max_batch_size = batch;
    };
    bool validated = false;
    const auto check = [&](const std::vector<std::unique_ptr<Backend>>& backends) {
        if (validated || backends.empty()) return;
        if (const auto* mb = dynamic_cast<const ModelBackend*>(backends.front().get())) validate(mb->model().signature());
        validated = true;
    };
    const auto open = [&] {
        auto backends = make_model_backends(bytes, o.model, std::max(1, o.batching.instances), name);
        check(backends);
        return backends;
    };

    // What the sessions run: threads per instance as make_model_backends shares them out (a
    // total of 0 is every core), and a static batch (a policy's max batch does not apply).
    const auto finish = [&](std::vector<std::unique_ptr<Backend>> backends) {
        choice.instances = static_cast<int>(backends.size());
        if (choice.threads <= 0) choice.threads = threads_for(choice.instances);
        const BatchKind kind = backends.front()->batch_kind();
        if (!kind.is_dynamic()) choice.static_batch = kind.is_static() ? static_cast<int>(kind.size) : 1;
        return backends;
    };
    const bool env_off = env_turns_off() && a.enabled;  // a bad value is refused with --config manual too
    if (!a.enabled || env_off || (fixed.instances && fixed.threads && fixed.batch)) {
        choice.source = AutoConfigChoice::Source::manual;
        if (env_off)
            choice.note = "TILEDET_AUTO_CONFIG turned auto off";
        else if (a.enabled)
            choice.note = "instances, threads and batch all given: nothing left to choose";
        choice.max_batch_size = o.batching.max_batch_size;
        return finish(open());
    }
    if (a.expected_tiles == 1) {
        // One tile: nothing to overlap or batch; one session with every thread has the lowest latency.
        const int instances = fixed.instances ? o.batching.instances : 1;
        apply(instances, threads_for(instances), o.batching.max_batch_size);
        choice.source = AutoConfigChoice::Source::one_tile;
        return finish(open());
    }

    const std::string key = auto_config_key(bytes, o, choice.cores);
    const std::string folder = cache_folder(a.cache_dir);
    const fs::path entry = folder.empty() ? fs::path() : entry_path(folder, key);
    const int max_threads = std::max(choice.cores, fixed.threads ? o.model.intra_op_threads : 0);
    if (!folder.empty())
        if (const auto hit = read_entry(entry, key, max_threads)) {
            apply(hit->cell.instances, hit->cell.threads, hit->cell.batch);
            choice.source = AutoConfigChoice::Source::cached;
            choice.batches_cut = hit->batches_cut;
            choice.failed_batch = hit->failed_batch;
            choice.failure = hit->failure;
            choice.note = threads_note(hit->cell.instances, hit->cell.threads);
            choice.cache_file = entry.string();
            return finish(open());
        }

    // Measure in two rounds. First every instance count at the smallest batch the model takes
    // (1, or a static N), each with every core shared out: at least the first two counts are
    // measured whatever the budget (a loaded machine must not settle on the first cell), the
    // others while the budget lasts. Then, for a dynamic batch, larger batches on the best
    // count's sessions while each pays (>= 5 % more tiles/s than the size before) and the
    // budget lasts. The best cell's sessions are the ones the pipeline keeps.
    const auto t0 = SteadyClock::now();
    // What other processes take of our CPUs meanwhile: a busy machine's answer is not cached.
    const std::string stat0 = read_proc_stat();
    const double self0 = self_cpu_s();
    const auto deadline = t0 + a.budget;
    const auto window = std::clamp(a.budget / 10, std::chrono::milliseconds(100), std::chrono::milliseconds(400));
    std::vector<std::unique_ptr<Backend>> best_backends;
    std::optional<AutoConfigCell> best;
    // A given total of threads caps the instance counts tried: each instance has at least one.
    const int thread_cap = fixed.threads && o.model.intra_op_threads > 0 ? o.model.intra_op_threads : choice.cores;
    const std::vector<int> instance_list = fixed.instances ? std::vector<int>{o.batching.instances}
                                                           : instance_candidates(std::min(choice.cores, thread_cap));
    bool complete = true;     // every instance count measured: only then is the answer cached
    double item_s = 0;        // seconds per tile on one instance: how long the next cell will take
    std::optional<std::vector<Tensor>> item;
    bool dynamic = false;
    // Whether a cell of `batch` still fits the budget: a warm-up and a timed run per instance.
    const auto fits = [&](int batch) {
        const auto cost = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::duration<double>(2.0 * batch * item_s));
        return SteadyClock::now() + std::max(cost, window) <= deadline;
    };
    // The sessions of one instance count, opened; empty when no more counts are to be tried (a GPU
    // past one instance). The first count's also give the probe input and the batch kind.
    int first_batch = 1;
    bool no_probe = false;
    const auto open_count = [&](std::size_t ii) {
        const int instances = instance_list[ii];
        ModelOptions mo = o.model;
        mo.intra_op_threads = threads_for(instances) * instances;
        auto backends = make_model_backends(bytes, mo, instances, name);
        check(backends);
        if (ii == 0) {
            item = backends.front()->probe_item();
            if (!item) {
                no_probe = true;
                backends.clear();
                return backends;
            }
            const BatchKind kind = backends.front()->batch_kind();
            dynamic = kind.is_dynamic();
            first_batch = !dynamic ? (kind.is_static() ? static_cast<int>(std::max<std::int64_t>(1, kind.size)) : 1)
                                   : (fixed.batch ? o.batching.max_batch_size : 1);
        }
        // A GPU is one device: more instances only contend for it.
        if (backends.front()->device() != "CPU" && !fixed.instances && instances > 1) backends.clear();
        return backends;
    };
    // A measured cell against the best so far; the best cell's sessions are kept.
    const auto consider = [&](AutoConfigCell cell, std::vector<std::unique_ptr<Backend>>& backends) {
        cell.threads = threads_for(cell.instances);
        choice.cells.push_back(cell);
        if (cell.tiles_per_s > 0) item_s = std::max(item_s, cell.instances / cell.tiles_per_s);
        if (!best || cell_beats(cell, *best)) {
            best = cell;
            best_backends = std::move(backends);
        }
    };
    const auto failed_at = [&](const std::exception& e) {
        choice.failed_batch = first_batch;
        choice.failure = first_line_of(e.what());
    };
    // The required counts (the first two) are opened together and measured interleaved: two
    // slices of half the window each, A B A B, so a burst of load from elsewhere falls on both
    // instead of on whichever ran at that moment. (Measured one after the other on a shared
    // 2-core machine, 1 instance x 2 threads once beat 2 x 1 thread, which every longer sweep of
    // the same run put 25 % ahead.)
    std::vector<std::vector<std::unique_ptr<Backend>>> required;
    bool more_counts = true;
    for (std::size_t ii = 0; ii < std::min<std::size_t>(2, instance_list.size()); ++ii) {
        auto backends = open_count(ii);
        if (no_probe) {
            // A symbolic image size: nothing to measure with; keep the defaults (or what was given).
            choice.source = AutoConfigChoice::Source::fallback;
            choice.max_batch_size = o.batching.max_batch_size;
            return finish(open());
        }
        if (backends.empty()) {
            more_counts = false;
            break;
        }
        required.push_back(std::move(backends));
    }
    {
        const std::vector<Tensor> inputs = batch_of(*item, first_batch);
        const bool interleaved = required.size() > 1;
        const auto slice = interleaved ? std::max(window / 2, std::chrono::milliseconds(50)) : window;
        std::vector<AutoConfigCell> cells(required.size());
        std::vector<CellTimes> times(required.size());
        std::vector<bool> failed(required.size(), false);
        for (int sl = 0; sl < (interleaved ? 2 : 1); ++sl)
            for (std::size_t k = 0; k < required.size(); ++k) {
                if (failed[k]) continue;
                if (sl > 0 || k > 0) settle();
                try {
                    cells[k] = measure_slice(required[k], inputs, first_batch, slice, sl == 0, times[k]);
                } catch (const std::exception& e) {
                    failed_at(e);  // a batch the graph cannot take at this count: the other may do
                    failed[k] = true;
                }
            }
        for (std::size_t k = 0; k < required.size(); ++k)
            if (!failed[k]) consider(cells[k], required[k]);
        required.clear();  // the sessions of the count that lost
    }
    for (std::size_t ii = 2; more_counts && ii < instance_list.size(); ++ii) {
        if (!fits(1)) {
            complete = false;
            break;
        }
        auto backends = open_count(ii);
        if (backends.empty()) break;
        AutoConfigCell cell;
        settle();
        try {
            cell = measure_cell(backends, *item, first_batch, window);
        } catch (const std::exception& e) {
            failed_at(e);
            continue;  // a batch the graph cannot take at this count: the others may do
        }
        consider(cell, backends);
    }
    if (best && dynamic && !fixed.batch) {
        for (int b : {2, 4, 8}) {
            if (!fits(b)) {
                choice.batches_cut = true;
                break;
            }
            AutoConfigCell cell;
            try {
                cell = measure_cell(best_backends, *item, b, window);
            } catch (const std::exception& e) {
                // A batch the graph cannot take although it declares a dynamic batch: keep it as
                // the max batch, so the executor's probe runs it, warns with the batchify hint and
                // runs one at a time, as it does with --config manual.
                choice.failed_batch = b;
                choice.failure = first_line_of(e.what());
                break;
            }
            cell.threads = best->threads;
            choice.cells.push_back(cell);
            if (!larger_batch_pays(cell.tiles_per_s, best->tiles_per_s)) break;
            best = cell;
        }
    }
    choice.measure_ms = std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count();
    if (self0 >= 0) {
        const double self_s = self_cpu_s() - self0;
        if (const auto share = other_cpu_share(stat0, read_proc_stat(), self_s, usable_cpus(),
                                               static_cast<double>(::sysconf(_SC_CLK_TCK))))
            choice.other_load = *share;
    }
    if (!best) {
        choice.source = AutoConfigChoice::Source::fallback;
        choice.max_batch_size = o.batching.max_batch_size;
        best_backends.clear();
        return finish(open());
    }
    // A static batch N runs N whatever max batch says: the policy keeps its value.
    const bool static_batch = !best_backends.front()->batch_kind().is_dynamic();
    apply(best->instances, best->threads,
          static_batch ? o.batching.max_batch_size : std::max(best->batch, choice.failed_batch));
    choice.source = AutoConfigChoice::Source::measured;
    choice.complete = complete;
    choice.note = threads_note(best->instances, best->threads);
    const auto add_note = [&](const std::string& text) { choice.note += (choice.note.empty() ? "" : "; ") + text; };
    if (complete) {
        AutoConfigCell stored = *best;
        stored.batch = choice.max_batch_size;
        if (folder.empty()) {
            add_note("not cached: no cache folder (set TILEDET_CACHE_DIR, XDG_CACHE_HOME or HOME); every run measures again");
        } else if (choice.other_load > a.max_other_load) {
            char buf[256];
            std::snprintf(buf, sizeof buf,
                          "not cached: other processes used %.0f %% of the CPUs while it measured, which skews the "
                          "pick; the next run measures again (--auto-max-other-load 1 caches it anyway)",
                          100.0 * choice.other_load);
            add_note(buf);
        } else if (write_entry(entry, key, stored, choice.batches_cut, choice.failed_batch, choice.failure))
            choice.cache_file = entry.string();
        else
            add_note("not cached: cannot write " + entry.string() +
                          " (every run measures again; set TILEDET_CACHE_DIR to a writable folder)");
    }
    return finish(std::move(best_backends));
}

}  // namespace pipeline_detail
}  // namespace tiledet
