// Forward values and gradients: each op's own, worked out independently of its kernel, are in its
// file (OpCases: hand-worked arithmetic or NumPy one-liners next to the numbers) and run by the
// first test here. What stays below is not one op's data: that every op has such values, the
// conventions that take more than one op, and the float instantiations.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "library_ops.hpp"
#include "tapegrad/tapegrad.hpp"

using tg::Shape;
using tg::TensorD;
using tg::TensorF;

namespace {

// Checks shape and every element. Expected NaN matches NaN, expected +-inf matches exactly,
// everything else within a relative epsilon (doctest::Approx, scale 1: absolute near 0).
template <class T>
void check_tensor(const tg::Tensor<T>& t, const Shape& shape, const std::vector<double>& expected,
                  double eps = 1e-12) {
  REQUIRE(t.defined());
  CHECK(t.shape().str() == shape.str());
  REQUIRE(t.size() == expected.size());
  const std::vector<T> got = t.to_vector();
  for (std::size_t i = 0; i < expected.size(); ++i) {
    INFO("element " << i << ": got " << double(got[i]) << ", expected " << expected[i]);
    const double v = double(got[i]);
    if (std::isnan(expected[i]))
      CHECK(std::isnan(v));
    else if (std::isinf(expected[i]))
      CHECK(v == expected[i]);
    else
      CHECK(v == doctest::Approx(expected[i]).epsilon(eps));
  }
}

template <class T> void check_scalar(const tg::Tensor<T>& t, double expected, double eps = 1e-12) {
  check_tensor(t, Shape{}, {expected}, eps);
}

// Every element finite.
template <class T> bool all_finite(const tg::Tensor<T>& t) {
  for (T v : t.to_vector())
    if (!std::isfinite(v)) return false;
  return true;
}

}  // namespace

// The registry's forward cases: every op carries, in its own file, values worked out
// independently of its kernel; this runs them all.
TEST_CASE("every registered op gives the forward values worked out for it") {
  for (const tg::OpInfo& op : tg::registered_ops()) {
    if (!op.cases) continue;
    for (const tg::ForwardCase& c : op.cases().forward) {
      INFO("op " << op.name << ", forward case " << c.label);
      check_tensor(c.call(), c.shape, c.values, c.tolerance);
    }
  }
}

// The library's own ops are its op files (listed by the build); an op a program registers itself
// may come without cases.
TEST_CASE("every op of the library has forward values worked out for it") {
  for (const std::string& name : library_op_names()) {
    INFO("op " << name);
    const tg::OpInfo* op = find_registered_op(name);
    REQUIRE(op != nullptr);
    REQUIRE(static_cast<bool>(op->cases));
    CHECK(!op->cases().forward.empty());
  }
}

// ============================================================================================
// Conventions that take more than one op
// ============================================================================================

TEST_CASE("bce after a saturated sigmoid: dz = (p - y)/N, not a tenth of it") {
  // z = [30, -2], y = [0, 1], N = 2. p(1-p) at z = 30 is 9.4e-14 < 1e-12, where PyTorch's clamp
  // would give 0.094 * (p - y)/N. The chain bce' * sigmoid' must give (p - y)/N.
  TensorD z = TensorD::vector({30, -2}, true);
  const TensorD y = TensorD::vector({0, 1});
  TensorD p = tg::sigmoid(z);
  TensorD loss = tg::bce(p, y);
  // -log(1 - sigmoid(30)) = log(1 + e^30) ~ 30.0000000000000936; -log(sigmoid(-2)) = log(1+e^2)
  // np.mean([np.logaddexp(0, 30.0), np.logaddexp(0, 2.0)]) = 16.06346400552153. Loose tolerance:
  // 1 - p at p = sigmoid(30) keeps only ~3 significant digits in double, so an honest
  // -log(1 - p) = 30.001020555434774 (-np.log(1-1/(1+np.exp(-30.0)))) is off by 1e-3.
  check_scalar(loss, 16.06346400552153, 1e-4);
  loss.backward();
  // 1/(1+np.exp(-30.0)) = 0.9999999999999065; 1/(1+np.exp(2.0)) = 0.11920292202211755
  const std::vector<double> g = z.grad().to_vector();
  CHECK(g[0] == doctest::Approx(0.9999999999999065 / 2).epsilon(1e-6));
  CHECK(g[1] == doctest::Approx((0.11920292202211755 - 1) / 2).epsilon(1e-6));
}

TEST_CASE("bce_with_logits agrees with bce(sigmoid(z)) for moderate z") {
  TensorD z1 = TensorD::matrix({{0.5, -1.2}, {2.0, 0.1}}, true);
  TensorD z2 = TensorD::matrix({{0.5, -1.2}, {2.0, 0.1}}, true);
  const TensorD y = TensorD::matrix({{1, 0}, {0.25, 1}});
  TensorD l1 = tg::bce_with_logits(z1, y);
  TensorD l2 = tg::bce(tg::sigmoid(z2), y);
  CHECK(l1.item() == doctest::Approx(l2.item()).epsilon(1e-12));
  l1.backward();
  l2.backward();
  const std::vector<double> g1 = z1.grad().to_vector(), g2 = z2.grad().to_vector();
  for (std::size_t i = 0; i < 4; ++i) CHECK(g1[i] == doctest::Approx(g2[i]).epsilon(1e-12));
}

TEST_CASE("softmax_ce with one-hot targets agrees with integer labels (value and gradient)") {
  TensorD l1 = TensorD::matrix({{1, 2, 3}, {1, -1, 0.5}, {0, 0, 0}}, true);
  TensorD l2 = TensorD::matrix({{1, 2, 3}, {1, -1, 0.5}, {0, 0, 0}}, true);
  const TensorD onehot = TensorD::matrix({{0, 0, 1}, {1, 0, 0}, {0, 1, 0}});
  TensorD a = tg::softmax_ce(l1, tg::Labels{2, 0, 1});
  TensorD b = tg::softmax_ce(l2, onehot);
  CHECK(a.shape().str() == "[]");
  CHECK(b.shape().str() == "[]");
  CHECK(a.item() == doctest::Approx(b.item()).epsilon(1e-12));
  a.backward();
  b.backward();
  const std::vector<double> g1 = l1.grad().to_vector(), g2 = l2.grad().to_vector();
  for (std::size_t i = 0; i < g1.size(); ++i) CHECK(g1[i] == doctest::Approx(g2[i]).epsilon(1e-12));
}

// ============================================================================================
// float
// ============================================================================================

// The driver's tolerance is relative to max(1, |value|): a value of 4e-18 needs its own check.
TEST_CASE_TEMPLATE("bce_with_logits: log1p keeps the tail at |z| = 40 (1 + e^-40 rounds to 1)", T,
                   float, double) {
  // A confident right answer: z = 40, y = 1 and z = -40, y = 0, each term log1p(e^-40), where
  // log(1 + e^-40) is log(1) = 0. np.log1p(np.exp(-40.0)) = 4.248354255291589e-18; in float32,
  // np.log1p(np.exp(np.float32(-40))) = 4.2483543e-18.
  const tg::Tensor<T> z = tg::Tensor<T>::vector({40, -40});
  const tg::Tensor<T> y = tg::Tensor<T>::vector({1, 0});
  const double loss = double(tg::bce_with_logits(z, y).item());
  // Relative (scale 0): with doctest's default absolute floor 4e-18 and 0 would both pass.
  CHECK(loss == doctest::Approx(4.248354255291589e-18).epsilon(1e-6).scale(0));
}

TEST_CASE("float: matmul with flags, broadcasting and scalar operators") {
  const TensorF a = TensorF::matrix({{1, 2, 3}, {4, 5, 6}});
  const TensorF b = TensorF::matrix({{7, 8}, {9, 10}, {11, 12}});
  check_tensor(tg::matmul(a, b), Shape{2, 2}, {58, 64, 139, 154}, 1e-6);
  check_tensor(tg::matmul(b, a, true, true), Shape{2, 2}, {58, 139, 64, 154}, 1e-6);
  check_tensor(a + TensorF::vector({10, 20, 30}), Shape{2, 3}, {11, 22, 33, 14, 25, 36}, 1e-6);
  check_tensor(1.0f - a * 2.0f, Shape{2, 3}, {-1, -3, -5, -7, -9, -11}, 1e-6);
  check_tensor(tg::add_bias(a, TensorF::vector({1, 1, 1})), Shape{2, 3}, {2, 3, 4, 5, 6, 7}, 1e-6);
  check_tensor(tg::sum(a, 0), Shape{3}, {5, 7, 9}, 1e-6);
  check_tensor(tg::mean(a, 1), Shape{2}, {2, 5}, 1e-6);
  check_tensor(tg::transpose(a), Shape{3, 2}, {1, 4, 2, 5, 3, 6}, 1e-6);
}

TEST_CASE("float: unary ops, sigmoid at +-800, tanh at +-1000, relu at 0") {
  TensorF x = TensorF::vector({-800, 800, 0}, true);
  TensorF s = tg::sigmoid(x);
  check_tensor(s, Shape{3}, {0, 1, 0.5}, 1e-6);
  tg::sum(s).backward();
  check_tensor(x.grad(), Shape{3}, {0, 0, 0.25}, 1e-6);
  check_tensor(tg::tanh(TensorF::vector({1000, -1000, 0.5f})), Shape{3},
               {1, -1, 0.46211715726000974}, 1e-6);
  TensorF r = TensorF::vector({-1, 0, 2}, true);
  tg::sum(tg::relu(r)).backward();
  check_tensor(r.grad(), Shape{3}, {0, 0, 1}, 1e-6);
  check_tensor(tg::exp(TensorF::vector({1})), Shape{1}, {2.718281828459045}, 1e-6);
  check_tensor(tg::log(TensorF::vector({0.5f})), Shape{1}, {-0.6931471805599453}, 1e-6);
  check_tensor(tg::pow(TensorF::vector({4, 9}), 0.5f), Shape{2}, {2, 3}, 1e-6);
}

TEST_CASE("float: softmax/log_softmax at +-800 and the losses") {
  const TensorF x = TensorF::matrix({{800, -800, 0}, {1, 2, 3}});
  const TensorF s = tg::softmax(x);
  const TensorF l = tg::log_softmax(x);
  CHECK(all_finite(s));
  CHECK(all_finite(l));
  check_tensor(s, Shape{2, 3},
               {1, 0, 0, 0.09003057317038043, 0.24472847105479767, 0.6652409557748218}, 1e-5);
  check_tensor(l, Shape{2, 3},
               {0, -1600, -800, -2.4076059644443806, -1.4076059644443804, -0.40760596444438035},
               1e-5);
  TensorF a = TensorF::matrix({{1, 2}, {3, 4}}, true);
  TensorF m = tg::mse(a, TensorF::matrix({{0, 2}, {5, 1}}));
  check_scalar(m, 3.5, 1e-6);
  m.backward();
  check_tensor(a.grad(), Shape{2, 2}, {0.5, 0, -1, 1.5}, 1e-6);
  check_scalar(tg::bce(TensorF::vector({0.9f, 0.2f, 0.6f, 0.3f}), TensorF::vector({1, 0, 1, 0.5f})),
               0.40491339121759024, 1e-5);
  TensorF z = TensorF::vector({-1000, 1000, 0, 2, -3, 1000, -1000}, true);
  TensorF bl = tg::bce_with_logits(z, TensorF::vector({0, 1, 1, 0, 1, 0, 1}));
  check_scalar(bl, 286.55266607759665, 1e-5);
  bl.backward();
  CHECK(all_finite(z.grad()));
  check_scalar(tg::softmax_ce(TensorF::matrix({{1, 2, 3}, {1, -1, 0.5f}}), tg::Labels{2, 0}),
               0.48128144204318546, 1e-5);
  check_scalar(tg::softmax_ce(TensorF::matrix({{1, 2, 3}, {1, -1, 0.5f}}),
                              TensorF::matrix({{0.2f, 0.3f, 0.5f}, {0.6f, 0.1f, 0.3f}})),
               1.0062814420431854, 1e-5);
  check_scalar(tg::softmax_ce(TensorF::matrix({{800, -800, 0}}), tg::Labels{1}), 1600, 1e-6);
}
