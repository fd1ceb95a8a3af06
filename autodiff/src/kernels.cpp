#include "kernels.hpp"

#include <xtensor/xadapt.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xnoalias.hpp>

#include <bit>
#include <cstdint>
#include <type_traits>

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

// ---- exp --------------------------------------------------------------------------------------
// e^x = 2^k e^r, k = round(x / ln 2), r = x - k ln 2 in [-ln(2)/2, ln(2)/2]: ln 2 in two parts
// (Cody and Waite), the first with trailing zeros so that k times it is exact; e^r by its Taylor
// series to r^13 (truncation error below 4e-18 there), kept as 1 + (r + r^2 (1/2 + r/6 + ...)) so
// that the only rounding of size is the last add; 2^k built in the exponent bits, from k as the
// low bits of x / ln 2 + 1.5 * 2^52. Float is computed in double, and its results are then
// std::exp's correctly rounded values but in rare cases. A loop of plain arithmetic that the
// compiler vectorizes, where libm's exp is a call per element (benchmarks/micro/exp_bench.cpp,
// Xeon with AVX-512): double 0.23-0.29x std::exp's time from 8 to 131,072 elements, within one ulp
// of it (7-12% of values differ); float 0.48-0.55x, equal to it but for 0.1%. Outside [low, high]
// (where 2^k would leave the normal range) and for NaN, a second pass takes std::exp's value:
// subnormal results, underflow to 0, overflow to inf, NaN.
namespace {

template <class T>
[[gnu::always_inline]] inline void exp_by_polynomial(const T* __restrict in, T* __restrict out,
                                                     std::size_t n, T low, T high) {
  constexpr double log2e = 1.4426950408889634, round_shift = 0x1.8p52;
  constexpr double ln2_high = 0x1.62e42fee00000p-1, ln2_low = 0x1.a39ef35793c76p-33;
  // The flag's width is T's: the compare's mask then packs into it without a conversion (a
  // bool would keep GCC from vectorizing the loop).
  using Flag = std::conditional_t<sizeof(T) == 8, std::uint64_t, std::uint32_t>;
  Flag outside = 0;
  for (std::size_t i = 0; i < n; ++i) {
    // A lane the second pass redoes computes e^0 meanwhile, never a result out of T's range (a
    // double out of float's range converted to float is undefined behaviour). Its argument is
    // cleared by a mask, not a select: with trapping math (the default) GCC keeps a select of
    // doubles as a branch, and the loop scalar.
    const Flag inside = Flag(in[i] >= low) & Flag(in[i] <= high);  // NaN is outside
    const double x =
        std::bit_cast<double>(std::bit_cast<std::uint64_t>(double(in[i])) & -std::uint64_t(inside));
    const double shifted = x * log2e + round_shift;
    const double k = shifted - round_shift;
    const double r = (x - k * ln2_high) - k * ln2_low;
    double p = 1.0 / 6227020800.0;
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    const double two_k =
        std::bit_cast<double>((std::bit_cast<std::uint64_t>(shifted) + 1023) << 52);
    out[i] = T((1.0 + (r + r * r * p)) * two_k);
    outside |= Flag(!inside);
  }
  if (outside) [[unlikely]]
    for (std::size_t i = 0; i < n; ++i)
      if (!(in[i] >= low && in[i] <= high)) out[i] = std::exp(in[i]);
}

}  // namespace

// Also compiled for AVX2 with FMA (x86-64-v3), picked when the library is loaded; the baseline
// build differs from it only where that fuses a multiply and an add. Not for AVX-512: its 512-bit
// loop gave the same bits but made the small networks' steps slower than the AVX2 loop did (W1
// 1.03x against 0.96x the libm build's time, W2 0.89x against 0.87x).
#if defined(__x86_64__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define TAPEGRAD_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#endif
#endif
#ifndef TAPEGRAD_VECTOR_CLONES
#define TAPEGRAD_VECTOR_CLONES
#endif

TAPEGRAD_VECTOR_CLONES void exp_values(const double* in, double* out, std::size_t n) {
  exp_by_polynomial(in, out, n, -708.0, 708.0);
}

TAPEGRAD_VECTOR_CLONES void exp_values(const float* in, float* out, std::size_t n) {
  exp_by_polynomial(in, out, n, -87.0f, 88.0f);
}

}  // namespace tg::detail
