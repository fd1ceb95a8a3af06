// sqrt: IEEE-754 square root (NaN for a negative input, sqrt(-0) = -0, sqrt(inf) = inf). Saves its
// output y. Adjoint: G/(2y), as PyTorch: inf at 0 for a positive G (the slope is vertical there).
#include <limits>

#include "../kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> class SqrtNode final : public SavingNode<T, 1> {
 public:
  const char* name() const override { return "sqrt"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    grads[0] = div(g, this->get(0) * T(2));
  }
};

template <class T> std::vector<GradSample<T>> sqrt_samples(std::uint64_t seed) {
  // Positive inputs, away from the vertical slope at 0.
  return samples::unary<T>(seed, 0.2, 3, [](const Tensor<T>& x) { return sqrt(x); });
}

// Values from Python's math module (math.sqrt); a negative input is NaN (IEEE-754, no error, as
// PyTorch). The gradient 1/(2 sqrt x) by hand: 1 at 0.25, 1/8 at 16, +inf at 0.
OpCases sqrt_cases() {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  constexpr double inf = std::numeric_limits<double>::infinity();
  OpCases cases = {
      .forward = {{"[6]",
                   [] {
                     return sqrt(TensorD::vector({0, 0.25, 2, 1e6, -1, inf}));
                   },
                   Shape{6},
                   {0, 0.5, 1.4142135623730951, 1000, nan, inf}},
                  {"0-d NaN", [] { return sqrt(TensorD::scalar(nan)); }, Shape{}, {nan}},
                  {"gradient 1/(2 sqrt x), inf at 0",
                   [] {
                     TensorD x = TensorD::vector({0.25, 16, 0}, true);
                     return grad(sum(sqrt(x)), {x})[0];
                   },
                   Shape{3},
                   {1, 0.125, inf}}}};
  cases.accepts_every_input = true;
  return cases;
}

}  // namespace

template <class T> Tensor<T> sqrt(const Tensor<T>& x) {
  Tensor<T> out = detail::map_unary("sqrt", x, [](T v) { return std::sqrt(v); });
  if (auto* node = record<SqrtNode<T>>(out, {&x})) node->saved[0].save_output(out);
  return out;
}

template Tensor<float> sqrt(const Tensor<float>&);
template Tensor<double> sqrt(const Tensor<double>&);

TG_DEFINE_REPLAYABLE_OP(sqrt, "dx = G/(2y), y = sqrt(x) (inf at 0)", sqrt_samples, sqrt_cases);

}  // namespace tg
