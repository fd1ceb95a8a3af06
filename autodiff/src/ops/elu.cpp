// elu: x where x > 0, else alpha*(e^x - 1) (through expm1, exact for tiny x), as PyTorch. Saves its
// input. Adjoint: G*alpha*e^x where x <= 0, else G, so elu'(0) = alpha and a NaN input gets G
// (PyTorch's elu_backward tests x <= 0). Written as relu_backward(G, x) (G where x > 0 or NaN,
// exactly 0 elsewhere, and it records the dependence on x) plus G*alpha*e^min(x,0) selected where
// x <= 0 by relu_backward with a constant selector, so that neither an overflow nor a NaN leaks
// from the unselected side; min(x,0) = -relu(-x) keeps e^x at 1 there, finite for second order.
// The recorded backward is differentiable (elu'' = alpha*e^x below 0).
#include <limits>

#include "../kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> class EluNode final : public SavingNode<T, 1> {
 public:
  T alpha = 1;
  const char* name() const override { return "elu"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    const Tensor<T> x = this->get(0);
    const Tensor<T> nonpositive =
        detail::map_unary("elu", x, [](T v) { return v <= T(0) ? T(1) : T(-1); });
    const Tensor<T> curved = g * (exp(neg(relu(neg(x)))) * alpha);
    grads[0] = relu_backward(g, x) + relu_backward(curved, nonpositive);
  }
};

template <class T> std::vector<GradSample<T>> elu_samples(std::uint64_t seed) {
  // Inputs at least 0.1 away from the kink at 0 (a kink unless alpha = 1).
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  for (const double alpha : {1.0, 0.5, 2.0})
    for (const Shape& s : samples::elementwise_shapes())
      out.push_back({s.str() + " alpha " + format_number(alpha),
                     {samples::away_from_zero<T>(s, 0.1, 2, rng)},
                     [alpha](const std::vector<Tensor<T>>& in) { return elu(in[0], T(alpha)); }});
  return out;
}

// Values from Python's math module (math.expm1 and math.exp). The gradient at 0 is alpha.
OpCases elu_cases() {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  constexpr double inf = std::numeric_limits<double>::infinity();
  OpCases cases = {.forward = {{"[7] alpha 1",
                                [] {
                                  return elu(TensorD::vector({-1, 0, 2, -30, -inf, inf, nan}));
                                },
                                Shape{7},
                                {-0.6321205588285577, 0, 2, -0.9999999999999064, -1, inf, nan}},
                               {"[3] alpha 0.5",
                                [] {
                                  return elu(TensorD::vector({-1, -2, 3}), 0.5);
                                },
                                Shape{3},
                                {-0.31606027941427883, -0.43233235838169365, 3}},
                               {"gradient alpha 1",
                                [] {
                                  TensorD x = TensorD::vector({-1, 0, 2, -inf, inf, nan}, true);
                                  return grad(sum(elu(x)), {x})[0];
                                },
                                Shape{6},
                                {0.36787944117144233, 1, 1, 0, 1, 1}},
                               {"gradient alpha 0.5, alpha at 0",
                                [] {
                                  TensorD x = TensorD::vector({-1, 0, 2}, true);
                                  return grad(sum(elu(x, 0.5)), {x})[0];
                                },
                                Shape{3},
                                {0.18393972058572117, 0.5, 1}}}};
  cases.accepts_every_input = true;
  return cases;
}

}  // namespace

template <class T> Tensor<T> elu(const Tensor<T>& x, std::type_identity_t<T> alpha) {
  Tensor<T> out =
      detail::map_unary("elu", x, [alpha](T v) { return v > T(0) ? v : alpha * std::expm1(v); });
  if (auto* node = record<EluNode<T>>(out, {&x})) {
    node->alpha = alpha;
    node->saved[0].save_input(x);
  }
  return out;
}

template Tensor<float> elu(const Tensor<float>&, float);
template Tensor<double> elu(const Tensor<double>&, double);

TG_DEFINE_REPLAYABLE_OP(elu, "dx = G where x > 0, else G*alpha*e^x (alpha at 0)", elu_samples,
                        elu_cases);

}  // namespace tg
