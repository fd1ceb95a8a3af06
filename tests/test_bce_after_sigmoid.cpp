// bce after sigmoid: on a plain backward the gradient goes to the logits in one pass, G (p - y) /
// N, when nothing else sends the sigmoid's output a gradient; otherwise (or when the backward is
// recorded) through both adjoints.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "tapegrad/node.hpp"
#include "tapegrad/tapegrad.hpp"

using tg::TensorD;
using tg::TensorF;

namespace {

double sigmoid(double z) {
  return 1 / (1 + std::exp(-z));
}

// A user's op named "sigmoid" that is the identity: bce after it is no logistic output layer.
class NamedSigmoid final : public tg::Node<double> {
 public:
  const char* name() const override { return "sigmoid"; }
  void backward(const TensorD& g, tg::Grads<double>& grads) override { grads[0] = g; }
};

TensorD named_sigmoid(const TensorD& in) {
  TensorD out = in.detach().clone();
  tg::record<NamedSigmoid>(out, {&in});
  return out;
}

}  // namespace

TEST_CASE("bce after sigmoid: the logits' gradient is (p - y) / N") {
  const std::vector<double> z = {-2.5, -0.3, 0.0, 0.7, 1.9, 4.0};
  const std::vector<double> y = {0, 1, 0.25, 1, 0, 0.5};
  TensorD logits = TensorD::from_vector(tg::Shape{2, 3}, z, true);
  const TensorD targets = TensorD::from_vector(tg::Shape{2, 3}, y);
  tg::bce(tg::sigmoid(logits), targets).backward();
  for (std::size_t i = 0; i < z.size(); ++i)
    CHECK(logits.grad().data()[i] ==
          doctest::Approx((sigmoid(z[i]) - y[i]) / 6).epsilon(1e-15).scale(1e-16));
}

TEST_CASE("bce after sigmoid: finite where the probability rounds to 1") {
  // sigmoid(40) is 1 - 4e-18, which rounds to 1.0: bce's own adjoint is (1 - 0) / (1 - 1) = inf
  // there, and sigmoid's 1 * (1 - 1) = 0 made the product NaN. The gradient is (1 - 0) / 2.
  TensorD logits = TensorD::vector({40.0, -3.0}, true);
  tg::bce(tg::sigmoid(logits), TensorD::vector({0.0, 1.0})).backward();
  CHECK(logits.grad().data()[0] == 0.5);
  CHECK(logits.grad().data()[1] == doctest::Approx((sigmoid(-3.0) - 1) / 2).epsilon(1e-15));
  // In float sigmoid(20) rounds to 1 already.
  TensorF f = TensorF::vector({20.0f}, true);
  tg::bce(tg::sigmoid(f), TensorF::vector({0.0f}), tg::Reduction::sum).backward();
  CHECK(f.grad().item() == 1.0f);
}

TEST_CASE("bce after sigmoid whose output is used again: both gradients add up") {
  // L = bce(p, y) + sum(p): dL/dz = (p - y) / N + p (1 - p).
  const std::vector<double> z = {-1.0, 0.5, 2.0};
  const std::vector<double> y = {0, 1, 1};
  TensorD logits = TensorD::from_vector(tg::Shape{3}, z, true);
  const TensorD p = tg::sigmoid(logits);
  (tg::bce(p, TensorD::from_vector(tg::Shape{3}, y)) + tg::sum(p)).backward();
  for (std::size_t i = 0; i < z.size(); ++i) {
    const double s = sigmoid(z[i]);
    CHECK(logits.grad().data()[i] == doctest::Approx((s - y[i]) / 3 + s * (1 - s)).epsilon(1e-14));
  }
}

TEST_CASE("bce after sigmoid, recorded for a second order: d2L/dz2 = p (1 - p) / N") {
  const std::vector<double> z = {-1.5, 0.2, 3.0};
  const std::vector<double> y = {1, 0, 1};
  TensorD logits = TensorD::from_vector(tg::Shape{3}, z, true);
  const TensorD loss = tg::bce(tg::sigmoid(logits), TensorD::from_vector(tg::Shape{3}, y));
  const TensorD first = tg::grad(loss, {logits}, {.create_graph = true})[0];
  const TensorD second = tg::grad(tg::sum(first), {logits})[0];
  for (std::size_t i = 0; i < z.size(); ++i) {
    const double s = sigmoid(z[i]);
    CHECK(first.data()[i] == doctest::Approx((s - y[i]) / 3).epsilon(1e-14));
    CHECK(second.data()[i] == doctest::Approx(s * (1 - s) / 3).epsilon(1e-13));
  }
}

TEST_CASE("bce after another op named sigmoid keeps bce's own adjoint") {
  // p = identity(x): dL/dx = ((1-y)/(1-p) - y/p) / N, by hand for p = [0.2, 0.6], y = [0, 1]:
  // (1/0.8) / 2 = 0.625 and -(1/0.6) / 2 = -0.8333...
  TensorD x = TensorD::vector({0.2, 0.6}, true);
  tg::bce(named_sigmoid(x), TensorD::vector({0.0, 1.0})).backward();
  CHECK(x.grad().data()[0] == doctest::Approx(0.625).epsilon(1e-15));
  CHECK(x.grad().data()[1] == doctest::Approx(-1.0 / 1.2).epsilon(1e-15));
}
