// sin. Saves its input. Adjoint: G*cos(x).
#include <limits>

#include "../kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> class SinNode final : public SavingNode<T, 1> {
 public:
  const char* name() const override { return "sin"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    grads[0] = mul(g, cos(this->get(0)));
  }
};

template <class T> std::vector<GradSample<T>> sin_samples(std::uint64_t seed) {
  return samples::unary<T>(seed, -3, 3, [](const Tensor<T>& x) { return sin(x); });
}

// Values from Python's math module (math.sin, math.cos for the gradient); sin(inf) is NaN.
OpCases sin_cases() {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  constexpr double inf = std::numeric_limits<double>::infinity();
  OpCases cases = {.forward = {{"[5]",
                                [] {
                                  return sin(TensorD::vector({0, 0.5, -2, inf, nan}));
                                },
                                Shape{5},
                                {0, 0.479425538604203, -0.9092974268256817, nan, nan}},
                               {"gradient cos(x)",
                                [] {
                                  TensorD x = TensorD::vector({0, 0.5, -2}, true);
                                  return grad(sum(sin(x)), {x})[0];
                                },
                                Shape{3},
                                {1, 0.8775825618903728, -0.4161468365471424}}}};
  cases.accepts_every_input = true;
  return cases;
}

}  // namespace

template <class T> Tensor<T> sin(const Tensor<T>& x) {
  Tensor<T> out = detail::map_unary("sin", x, [](T v) { return std::sin(v); });
  if (auto* node = record<SinNode<T>>(out, {&x})) node->saved[0].save_input(x);
  return out;
}

template Tensor<float> sin(const Tensor<float>&);
template Tensor<double> sin(const Tensor<double>&);

TG_DEFINE_REPLAYABLE_OP(sin, "dx = G*cos(x)", sin_samples, sin_cases);

}  // namespace tg
