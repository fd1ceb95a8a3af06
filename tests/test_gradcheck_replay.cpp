// gradcheck of a recorded step: the gradients a replay gives, against finite differences of the
// replayed loss. A custom op whose adjoint is slightly off is recorded into the step: eager and
// replayed gradients are then wrong alike, and the check must say so (1e-5 off in double, 1e-2 in
// float, whose differences are float's own); with the right adjoint it passes, in double and
// float, and leaves the parameters as they were.
#include <doctest/doctest.h>

#include <cstring>
#include <random>
#include <vector>

#include "tapegrad/gradcheck.hpp"
#include "tapegrad/node.hpp"
#include "tapegrad/ops.hpp"
#include "tapegrad/replay.hpp"

using tg::Shape;

namespace {

// y = x, with the adjoint G * scale (scale 1 is the right one).
template <class T> class ScaledIdentityNode final : public tg::Node<T> {
 public:
  T scale = 1;
  const char* name() const override { return "scaled_identity"; }
  void backward(const tg::Tensor<T>& g, tg::Grads<T>& grads) override {
    grads[0] = g * tg::Tensor<T>::scalar(scale);
  }
};

template <class T> tg::Tensor<T> scaled_identity(const tg::Tensor<T>& x, T scale) {
  tg::Tensor<T> out = x.detach().clone();
  if (auto* node = tg::record<ScaledIdentityNode<T>>(out, {&x})) node->scale = scale;
  return out;
}

template <class T> struct Net {
  tg::Tensor<T> W1, b1, W2, X, y;
  explicit Net(std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    W1 = tg::Tensor<T>::uniform(Shape{3, 4}, T(-1), T(1), rng).set_requires_grad(true);
    b1 = tg::Tensor<T>::uniform(Shape{4}, T(-0.5), T(0.5), rng).set_requires_grad(true);
    W2 = tg::Tensor<T>::uniform(Shape{4, 1}, T(-1), T(1), rng).set_requires_grad(true);
    X = tg::Tensor<T>::uniform(Shape{5, 3}, T(-1), T(1), rng);
    y = tg::Tensor<T>::uniform(Shape{5, 1}, T(-1), T(1), rng);
  }
  tg::Tensor<T> loss(T scale) const {
    const tg::Tensor<T> h = tg::sigmoid(scaled_identity(tg::matmul(X, W1), scale) + b1);
    return tg::mse(tg::matmul(h, W2), y);
  }
};

template <class T> std::vector<T> values(const tg::Tensor<T>& t) {
  return std::vector<T>(std::as_const(t).data(), std::as_const(t).data() + t.size());
}

}  // namespace

TEST_CASE_TEMPLATE(
    "gradcheck of a replayed step passes with the right adjoints and restores the "
    "parameters",
    T, double, float) {
  Net<T> net(3);
  auto step = tg::record_step([&] { return net.loss(T(1)); }, {net.W1, net.b1, net.W2}, {net.X});
  // New input values after recording: the check judges the runs, on the current values.
  std::mt19937_64 rng(8);
  const tg::Tensor<T> fresh = tg::Tensor<T>::uniform(Shape{5, 3}, T(-1), T(1), rng);
  std::memcpy(net.X.data(), std::as_const(fresh).data(), fresh.size() * sizeof(T));
  const std::vector<T> w1 = values(net.W1), b1 = values(net.b1), w2 = values(net.W2);
  const tg::GradCheckReport report = tg::gradcheck(step);
  INFO(report.str());
  CHECK(report.passed);
  CHECK(report.inputs.size() == 3);
  CHECK(report.str().find("replayed runs") != std::string::npos);
  CHECK(values(net.W1) == w1);
  CHECK(values(net.b1) == b1);
  CHECK(values(net.W2) == w2);
  // The gradients left are a run's at the restored values (eager mode gives the same).
  const std::vector<T> replayed = values(net.W1.grad());
  net.W1.zero_grad();
  net.b1.zero_grad();
  net.W2.zero_grad();
  net.loss(T(1)).backward();
  CHECK(values(net.W1.grad()) == replayed);
}

TEST_CASE_TEMPLATE("gradcheck of a replayed step fails when a recorded adjoint is off", T, double,
                   float) {
  // In float the differences are float's own (a replay runs in one type): 1% is caught, 0.1% is
  // at float's tolerance. In double, 1e-5.
  const T error = std::is_same_v<T, float> ? T(1e-2) : T(1e-5);
  Net<T> net(4);
  auto step =
      tg::record_step([&] { return net.loss(T(1) + error); }, {net.W1, net.b1, net.W2}, {net.X});
  const tg::GradCheckReport report = tg::gradcheck(step);
  INFO(report.str());
  CHECK_FALSE(report.passed);
  // Only W1 lies behind the wrong adjoint (b1 is added after it).
  REQUIRE(report.inputs.size() == 3);
  CHECK_FALSE(report.inputs[0].passed);
  CHECK(report.inputs[1].passed);
  CHECK(report.inputs[2].passed);
}
