// Shared by the batchify tests: an independent check that a repaired model's batched outputs
// equal the original's single-item outputs (not trusting batchify's own verifier).
#pragma once

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tiledet/runtime/model.hpp"

namespace tiledet::testing {

inline std::vector<Tensor> random_item(const ModelSignature& sig, int item, std::mt19937& rng) {
    std::vector<Tensor> in;
    std::uniform_real_distribution<float> unit(0.0f, 1.0f);
    for (const auto& info : sig.inputs) {
        Shape shape{1};
        for (std::size_t d = 1; d < info.dims.size(); ++d) shape.push_back(info.dims[d].value);
        Tensor t(info.type, shape);
        if (info.type == ElementType::float32)
            for (float& v : t.values<float>()) v = unit(rng);
        if (info.type == ElementType::int64)
            for (auto& v : t.values<int64_t>()) v = 500 + 37 * item;
        in.push_back(std::move(t));
    }
    return in;
}

// Runs `items` through `original` one at a time and through `repaired` as one batch; returns
// the largest absolute difference over every output, item and element.
inline double max_batched_difference(const Model& original, const Model& repaired,
                                     const std::vector<std::vector<Tensor>>& items) {
    std::vector<Tensor> batch;
    for (std::size_t k = 0; k < items[0].size(); ++k) {
        std::vector<Tensor> parts;
        for (const auto& it : items) parts.push_back(it[k]);
        batch.push_back(concat_leading(parts));
    }
    const std::vector<Tensor> got = repaired.run(batch);
    double worst = 0.0;
    for (std::size_t i = 0; i < items.size(); ++i) {
        const std::vector<Tensor> want = original.run(items[i]);
        for (std::size_t o = 0; o < want.size(); ++o) {
            const Tensor g = got[o].item(static_cast<int64_t>(i));
            EXPECT_EQ(g.numel(), want[o].numel()) << "output " << o;
            if (g.numel() != want[o].numel()) return INFINITY;
            for (int64_t e = 0; e < g.numel(); ++e) {
                double a, b;
                if (want[o].type() == ElementType::float32) {
                    a = want[o].data<float>()[e];
                    b = g.data<float>()[e];
                } else if (want[o].type() == ElementType::int64) {
                    a = static_cast<double>(want[o].data<int64_t>()[e]);
                    b = static_cast<double>(g.data<int64_t>()[e]);
                } else {
                    continue;
                }
                worst = std::max(worst, std::fabs(a - b));
            }
        }
    }
    return worst;
}

}  // namespace tiledet::testing
