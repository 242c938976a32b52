#include "tensor_values.hpp"

#include <opencv2/core.hpp>

#include "tiledet/error.hpp"

namespace tiledet::detail {

FloatValues::FloatValues(const Tensor& t) : size_(static_cast<std::size_t>(t.numel())) {
    switch (t.type()) {
        case ElementType::float32:
            data_ = t.data<float>();
            return;
        case ElementType::float16: {
            owned_.resize(size_);
            const auto* h = t.data<cv::float16_t>();
            for (std::size_t i = 0; i < size_; ++i) owned_[i] = static_cast<float>(h[i]);
            break;
        }
        case ElementType::float64:
            owned_.assign(t.data<double>(), t.data<double>() + size_);
            break;
        case ElementType::int64:
            owned_.assign(t.data<int64_t>(), t.data<int64_t>() + size_);
            break;
        case ElementType::int32:
            owned_.assign(t.data<int32_t>(), t.data<int32_t>() + size_);
            break;
        default:
            throw ShapeError("expected a float output tensor, got " + to_string(t.type()) + " " + to_string(t.shape()));
    }
    data_ = owned_.data();
}

std::vector<int64_t> int_values(const Tensor& t) {
    const auto n = static_cast<std::size_t>(t.numel());
    switch (t.type()) {
        case ElementType::int64:
            return {t.data<int64_t>(), t.data<int64_t>() + n};
        case ElementType::int32:
            return {t.data<int32_t>(), t.data<int32_t>() + n};
        case ElementType::float32: {
            std::vector<int64_t> out(n);
            for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<int64_t>(std::lround(t.data<float>()[i]));
            return out;
        }
        default:
            throw ShapeError("expected an integer label tensor, got " + to_string(t.type()) + " " +
                             to_string(t.shape()));
    }
}

}  // namespace tiledet::detail
