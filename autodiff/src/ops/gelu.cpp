// gelu: x*Phi(x) with Phi the standard normal CDF, exactly (Phi(x) = erfc(-x/sqrt 2)/2, which
// keeps its digits far below 0 where 1 + erf(x/sqrt 2) cancels), or PyTorch's approximate='tanh'
// form 0.5*x*(1 + tanh(sqrt(2/pi)*(x + 0.044715 x^3))). Saves its input.
// Adjoint, exact: G*(Phi(x) + x*phi(x)), the fused op gelu_backward (Phi has no engine op to
// differentiate through). Adjoint, tanh form: G*(0.5(1+t) + 0.5x(1-t^2)*sqrt(2/pi)(1 +
// 3*0.044715 x^2)), t = tanh(sqrt(2/pi)(x + 0.044715 x^3)), composed from the engine's ops.
#include <limits>

#include "../kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

constexpr double kSqrt2OverPi = 0.7978845608028654;  // sqrt(2/pi)
constexpr double kCubic = 0.044715;

template <class T> class GeluNode final : public SavingNode<T, 1> {
 public:
  GeluApproximation approximate = GeluApproximation::none;
  const char* name() const override { return "gelu"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    const Tensor<T> x = this->get(0);
    if (approximate == GeluApproximation::none) {
      grads[0] = gelu_backward(g, x);
      return;
    }
    const Tensor<T> x2 = x * x;
    const Tensor<T> t = tanh((x + x2 * x * T(kCubic)) * T(kSqrt2OverPi));
    const Tensor<T> inner_slope = (x2 * T(3 * kCubic) + T(1)) * T(kSqrt2OverPi);
    grads[0] = mul(g, (t + T(1)) * T(0.5) + x * T(0.5) * (T(1) - t * t) * inner_slope);
  }
};

template <class T> std::vector<GradSample<T>> gelu_samples(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  for (const Shape& s : samples::elementwise_shapes()) {
    out.push_back({s.str(),
                   {samples::uniform<T>(s, -3, 3, rng)},
                   [](const std::vector<Tensor<T>>& in) { return gelu(in[0]); }});
    out.push_back(
        {s.str() + " tanh",
         {samples::uniform<T>(s, -3, 3, rng)},
         [](const std::vector<Tensor<T>>& in) { return gelu(in[0], GeluApproximation::tanh); }});
  }
  return out;
}

// Values from Python's math module: 0.5*x*(1+math.erf(x/math.sqrt(2))) and
// 0.5*x*(1+math.tanh(math.sqrt(2/math.pi)*(x+0.044715*x**3))); the exact gradient
// 0.5*(1+erf(x/sqrt 2)) + x*exp(-x*x/2)/sqrt(2*pi), the tanh form's by the formula above.
OpCases gelu_cases() {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  constexpr double inf = std::numeric_limits<double>::infinity();
  OpCases cases = {
      .forward = {{"[7] exact",
                   [] {
                     return gelu(TensorD::vector({-1, 0, 0.5, 2, -5, inf, nan}));
                   },
                   Shape{7},
                   {-0.15865525393145707, 0, 0.34573123063700656, 1.9544997361036416,
                    -1.4332578593401202e-06, inf, nan}},
                  {"[5] tanh",
                   [] {
                     return gelu(TensorD::vector({-1, 0, 0.5, 2, -5}), GeluApproximation::tanh);
                   },
                   Shape{5},
                   {-0.15880800939172324, 0, 0.34571400982514394, 1.954597694087775,
                    -2.2917961972623857e-07}},
                  {"gradient exact",
                   [] {
                     TensorD x = TensorD::vector({-1, 0, 0.5, 2}, true);
                     return grad(sum(gelu(x)), {x})[0];
                   },
                   Shape{4},
                   {-0.08331547058768629, 0.5, 0.8674951246561629, 1.085231801078197}},
                  {"gradient tanh",
                   [] {
                     TensorD x = TensorD::vector({-1, 0, 0.5, 2}, true);
                     return grad(sum(gelu(x, GeluApproximation::tanh)), {x})[0];
                   },
                   Shape{4},
                   {-0.08296408384578255, 0.5, 0.8673699035346424, 1.0860992566236183}}}};
  cases.accepts_every_input = true;
  return cases;
}

}  // namespace

template <class T> Tensor<T> gelu(const Tensor<T>& x, GeluApproximation approximate) {
  Tensor<T> out;
  if (approximate == GeluApproximation::none)
    out = detail::map_unary("gelu", x, [](T v) {
      return T(0.5) * v * std::erfc(-v * T(0.7071067811865475));  // 1/sqrt(2)
    });
  else
    out = detail::map_unary("gelu", x, [](T v) {
      return T(0.5) * v * (T(1) + std::tanh(T(kSqrt2OverPi) * (v + T(kCubic) * v * v * v)));
    });
  if (auto* node = record<GeluNode<T>>(out, {&x})) {
    node->approximate = approximate;
    node->saved[0].save_input(x);
  }
  return out;
}

template Tensor<float> gelu(const Tensor<float>&, GeluApproximation);
template Tensor<double> gelu(const Tensor<double>&, GeluApproximation);

TG_DEFINE_REPLAYABLE_OP(gelu, "dx = G*(Phi(x) + x*phi(x)); tanh form: G*d/dx of 0.5x(1+tanh(u(x)))",
                        gelu_samples, gelu_cases);

}  // namespace tg
