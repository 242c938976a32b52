#include "tiledet/runtime/tensor.hpp"

#include <cstring>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>
#include <sstream>

#include "tiledet/error.hpp"

namespace tiledet {

std::size_t element_size(ElementType t) {
    switch (t) {
        case ElementType::float32: return 4;
        case ElementType::float16: return 2;
        case ElementType::float64: return 8;
        case ElementType::int8: return 1;
        case ElementType::uint8: return 1;
        case ElementType::int16: return 2;
        case ElementType::int32: return 4;
        case ElementType::int64: return 8;
        case ElementType::boolean: return 1;
        case ElementType::string:
        case ElementType::unknown: return 0;
    }
    return 0;
}

std::string to_string(ElementType t) {
    switch (t) {
        case ElementType::float32: return "float32";
        case ElementType::float16: return "float16";
        case ElementType::float64: return "float64";
        case ElementType::int8: return "int8";
        case ElementType::uint8: return "uint8";
        case ElementType::int16: return "int16";
        case ElementType::int32: return "int32";
        case ElementType::int64: return "int64";
        case ElementType::boolean: return "bool";
        case ElementType::string: return "string";
        case ElementType::unknown: return "unknown";
    }
    return "unknown";
}

std::string to_string(const Shape& shape) {
    std::ostringstream os;
    os << '[';
    for (std::size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
    os << ']';
    return os.str();
}

int64_t element_count(const Shape& shape) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

Tensor::Tensor(ElementType type, Shape shape) : type_(type), shape_(std::move(shape)) {
    for (int64_t d : shape_)
        if (d < 0) throw ShapeError("tensor shape " + to_string(shape_) + " has a negative dim");
    const std::size_t n = byte_size();
    // Zero-filled, and never a null pointer even for zero elements.
    auto buf = std::shared_ptr<std::byte[]>(new std::byte[n > 0 ? n : 1]());
    data_ = buf.get();
    owner_ = std::move(buf);
}

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kPool = false;  // ASan must see every free, or a use after free would go unnoticed
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kPool = false;
#else
constexpr bool kPool = true;
#endif
#else
constexpr bool kPool = true;
#endif

// Large uninitialized buffers (input slots, batch tensors, output copies: megabytes each, made
// and dropped for every tile) come back here when their last Tensor goes, and the next request
// of the same size takes one: no malloc/free of megabytes per tile, no fresh pages to fault in
// and zero, and a buffer that is still in the caches. Bounded: buffers of at least kMinBytes,
// at most kPerSize free ones of a size and kMaxBytes free in all; anything over is freed.
class BufferPool {
public:
    static constexpr std::size_t kMinBytes = 256 * 1024, kPerSize = 8, kMaxBytes = std::size_t{256} << 20;
    static constexpr std::align_val_t kAlign{64};

    static BufferPool& instance() {
        static BufferPool* pool = new BufferPool;  // never destroyed: Tensors may outlive static destruction
        return *pool;
    }

    std::shared_ptr<std::byte> take(std::size_t n) {
        std::byte* p = nullptr;
        {
            std::lock_guard lk(mu_);
            auto it = free_.find(n);
            if (it != free_.end() && !it->second.empty()) {
                p = it->second.back();
                it->second.pop_back();
                free_bytes_ -= n;
            }
        }
        if (!p) p = static_cast<std::byte*>(::operator new(n, kAlign));  // cache-line aligned, as ORT's own
        return std::shared_ptr<std::byte>(p, [this, n](std::byte* q) { give(q, n); });
    }

private:
    void give(std::byte* p, std::size_t n) {
        {
            std::lock_guard lk(mu_);
            auto& list = free_[n];
            if (list.size() < kPerSize && free_bytes_ + n <= kMaxBytes) {
                list.push_back(p);
                free_bytes_ += n;
                return;
            }
        }
        ::operator delete(p, kAlign);
    }

    std::mutex mu_;
    std::unordered_map<std::size_t, std::vector<std::byte*>> free_;
    std::size_t free_bytes_ = 0;
};

}  // namespace

Tensor Tensor::uninitialized(ElementType type, Shape shape) {
    for (int64_t d : shape)
        if (d < 0) throw ShapeError("tensor shape " + to_string(shape) + " has a negative dim");
    const std::size_t n = static_cast<std::size_t>(element_count(shape)) * element_size(type);
    if (kPool && n >= BufferPool::kMinBytes) {
        std::shared_ptr<std::byte> buf = BufferPool::instance().take(n);
        std::byte* data = buf.get();
        return Tensor(type, std::move(shape), std::move(buf), data);
    }
    // make_shared_for_overwrite: no zero-fill of bytes that the caller writes anyway.
    auto buf = std::make_shared_for_overwrite<std::byte[]>(n > 0 ? n : 1);
    std::byte* data = buf.get();
    return Tensor(type, std::move(shape), std::move(buf), data);
}

Tensor::Tensor(ElementType type, Shape shape, std::shared_ptr<void> owner, std::byte* data)
    : type_(type), shape_(std::move(shape)), owner_(std::move(owner)), data_(data) {}

Tensor Tensor::slice(int64_t first, int64_t count) const {
    if (shape_.empty()) throw ShapeError("cannot take batch items of a scalar tensor");
    if (first < 0 || count < 0 || first + count > shape_[0])
        throw ShapeError("batch items [" + std::to_string(first) + ", " + std::to_string(first + count) +
                         ") are outside a tensor of shape " + to_string(shape_));
    Shape s = shape_;
    s[0] = count;
    const std::size_t item_bytes = shape_[0] > 0 ? byte_size() / static_cast<std::size_t>(shape_[0]) : 0;
    return Tensor(type_, std::move(s), owner_, data_ + item_bytes * static_cast<std::size_t>(first));
}

Tensor Tensor::clone() const {
    Tensor out = uninitialized(type_, shape_);
    if (byte_size()) std::memcpy(out.bytes(), data_, byte_size());
    return out;
}

Tensor concat_leading(const std::vector<Tensor>& parts, int64_t pad_to) {
    if (parts.empty()) throw ShapeError("nothing to concatenate");
    const Tensor& first = parts.front();
    if (first.rank() == 0) throw ShapeError("cannot concatenate scalars along a batch axis");
    int64_t total = 0;
    for (const Tensor& p : parts) {
        if (p.type() != first.type() || p.rank() != first.rank() ||
            !std::equal(p.shape().begin() + 1, p.shape().end(), first.shape().begin() + 1))
            throw ShapeError("cannot batch tensors of different shapes or types: " + to_string(first.shape()) + " " +
                             to_string(first.type()) + " vs " + to_string(p.shape()) + " " + to_string(p.type()));
        total += p.dim(0);
    }
    Shape s = first.shape();
    s[0] = std::max(total, pad_to);
    // Parts that are adjacent items of one buffer (the tiles of one image, preprocessed into one
    // input buffer) already are the batch: a view of those bytes, no copy.
    if (s[0] == total && first.owner_) {
        bool adjacent = true;
        for (std::size_t i = 1; i < parts.size() && adjacent; ++i)
            adjacent = parts[i].owner_ == first.owner_ &&
                       parts[i].data_ == parts[i - 1].data_ + parts[i - 1].byte_size();
        if (adjacent) return Tensor(first.type_, std::move(s), first.owner_, first.data_);
    }
    Tensor out = Tensor::uninitialized(first.type(), s);  // every byte is written below
    std::byte* dst = out.bytes();
    for (const Tensor& p : parts) {
        std::memcpy(dst, p.bytes(), p.byte_size());
        dst += p.byte_size();
    }
    // Padding repeats the last real item so the padded rows are valid model input.
    const Tensor& last = parts.back();
    const std::size_t item_bytes = last.dim(0) ? last.byte_size() / static_cast<std::size_t>(last.dim(0)) : 0;
    for (int64_t i = total; i < s[0]; ++i) {
        std::memcpy(dst, last.bytes() + last.byte_size() - item_bytes, item_bytes);
        dst += item_bytes;
    }
    return out;
}

}  // namespace tiledet
