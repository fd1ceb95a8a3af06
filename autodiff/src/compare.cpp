// The comparisons gt, lt, ge, le, eq: masks of 0 and 1 in the operands' type, with NumPy
// broadcasting, IEEE-754 (any comparison with a NaN is false, so a NaN gives 0, eq(NaN, NaN)
// too). A mask is piecewise constant: its derivative is 0 wherever it exists, so it is never
// recorded (the result does not require a gradient even when the operands do), and it is a
// constant wherever it is used, e.g. as where's mask.
//
// Not an op file: an op is registered with gradient-check samples that must produce the op's own
// node, and a mask produces none. tests/test_masks.cpp checks the comparisons' values and errors.
#include "kernels.hpp"

namespace tg {

namespace {

template <class T, class Compare>
Tensor<T> compare(const char* op, const Tensor<T>& a, const Tensor<T>& b, Compare holds) {
  return detail::map_binary(op, a, b, [holds](T x, T y) { return holds(x, y) ? T(1) : T(0); });
}

}  // namespace

template <class T> Tensor<T> gt(const Tensor<T>& a, const Tensor<T>& b) {
  return compare("gt", a, b, [](T x, T y) { return x > y; });
}
template <class T> Tensor<T> lt(const Tensor<T>& a, const Tensor<T>& b) {
  return compare("lt", a, b, [](T x, T y) { return x < y; });
}
template <class T> Tensor<T> ge(const Tensor<T>& a, const Tensor<T>& b) {
  return compare("ge", a, b, [](T x, T y) { return x >= y; });
}
template <class T> Tensor<T> le(const Tensor<T>& a, const Tensor<T>& b) {
  return compare("le", a, b, [](T x, T y) { return x <= y; });
}
template <class T> Tensor<T> eq(const Tensor<T>& a, const Tensor<T>& b) {
  return compare("eq", a, b, [](T x, T y) { return x == y; });
}

#define TG_INSTANTIATE_COMPARISON(NAME)                                    \
  template Tensor<float> NAME(const Tensor<float>&, const Tensor<float>&); \
  template Tensor<double> NAME(const Tensor<double>&, const Tensor<double>&)

TG_INSTANTIATE_COMPARISON(gt);
TG_INSTANTIATE_COMPARISON(lt);
TG_INSTANTIATE_COMPARISON(ge);
TG_INSTANTIATE_COMPARISON(le);
TG_INSTANTIATE_COMPARISON(eq);

#undef TG_INSTANTIATE_COMPARISON

}  // namespace tg
