// gelu_backward: G*(Phi(x) + x*phi(x)), the exact gelu's adjoint as one fused kernel (Phi the
// standard normal CDF, phi its density). Recorded under create_graph, with its own adjoint:
// dG = U*(Phi(x) + x*phi(x)) (itself), dx = U*G*phi(x)*(2 - x^2) from the engine's ops.
#include <limits>

#include "../kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

constexpr double kInvSqrt2 = 0.7071067811865475;    // 1/sqrt(2)
constexpr double kInvSqrt2Pi = 0.3989422804014327;  // 1/sqrt(2 pi)

template <class T> class GeluBackwardNode final : public SavingNode<T, 2> {
 public:
  const char* name() const override { return "gelu_backward"; }
  void backward(const Tensor<T>& u, Grads<T>& grads) override {
    const Tensor<T> x = this->get(1);
    if (this->needs_grad(0)) grads[0] = gelu_backward(u, x);
    if (this->needs_grad(1)) {
      const Tensor<T> x2 = x * x;
      const Tensor<T> density = exp(x2 * T(-0.5)) * T(kInvSqrt2Pi);
      grads[1] = u * this->get(0) * density * (T(2) - x2);
    }
  }
};

template <class T> std::vector<GradSample<T>> gelu_backward_samples(std::uint64_t seed) {
  return samples::binary<T>(seed, -2, 2, -3, 3, false, [](const Tensor<T>& g, const Tensor<T>& x) {
    return gelu_backward(g, x);
  });
}

// Values from Python's math module: g*(0.5*math.erfc(-x/math.sqrt(2)) +
// x*math.exp(-x*x/2)/math.sqrt(2*math.pi)); G broadcasts against x. At x = inf, x*phi(x) is
// inf*0 = NaN, as in PyTorch's kernel, which evaluates the same expression.
OpCases gelu_backward_cases() {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  constexpr double inf = std::numeric_limits<double>::infinity();
  return {
      .forward =
          {{"[6], G = 2",
            [] {
              return gelu_backward(TensorD::scalar(2), TensorD::vector({-1, 0, 0.5, 2, inf, nan}));
            },
            Shape{6},
            {-0.16663094117537258, 1, 1.7349902493123257, 2.170463602156394, nan, nan}},
           {"second derivative phi(x)*(2 - x^2)",
            [] {
              TensorD x = TensorD::vector({-1, 0, 0.5, 2}, true);
              return grad(sum(gelu_backward(TensorD::ones(Shape{4}), x)), {x})[0];
            },
            Shape{4},
            {0.24197072451914337, 0.7978845608028654, 0.6161143218375241, -0.10798193302637613}}},
      .errors = {{"shapes do not broadcast", ErrorKind::shape, "[2]",
                  [] { gelu_backward(TensorD::zeros(Shape{2}), TensorD::zeros(Shape{3})); }}}};
}

}  // namespace

template <class T> Tensor<T> gelu_backward(const Tensor<T>& g, const Tensor<T>& x) {
  Tensor<T> out = detail::map_binary("gelu_backward", g, x, [](T gv, T xv) {
    const T cdf = T(0.5) * std::erfc(-xv * T(kInvSqrt2));
    const T density = T(kInvSqrt2Pi) * std::exp(T(-0.5) * xv * xv);
    return gv * (cdf + xv * density);
  });
  if (auto* node = record<GeluBackwardNode<T>>(out, {&g, &x})) {
    if (node->needs_grad(1)) node->saved[0].save_input(g);
    node->saved[1].save_input(x);
  }
  return out;
}

template Tensor<float> gelu_backward(const Tensor<float>&, const Tensor<float>&);
template Tensor<double> gelu_backward(const Tensor<double>&, const Tensor<double>&);

TG_DEFINE_REPLAYABLE_OP(gelu_backward, "dG = U*(Phi(x) + x*phi(x)), dx = U*G*phi(x)*(2 - x^2)",
                        gelu_backward_samples, gelu_backward_cases);

}  // namespace tg
