// cos. Saves its input. Adjoint: -G*sin(x).
#include <limits>

#include "../kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> class CosNode final : public SavingNode<T, 1> {
 public:
  const char* name() const override { return "cos"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    grads[0] = mul(g, neg(sin(this->get(0))));
  }
};

template <class T> std::vector<GradSample<T>> cos_samples(std::uint64_t seed) {
  return samples::unary<T>(seed, -3, 3, [](const Tensor<T>& x) { return cos(x); });
}

// Values from Python's math module (math.cos, -math.sin for the gradient); cos(inf) is NaN.
OpCases cos_cases() {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  constexpr double inf = std::numeric_limits<double>::infinity();
  OpCases cases = {.forward = {{"[5]",
                                [] {
                                  return cos(TensorD::vector({0, 0.5, -2, -inf, nan}));
                                },
                                Shape{5},
                                {1, 0.8775825618903728, -0.4161468365471424, nan, nan}},
                               {"gradient -sin(x)",
                                [] {
                                  TensorD x = TensorD::vector({0, 0.5, -2}, true);
                                  return grad(sum(cos(x)), {x})[0];
                                },
                                Shape{3},
                                {0, -0.479425538604203, 0.9092974268256817}}}};
  cases.accepts_every_input = true;
  return cases;
}

}  // namespace

template <class T> Tensor<T> cos(const Tensor<T>& x) {
  Tensor<T> out = detail::map_unary("cos", x, [](T v) { return std::cos(v); });
  if (auto* node = record<CosNode<T>>(out, {&x})) node->saved[0].save_input(x);
  return out;
}

template Tensor<float> cos(const Tensor<float>&);
template Tensor<double> cos(const Tensor<double>&);

TG_DEFINE_REPLAYABLE_OP(cos, "dx = -G*sin(x)", cos_samples, cos_cases);

}  // namespace tg
