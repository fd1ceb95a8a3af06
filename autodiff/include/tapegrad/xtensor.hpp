// Interoperation with xtensor. Kept out of the other headers because xtensor's headers cost
// seconds of compile time per file (docs/design-notes.md, "Build").
//
//   xt::xarray<double> a = {{1, 2}, {3, 4}};
//   tg::TensorD w = tg::from_xtensor(a, true);     // copies, requires grad
//   auto view = tg::as_xtensor(w);                   // no copy: an xtensor expression on w's data
//   xt::xarray<double> g = tg::to_xarray(w.grad());  // copies out
#pragma once

#include <vector>

#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>

#include "tapegrad/tensor.hpp"

namespace tg {

// A tensor holding a copy of any xtensor expression (evaluated), row-major.
template <class E>
Tensor<typename E::value_type> from_xtensor(const xt::xexpression<E>& expression,
                                            bool requires_grad = false) {
  using T = typename E::value_type;
  const xt::xarray<T, xt::layout_type::row_major> values = expression.derived_cast();
  Shape shape(values.shape().begin(), values.shape().end());
  Tensor<T> t = Tensor<T>::empty(shape);
  std::copy(values.data(), values.data() + values.size(), t.data());
  t.set_requires_grad(requires_grad);
  return t;
}

// The tensor's data as an xtensor container adaptor: no copy; writes go to the tensor.
template <class T> auto as_xtensor(Tensor<T>& t) {
  std::vector<std::size_t> shape(t.shape().begin(), t.shape().end());
  return xt::adapt(t.data(), t.size(), xt::no_ownership(), shape);
}
template <class T> auto as_xtensor(const Tensor<T>& t) {
  std::vector<std::size_t> shape(t.shape().begin(), t.shape().end());
  return xt::adapt(t.data(), t.size(), xt::no_ownership(), shape);
}

// A copy of the tensor's data as an xt::xarray.
template <class T> xt::xarray<T> to_xarray(const Tensor<T>& t) {
  return as_xtensor(t);
}

}  // namespace tg
