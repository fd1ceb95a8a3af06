// square: x*x (one rounding, as x^2 through pow's fast path). Saves its input. Adjoint: G*2x.
#include <limits>

#include "../kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> class SquareNode final : public SavingNode<T, 1> {
 public:
  const char* name() const override { return "square"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    grads[0] = mul(g, this->get(0) * T(2));
  }
};

template <class T> std::vector<GradSample<T>> square_samples(std::uint64_t seed) {
  return samples::unary<T>(seed, -2, 2, [](const Tensor<T>& x) { return square(x); });
}

// By hand: (-3)^2 = 9, 0.5^2 = 0.25; 1e200^2 overflows to inf; NaN stays NaN. Gradient 2x.
OpCases square_cases() {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  constexpr double inf = std::numeric_limits<double>::infinity();
  OpCases cases = {.forward = {{"[5]",
                                [] {
                                  return square(TensorD::vector({-3, 0, 0.5, 1e200, nan}));
                                },
                                Shape{5},
                                {9, 0, 0.25, inf, nan}},
                               {"gradient 2x",
                                [] {
                                  TensorD x = TensorD::vector({-3, 0, 0.5}, true);
                                  return grad(sum(square(x)), {x})[0];
                                },
                                Shape{3},
                                {-6, 0, 1}}}};
  cases.accepts_every_input = true;
  return cases;
}

}  // namespace

template <class T> Tensor<T> square(const Tensor<T>& x) {
  Tensor<T> out = detail::map_unary("square", x, [](T v) { return v * v; });
  if (auto* node = record<SquareNode<T>>(out, {&x})) node->saved[0].save_input(x);
  return out;
}

template Tensor<float> square(const Tensor<float>&);
template Tensor<double> square(const Tensor<double>&);

TG_DEFINE_REPLAYABLE_OP(square, "dx = G*2x", square_samples, square_cases);

}  // namespace tg
