#include "kernels.hpp"

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

}  // namespace tg::detail
