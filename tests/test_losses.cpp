// The reductions of the losses that existed before Reduction (mse, bce, bce_with_logits, both
// softmax_ce, bce_backward), bce_with_logits' pos_weight and softmax_ce's ignore_index and
// label_smoothing: values worked out with Python's math module (the one-liners are next to the
// numbers), and the errors they raise. The losses added with Reduction state theirs in their op
// files.
//
// Python helpers used below:
//   import math
//   def xlogy(x, y): return 0 if x == 0 else x * math.log(y)
//   def lsm(r): m = max(r); s = math.log(sum(math.exp(v - m) for v in r)); return [v-m-s for v in
//   r] def sm(r): m = max(r); e = [math.exp(v - m) for v in r]; return [v / sum(e) for v in e] def
//   sp(z): return math.log1p(math.exp(-abs(z))) + max(-z, 0)      # softplus(-z)
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "check_error.hpp"
#include "tapegrad/tapegrad.hpp"

using tg::Labels;
using tg::Reduction;
using tg::Shape;
using tg::TensorD;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

void check_values(const TensorD& t, const Shape& shape, const std::vector<double>& expected) {
  REQUIRE(t.shape() == shape);
  REQUIRE(t.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    INFO("element " << i);
    if (std::isnan(expected[i]))
      CHECK(std::isnan(t.data()[i]));
    else
      CHECK(t.data()[i] == doctest::Approx(expected[i]).epsilon(1e-12));
  }
}

}  // namespace

TEST_CASE("mse with sum and none: the squared differences, their sum, G*2(a-b) unscaled") {
  TensorD a = TensorD::matrix({{1, 2}, {3, 4}}, true);
  const TensorD b = TensorD::zeros(Shape{2, 2});
  check_values(tg::mse(a, b, Reduction::none), Shape{2, 2}, {1, 4, 9, 16});
  const TensorD total = tg::mse(a, b, Reduction::sum);
  check_values(total, Shape{}, {30});
  check_values(tg::grad(total, {a})[0], Shape{2, 2}, {2, 4, 6, 8});
  // The default is still the mean: 30 / 4.
  check_values(tg::mse(a, b), Shape{}, {7.5});
  // none: G weighs each element, d/da of sum(G * (a-b)^2) = 2 G (a-b).
  const TensorD g = TensorD::matrix({{1, 0}, {-1, 0.5}});
  check_values(tg::grad(tg::sum(tg::mse(a, b, Reduction::none) * g), {a})[0], Shape{2, 2},
               {2, 0, -6, 4});
  // A sum of nothing is 0 and none of nothing is empty (PyTorch); the mean of nothing raises.
  check_values(tg::mse(TensorD::zeros(Shape{0}), TensorD::zeros(Shape{0}), Reduction::sum), Shape{},
               {0});
  check_values(tg::mse(TensorD::zeros(Shape{0, 3}), TensorD::zeros(Shape{0, 3}), Reduction::none),
               Shape{0, 3}, {});
}

TEST_CASE("bce with sum and none, and bce_backward without the 1/N") {
  // [-(xlogy(y, p) + xlogy(1-y, 1-p)) for p, y in zip([.25, .5, .9], [1, 0, .5])]
  TensorD p = TensorD::vector({0.25, 0.5, 0.9}, true);
  TensorD y = TensorD::vector({1, 0, 0.5}, true);
  check_values(tg::bce(p, y, Reduction::none), Shape{3},
               {1.3862943611198906, 0.6931471805599453, 1.2039728043259361});
  const TensorD total = tg::bce(p, y, Reduction::sum);
  check_values(total, Shape{}, {3.283414346005772});
  check_values(tg::bce(p, y), Shape{}, {3.283414346005772 / 3});
  // dp = (p-y)/(p(1-p)), dy = log((1-p)/p), unscaled for the sum.
  const auto grads = tg::grad(total, {p, y});
  check_values(grads[0], Shape{3}, {-4, 2, 4.4444444444444455});
  check_values(grads[1], Shape{3}, {1.0986122886681098, 0, -2.1972245773362196});
  // bce_backward itself: G = 2 with sum, and G elementwise with none.
  check_values(tg::bce_backward(TensorD::scalar(2), p, y, Reduction::sum), Shape{3},
               {-8, 4, 8.888888888888891});
  check_values(tg::bce_backward(TensorD::vector({1, -1, 0.5}), p, y, Reduction::none), Shape{3},
               {-4, -2, 2.2222222222222228});
  check_values(tg::bce_backward(TensorD::scalar(3), p, y), Shape{3}, {-4, 2, 4.4444444444444455});
}

TEST_CASE("bce_with_logits with none and with pos_weight along the last axis") {
  // [(1-y)*z + sp(z) for z, y in ((2, 1), (-1, 0))]
  check_values(
      tg::bce_with_logits(TensorD::vector({2, -1}), TensorD::vector({1, 0}), Reduction::none),
      Shape{2}, {0.1269280110429725, 0.3132616875182228});
  // f = lambda z, y, w: (1-y)*z + (1+(w-1)*y)*sp(z), with w = [3, 0.5] per column:
  // [f(2,1,3), f(-1,.25,.5), f(-3,0,3), f(.5,1,.5)]
  const TensorD z = TensorD::matrix({{2, -1}, {-3, 0.5}}, true);
  const TensorD y = TensorD::matrix({{1, 0.25}, {0, 1}}, true);
  const TensorD pw = TensorD::vector({3, 0.5}, true);
  check_values(tg::bce_with_logits(z, y, pw, Reduction::none), Shape{2, 2},
               {0.3807840331289175, 0.399103976578445, 0.048587351573742055, 0.23703849209005334});
  check_values(tg::bce_with_logits(z, y, pw, Reduction::sum), Shape{}, {1.065513853371158});
  check_values(tg::bce_with_logits(z, y, pw), Shape{}, {0.2663784633427895});
  // A pos_weight of ones is no weight at all.
  check_values(tg::bce_with_logits(z, y, TensorD::ones(Shape{2})), Shape{},
               {tg::bce_with_logits(z, y).item()});
  const TensorD total = tg::bce_with_logits(z, y, pw, Reduction::sum);
  const auto grads = tg::grad(total, {z, y, pw});
  // dz = w*sigmoid(z) - pw*y with w = 1+(pw-1)*y:
  //   s = lambda z: 1/(1+math.exp(-z)); [3*s(2)-3, .875*s(-1)-.5*.25, s(-3), .5*s(.5)-.5]
  check_values(
      grads[0], Shape{2, 2},
      {-0.35760876606635295, 0.1103237436987457, 0.04742587317756678, -0.1887703343990727});
  // dy = (pw-1)*sp(z) - z: [2*sp(2)-2, -.5*sp(-1)+1, 2*sp(-3)+3, -.5*sp(.5)-.5]
  check_values(grads[1], Shape{2, 2},
               {-1.746143977914055, 0.3433691562408886, 9.097174703147484, -0.7370384920900533});
  // dpw = sum over rows of y*sp(z): [1*sp(2) + 0*sp(-3), .25*sp(-1) + 1*sp(.5)]
  check_values(grads[2], Shape{2}, {0.1269280110429725, 0.8023924060596623});
  check_error<tg::ShapeError>(
      [] {
        tg::bce_with_logits(TensorD::zeros(Shape{2, 2}), TensorD::zeros(Shape{2, 2}),
                            TensorD::ones(Shape{3}));
      },
      {"bce_with_logits", "pos_weight[3]", "z[2,2]"});
}

TEST_CASE("softmax_ce with labels: none, sum, ignore_index -100 and label_smoothing") {
  const TensorD logits = TensorD::matrix({{1, 2, 3}, {0.5, -1, 2}, {3, 0, -2}, {0, 0, 0}}, true);
  const Labels labels{2, -100, 0, 1};
  // [-lsm(r)[l] for r, l in zip(X, L) if l != -100]; the ignored row is 0
  check_values(tg::softmax_ce(logits, labels, Reduction::none), Shape{4},
               {0.4076059644443804, 0, 0.05498523537714723, 1.0986122886681098});
  check_values(tg::softmax_ce(logits, labels, Reduction::sum), Shape{}, {1.5612034884896375});
  // The mean divides by the 3 rows left, not 4.
  check_values(tg::softmax_ce(logits, labels), Shape{}, {0.5204011628298791});
  // (1-eps)*(-lsm(r)[l]) + eps*sum(-v for v in lsm(r))/3 with eps = 0.1
  const tg::CrossEntropyOptions smoothed{.label_smoothing = 0.1};
  check_values(
      tg::softmax_ce(logits, labels, {.label_smoothing = 0.1, .reduction = Reduction::none}),
      Shape{4}, {0.5076059644443804, 0, 0.3216519020438139, 1.0986122886681098});
  const TensorD mean = tg::softmax_ce(logits, labels, smoothed);
  check_values(mean, Shape{}, {0.6426233850521014});
  check_values(
      tg::softmax_ce(logits, labels, {.label_smoothing = 0.1, .reduction = Reduction::sum}),
      Shape{}, {1.9278701551563042});
  // (sm(r)[c] - 0.9*(c == l) - 0.1/3)/3 on the rows left, 0 on the ignored one.
  check_values(tg::grad(mean, {logits})[0], Shape{4, 3},
               {0.018899079945682375, 0.07046504590715477, -0.08936412585283719, 0, 0, 0,
                0.004388596406520115, 0.004596694397110274, -0.008985290803630345,
                0.09999999999999999, -0.19999999999999998, 0.09999999999999999});
  // An ignore_index in range ignores that class's rows; -100 is then an ordinary bad label.
  check_values(
      tg::softmax_ce(logits, Labels{2, 1, 0, 1}, {.ignore_index = 1, .reduction = Reduction::sum}),
      Shape{}, {0.4076059644443804 + 0.05498523537714723});
  check_error<tg::IndexError>([&] { tg::softmax_ce(logits, labels, {.ignore_index = 1}); },
                              {"softmax_ce", "label -100 at row 1", "logits[4,3]"});
  // Every row ignored: the mean is 0/0, the sum 0 (PyTorch); no gradient reaches the logits.
  const TensorD none_left = tg::softmax_ce(logits, Labels{-100, -100, -100, -100});
  CHECK(std::isnan(none_left.item()));
  check_values(tg::softmax_ce(logits, Labels{-100, -100, -100, -100}, Reduction::sum), Shape{},
               {0});
  check_values(tg::grad(none_left, {logits})[0], Shape{4, 3}, std::vector<double>(12, 0));
  // The labels other than ignore_index are checked as before.
  check_error<tg::IndexError>(
      [&] {
        tg::softmax_ce(logits, Labels{2, -1, 0, 1});
      },
      {"softmax_ce", "label -1 at row 1", "valid 0..2"});
  check_error<tg::DomainError>(
      [&] {
        tg::softmax_ce(logits, Labels{2, 1, 0, 1}, {.label_smoothing = 1.5});
      },
      {"softmax_ce", "label_smoothing", "1.5"});
  check_error<tg::DomainError>(
      [&] {
        tg::softmax_ce(logits, Labels{2, 1, 0, 1}, {.label_smoothing = kNaN});
      },
      {"softmax_ce", "label_smoothing"});
}

TEST_CASE("softmax_ce with targets: none and sum over the rows") {
  // [-sum(t*v for t, v in zip(tr, lsm(r))) for tr, r in zip(T, X)]
  TensorD logits = TensorD::matrix({{1, 2, 3}, {0.5, -1, 2}}, true);
  const TensorD targets = TensorD::matrix({{0, 0, 1}, {0.2, 0.3, 0.5}});
  check_values(tg::softmax_ce(logits, targets, Reduction::none), Shape{2},
               {0.4076059644443804, 1.441311296657157});
  const TensorD total = tg::softmax_ce(logits, targets, Reduction::sum);
  check_values(total, Shape{}, {1.8489172611015374});
  // Row 0 is one-hot: d/dlogits = sm(r) - t (rows of the targets sum to 1, no 1/n for the sum).
  // sm([1, 2, 3]) = [0.09003057317038046, 0.24472847105479764, 0.6652409557748218]
  const TensorD g = tg::grad(total, {logits})[0];
  CHECK(g.data()[0] == doctest::Approx(0.09003057317038046).epsilon(1e-12));
  CHECK(g.data()[2] == doctest::Approx(0.6652409557748218 - 1).epsilon(1e-12));
  // none: G picks rows.
  const TensorD rows = tg::softmax_ce(logits, targets, Reduction::none);
  const TensorD g0 = tg::grad(tg::sum(rows * TensorD::vector({1, 0})), {logits})[0];
  CHECK(g0.data()[1] == doctest::Approx(0.24472847105479764).epsilon(1e-12));
  CHECK(g0.data()[4] == 0);
}

TEST_CASE("every loss refuses a Reduction that names none of mean, sum and none") {
  const auto bad = static_cast<Reduction>(9);
  const TensorD x = TensorD::full(Shape{2, 2}, 0.5);
  check_error<tg::DomainError>([&] { tg::mse(x, x, bad); }, {"mse: unknown reduction 9"});
  check_error<tg::DomainError>([&] { tg::bce(x, x, bad); }, {"bce: unknown reduction 9"});
  check_error<tg::DomainError>([&] { tg::bce_with_logits(x, x, bad); },
                               {"bce_with_logits: unknown reduction 9"});
  check_error<tg::DomainError>([&] { tg::bce_with_logits(x, x, TensorD::ones(Shape{2}), bad); },
                               {"bce_with_logits: unknown reduction 9"});
  check_error<tg::DomainError>(
      [&] {
        tg::softmax_ce(x, Labels{0, 1}, bad);
      },
      {"softmax_ce: unknown reduction 9"});
  check_error<tg::DomainError>([&] { tg::softmax_ce(x, x, bad); },
                               {"softmax_ce_onehot: unknown reduction 9"});
  check_error<tg::DomainError>([&] { tg::bce_backward(x, x, x, bad); },
                               {"bce_backward: unknown reduction 9"});
  // The mean keeps its errors; sum and none accept what the mean cannot average.
  check_error<tg::ShapeError>([] { tg::bce(TensorD::zeros(Shape{0}), TensorD::zeros(Shape{0})); },
                              {"bce: empty input [0]"});
  check_error<tg::ShapeError>(
      [] { tg::mse(TensorD::zeros(Shape{2}), TensorD::zeros(Shape{3}), Reduction::none); },
      {"mse", "[2] and [3]"});
}
