// A NaN is never hidden (IEEE-754, as in PyTorch): an op whose input holds a NaN returns NaN
// where that input reaches the output, and a mask (relu's, xdivy's, a 0 target's) selects rather
// than multiplies, so that an infinite upstream gradient does not become NaN where the mask is 0.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "tapegrad/tapegrad.hpp"

using tg::Shape;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// Expected NaN matches NaN, +-inf matches exactly, the rest within eps.
template <class T>
void check_values(const tg::Tensor<T>& t, const std::vector<double>& expected, double eps = 1e-6) {
  REQUIRE(t.defined());
  const std::vector<T> got = t.to_vector();
  REQUIRE(got.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    INFO("element " << i << ": got " << double(got[i]) << ", expected " << expected[i]);
    if (std::isnan(expected[i]))
      CHECK(std::isnan(got[i]));
    else if (std::isinf(expected[i]))
      CHECK(double(got[i]) == expected[i]);
    else
      CHECK(double(got[i]) == doctest::Approx(expected[i]).epsilon(eps));
  }
}

}  // namespace

TEST_CASE_TEMPLATE("NaN rules: relu(NaN) is NaN, and its gradient passes the upstream", T, float,
                   double) {
  using TT = tg::Tensor<T>;
  TT x = TT::vector({T(kNaN), -1, 2, 0, -0.0}, true);
  TT y = tg::relu(x);
  // torch.relu(torch.tensor([nan, -1, 2, 0, -0.])) = [nan, 0, 2, 0, 0]
  check_values(y, {kNaN, 0, 2, 0, 0});
  CHECK_FALSE(std::signbit(y.to_vector()[4]));
  // PyTorch's threshold_backward: the upstream passes unless the output is <= 0; NaN is not.
  y.backward(TT::vector({3, 3, 3, 3, 3}));
  check_values(x.grad(), {3, 0, 3, 0, 0});
}

TEST_CASE_TEMPLATE("NaN rules: relu_backward passes the upstream where its mask is NaN", T, float,
                   double) {
  using TT = tg::Tensor<T>;
  TT g = TT::vector({5, 5, 5, T(kInf)}, true);
  const TT y = TT::vector({T(kNaN), 1, 0, 0});
  TT out = tg::relu_backward(g, y);
  // The mask selects: an infinite upstream where y <= 0 is 0, not inf * 0 = NaN.
  check_values(out, {5, 5, 0, 0});
  tg::sum(out).backward();
  check_values(g.grad(), {1, 1, 0, 0});
}

TEST_CASE_TEMPLATE("NaN rules: the row ops do not hide a NaN behind an infinite logit", T, float,
                   double) {
  using TT = tg::Tensor<T>;
  // Row 0 has a NaN and a +inf: every entry of softmax / log_softmax is NaN (PyTorch), where the
  // +inf used to make the max and return 0 and -inf for the finite entry. Row 1 is clean.
  const TT x = TT::matrix({{1, T(kNaN), T(kInf)}, {0, 0, 0}});
  check_values(tg::softmax(x), {kNaN, kNaN, kNaN, 1.0 / 3, 1.0 / 3, 1.0 / 3});
  check_values(tg::log_softmax(x),
               {kNaN, kNaN, kNaN, -std::log(3.0), -std::log(3.0), -std::log(3.0)});
  // The loss through row 0's finite entry is NaN too.
  CHECK(std::isnan(tg::softmax_ce(x, tg::Labels{0, 0}).item()));
  // A NaN first in the row, or after the max, was already propagated; it stays so.
  check_values(tg::softmax(TT::matrix({{T(kNaN), 2}, {2, T(kNaN)}})), {kNaN, kNaN, kNaN, kNaN});
}

TEST_CASE_TEMPLATE("NaN rules: softmax_ce with targets: a 0 target does not hide a NaN", T, float,
                   double) {
  using TT = tg::Tensor<T>;
  // log_softmax([inf, 1]) = [inf - inf, 1 - inf] = [NaN, -inf]; PyTorch's
  // -(0 * NaN + 1 * -inf) is NaN. The 0 * (-inf) = 0 rule is kept for a finite logit.
  const TT logits = TT::matrix({{T(kInf), 1}});
  CHECK(std::isnan(tg::softmax_ce(logits, TT::matrix({{0, 1}})).item()));
  const TT finite = TT::matrix({{0, -1000}});
  CHECK(tg::softmax_ce(finite, TT::matrix({{1, 0}})).item() == doctest::Approx(0));
}

TEST_CASE_TEMPLATE("NaN rules: xdivy(0, NaN) is NaN (PyTorch's xlogy rule), xdivy(0, 0) is 0", T,
                   float, double) {
  using TT = tg::Tensor<T>;
  const TT x = TT::vector({0, 0, T(kNaN), 0});
  const TT y = TT::vector({T(kNaN), 0, 2, 3});
  check_values(tg::xdivy(x, y), {kNaN, 0, kNaN, 0});
}

TEST_CASE_TEMPLATE("NaN rules: the other elementwise kernels propagate NaN", T, float, double) {
  using TT = tg::Tensor<T>;
  const TT x = TT::vector({T(kNaN)});
  CHECK(std::isnan(tg::sigmoid(x).item()));
  CHECK(std::isnan(tg::tanh(x).item()));
  CHECK(std::isnan(tg::exp(x).item()));
  CHECK(std::isnan(tg::log(x).item()));
  CHECK(std::isnan(tg::pow(x, T(2)).item()));
  CHECK(std::isnan(tg::pow(x, T(3)).item()));
  CHECK(std::isnan(tg::sigmoid_backward(TT::vector({1}), x).item()));
  CHECK(std::isnan(tg::tanh_backward(TT::vector({1}), x).item()));
  CHECK(std::isnan(tg::bce_with_logits(x, TT::vector({1})).item()));
  CHECK(std::isnan(tg::bce_with_logits(x, TT::vector({0})).item()));
  CHECK(std::isnan(tg::bce(x, TT::vector({0})).item()));
  CHECK(std::isnan(tg::bce(x, TT::vector({1})).item()));
  CHECK(std::isnan(tg::mse(x, TT::vector({1})).item()));
  CHECK(std::isnan(tg::sum(TT::vector({1, T(kNaN)})).item()));
  CHECK(std::isnan(tg::mean(TT::vector({1, T(kNaN)})).item()));
}
