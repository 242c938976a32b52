#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <vector>

#include "tiledet/error.hpp"
#include "tiledet/runtime/tensor.hpp"

using namespace tiledet;

TEST(Tensor, ItemViewsShareBytesAndKeepRank) {
    Tensor t(ElementType::float32, {3, 2});
    for (int i = 0; i < 6; ++i) t.data<float>()[i] = static_cast<float>(i);
    Tensor second = t.item(1);
    EXPECT_EQ(second.shape(), (Shape{1, 2}));
    EXPECT_EQ(second.data<float>()[0], 2.0f);
    second.data<float>()[1] = 42.0f;  // a view, not a copy
    EXPECT_EQ(t.data<float>()[3], 42.0f);
}

TEST(Tensor, SliceOutsideTheBatchIsAShapeError) {
    Tensor t(ElementType::int64, {2, 4});
    EXPECT_THROW(t.slice(1, 2), ShapeError);
    EXPECT_THROW(t.item(-1), ShapeError);
}

TEST(Tensor, ConcatLeadingStacksItemsInOrderAndPadsWithTheLastItem) {
    Tensor a(ElementType::float32, {1, 2}), b(ElementType::float32, {1, 2});
    a.data<float>()[0] = 1; a.data<float>()[1] = 2;
    b.data<float>()[0] = 3; b.data<float>()[1] = 4;
    Tensor out = concat_leading({a, b}, 4);
    ASSERT_EQ(out.shape(), (Shape{4, 2}));
    const std::vector<float> want = {1, 2, 3, 4, 3, 4, 3, 4};
    EXPECT_EQ(std::vector<float>(out.values<float>().begin(), out.values<float>().end()), want);
}

TEST(Tensor, ConcatRefusesMixedShapes) {
    Tensor a(ElementType::float32, {1, 2}), b(ElementType::float32, {1, 3});
    EXPECT_THROW(concat_leading({a, b}), ShapeError);
}

TEST(Tensor, CloneOwnsItsBytes) {
    Tensor a(ElementType::float32, {1, 1});
    Tensor c = a.clone();
    c.data<float>()[0] = 5;
    EXPECT_EQ(a.data<float>()[0], 0.0f);
}

TEST(Tensor, ConcatOfAdjacentItemsOfOneBufferIsAViewWithoutACopy) {
    Tensor buffer(ElementType::float32, {4, 2});
    for (int i = 0; i < 8; ++i) buffer.data<float>()[i] = static_cast<float>(i);
    const Tensor joined = concat_leading({buffer.item(1), buffer.item(2), buffer.item(3)});
    EXPECT_EQ(joined.shape(), (Shape{3, 2}));
    EXPECT_EQ(joined.bytes(), buffer.item(1).bytes()) << "adjacent items must not be copied";
    EXPECT_FLOAT_EQ(joined.data<float>()[5], 7.f);
    // Out of order, with a gap, from two buffers, or padded: a copy with the same values.
    const Tensor swapped = concat_leading({buffer.item(2), buffer.item(1)});
    EXPECT_NE(swapped.bytes(), buffer.item(2).bytes());
    EXPECT_FLOAT_EQ(swapped.data<float>()[0], 4.f);
    EXPECT_FLOAT_EQ(swapped.data<float>()[2], 2.f);
    const Tensor gap = concat_leading({buffer.item(0), buffer.item(2)});
    EXPECT_FLOAT_EQ(gap.data<float>()[2], 4.f);
    const Tensor other = buffer.clone();
    const Tensor mixed = concat_leading({buffer.item(0), other.item(1)});
    EXPECT_NE(mixed.bytes(), buffer.bytes());
    EXPECT_FLOAT_EQ(mixed.data<float>()[3], 3.f);
    const Tensor padded = concat_leading({buffer.item(0), buffer.item(1)}, 3);
    EXPECT_NE(padded.bytes(), buffer.bytes());
    EXPECT_FLOAT_EQ(padded.data<float>()[5], 3.f);
}

#if defined(__SANITIZE_ADDRESS__)
#define TILEDET_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TILEDET_TEST_ASAN 1
#endif
#endif

TEST(Tensor, LargeUninitializedBuffersAreRecycledWhileTheirViewsStayValid) {
#ifdef TILEDET_TEST_ASAN
    GTEST_SKIP() << "the pool is off under AddressSanitizer (every free must reach ASan)";
#else
    const Shape slot{1, 3, 640, 640};  // 4.9 MB: an input slot
    const std::byte* first = nullptr;
    {
        Tensor a = Tensor::uninitialized(ElementType::float32, slot);
        first = a.bytes();
        EXPECT_EQ(reinterpret_cast<std::uintptr_t>(first) % 64, 0u) << "cache-line aligned";
        Tensor view = a.item(0);
        a = Tensor();
        view.data<float>()[0] = 1.f;  // the view still owns the buffer: not back in the pool yet
        const Tensor b = Tensor::uninitialized(ElementType::float32, slot);
        EXPECT_NE(b.bytes(), first) << "a buffer still referenced was handed out again";
    }
    // Every reference gone: the same size takes a buffer from the pool (the most recently freed).
    const Tensor c = Tensor::uninitialized(ElementType::float32, slot);
    const Tensor d = Tensor::uninitialized(ElementType::float32, slot);
    EXPECT_TRUE(c.bytes() == first || d.bytes() == first) << "a freed slot was not reused";
    // Another size never gets it; small tensors are not pooled.
    const Tensor other = Tensor::uninitialized(ElementType::float32, {1, 3, 320, 320});
    EXPECT_NE(other.bytes(), first);
    EXPECT_EQ(other.byte_size(), std::size_t{3 * 320 * 320 * 4});
#endif
}

TEST(Tensor, FreedBuffersOfASizeAreHandedOutAgainBeforeNewOnes) {
#ifdef TILEDET_TEST_ASAN
    GTEST_SKIP() << "the pool is off under AddressSanitizer";
#else
    const Shape shape{1, 1, 512, 513};  // a size no other test uses
    std::vector<Tensor> held;
    std::set<const std::byte*> made;
    for (int i = 0; i < 12; ++i) {
        held.push_back(Tensor::uninitialized(ElementType::float32, shape));
        made.insert(held.back().bytes());
    }
    held.clear();  // 12 freed: 8 kept, 4 given back to the allocator
    std::set<const std::byte*> again;
    for (int i = 0; i < 12; ++i) {
        held.push_back(Tensor::uninitialized(ElementType::float32, shape));
        again.insert(held.back().bytes());
    }
    std::size_t reused = 0;
    for (const std::byte* p : again) reused += made.count(p);
    EXPECT_GE(reused, 8u) << "the 8 kept buffers are taken first";
#endif
}
