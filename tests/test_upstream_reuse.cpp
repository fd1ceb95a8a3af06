// An activation's adjoint writes its result into the upstream gradient's buffer when the backward
// pass holds the only handle on it, and never into a buffer anyone else can see.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "tapegrad/node.hpp"
#include "tapegrad/tapegrad.hpp"

using tg::TensorD;

namespace {

// identity(x), whose adjoint passes G on unchanged and notes where G's values live.
class Probe final : public tg::Node<double> {
 public:
  const double** seen = nullptr;
  const char* name() const override { return "probe"; }
  void backward(const TensorD& g, tg::Grads<double>& grads) override {
    *seen = g.data();
    grads[0] = g;
  }
};

TensorD probe(const TensorD& in, const double** seen) {
  TensorD out = in.detach().clone();
  if (auto* node = tg::record<Probe>(out, {&in})) node->seen = seen;
  return out;
}

}  // namespace

TEST_CASE("relu, sigmoid, tanh and exp write their adjoint into the upstream gradient's buffer") {
  const std::vector<double> v = {-1.5, -0.25, 0.5, 2.0};
  struct Case {
    const char* name;
    TensorD (*f)(const TensorD&);
    double (*derivative)(double);
  };
  const Case cases[] = {
      {"relu", [](const TensorD& x) { return tg::relu(x); },
       [](double x) { return x > 0 ? 1.0 : 0.0; }},
      {"sigmoid", [](const TensorD& x) { return tg::sigmoid(x); },
       [](double x) {
         const double s = 1 / (1 + std::exp(-x));
         return s * (1 - s);
       }},
      {"tanh", [](const TensorD& x) { return tg::tanh(x); },
       [](double x) { return 1 - std::tanh(x) * std::tanh(x); }},
      {"exp", [](const TensorD& x) { return tg::exp(x); }, [](double x) { return std::exp(x); }},
  };
  for (const Case& c : cases) {
    CAPTURE(std::string(c.name));
    TensorD x = TensorD::from_vector(tg::Shape{v.size()}, v, true);
    const double* upstream = nullptr;
    // Backward: sum's adjoint makes G (ones), probe passes it on, the activation takes it.
    tg::sum(probe(c.f(x), &upstream)).backward();
    REQUIRE(upstream != nullptr);
    CHECK(x.grad().data() == upstream);
    for (std::size_t i = 0; i < v.size(); ++i)
      CHECK(x.grad().data()[i] == doctest::Approx(c.derivative(v[i])).epsilon(1e-15));
  }
}

TEST_CASE("the caller's upstream gradient is read, never written") {
  TensorD x = TensorD::vector({-1.0, 2.0, 3.0}, true);
  const TensorD upstream = TensorD::vector({5.0, 6.0, 7.0});
  tg::relu(tg::sigmoid(x)).backward(upstream);
  CHECK(upstream.to_vector() == std::vector<double>{5.0, 6.0, 7.0});
  for (std::size_t i = 0; i < 3; ++i) {
    const double s = 1 / (1 + std::exp(-x.data()[i]));
    CHECK(x.grad().data()[i] == doctest::Approx(upstream.data()[i] * s * (1 - s)).epsilon(1e-15));
  }
}

TEST_CASE("a gradient two adjoints read is not taken by the first") {
  // add's adjoint hands the same G to both branches: relu must not overwrite what sigmoid reads.
  const std::vector<double> v = {-2.0, -0.5, 0.75, 3.0};
  TensorD x = TensorD::from_vector(tg::Shape{v.size()}, v, true);
  const double* upstream = nullptr;
  tg::sum(probe(tg::relu(x) + tg::sigmoid(x), &upstream)).backward();
  for (std::size_t i = 0; i < v.size(); ++i) {
    const double s = 1 / (1 + std::exp(-v[i]));
    CHECK(x.grad().data()[i] ==
          doctest::Approx((v[i] > 0 ? 1.0 : 0.0) + s * (1 - s)).epsilon(1e-15));
  }
}

TEST_CASE("a gradient kept for a second-order pass is not taken") {
  // With create_graph every gradient belongs to the new graph: d/dx of sum(dL/dx) for L =
  // sum(sigmoid(x)) is sum of s(1-s)(1-2s), which needs the first gradient intact.
  const std::vector<double> v = {-1.0, 0.3, 1.7};
  TensorD x = TensorD::from_vector(tg::Shape{v.size()}, v, true);
  TensorD first = tg::grad(tg::sum(tg::sigmoid(x)), {x}, {.create_graph = true})[0];
  TensorD second = tg::grad(tg::sum(first), {x})[0];
  for (std::size_t i = 0; i < v.size(); ++i) {
    const double s = 1 / (1 + std::exp(-v[i]));
    CHECK(first.data()[i] == doctest::Approx(s * (1 - s)).epsilon(1e-15));
    CHECK(second.data()[i] == doctest::Approx(s * (1 - s) * (1 - 2 * s)).epsilon(1e-14));
  }
}
