#include "op_kit.hpp"

#include <cstdio>

namespace tg::detail {

Strides broadcast_strides(const Shape& in, const Shape& out) {
  Strides strides{};
  const std::size_t lead = out.rank() - in.rank();
  std::size_t step = 1;
  for (std::size_t i = in.rank(); i-- > 0;) {
    strides[lead + i] = in[i] == 1 ? 0 : step;
    step *= in[i];
  }
  return strides;
}

Shape keep_axis(const Shape& shape, std::size_t axis) {
  Shape kept = shape;
  kept[axis] = 1;
  return kept;
}

std::vector<Shape> elementwise_shapes() {
  return {Shape{1, 1}, Shape{1, 5}, Shape{4, 1}, Shape{3, 4}, Shape{6}, Shape{}};
}

}  // namespace tg::detail

namespace tg::detail {

std::vector<std::pair<Shape, Shape>> binary_shape_pairs() {
  return {{Shape{1, 1}, Shape{1, 1}}, {Shape{1, 5}, Shape{1, 5}}, {Shape{4, 1}, Shape{4, 1}},
          {Shape{3, 4}, Shape{3, 4}}, {Shape{3, 4}, Shape{4}},    {Shape{3, 4}, Shape{3, 1}},
          {Shape{3, 1}, Shape{1, 4}}, {Shape{2, 3}, Shape{}},     {Shape{}, Shape{2, 3}},
          {Shape{5}, Shape{2, 1, 5}}};
}

}  // namespace tg::detail

namespace tg::detail {

std::vector<Shape> loss_shapes() {
  return {Shape{1, 1}, Shape{1, 5}, Shape{4, 1}, Shape{3, 4}, Shape{6}};
}

}  // namespace tg::detail
