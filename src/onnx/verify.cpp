#include "verify.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <sstream>

#include "tiledet/error.hpp"

namespace tiledet::onnx_detail {
namespace {

Tensor make_item(const TensorInfo& info, int item, std::mt19937& rng) {
    Shape shape;
    for (std::size_t d = 0; d < info.dims.size(); ++d) {
        if (d == 0) {
            shape.push_back(1);
            continue;
        }
        if (!info.dims[d].fixed())
            throw InputError("verification needs fixed dims after the batch; input '" + info.name + "' is " +
                             info.dims_string());
        shape.push_back(info.dims[d].value);
    }
    Tensor t(info.type, shape);
    std::uniform_real_distribution<float> unit(0.0f, 1.0f);
    const bool sizes = info.name.find("size") != std::string::npos && !shape.empty() && shape.back() == 2;
    switch (info.type) {
        case ElementType::float32:
            for (float& v : t.values<float>()) v = unit(rng);
            break;
        case ElementType::float64:
            for (double& v : t.values<double>()) v = unit(rng);
            break;
        case ElementType::uint8:
            for (uint8_t& v : t.values<uint8_t>()) v = static_cast<uint8_t>(rng() % 256);
            break;
        case ElementType::int64:
            if (sizes)
                for (std::size_t i = 0; i + 1 < t.values<int64_t>().size(); i += 2) {
                    t.values<int64_t>()[i] = 640 - 32 * item;
                    t.values<int64_t>()[i + 1] = 640 + 48 * item;
                }
            break;
        case ElementType::int32:
            if (sizes)
                for (std::size_t i = 0; i + 1 < t.values<int32_t>().size(); i += 2) {
                    t.values<int32_t>()[i] = 640 - 32 * item;
                    t.values<int32_t>()[i + 1] = 640 + 48 * item;
                }
            break;
        default: break;  // zeros (Tensor's constructor fills them)
    }
    return t;
}

double value_at(const Tensor& t, std::size_t i) {
    switch (t.type()) {
        case ElementType::float32: return t.data<float>()[i];
        case ElementType::float64: return t.data<double>()[i];
        case ElementType::int64: return static_cast<double>(t.data<int64_t>()[i]);
        case ElementType::int32: return t.data<int32_t>()[i];
        case ElementType::int16: return t.data<int16_t>()[i];
        case ElementType::int8: return t.data<int8_t>()[i];
        case ElementType::uint8: return t.data<uint8_t>()[i];
        case ElementType::boolean: return t.data<bool>()[i] ? 1.0 : 0.0;
        default: return std::numeric_limits<double>::quiet_NaN();
    }
}

std::string fmt(double v) {
    std::ostringstream s;
    s.precision(3);
    s << v;
    return s.str();
}

}  // namespace

std::vector<Tensor> verification_item(const ModelSignature& sig, int item, std::mt19937& rng) {
    std::vector<Tensor> in;
    for (const auto& info : sig.inputs) in.push_back(make_item(info, item, rng));
    return in;
}

std::string try_batch(const Model& model, int batch, unsigned seed) {
    std::mt19937 rng(seed);
    std::vector<std::vector<Tensor>> items;
    for (int i = 0; i < batch; ++i) items.push_back(verification_item(model.signature(), i, rng));
    std::vector<Tensor> inputs;
    for (std::size_t k = 0; k < model.signature().inputs.size(); ++k) {
        std::vector<Tensor> parts;
        for (const auto& it : items) parts.push_back(it[k]);
        inputs.push_back(concat_leading(parts));
    }
    try {
        model.run(inputs);
    } catch (const Error& e) {
        return e.what();
    }
    return {};
}

VerifyOutcome verify_batched(const Model& original, const Model& repaired, const BatchifyOptions& options) {
    VerifyOutcome outcome;
    const auto& sig = original.signature();
    const int max_batch = options.verify_batches.empty()
                              ? 0
                              : *std::max_element(options.verify_batches.begin(), options.verify_batches.end());
    std::mt19937 rng(options.seed);
    // Items, and the original's outputs on each alone; shared by every batch size.
    std::vector<std::vector<Tensor>> items;
    std::vector<std::vector<Tensor>> singles;
    for (int i = 0; i < max_batch; ++i) {
        std::vector<Tensor> in = verification_item(sig, i, rng);
        singles.push_back(original.run(in));
        items.push_back(std::move(in));
    }
    const auto& rsig = repaired.signature();
    for (int batch : options.verify_batches) {
        if (batch < 1) throw ConfigError("verify batch sizes must be >= 1; got " + std::to_string(batch));
        std::vector<Tensor> inputs;
        for (std::size_t k = 0; k < sig.inputs.size(); ++k) {
            std::vector<Tensor> parts;
            for (int i = 0; i < batch; ++i) parts.push_back(items[i][k]);
            inputs.push_back(concat_leading(parts));
        }
        const std::vector<Tensor> batched = repaired.run(inputs);
        for (std::size_t o = 0; o < sig.outputs.size(); ++o) {
            OutputDifference d;
            d.output = sig.outputs[o].name;
            d.batch = batch;
            std::size_t ro = o;
            for (std::size_t j = 0; j < rsig.outputs.size(); ++j)
                if (rsig.outputs[j].name == d.output) ro = j;
            const Tensor& all = batched.at(ro);
            if (all.rank() == 0 || all.dim(0) != batch) {
                d.within_tolerance = false;
                d.first_bad_item = 0;
                d.max_abs = d.max_rel = std::numeric_limits<double>::infinity();
            } else {
                for (int i = 0; i < batch; ++i) {
                    const Tensor got = all.item(i);
                    const Tensor& want = singles[i][o];
                    bool bad = false;
                    if (got.numel() != want.numel() || got.type() != want.type()) {
                        bad = true;
                        d.max_abs = d.max_rel = std::numeric_limits<double>::infinity();
                    } else {
                        for (std::size_t e = 0; e < static_cast<std::size_t>(want.numel()); ++e) {
                            const double a = value_at(want, e), b = value_at(got, e);
                            if (std::isnan(a) && std::isnan(b)) continue;
                            const double diff = (std::isnan(a) || std::isnan(b)) ? std::numeric_limits<double>::infinity()
                                                                                 : std::fabs(a - b);
                            d.max_abs = std::max(d.max_abs, diff);
                            const double mag = std::max(std::fabs(a), std::fabs(b));
                            if (mag > options.atol) d.max_rel = std::max(d.max_rel, diff / mag);
                            if (diff > options.atol + options.rtol * std::fabs(a)) bad = true;
                        }
                    }
                    if (bad && d.first_bad_item < 0) d.first_bad_item = i;
                }
                d.within_tolerance = d.first_bad_item < 0;
            }
            if (!d.within_tolerance && outcome.all_within) {
                outcome.all_within = false;
                outcome.first_failure = "output '" + d.output + "' at batch " + std::to_string(batch) + ", item " +
                                        std::to_string(d.first_bad_item) + ": max |diff| " + fmt(d.max_abs) +
                                        ", max rel " + fmt(d.max_rel);
            }
            outcome.differences.push_back(d);
        }
    }
    return outcome;
}

}  // namespace tiledet::onnx_detail
