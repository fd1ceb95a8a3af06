// Second order: the per-op gradgradcheck suite, grad() semantics, Hessian-vector products and
// Hessians against hand-derived ones and finite differences, and a gradient-norm penalty.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "library_ops.hpp"
#include "tapegrad/grad.hpp"
#include "tapegrad/gradcheck.hpp"
#include "tapegrad/gradgradcheck.hpp"
#include "tapegrad/node.hpp"
#include "tapegrad/ops.hpp"
#include "tapegrad/registry.hpp"

using tg::TensorD;

namespace {

double max_abs_diff(const TensorD& a, const TensorD& b) {
  REQUIRE(a.size() == b.size());
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    worst = std::max(worst, std::abs(a.data()[i] - b.data()[i]));
  return worst;
}

double max_abs(const TensorD& a) {
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a.data()[i]));
  return worst;
}

// Central differences of a tensor-valued function of x, one column per element of x:
// J[i, j] = d out_i / d x_j, returned as [out.size(), x.size()].
TensorD numeric_jacobian(const std::function<TensorD(const TensorD&)>& fn, const TensorD& x,
                         double eps = 1e-6) {
  TensorD probe = x.clone();
  const std::size_t m = fn(probe).size(), n = x.size();
  TensorD J = TensorD::zeros({m, n});
  for (std::size_t j = 0; j < n; ++j) {
    const double saved = probe.data()[j];
    probe.data()[j] = saved + eps;
    const TensorD plus = fn(probe).clone();
    probe.data()[j] = saved - eps;
    const TensorD minus = fn(probe).clone();
    probe.data()[j] = saved;
    for (std::size_t i = 0; i < m; ++i)
      J.data()[i * n + j] = (plus.data()[i] - minus.data()[i]) / (2 * eps);
  }
  return J;
}

// The gradient of a scalar function of one tensor, as a value.
TensorD gradient_of(const std::function<TensorD(const TensorD&)>& f, const TensorD& x) {
  TensorD leaf = x.clone();
  leaf.set_requires_grad(true);
  return tg::grad(f(leaf), {leaf})[0];
}

}  // namespace

// ---- the per-op suite ------------------------------------------------------------------------

TEST_CASE("every registered op passes the second-order check (gradgradcheck) in double") {
  const auto rows = tg::check_registered_ops_second_order({1, 2, 3});
  REQUIRE(rows.size() == tg::registered_ops().size());
  for (const auto& row : rows) {
    CAPTURE(row.op);
    CAPTURE(row.worst_sample);
    CHECK_MESSAGE(row.passed, row.failure);
    CHECK(row.samples_run > 0);
    CHECK(row.worst_relative_error < 1e-7);
  }
}

TEST_CASE(
    "every registered op passes the second-order check in float, against double differences") {
  // Float differences of a float gradient cannot resolve a steep second derivative (bce's grows
  // like 1/p^2, bce_backward's third order in p reaches 1e5 on its samples); double differences of
  // the double gradient at the float inputs' values can, at float's own tolerance.
  const auto rows = tg::check_registered_ops_second_order({1, 2, 3}, {}, true);
  REQUIRE(rows.size() == 2 * tg::registered_ops().size());
  std::size_t float_rows = 0;
  for (const auto& row : rows) {
    if (row.dtype != "f32") continue;
    ++float_rows;
    CAPTURE(row.op);
    CAPTURE(row.worst_sample);
    CHECK_MESSAGE(row.passed, row.failure);
    CHECK(row.samples_run > 0);
  }
  CHECK(float_rows == tg::registered_ops().size());
}

TEST_CASE("gradgradcheck in float takes double differences when the function also runs in double") {
  // bce at p = 0.899: float differences of the float gradient start 10% away, next to the pole of
  // 1/(1-p) at 1, and their error estimate (about 4) is of the order of the second derivative
  // (12.6), so they cannot judge it. The double gradient's differences at the same float values
  // can, and the float second derivatives agree with them to float's precision.
  const tg::TensorF p = tg::TensorF::vector({0.899136f, 0.30942f});
  const tg::TensorF y = tg::TensorF::vector({0.183249f, 1});
  const auto report = tg::gradgradcheck([](const auto& in) { return tg::bce(in[0], in[1]); },
                                        {p, y}, {.names = {"p", "y"}});
  CHECK_MESSAGE(report.passed, report);
  CHECK(report.reference == "double differences");
  CHECK(report.inputs.size() == 3);  // p, y and the upstream gradient
  CHECK(report.tolerance < 1e-5);
  // A function that only runs in float is still differentiated in float.
  const auto float_only =
      tg::gradgradcheck([](const std::vector<tg::TensorF>& in) { return tg::sum(tg::tanh(in[0])); },
                        {tg::TensorF::vector({0.5f, -0.25f})});
  CHECK_MESSAGE(float_only.passed, float_only);
  CHECK(float_only.reference.empty());
}

TEST_CASE("an op's recorded gradient depends on its inputs unless its cases say it does not") {
  // Linear ops (add, reshape, slice) and piecewise-constant selections (relu_backward, maximum,
  // where, max) state gradient_constant_in_inputs; every other op's recorded backward must be a
  // function of its inputs (a raw kernel in an adjoint would make it constant).
  for (const auto& row : tg::check_registered_ops_second_order({1})) {
    CAPTURE(row.op);
    const tg::OpInfo* op = find_registered_op(row.op);
    REQUIRE(op != nullptr);
    const bool constant = op->cases && op->cases().gradient_constant_in_inputs;
    CHECK(row.gradient_depends_on_inputs == !constant);
  }
}

namespace {

// An op defined outside the library whose adjoint is computed with a raw loop: right to first
// order, but the recorded backward is a constant, so its second derivative is silently zero.
class SquareRawNode final : public tg::Node<double> {
 public:
  TensorD x;
  const char* name() const override { return "square_raw"; }
  void backward(const TensorD& g, tg::Grads<double>& grads) override {
    TensorD d = TensorD::empty(x.shape());
    for (std::size_t i = 0; i < x.size(); ++i) d.data()[i] = 2 * x.data()[i] * g.data()[i];
    grads[0] = d;
  }
};

// The same op with its adjoint written with the engine's ops: differentiable again.
class SquareNode final : public tg::Node<double> {
 public:
  TensorD x;
  const char* name() const override { return "square"; }
  void backward(const TensorD& g, tg::Grads<double>& grads) override { grads[0] = g * x * 2.0; }
};

template <class NodeT> TensorD square(const TensorD& x) {
  TensorD out = TensorD::empty(x.shape());
  for (std::size_t i = 0; i < x.size(); ++i) out.data()[i] = x.data()[i] * x.data()[i];
  if (auto* node = tg::record<NodeT>(out, {&x})) node->x = x;
  return out;
}

}  // namespace

TEST_CASE(
    "gradgradcheck catches an adjoint that does not record (a silent zero second derivative)") {
  std::mt19937_64 rng(5);
  const TensorD x = TensorD::uniform({3, 2}, -1, 1, rng);
  auto raw = [](const std::vector<TensorD>& in) { return tg::sum(square<SquareRawNode>(in[0])); };
  auto good = [](const std::vector<TensorD>& in) { return tg::sum(square<SquareNode>(in[0])); };
  CHECK(tg::gradcheck(raw, {x}).passed);  // first order is right
  const auto bad = tg::gradgradcheck(raw, {x});
  CHECK_FALSE(bad.passed);
  CHECK(bad.inputs[0].worst_analytic == 0.0);
  CHECK(std::abs(bad.inputs[0].worst_numeric) > 0.1);
  const auto ok = tg::gradgradcheck(good, {x}, {.names = {"x"}});
  CHECK_MESSAGE(ok.passed, ok);
  REQUIRE(ok.inputs.size() == 2);
  CHECK(ok.inputs[0].name == "x");
  CHECK(ok.inputs[1].name == "upstream");
}

TEST_CASE("gradgradcheck on a composite function, with and without the upstream input") {
  std::mt19937_64 rng(6);
  const TensorD W = TensorD::uniform({3, 2}, -1, 1, rng);
  const TensorD X = TensorD::uniform({4, 3}, -1, 1, rng);
  auto f = [](const std::vector<TensorD>& in) {
    return tg::softmax(tg::tanh(tg::matmul(in[1], in[0])));  // [4,2], not a scalar
  };
  const auto with_u = tg::gradgradcheck(f, {W, X}, {.names = {"W", "X"}});
  CHECK_MESSAGE(with_u.passed, with_u);
  CHECK(with_u.inputs.size() == 3);
  const auto without_u = tg::gradgradcheck(f, {W, X}, {.check_upstream = false});
  CHECK_MESSAGE(without_u.passed, without_u);
  CHECK(without_u.inputs.size() == 2);
  // The caller's tensors are untouched.
  CHECK_FALSE(W.requires_grad());
  CHECK_FALSE(X.requires_grad());
}

TEST_CASE("gradgradcheck works when called under NoGradGuard") {
  TensorD x = TensorD::vector({0.3, -0.7, 1.1});
  tg::NoGradGuard no_grad;
  const auto report =
      tg::gradgradcheck([](const auto& in) { return tg::sum(tg::exp(in[0]) * in[0]); }, {x});
  CHECK_MESSAGE(report.passed, report);
  CHECK_FALSE(tg::grad_enabled());
}

// ---- grad() ----------------------------------------------------------------------------------

TEST_CASE("grad returns d output / d input and leaves every .grad as it was") {
  TensorD x = TensorD::vector({1.0, 2.0, -0.5}, true);
  TensorD w = TensorD::vector({0.5, -1.0, 2.0}, true);  // reached by the pass, not asked for
  tg::sum(x * x).backward();                            // x.grad = 2x, accumulated earlier
  const std::vector<double> before = x.grad().to_vector();

  const auto g = tg::grad(tg::sum(x * w), {x});
  REQUIRE(g.size() == 1);
  CHECK(g[0].to_vector() == w.to_vector());
  CHECK_FALSE(g[0].requires_grad());
  CHECK(x.grad().to_vector() == before);
  CHECK_FALSE(w.has_grad());  // w's gradient was computed by the pass and then put back (none)
}

TEST_CASE("grad: zeros for an input the output does not depend on") {
  TensorD x = TensorD::vector({1.0, 2.0}, true);
  TensorD unused = TensorD::zeros({2, 3}, true);
  tg::sum(unused * 3.0).backward();  // an old gradient that must not leak into the result
  const auto g = tg::grad(tg::sum(tg::exp(x)), {x, unused});
  CHECK(g[1].shape() == tg::Shape{2, 3});
  CHECK(max_abs(g[1]) == 0.0);
  CHECK(g[0].to_vector() == tg::exp(x.detach()).to_vector());  // d/dx sum(e^x) = e^x
  CHECK(unused.grad().to_vector() == std::vector<double>(6, 3.0));

  // An output that requires no gradient at all: zeros for every input.
  tg::NoGradGuard no_grad;
  const auto z = tg::grad(tg::sum(x), {x});
  CHECK(z[0].to_vector() == std::vector<double>{0.0, 0.0});
}

TEST_CASE("grad with create_graph gives differentiable gradients (x^3 -> 3x^2 -> 6x -> 6)") {
  TensorD x = TensorD::vector({1.5, -2.0}, true);
  const auto d1 = tg::grad(tg::sum(tg::pow(x, 3.0)), {x}, {.create_graph = true});
  CHECK(d1[0].requires_grad());
  CHECK(d1[0].to_vector() == std::vector<double>{6.75, 12.0});
  const auto d2 = tg::grad(tg::sum(d1[0]), {x}, {.create_graph = true});
  CHECK(d2[0].to_vector() == std::vector<double>{9.0, -12.0});
  const auto d3 = tg::grad(tg::sum(d2[0]), {x});
  CHECK(d3[0].to_vector() == std::vector<double>{6.0, 6.0});
  CHECK_FALSE(x.has_grad());
}

TEST_CASE("third derivatives through the fused backward ops: sigmoid''' and tanh'''") {
  for (const double v : {-1.3, 0.2, 2.1}) {
    CAPTURE(v);
    TensorD x = TensorD::scalar(v, true);
    const auto s1 = tg::grad(tg::sigmoid(x), {x}, {.create_graph = true})[0];
    const auto s2 = tg::grad(s1, {x}, {.create_graph = true})[0];
    const auto s3 = tg::grad(s2, {x})[0];
    const double s = 1 / (1 + std::exp(-v));
    CHECK(s3.item() == doctest::Approx(s * (1 - s) * (1 - 6 * s + 6 * s * s)).epsilon(1e-13));
    const auto t1 = tg::grad(tg::tanh(x), {x}, {.create_graph = true})[0];
    const auto t2 = tg::grad(t1, {x}, {.create_graph = true})[0];
    const auto t3 = tg::grad(t2, {x})[0];
    const double t = std::tanh(v);
    CHECK(t3.item() == doctest::Approx(-2 * (1 - t * t) * (1 - 3 * t * t)).epsilon(1e-13));
  }
}

TEST_CASE("bce's second derivatives at hard and soft targets that require a gradient") {
  // L = -(y log p + (1-y) log(1-p)) with N = 1, p = 0.3:
  //   dL/dp = (1-y)/(1-p) - y/p, linear in y, so for every y (0, 0.5 and 1 alike)
  //   d2L/dy dp = -1/(1-p) - 1/p = -1/(p(1-p)) = -1/0.21 = -4.761904761904762,
  //   d2L/dp dy = d/dp (log(1-p) - log p) = the same (the Hessian is symmetric),
  //   d2L/dp2 = (1-y)/(1-p)^2 + y/p^2: 1/0.49 = 2.0408163265306123 at y = 0,
  //   0.5/0.49 + 0.5/0.09 = 6.575963718820862 at y = 0.5, 1/0.09 = 11.11111111111111 at y = 1,
  //   d2L/dy2 = 0.
  const double mixed = -1 / (0.3 * 0.7);
  const double pp[] = {1 / 0.49, 0.5 / 0.49 + 0.5 / 0.09, 1 / 0.09};
  CHECK(mixed == doctest::Approx(-4.761904761904762).epsilon(1e-15));
  const double targets[] = {0, 0.5, 1};
  for (int i = 0; i < 3; ++i) {
    CAPTURE(targets[i]);
    TensorD p = TensorD::vector({0.3}, true);
    TensorD y = TensorD::vector({targets[i]}, true);
    const auto d = tg::grad(tg::bce(p, y), {p, y}, {.create_graph = true});
    const auto dp = tg::grad(tg::sum(d[0]), {p, y}, {.create_graph = true});
    const auto dy = tg::grad(tg::sum(d[1]), {p, y}, {.create_graph = true});
    CHECK(dp[0].item() == doctest::Approx(pp[i]).epsilon(1e-13));
    CHECK(dp[1].item() == doctest::Approx(mixed).epsilon(1e-13));
    CHECK(dy[0].item() == doctest::Approx(mixed).epsilon(1e-13));
    CHECK(dy[1].item() == 0.0);
  }
  // The same with N = 3 in one tensor: every entry of the mixed derivative is -4.7619/3.
  TensorD p = TensorD::vector({0.3, 0.3, 0.3}, true);
  TensorD y = TensorD::vector({0, 0.5, 1}, true);
  const auto d = tg::grad(tg::bce(p, y), {p}, {.create_graph = true});
  const auto h = tg::grad(tg::sum(d[0]), {p, y});
  for (std::size_t j = 0; j < 3; ++j) {
    CHECK(h[0].to_vector()[j] == doctest::Approx(pp[j] / 3).epsilon(1e-13));
    CHECK(h[1].to_vector()[j] == doctest::Approx(mixed / 3).epsilon(1e-13));
  }
}

TEST_CASE("bce's third derivative in p at hard targets: 2(1-y)/(1-p)^3 - 2y/p^3") {
  // p = 0.3: 2/0.343 = 5.830903790087463 at y = 0, -2/0.027 = -74.07407407407408 at y = 1.
  const double expected[] = {2 / 0.343, -2 / 0.027};
  const double targets[] = {0, 1};
  for (int i = 0; i < 2; ++i) {
    CAPTURE(targets[i]);
    TensorD p = TensorD::scalar(0.3, true);
    TensorD y = TensorD::scalar(targets[i], true);
    const auto d1 = tg::grad(tg::bce(p, y), {p}, {.create_graph = true})[0];
    const auto d2 = tg::grad(d1, {p}, {.create_graph = true})[0];
    const auto d3 = tg::grad(d2, {p, y});
    CHECK(d3[0].item() == doctest::Approx(expected[i]).epsilon(1e-12));
    // d/dy of d2L/dp2 = -1/(1-p)^2 + 1/p^2 = -2.0408163265306123 + 11.11111111111111
    CHECK(d3[1].item() == doctest::Approx(-1 / 0.49 + 1 / 0.09).epsilon(1e-12));
  }
}

TEST_CASE("bce's first order at the edges is unchanged by its fused adjoint (recorded or not)") {
  // p = 0, y = 0 and p = 1, y = 1 are zero terms with finite gradients (1/N and -1/N); p = 0,
  // y = 1 is honestly -inf; a soft target in the middle. N = 4.
  for (const bool recorded : {false, true}) {
    CAPTURE(recorded);
    TensorD p = TensorD::vector({0, 1, 0, 0.25}, true);
    const TensorD y = TensorD::vector({0, 1, 1, 0.5});
    tg::bce(p, y).backward({.create_graph = recorded});
    const std::vector<double> g = p.grad().to_vector();
    CHECK(g[0] == 0.25);
    CHECK(g[1] == -0.25);
    CHECK(g[2] == -std::numeric_limits<double>::infinity());
    // (0.5/0.75 - 0.5/0.25)/4 = (0.6666666666666666 - 2)/4
    CHECK(g[3] == doctest::Approx((0.5 / 0.75 - 2) / 4).epsilon(1e-15));
    p.zero_grad();
  }
}

TEST_CASE("grad, hvp and hessian leave no graph alive behind them") {
  const auto before = tg::memory_stats().live_nodes;
  {
    TensorD x = TensorD::vector({0.3, 0.4}, true);
    const auto g = tg::grad(tg::sum(tg::sigmoid(x) * x), {x}, {.create_graph = true});
    const auto h = tg::grad(tg::sum(g[0]), {x}, {.create_graph = true});
    CHECK(h[0].requires_grad());
    const TensorD H = tg::hessian([](const TensorD& t) { return tg::sum(tg::sigmoid(t) * t); }, x);
    const auto Hv = tg::hvp([](const auto& in) { return tg::sum(tg::tanh(in[0])); }, {x}, {x});
  }
  CHECK(tg::memory_stats().live_nodes == before);
}

TEST_CASE("grad with an explicit upstream gradient: vector-Jacobian products") {
  TensorD x = TensorD::matrix({{0.1, -0.4}, {2.0, 0.3}}, true);
  TensorD u = TensorD::matrix({{1.0, 2.0}, {-1.0, 0.5}});
  const auto g = tg::grad(tg::tanh(x), {x}, u);
  for (std::size_t i = 0; i < 4; ++i) {
    const double t = std::tanh(x.data()[i]);
    CHECK(g[0].data()[i] == doctest::Approx(u.data()[i] * (1 - t * t)).epsilon(1e-15));
  }
}

TEST_CASE("grad's errors name the problem") {
  TensorD x = TensorD::vector({1.0, 2.0}, true);
  TensorD c = TensorD::vector({1.0, 2.0});
  TensorD h = tg::exp(x);
  CHECK_THROWS_WITH_AS(tg::grad(tg::sum(h * c), {c}), doctest::Contains("does not require"),
                       tg::GraphError);
  CHECK_THROWS_WITH_AS(tg::grad(tg::sum(h * c), {h}), doctest::Contains("not a leaf"),
                       tg::GraphError);
  CHECK_THROWS_WITH_AS(tg::grad(h, {x}), doctest::Contains("more than one element"),
                       tg::GraphError);
  CHECK_THROWS_AS(tg::grad(h, {x}, TensorD::ones({3})), tg::ShapeError);
  CHECK_THROWS_AS(tg::grad(TensorD(), {x}), tg::GraphError);
}

TEST_CASE("grad releases the graph unless retain_graph (or create_graph) is set") {
  TensorD x = TensorD::vector({0.2, 0.4}, true);
  TensorD y = tg::sum(tg::sigmoid(x));
  tg::grad(y, {x}, {.retain_graph = true});
  const auto again = tg::grad(y, {x});  // allowed: retained
  CHECK(again[0].size() == 2);
  CHECK_THROWS_AS(tg::grad(y, {x}), tg::GraphError);  // released by the previous call
  CHECK_FALSE(x.has_grad());                          // and restored even on the throw

  TensorD y2 = tg::sum(tg::sigmoid(x));
  tg::grad(y2, {x}, {.create_graph = true});
  CHECK_NOTHROW(tg::grad(y2, {x}));
}

TEST_CASE("grad with create_graph agrees with plain backward on every op's samples") {
  for (const auto& op : tg::registered_ops()) {
    for (const auto& sample : op.samples_double(4)) {
      CAPTURE(op.name);
      CAPTURE(sample.label);
      std::vector<TensorD> in;
      for (const auto& t : sample.inputs) in.push_back(t.clone().set_requires_grad(true));
      TensorD out = sample.fn(in);
      const TensorD u = TensorD::full(out.shape(), 0.75);
      const auto recorded = tg::grad(out, in, u, {.create_graph = true});
      out.backward(u);
      for (std::size_t i = 0; i < in.size(); ++i) {
        CHECK(recorded[i].shape() == in[i].shape());
        CHECK(max_abs_diff(recorded[i], in[i].grad()) <= 1e-12 * (1 + max_abs(in[i].grad())));
      }
    }
  }
}

// ---- Hessian-vector products and Hessians ------------------------------------------------------

TEST_CASE("hessian and hvp of a quadratic form 0.5 x^T A x + b^T x: H = A, Hv = Av") {
  const TensorD A = TensorD::matrix({{4.0, 1.0, -0.5, 0.0},
                                     {1.0, 3.0, 0.25, 0.5},
                                     {-0.5, 0.25, 2.0, -1.0},
                                     {0.0, 0.5, -1.0, 5.0}});
  const TensorD b = TensorD::matrix({{1.0}, {-2.0}, {0.5}, {3.0}});
  auto f = [&](const TensorD& x) {  // x[4,1]
    return tg::sum(x * tg::matmul(A, x)) * 0.5 + tg::sum(b * x);
  };
  const TensorD x = TensorD::matrix({{0.3}, {-1.2}, {2.0}, {0.7}});
  const TensorD H = tg::hessian(f, x);
  CHECK(H.shape() == tg::Shape{4, 4});
  CHECK(max_abs_diff(H, A) < 1e-14);

  const TensorD v = TensorD::matrix({{1.0}, {0.5}, {-2.0}, {0.25}});
  const auto Hv = tg::hvp([&](const std::vector<TensorD>& in) { return f(in[0]); }, {x}, {v});
  REQUIRE(Hv.size() == 1);
  CHECK(Hv[0].shape() == x.shape());
  const TensorD Av = tg::matmul(A, v);
  CHECK(max_abs_diff(Hv[0], Av) < 1e-14);
  // The gradient is A x + b.
  CHECK(max_abs_diff(gradient_of(f, x), tg::matmul(A, x) + b) < 1e-14);
}

TEST_CASE("hessian of a sigmoid MLP with 2 inputs against the hand-derived Hessian") {
  // f(x) = sum_j w2[j] * s_j, s = sigmoid(z), z = x W1 + b1 for x[1,2], W1[2,3].
  // df/dx_i = sum_j w2_j s_j(1-s_j) W1[i,j], so
  // H[i,k] = sum_j W1[i,j] * w2_j * s_j(1-s_j)(1-2s_j) * W1[k,j] = W1 diag(...) W1^T.
  const TensorD W1 = TensorD::matrix({{0.8, -1.3, 0.4}, {0.5, 0.9, -1.7}});
  const TensorD b1 = TensorD::vector({0.1, -0.2, 0.3});
  const TensorD w2 = TensorD::matrix({{1.5, -0.7, 2.0}});
  auto f = [&](const TensorD& x) {
    return tg::sum(w2 * tg::sigmoid(tg::add_bias(tg::matmul(x, W1), b1)));
  };
  for (const auto& point : {std::vector<double>{0.4, -0.6}, std::vector<double>{-1.5, 2.0}}) {
    const TensorD x = TensorD::from_vector({1, 2}, point);
    double H[2][2] = {};
    for (std::size_t j = 0; j < 3; ++j) {
      const double z = point[0] * W1.at({0, j}) + point[1] * W1.at({1, j}) + b1.at({j});
      const double s = 1 / (1 + std::exp(-z));
      const double d = w2.at({0, j}) * s * (1 - s) * (1 - 2 * s);
      for (std::size_t i = 0; i < 2; ++i)
        for (std::size_t k = 0; k < 2; ++k) H[i][k] += W1.at({i, j}) * d * W1.at({k, j});
    }
    const TensorD got = tg::hessian(f, x);
    for (std::size_t i = 0; i < 2; ++i)
      for (std::size_t k = 0; k < 2; ++k)
        CHECK(got.at({i, k}) == doctest::Approx(H[i][k]).epsilon(1e-13));
    // and against central differences of the analytic gradient
    const TensorD numeric =
        numeric_jacobian([&](const TensorD& p) { return gradient_of(f, p); }, x);
    CHECK(max_abs_diff(got, numeric) < 1e-8);
  }
}

TEST_CASE("hessian of a nonlinear function against central differences of its gradient") {
  std::mt19937_64 rng(21);
  const TensorD Y = TensorD::uniform({3, 4}, 0, 1, rng);
  auto f = [&](const TensorD& x) {  // x[3,4]: a softmax cross-entropy of tanh'd logits plus pow
    return tg::softmax_ce(tg::tanh(x) * 2.0, Y) + tg::sum(tg::pow(x, 4.0)) * 0.1 +
           tg::mean(tg::log(tg::exp(x) + 1.0) * x);
  };
  const TensorD x = TensorD::uniform({3, 4}, -1, 1, rng);
  const TensorD H = tg::hessian(f, x);
  CHECK(H.shape() == tg::Shape{12, 12});
  const TensorD numeric = numeric_jacobian([&](const TensorD& p) { return gradient_of(f, p); }, x);
  CHECK(max_abs_diff(H, numeric) < 1e-7 * (1 + max_abs(H)));
  // symmetric
  for (std::size_t i = 0; i < 12; ++i)
    for (std::size_t j = 0; j < i; ++j)
      CHECK(H.at({i, j}) == doctest::Approx(H.at({j, i})).epsilon(1e-12));
}

TEST_CASE("hvp over several inputs agrees with differences of the gradient along v") {
  std::mt19937_64 rng(22);
  const TensorD X = TensorD::uniform({5, 3}, -1, 1, rng);
  const TensorD Yt = TensorD::uniform({5, 2}, 0, 1, rng);
  auto f = [&](const std::vector<TensorD>& in) {
    return tg::bce(tg::sigmoid(tg::add_bias(tg::matmul(X, in[0]), in[1])), Yt);
  };
  const TensorD W = TensorD::uniform({3, 2}, -1, 1, rng);
  const TensorD b = TensorD::uniform({2}, -1, 1, rng);
  const TensorD vW = TensorD::uniform({3, 2}, -1, 1, rng);
  const TensorD vb = TensorD::uniform({2}, -1, 1, rng);
  const auto Hv = tg::hvp(f, {W, b}, {vW, vb});
  REQUIRE(Hv.size() == 2);
  auto grads_at = [&](double t) {
    std::vector<TensorD> in = {(W + vW * t).detach(), (b + vb * t).detach()};
    for (auto& p : in) p.set_requires_grad(true);
    return tg::grad(f(in), in);
  };
  const double eps = 1e-6;
  const auto plus = grads_at(eps), minus = grads_at(-eps);
  for (std::size_t i = 0; i < 2; ++i) {
    const TensorD numeric = (plus[i] - minus[i]) / (2 * eps);
    CHECK(max_abs_diff(Hv[i], numeric) < 1e-8);
  }
  CHECK_FALSE(W.requires_grad());  // copies were differentiated, not the caller's tensors
  CHECK_THROWS_AS(tg::hvp(f, {W, b}, {vW}), tg::ShapeError);
  CHECK_THROWS_AS(tg::hvp(f, {W, b}, {vb, vW}), tg::ShapeError);
}

TEST_CASE("hessian of an affine function is zero and the input's gradient is untouched") {
  TensorD x = TensorD::vector({1.0, 2.0, 3.0}, true);
  tg::sum(x).backward();
  const TensorD H = tg::hessian([](const TensorD& p) { return tg::sum(p * 2.0) - 1.0; }, x);
  CHECK(H.shape() == tg::Shape{3, 3});
  CHECK(max_abs(H) == 0.0);
  CHECK(x.grad().to_vector() == std::vector<double>{1.0, 1.0, 1.0});
  CHECK_THROWS_AS(tg::hessian([](const TensorD& p) { return p * 2.0; }, x), tg::ShapeError);
}

// ---- a gradient-norm penalty ---------------------------------------------------------------

TEST_CASE("gradient-norm penalty R = sum_p sum((dL/dp)^2) is differentiable (vs differences)") {
  // L = mse(sigmoid(X W + b), Y); P = {W, b}; R's gradient w.r.t. W, b and the data X.
  std::mt19937_64 rng(31);
  const TensorD X = TensorD::uniform({6, 3}, -1, 1, rng);
  const TensorD Y = TensorD::uniform({6, 2}, 0, 1, rng);
  const TensorD W = TensorD::uniform({3, 2}, -1.5, 1.5, rng);
  const TensorD b = TensorD::uniform({2}, -0.5, 0.5, rng);
  auto penalty = [&](const std::vector<TensorD>& in) {  // in = {W, b, X}
    tg::EnableGradGuard recording;                      // gradcheck's differences run without
    const TensorD L = tg::mse(tg::sigmoid(tg::add_bias(tg::matmul(in[2], in[0]), in[1])), Y);
    const auto g = tg::grad(L, {in[0], in[1]}, {.create_graph = true});
    return tg::sum(g[0] * g[0]) + tg::sum(g[1] * g[1]);
  };
  const auto report = tg::gradcheck(penalty, {W, b, X}, {.names = {"W", "b", "X"}});
  CHECK_MESSAGE(report.passed, report);
  for (const auto& c : report.inputs) CHECK(c.relative_error < 1e-7);

  // The same by hand: dR/dW from grad() on leaves, against differences of R.
  TensorD Wl = W.clone().set_requires_grad(true), bl = b.clone().set_requires_grad(true),
          Xl = X.clone().set_requires_grad(true);
  const TensorD R = penalty({Wl, bl, Xl});
  CHECK(R.requires_grad());
  const auto dR = tg::grad(R, {Wl, bl, Xl});
  const TensorD numeric_W = numeric_jacobian(
      [&](const TensorD& w) {
        TensorD wl = w.clone().set_requires_grad(true);
        return penalty({wl, bl, Xl}).detach();
      },
      W);
  CHECK(max_abs_diff(tg::reshape(numeric_W, W.shape()), dR[0]) < 1e-8);
  CHECK(max_abs(dR[2]) > 0);  // the penalty depends on the data too
}
