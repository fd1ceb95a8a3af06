// Tensors from and to xtensor, and the zero-copy view.
#include <doctest/doctest.h>

#include <xtensor/xmath.hpp>

#include "tapegrad/tapegrad.hpp"
#include "tapegrad/xtensor.hpp"

using tg::TensorD;

TEST_CASE("a tensor made from an xarray or an expression copies its values and shape") {
  xt::xarray<double> a = {{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}};
  TensorD t = tg::from_xtensor(a, true);
  CHECK(t.shape() == tg::Shape{2, 3});
  CHECK(t.requires_grad());
  CHECK(t.at({1, 2}) == 6.0);
  a(0, 0) = 100.0;  // a copy, not a view
  CHECK(t.at({0, 0}) == 1.0);
  TensorD s = tg::from_xtensor(2.0 * xt::transpose(a));  // any expression, evaluated row-major
  CHECK(s.shape() == tg::Shape{3, 2});
  CHECK(s.at({0, 0}) == 200.0);
  CHECK(s.at({2, 1}) == 12.0);
}

TEST_CASE("as_xtensor is a view of the tensor's data, to_xarray a copy") {
  TensorD t = TensorD::matrix({{1.0, -2.0}, {3.0, -4.0}});
  auto view = tg::as_xtensor(t);
  CHECK(view(1, 0) == 3.0);
  view(1, 0) = 30.0;
  CHECK(t.at({1, 0}) == 30.0);
  xt::xarray<double> copy = tg::to_xarray(t);
  CHECK(copy.shape()[0] == 2);
  CHECK(xt::sum(xt::abs(copy))() == doctest::Approx(1 + 2 + 30 + 4));
}

TEST_CASE("gradients come back to xtensor") {
  xt::xarray<double> w0 = {0.5, -1.0};
  TensorD w = tg::from_xtensor(w0, true);
  tg::sum(w * w).backward();
  xt::xarray<double> g = tg::to_xarray(w.grad());
  CHECK(g(0) == 1.0);
  CHECK(g(1) == -2.0);
}
