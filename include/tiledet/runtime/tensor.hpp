// A host tensor: element type, shape, and bytes that it shares with whoever owns them (our own
// buffer, or an ONNX Runtime output value), so views per batch item never copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace tiledet {

enum class ElementType { float32, float16, float64, int8, uint8, int16, int32, int64, boolean, string, unknown };

std::size_t element_size(ElementType t);
std::string to_string(ElementType t);

using Shape = std::vector<int64_t>;
std::string to_string(const Shape& shape);  // "[1, 3, 640, 640]"
int64_t element_count(const Shape& shape);

class Tensor {
public:
    Tensor() = default;
    // A zero-filled tensor owning its bytes.
    Tensor(ElementType type, Shape shape);
    // A tensor owning its bytes, left uninitialized: for buffers that are overwritten at once.
    // Buffers of 256 KiB and more are recycled through a bounded process-wide pool (at most 8 free
    // per size, 256 MiB free in all; off under AddressSanitizer), 64-byte aligned.
    static Tensor uninitialized(ElementType type, Shape shape);
    // Wraps bytes owned by `owner` (kept alive as long as any Tensor refers to them).
    Tensor(ElementType type, Shape shape, std::shared_ptr<void> owner, std::byte* data);

    ElementType type() const { return type_; }
    const Shape& shape() const { return shape_; }
    int64_t dim(std::size_t i) const { return shape_.at(i); }
    std::size_t rank() const { return shape_.size(); }
    int64_t numel() const { return element_count(shape_); }
    std::size_t byte_size() const { return static_cast<std::size_t>(numel()) * element_size(type_); }
    bool empty() const { return data_ == nullptr; }

    std::byte* bytes() { return data_; }
    const std::byte* bytes() const { return data_; }
    template <class T> T* data() { return reinterpret_cast<T*>(data_); }
    template <class T> const T* data() const { return reinterpret_cast<const T*>(data_); }
    template <class T> std::span<T> values() { return {data<T>(), static_cast<std::size_t>(numel())}; }
    template <class T> std::span<const T> values() const { return {data<T>(), static_cast<std::size_t>(numel())}; }

    // Items [first, first+count) along the leading axis, sharing this tensor's bytes; the
    // leading dim of the result is `count`.
    Tensor slice(int64_t first, int64_t count) const;
    Tensor item(int64_t i) const { return slice(i, 1); }

    // A deep copy with its own bytes.
    Tensor clone() const;

private:
    friend Tensor concat_leading(const std::vector<Tensor>& parts, int64_t pad_to);
    ElementType type_ = ElementType::unknown;
    Shape shape_;
    std::shared_ptr<void> owner_;
    std::byte* data_ = nullptr;
};

// Concatenates tensors of equal type and equal trailing dims along the leading axis, with
// `pad_to` > total leading size filled by copies of the last item (padding for static batches).
// Parts that are adjacent slices of one tensor, in order, without padding, come back as a view
// of that tensor's bytes (no copy): the result then shares them.
Tensor concat_leading(const std::vector<Tensor>& parts, int64_t pad_to = 0);

}  // namespace tiledet
