// argmax and argmin: indices picked by hand, PyTorch's conventions (the first index on ties, a NaN
// counts as the extreme, a flat row-major index over all elements), shapes with and without
// keepdim, conversion to Labels, and the errors.
#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <vector>

#include "check_error.hpp"
#include "tapegrad/ops.hpp"

using tg::Shape;
using tg::TensorD;
using tg::TensorF;
using Values = std::vector<std::int64_t>;

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
}  // namespace

TEST_CASE("argmax/argmin: along an axis, over all elements, with keepdim") {
  const TensorD x = TensorD::matrix({{1, 7, -3}, {4, 2, 9}});
  const tg::Indices rows = tg::argmax(x, 1);
  CHECK(rows.shape == Shape{2});
  CHECK(rows.values == Values{1, 2});
  CHECK(tg::argmin(x, 1).values == Values{2, 1});
  CHECK(tg::argmax(x, 0).values == Values{1, 0, 1});
  CHECK(tg::argmin(x, -2).values == Values{0, 1, 0});
  const tg::Indices kept = tg::argmax(x, -1, true);
  CHECK(kept.shape == Shape{2, 1});
  CHECK(kept.values == Values{1, 2});
  // Over all elements: the flat row-major index (9 is element 5, -3 element 2).
  CHECK(tg::argmax(x).shape == Shape{});
  CHECK(tg::argmax(x).values == Values{5});
  CHECK(tg::argmin(x).values == Values{2});
  CHECK(tg::argmax(TensorD::scalar(-1)).values == Values{0});
}

TEST_CASE("argmax/argmin: a 3-D tensor along its middle axis") {
  // x[i,j,k] = (j == 2 - k) ? 10 : j: along j, the largest sits at j = 2 - k, the smallest at j = 0
  // except where j = 0 holds the 10 (k = 2), then at j = 1.
  std::vector<double> v(2 * 3 * 3);
  for (std::size_t i = 0; i < 2; ++i)
    for (std::size_t j = 0; j < 3; ++j)
      for (std::size_t k = 0; k < 3; ++k) v[(i * 3 + j) * 3 + k] = j == 2 - k ? 10 : double(j);
  const TensorD x = TensorD::from_vector(Shape{2, 3, 3}, v);
  const tg::Indices top = tg::argmax(x, 1);
  CHECK(top.shape == Shape{2, 3});
  CHECK(top.values == Values{2, 1, 0, 2, 1, 0});
  CHECK(tg::argmin(x, 1).values == Values{0, 0, 1, 0, 0, 1});
  CHECK(tg::argmax(x, 1, true).shape == Shape{2, 1, 3});
}

TEST_CASE("argmax/argmin: the first index on ties, a NaN wins, infinities compare") {
  const TensorD ties = TensorD::matrix({{3, 1, 3, 1}, {2, 2, 2, 2}});
  CHECK(tg::argmax(ties, 1).values == Values{0, 0});
  CHECK(tg::argmin(ties, 1).values == Values{1, 0});
  const TensorD with_nan = TensorD::matrix({{1, kNaN, 5, kNaN}, {-kInf, kInf, 0, 1}});
  CHECK(tg::argmax(with_nan, 1).values == Values{1, 1});
  CHECK(tg::argmin(with_nan, 1).values == Values{1, 0});
  CHECK(tg::argmax(with_nan).values == Values{1});
  const TensorF f = TensorF::vector({0.5f, 2.5f, 2.5f});
  CHECK(tg::argmax(f, 0).values == Values{1});
}

TEST_CASE("argmax: converts to Labels, the predicted classes of logits[n, C]") {
  const TensorD logits = TensorD::matrix({{0.1, 2.0, -1.0}, {3.0, 0.0, 0.5}});
  const tg::Labels predicted = tg::argmax(logits, 1);
  CHECK(predicted == tg::Labels{1, 0});
  // Usable where labels are taken: the cross-entropy against the model's own predictions.
  CHECK(tg::softmax_ce(logits, tg::argmax(logits, 1)).item() > 0);
}

TEST_CASE("argmax/argmin: errors name the axis, the shape, or the empty reduction") {
  const TensorD x = TensorD::zeros(Shape{2, 3});
  check_error<tg::AxisError>([&] { tg::argmax(x, 2); }, {"argmax", "axis 2", "[2,3]"});
  check_error<tg::AxisError>([&] { tg::argmin(x, -3); }, {"argmin", "axis -3", "[2,3]"});
  check_error<tg::AxisError>([] { tg::argmax(TensorD::scalar(1), 0); }, {"argmax", "[]"});
  check_error<tg::IndexError>([] { tg::argmax(TensorD::zeros(Shape{0})); },
                              {"argmax", "empty tensor [0]"});
  check_error<tg::IndexError>(
      [] {
        tg::argmin(TensorD::zeros(Shape{3, 0}), 1);
      },
      {"argmin", "axis 1 of [3,0] is empty"});
  // A non-empty axis of an empty tensor picks nothing, without error.
  const tg::Indices none = tg::argmax(TensorD::zeros(Shape{0, 3}), 1);
  CHECK(none.shape == Shape{0});
  CHECK(none.values.empty());
}
