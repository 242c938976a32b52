#include <gtest/gtest.h>

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
