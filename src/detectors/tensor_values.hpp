// Reading output tensors whatever their element type: float32 is read in place, other types
// (float16 exports, int32 labels) are converted once.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "tiledet/runtime/tensor.hpp"

namespace tiledet::detail {

class FloatValues {
public:
    explicit FloatValues(const Tensor& t);
    float operator[](std::size_t i) const { return data_[i]; }
    const float* data() const { return data_; }
    std::size_t size() const { return size_; }

private:
    std::vector<float> owned_;
    const float* data_ = nullptr;
    std::size_t size_ = 0;
};

std::vector<int64_t> int_values(const Tensor& t);

inline float sigmoid(float x) {
    return 1.0f / (1.0f + std::exp(-x));
}
// The logit whose sigmoid is p, so thresholds can be checked before any exp().
inline float logit(float p) {
    return std::log(p / (1.0f - p));
}

}  // namespace tiledet::detail
