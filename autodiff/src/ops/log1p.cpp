// log1p: log(1+x), exact for tiny x where log(1+x) would round 1+x to 1; IEEE-754 outside the
// domain (-inf at -1, NaN below). Saves its input. Adjoint: G/(1+x), as PyTorch.
#include <limits>

#include "../kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> class Log1pNode final : public SavingNode<T, 1> {
 public:
  const char* name() const override { return "log1p"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    grads[0] = div(g, this->get(0) + T(1));
  }
};

template <class T> std::vector<GradSample<T>> log1p_samples(std::uint64_t seed) {
  // Away from the pole at -1.
  return samples::unary<T>(seed, -0.7, 3, [](const Tensor<T>& x) { return log1p(x); });
}

// Values from Python's math module (math.log1p): 1e-10 keeps its digits (log(1+1e-10) computed
// naively loses about 7 of them). -1 is -inf, below -1 NaN. The gradient 1/(1+x) by hand.
OpCases log1p_cases() {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  constexpr double inf = std::numeric_limits<double>::infinity();
  OpCases cases = {.forward = {{"[7]",
                                [] {
                                  return log1p(TensorD::vector({0, 1e-10, -0.5, 3, -1, -2, inf}));
                                },
                                Shape{7},
                                {0, 9.999999999500001e-11, -0.6931471805599453, 1.3862943611198906,
                                 -inf, nan, inf}},
                               {"gradient 1/(1+x)",
                                [] {
                                  TensorD x = TensorD::vector({0, -0.5, 3}, true);
                                  return grad(sum(log1p(x)), {x})[0];
                                },
                                Shape{3},
                                {1, 2, 0.25}}}};
  cases.accepts_every_input = true;
  return cases;
}

}  // namespace

template <class T> Tensor<T> log1p(const Tensor<T>& x) {
  Tensor<T> out = detail::map_unary("log1p", x, [](T v) { return std::log1p(v); });
  if (auto* node = record<Log1pNode<T>>(out, {&x})) node->saved[0].save_input(x);
  return out;
}

template Tensor<float> log1p(const Tensor<float>&);
template Tensor<double> log1p(const Tensor<double>&);

TG_DEFINE_REPLAYABLE_OP(log1p, "dx = G/(1+x)", log1p_samples, log1p_cases);

}  // namespace tg
