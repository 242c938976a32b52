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
