#include "kernels.hpp"

#include <xtensor/xadapt.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xnoalias.hpp>

namespace tg::detail {

thread_local constinit const void* t_spare_upstream __attribute__((tls_model("initial-exec"))) =
    nullptr;

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

namespace {

// From this many elements on, a sum along the last axis runs through xtensor's immediate
// reduction: 0.51-0.65x the hand loop's time from [50,20] to [1000,25], 0.91-0.99x at [256,512]
// and [5000,25]; below, its set-up dominates (1.9x the loop at [20,5], 3.8x at [4,2]).
// docs/design-notes.md "xtensor expressions"; benchmarks/micro/kernels_bench.cpp.
constexpr std::size_t kXtensorLastAxisSum = 1000;

}  // namespace

// Along any other axis the loop stays: xtensor's axis-0 sum measured 1.2-2.2x the loop from [4,2]
// to [1000,25] and 0.7-0.9x only at [256,512] and [5000,25] (docs/design-notes.md).
template <class T>
Tensor<T> reduce_axis(const char* op, const Tensor<T>& x, std::size_t axis, T scale) {
  Shape out_shape;
  std::size_t outer = 1, inner = 1;
  for (std::size_t d = 0; d < x.ndim(); ++d) {
    if (d != axis) out_shape.push_back(x.dim(d));
    if (d < axis) outer *= x.dim(d);
    if (d > axis) inner *= x.dim(d);
  }
  const std::size_t length = x.dim(axis);
  Tensor<T> out = zeros_output<T>(op, out_shape);
  // An empty x has nothing to add, but its extents may not be small: [2^40, 0] along axis 0
  // would run 2^40 empty iterations.
  if (x.size() == 0) return out;
  launch(
      [in = x.data(), o = out.data(), size = x.size(), out_size = out.size(), outer, length, inner,
       scale] {
        if (inner == 1 && size >= kXtensorLastAxisSum) {
          // Adds each row from its first element on, as the loop does: the same sums to the bit.
          const auto rows = xt::adapt(in, size, xt::no_ownership(), std::array{outer, length});
          auto sums = xt::adapt(o, outer, xt::no_ownership(), std::array{outer});
          xt::noalias(sums) = xt::sum(rows, {1}, xt::evaluation_strategy::immediate);
        } else {
          for (std::size_t a = 0; a < outer; ++a)
            for (std::size_t l = 0; l < length; ++l)
              for (std::size_t i = 0; i < inner; ++i)
                o[a * inner + i] += in[(a * length + l) * inner + i];
        }
        if (scale != T(1))
          for (std::size_t i = 0; i < out_size; ++i) o[i] *= scale;
      },
      [&] { return writes_from(out, x, out); });  // adds into out's zeros
  return out;
}

template Tensor<float> reduce_axis(const char*, const Tensor<float>&, std::size_t, float);
template Tensor<double> reduce_axis(const char*, const Tensor<double>&, std::size_t, double);

}  // namespace tg::detail
