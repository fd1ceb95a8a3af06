// Numerical stability at the edges, in double and float, beyond what test_ops_forward.cpp pins:
// saturated sigmoid/tanh up to |x| = 1000 (and inf), the softmax family with logits of magnitude
// 1000 (values and gradients), bce_with_logits at +-1000, bce on probabilities exactly 0 and 1
// (a finite loss never has a NaN gradient, an infinite one is reported as inf), bce after a
// saturated sigmoid (d loss / d z = (p - y)/N), and reductions over empty axes.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "tapegrad/tapegrad.hpp"

using tg::Shape;
using tg::TensorD;
using tg::TensorF;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

template <class T> bool no_nan(const tg::Tensor<T>& t) {
  for (T v : t.to_vector())
    if (std::isnan(v)) return false;
  return true;
}

template <class T> bool all_finite(const tg::Tensor<T>& t) {
  for (T v : t.to_vector())
    if (!std::isfinite(v)) return false;
  return true;
}

template <class T>
void check_values(const tg::Tensor<T>& t, const std::vector<double>& expected, double eps) {
  const std::vector<T> got = t.to_vector();
  REQUIRE(got.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    INFO("element " << i << ": got " << double(got[i]) << ", expected " << expected[i]);
    if (std::isinf(expected[i]))
      CHECK(double(got[i]) == expected[i]);
    else
      CHECK(double(got[i]) == doctest::Approx(expected[i]).epsilon(eps));
  }
}

template <class T> constexpr double tolerance() {
  return sizeof(T) == 4 ? 1e-5 : 1e-12;
}

}  // namespace

TEST_CASE_TEMPLATE("stability: sigmoid saturates to exactly 0 and 1 up to |x| = 1000 and inf", T,
                   float, double) {
  const T inf = std::numeric_limits<T>::infinity();
  tg::Tensor<T> x = tg::Tensor<T>::vector({-inf, -1000, -710, 0, 100, 710, 1000, inf}, true);
  tg::Tensor<T> s = tg::sigmoid(x);
  CHECK(no_nan(s));
  check_values(s, {0, 0, 0, 0.5, 1, 1, 1, 1}, tolerance<T>());
  tg::sum(s).backward();
  // s(1-s): 0 wherever s is exactly 0 or 1, 0.25 at 0.
  CHECK(all_finite(x.grad()));
  check_values(x.grad(), {0, 0, 0, 0.25, 0, 0, 0, 0}, tolerance<T>());
  // s(-100) = e^-100/(1+e^-100) = 3.7200759760208356e-44: exact in double, a subnormal in float
  // (a few bits), and so is its gradient s(1-s) = s.
  tg::Tensor<T> small = tg::Tensor<T>::vector({-100}, true);
  tg::Tensor<T> s_small = tg::sigmoid(small);
  s_small.backward(tg::Tensor<T>::vector({1}));
  for (const tg::Tensor<T>& t : {s_small, small.grad()}) {
    if (sizeof(T) == 8) {
      CHECK(double(t.item()) == doctest::Approx(3.7200759760208356e-44).scale(0).epsilon(1e-12));
    } else {
      CHECK(t.item() > T(0));
      CHECK(double(t.item()) < 4e-44);
    }
  }
}

TEST_CASE_TEMPLATE("stability: sigmoid's gradient near saturation is s(1-s), no NaN", T, float,
                   double) {
  // Moderately large |x|: the gradient is tiny but must be right on the side where s is small,
  // and never NaN on the side where 1 - s cancels.
  tg::Tensor<T> x = tg::Tensor<T>::vector({-30, -15, 15, 30}, true);
  tg::sum(tg::sigmoid(x)).backward();
  const std::vector<T> g = x.grad().to_vector();
  // e^-30/(1+e^-30)^2 = 9.357622968840175e-14, e^-15/(1+e^-15)^2 = 3.059022269256247e-07
  CHECK(double(g[0]) == doctest::Approx(9.357622968840175e-14).epsilon(tolerance<T>() * 10));
  CHECK(double(g[1]) == doctest::Approx(3.059022269256247e-07).epsilon(tolerance<T>() * 10));
  // For x > 0, 1 - s keeps few significant digits (float: none at 30); only bounds are fair.
  CHECK(g[2] >= 0);
  CHECK(double(g[2]) <= 4e-7);  // float: 1 - s is a multiple of 6e-8 near 1
  CHECK(g[3] >= 0);
  CHECK(double(g[3]) <= 1e-12);
  CHECK(no_nan(x.grad()));
}

TEST_CASE_TEMPLATE("stability: tanh saturates to exactly +-1 up to |x| = 1000 and inf, gradient 0",
                   T, float, double) {
  const T inf = std::numeric_limits<T>::infinity();
  tg::Tensor<T> x = tg::Tensor<T>::vector({-inf, -1000, -20, 0, 20, 1000, inf}, true);
  tg::Tensor<T> y = tg::tanh(x);
  check_values(y, {-1, -1, -1, 0, 1, 1, 1}, tolerance<T>());
  tg::sum(y).backward();
  CHECK(all_finite(x.grad()));
  check_values(x.grad(), {0, 0, 0, 1, 0, 0, 0}, tolerance<T>());
}

TEST_CASE_TEMPLATE("stability: log_softmax and softmax with logits of magnitude 1000, gradients", T,
                   float, double) {
  const tg::Tensor<T> x0 =
      tg::Tensor<T>::matrix({{1000, -1000, 0}, {-1000, -1000, -1000}, {1000, 1000, 999}});
  tg::Tensor<T> x = x0.clone().set_requires_grad();
  tg::Tensor<T> l = tg::log_softmax(x);
  // Row 0: x - max = [0, -2000, -1000]; row 1: -log 3 each; row 2: lsm([[1000,1000,999]]) =
  // [-0.861994804058251, -0.861994804058251, -1.861994804058251] (as at 800: shift-invariant).
  check_values(l,
               {0, -2000, -1000, -1.0986122886681096, -1.0986122886681096, -1.0986122886681096,
                -0.861994804058251, -0.861994804058251, -1.861994804058251},
               tolerance<T>());
  // d sum(G * log_softmax) / dx = G - softmax * rowsum(G), G = [[1,2,3],[1,0,0],[0,0,1]]
  l.backward(tg::Tensor<T>::matrix({{1, 2, 3}, {1, 0, 0}, {0, 0, 1}}));
  CHECK(all_finite(x.grad()));
  // row 0: [1,2,3] - [1,0,0]*6 = [-5, 2, 3]; row 1: [1,0,0] - 1/3 = [2/3, -1/3, -1/3];
  // row 2: [0,0,1] - [0.42231879825151825, 0.42231879825151825, 0.15536240349696365]
  check_values(x.grad(),
               {-5, 2, 3, 2.0 / 3, -1.0 / 3, -1.0 / 3, -0.4223187982515182, -0.4223187982515182,
                0.8446375965030364},
               tolerance<T>() * 10);

  tg::Tensor<T> x2 = x0.clone().set_requires_grad();
  tg::Tensor<T> s = tg::softmax(x2);
  check_values(s,
               {1, 0, 0, 1.0 / 3, 1.0 / 3, 1.0 / 3, 0.4223187982515182, 0.4223187982515182,
                0.15536240349696365},
               tolerance<T>());
  // s * (G - rowsum(G*s)) with G = [[1,2,3],...]: row 0 s = [1,0,0] -> [1*(1-1), 0, 0] = 0
  s.backward(tg::Tensor<T>::matrix({{1, 2, 3}, {1, 0, 0}, {0, 0, 1}}));
  CHECK(all_finite(x2.grad()));
  const std::vector<T> g = x2.grad().to_vector();
  CHECK(double(g[0]) == doctest::Approx(0).epsilon(tolerance<T>()));
  // row 1: s = 1/3, rowsum(G*s) = 1/3: [1/3*(2/3), 1/3*(-1/3), 1/3*(-1/3)]
  CHECK(double(g[3]) == doctest::Approx(2.0 / 9).epsilon(tolerance<T>() * 10));
  CHECK(double(g[4]) == doctest::Approx(-1.0 / 9).epsilon(tolerance<T>() * 10));
}

TEST_CASE_TEMPLATE("stability: softmax_ce (labels and targets) with logits of magnitude 1000", T,
                   float, double) {
  const tg::Tensor<T> logits =
      tg::Tensor<T>::matrix({{1000, -1000, 0}, {-1000, 1000, 0}, {-1000, -1000, -1000}});
  tg::Tensor<T> a = logits.clone().set_requires_grad();
  tg::Tensor<T> b = logits.clone().set_requires_grad();
  // lse per row: 1000, 1000, -1000 + log 3. Label 1 / 1 / 2: 2000, 0, log 3 -> mean
  // (2000 + 0 + 1.0986122886681098) / 3 = 667.0328707628894
  tg::Tensor<T> la = tg::softmax_ce(a, tg::Labels{1, 1, 2});
  tg::Tensor<T> lb = tg::softmax_ce(b, tg::Tensor<T>::matrix({{0, 1, 0}, {0, 1, 0}, {0, 0, 1}}));
  check_values(la, {667.0328707628894}, tolerance<T>());
  check_values(lb, {667.0328707628894}, tolerance<T>());
  la.backward();
  lb.backward();
  // (softmax - onehot)/3: row 0 [1,-1,0]/3, row 1 0, row 2 [1/3,1/3,-2/3]/3
  const std::vector<double> want{1.0 / 3, -1.0 / 3, 0, 0, 0, 0, 1.0 / 9, 1.0 / 9, -2.0 / 9};
  CHECK(all_finite(a.grad()));
  CHECK(all_finite(b.grad()));
  check_values(a.grad(), want, tolerance<T>() * 10);
  check_values(b.grad(), want, tolerance<T>() * 10);
}

TEST_CASE_TEMPLATE("stability: bce_with_logits at +-1000, value and gradient (sigmoid(z) - y)/N", T,
                   float, double) {
  tg::Tensor<T> z = tg::Tensor<T>::vector({1000, 1000, -1000, -1000}, true);
  tg::Tensor<T> y = tg::Tensor<T>::vector({1, 0, 1, 0}, true);
  tg::Tensor<T> loss = tg::bce_with_logits(z, y);
  // terms: 0, 1000, 1000, 0 -> 500
  check_values(loss, {500}, tolerance<T>());
  loss.backward();
  check_values(z.grad(), {0, 0.25, -0.25, 0}, tolerance<T>());
  // dy = -z/N
  check_values(y.grad(), {-250, -250, 250, 250}, tolerance<T>());
}

TEST_CASE_TEMPLATE("stability: bce on p exactly 0 and 1: finite losses have no NaN gradient", T,
                   float, double) {
  // Every term finite: p = y = 0 and p = y = 1 add 0 (xlogy), p = 0.5 adds log 2.
  tg::Tensor<T> p = tg::Tensor<T>::vector({0, 1, 0.5}, true);
  tg::Tensor<T> y = tg::Tensor<T>::vector({0, 1, 0.5}, true);
  tg::Tensor<T> loss = tg::bce(p, y);
  check_values(loss, {std::log(2.0) / 3}, tolerance<T>());
  loss.backward();
  CHECK(no_nan(p.grad()));
  CHECK(no_nan(y.grad()));
  check_values(p.grad(), {1.0 / 3, -1.0 / 3, 0}, tolerance<T>());
  // dy = log((1-p)/p)/N: +inf at p = 0 and -inf at p = 1 (the loss is infinite for any other y
  // there: an honest infinite slope), 0 at p = 0.5.
  check_values(y.grad(), {kInf, -kInf, 0}, tolerance<T>());
}

TEST_CASE_TEMPLATE("stability: bce with a confident wrong p is honestly +inf, gradients +-inf", T,
                   float, double) {
  tg::Tensor<T> p = tg::Tensor<T>::vector({0, 1, 0, 1, 0.25}, true);
  const tg::Tensor<T> y = tg::Tensor<T>::vector({1, 0, 0.5, 0.5, 1});
  tg::Tensor<T> loss = tg::bce(p, y);
  check_values(loss, {kInf}, tolerance<T>());
  loss.backward();
  CHECK(no_nan(p.grad()));
  // -y/p + (1-y)/(1-p), / 5: -inf, +inf, -inf, +inf, -4/5
  check_values(p.grad(), {-kInf, kInf, -kInf, kInf, -0.8}, tolerance<T>());
}

TEST_CASE(
    "stability: bce after a saturated sigmoid gives (p - y)/N, where PyTorch's clamp "
    "gives a tenth") {
  // z = 30, y = 0, N = 1: p(1-p) = 9.36e-14 is below PyTorch's 1e-12 clamp of the denominator, so
  // torch.nn.functional.binary_cross_entropy(torch.sigmoid(z), y).backward() gives z.grad =
  // s(1-s) * p / 1e-12 = 0.0936 instead of p - y = 0.99999999999991.
  TensorD z = TensorD::vector({30}, true);
  TensorD loss = tg::bce(tg::sigmoid(z), TensorD::vector({0}));
  CHECK(std::isfinite(loss.item()));
  loss.backward();
  const double p = 1 / (1 + std::exp(-30.0));
  CHECK(z.grad().item() == doctest::Approx(p).epsilon(1e-12));
  CHECK(z.grad().item() > 0.9);  // not 0.0936

  // Where p(1-p) is far below the clamp (z = 35: 6.3e-16) it is still exact.
  TensorD z35 = TensorD::vector({35, -35, 35}, true);
  TensorD l35 = tg::bce(tg::sigmoid(z35), TensorD::vector({0, 1, 1}));
  CHECK(std::isfinite(l35.item()));
  l35.backward();
  const double s35 = 1 / (1 + std::exp(-35.0));
  check_values(z35.grad(), {s35 / 3, (1 - s35 - 1) / 3, (s35 - 1) / 3}, 1e-9);

  // In float, z = 15 (p(1-p) = 3.1e-7).
  TensorF zf = TensorF::vector({15}, true);
  tg::bce(tg::sigmoid(zf), TensorF::vector({0})).backward();
  CHECK(zf.grad().item() == doctest::Approx(1 / (1 + std::exp(-15.0))).epsilon(1e-6));
}

TEST_CASE(
    "stability: beyond sigmoid's resolution bce is honestly inf, bce_with_logits stays finite") {
  // sigmoid(40) rounds to exactly 1 in double (e^-40 = 4.2e-18 < half an ulp of 1), so the
  // composed bce sees p = 1 with y = 0: an infinite loss, reported as such (its gradient, inf * 0
  // through the saturated sigmoid, is NaN). The stable form has the true loss and gradient.
  TensorD z = TensorD::vector({40}, true);
  TensorD composed = tg::bce(tg::sigmoid(z), TensorD::vector({0}));
  CHECK(composed.item() == kInf);
  TensorD stable = tg::bce_with_logits(z, TensorD::vector({0}));
  CHECK(stable.item() == doctest::Approx(40.0).epsilon(1e-12));
  stable.backward();
  CHECK(z.grad().item() == doctest::Approx(1.0).epsilon(1e-12));
}

TEST_CASE_TEMPLATE("stability: mean over an empty axis or an empty tensor is a clear ShapeError", T,
                   float, double) {
  const tg::Tensor<T> rows0 = tg::Tensor<T>::zeros(Shape{0, 3}, true);
  auto message = [](auto&& f) -> std::string {
    try {
      f();
    } catch (const tg::ShapeError& e) {
      return e.what();
    }
    return "no ShapeError";
  };
  // Averaging over nothing: axis 0 of [0,3], axis 1 of [3,0], all of [0,3] or [0].
  const std::string axis0 = message([&] { tg::mean(rows0, 0); });
  CHECK(axis0.rfind("mean:", 0) == 0);
  CHECK(axis0.find("axis 0") != std::string::npos);
  CHECK(axis0.find("[0,3]") != std::string::npos);
  CHECK(axis0.find("empty") != std::string::npos);
  const std::string axis1 = message([&] { tg::mean(tg::Tensor<T>::zeros(Shape{3, 0}), 1); });
  CHECK(axis1.find("axis 1") != std::string::npos);
  CHECK(axis1.find("[3,0]") != std::string::npos);
  const std::string all = message([&] { tg::mean(rows0); });
  CHECK(all.rfind("mean:", 0) == 0);
  CHECK(all.find("[0,3]") != std::string::npos);
  CHECK(message([&] { tg::mean(tg::Tensor<T>::zeros(Shape{0})); }).find("[0]") !=
        std::string::npos);
  // A non-empty axis of an empty tensor is fine: axis 1 of [0,3] averages 3 values for each of
  // no rows, giving [0], and differentiates to an empty gradient.
  tg::Tensor<T> m = tg::mean(rows0, 1);
  CHECK(m.shape() == Shape{0});
  tg::Tensor<T> total = tg::sum(m);
  CHECK(total.item() == T(0));
  total.backward();
  CHECK(rows0.grad().shape() == Shape{0, 3});
  // sum over an empty axis is 0, as NumPy's.
  tg::Tensor<T> s = tg::sum(rows0, 0);
  check_values(s, {0, 0, 0}, 1e-12);
}
