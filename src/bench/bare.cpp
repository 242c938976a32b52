#include "tiledet/bench/bare.hpp"

#include <algorithm>
#include <cstdint>
#include <exception>
#include <thread>

#include "tiledet/error.hpp"

namespace tiledet::bench {

bool batch_supported(const ModelSignature& sig, int batch) {
    const BatchKind kind = sig.batch_kind();
    if (batch < 1) return false;
    if (kind.is_dynamic()) return true;
    if (kind.is_static()) return batch == kind.size;
    return batch == 1;
}

namespace {

// A fixed xorshift pattern: deterministic across runs, and not all zeros (an all-zero input can
// take faster paths in some kernels than real images do).
void fill_pattern(Tensor& t) {
    std::uint32_t state = 0x9E3779B9u;
    auto next = [&state] {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        return state;
    };
    switch (t.type()) {
        case ElementType::float32:
            for (float& v : t.values<float>()) v = static_cast<float>(next() % 1000) / 1000.0f;
            break;
        case ElementType::uint8:
            for (std::uint8_t& v : t.values<std::uint8_t>()) v = static_cast<std::uint8_t>(next() & 0xFF);
            break;
        default:
            break;  // zero-filled by the constructor
    }
}

}  // namespace

std::vector<Tensor> make_bare_inputs(const ModelSignature& sig, int batch, std::pair<int, int> image_hw) {
    if (!batch_supported(sig, batch)) {
        throw ConfigError("cannot run the bare runtime at batch " + std::to_string(batch) + ": the model has " +
                          sig.batch_kind().describe() + "; choose a batch size it takes (--batch)");
    }
    const bool batched = sig.batch_kind().kind != BatchKind::Kind::none;
    std::vector<Tensor> inputs;
    for (const TensorInfo& info : sig.inputs) {
        Shape shape;
        for (std::size_t d = 0; d < info.dims.size(); ++d) {
            const Dim& dim = info.dims[d];
            if (d == 0 && batched) {
                shape.push_back(batch);
            } else if (dim.fixed()) {
                shape.push_back(dim.value);
            } else if (info.rank() == 4 && d == 2) {
                shape.push_back(image_hw.first);
            } else if (info.rank() == 4 && d == 3) {
                shape.push_back(image_hw.second);
            } else {
                shape.push_back(1);
            }
        }
        Tensor t(info.type, shape);
        fill_pattern(t);
        // Sizes given with the image (official RT-DETR orig_target_sizes): [batch, 2] int64 of
        // the frame's height and width, so box scaling runs on real numbers.
        if (info.type == ElementType::int64 && shape.size() == 2 && shape[1] == 2) {
            auto v = t.values<std::int64_t>();
            for (std::size_t i = 0; i + 1 < v.size(); i += 2) {
                v[i] = image_hw.first;
                v[i + 1] = image_hw.second;
            }
        }
        inputs.push_back(std::move(t));
    }
    return inputs;
}

int resolve_threads(const BareConfig& config, int total_threads) {
    if (config.threads > 0) return config.threads;
    if (config.instances <= 1) return std::max(0, total_threads);
    const int total = total_threads > 0 ? total_threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    return std::max(1, total / config.instances);
}

BareResult measure_bare(const std::vector<const Model*>& sessions, BareConfig config, const WindowOptions& windows,
                        std::pair<int, int> image_hw) {
    BareResult result;
    result.config = config;
    try {
        if (sessions.empty()) throw ConfigError("measure_bare: no sessions given");
        std::vector<std::vector<Tensor>> inputs;
        for (const Model* m : sessions) inputs.push_back(make_bare_inputs(m->signature(), config.batch, image_hw));
        const int items = config.batch;
        auto step = [&](int worker) {
            const auto t0 = BenchClock::now();
            sessions[static_cast<std::size_t>(worker)]->run(inputs[static_cast<std::size_t>(worker)]);
            Completion c;
            c.done = BenchClock::now();
            c.latency_ms = std::chrono::duration<double, std::milli>(c.done - t0).count();
            TileSample tile;
            tile.latency_ms = tile.inference_ms = c.latency_ms;
            tile.batch_size = items;
            c.tiles.assign(static_cast<std::size_t>(items), tile);
            return c;
        };
        result.run = run_windows(static_cast<int>(sessions.size()), step, windows);
        result.error = result.run.error;
        std::vector<double> latencies;
        std::size_t tiles = 0;
        for (const Completion& c : result.run.measured) {
            latencies.push_back(c.latency_ms);
            tiles += c.tiles.size();
        }
        result.run_latency = summarize(latencies);
        if (result.run.measured_seconds > 0) {
            result.tiles_per_s = static_cast<double>(tiles) / result.run.measured_seconds;
            result.runs_per_s = static_cast<double>(latencies.size()) / result.run.measured_seconds;
        }
    } catch (const std::exception& e) {
        result.error = e.what();
    }
    return result;
}

BareResult measure_bare(const std::string& path, BareConfig config, const ModelOptions& base,
                        const WindowOptions& windows, std::pair<int, int> image_hw) {
    config.threads = resolve_threads(config, base.intra_op_threads);
    try {
        std::vector<Model> models;
        ModelOptions options = base;
        options.intra_op_threads = config.threads;
        for (int i = 0; i < std::max(1, config.instances); ++i) models.push_back(Model::load(path, options));
        if (!batch_supported(models.front().signature(), config.batch))
            make_bare_inputs(models.front().signature(), config.batch, image_hw);  // throws the explanation
        std::vector<const Model*> sessions;
        for (const Model& m : models) sessions.push_back(&m);
        return measure_bare(sessions, config, windows, image_hw);
    } catch (const std::exception& e) {
        BareResult r;
        r.config = config;
        r.error = e.what();
        return r;
    }
}

}  // namespace tiledet::bench
