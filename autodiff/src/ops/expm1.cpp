// expm1: e^x - 1, exact for tiny x where exp(x) - 1 cancels. Saves its output y. Adjoint:
// G*(y+1), as PyTorch.
#include <limits>

#include "../kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> class Expm1Node final : public SavingNode<T, 1> {
 public:
  const char* name() const override { return "expm1"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    grads[0] = mul(g, this->get(0) + T(1));
  }
};

template <class T> std::vector<GradSample<T>> expm1_samples(std::uint64_t seed) {
  return samples::unary<T>(seed, -2, 2, [](const Tensor<T>& x) { return expm1(x); });
}

// Values from Python's math module (math.expm1, math.exp for the gradient): 1e-10 keeps its
// digits; -inf gives -1, 1000 overflows to inf.
OpCases expm1_cases() {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  constexpr double inf = std::numeric_limits<double>::infinity();
  OpCases cases = {
      .forward = {{"[7]",
                   [] {
                     return expm1(TensorD::vector({0, 1e-10, -1, 2, -inf, 1000, nan}));
                   },
                   Shape{7},
                   {0, 1.00000000005e-10, -0.6321205588285577, 6.38905609893065, -1, inf, nan}},
                  {"gradient e^x",
                   [] {
                     TensorD x = TensorD::vector({0, -1, 2}, true);
                     return grad(sum(expm1(x)), {x})[0];
                   },
                   Shape{3},
                   {1, 0.36787944117144233, 7.38905609893065}}}};
  cases.accepts_every_input = true;
  return cases;
}

}  // namespace

template <class T> Tensor<T> expm1(const Tensor<T>& x) {
  Tensor<T> out = detail::map_unary("expm1", x, [](T v) { return std::expm1(v); });
  if (auto* node = record<Expm1Node<T>>(out, {&x})) node->saved[0].save_output(out);
  return out;
}

template Tensor<float> expm1(const Tensor<float>&);
template Tensor<double> expm1(const Tensor<double>&);

TG_DEFINE_REPLAYABLE_OP(expm1, "dx = G*(y+1), y = expm1(x)", expm1_samples, expm1_cases);

}  // namespace tg
