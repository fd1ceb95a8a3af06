// sign: -1, 0 or 1 (sign(0) = 0), and NaN for a NaN, as NumPy: PyTorch (1.13 and later) returns 0
// there, which turns a NaN into an ordinary number downstream. Piecewise constant: its adjoint is
// zeros of x's shape (whatever G), and nothing is saved.
#include <limits>

#include "../kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> class SignNode final : public Node<T> {
 public:
  const char* name() const override { return "sign"; }
  void backward(const Tensor<T>&, Grads<T>& grads) override {
    grads[0] = detail::zeros_output<T>("sign", this->input_shape(0));
  }
};

template <class T> std::vector<GradSample<T>> sign_samples(std::uint64_t seed) {
  // Inputs at least 0.1 away from the step at 0.
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  for (const Shape& s : samples::elementwise_shapes())
    out.push_back({s.str(),
                   {samples::away_from_zero<T>(s, 0.1, 2, rng)},
                   [](const std::vector<Tensor<T>>& in) { return sign(in[0]); }});
  return out;
}

// By hand.
OpCases sign_cases() {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  constexpr double inf = std::numeric_limits<double>::infinity();
  OpCases cases = {.forward = {{"[6]",
                                [] {
                                  return sign(TensorD::vector({-1.5, 0, 2e-300, -inf, inf, nan}));
                                },
                                Shape{6},
                                {-1, 0, 1, -1, 1, nan}},
                               {"gradient 0, also at 0",
                                [] {
                                  TensorD x = TensorD::vector({-1.5, 0, 2}, true);
                                  return grad(sum(sign(x)), {x})[0];
                                },
                                Shape{3},
                                {0, 0, 0}}}};
  cases.gradient_constant_in_inputs = true;
  cases.accepts_every_input = true;
  cases.gradient_is_zero = true;
  return cases;
}

}  // namespace

template <class T> Tensor<T> sign(const Tensor<T>& x) {
  Tensor<T> out = detail::map_unary("sign", x, [](T v) {
    if (v > T(0)) return T(1);
    if (v < T(0)) return T(-1);
    return v == T(0) ? T(0) : v;  // a NaN stays NaN
  });
  record<SignNode<T>>(out, {&x});
  return out;
}

template Tensor<float> sign(const Tensor<float>&);
template Tensor<double> sign(const Tensor<double>&);

TG_DEFINE_REPLAYABLE_OP(sign, "dx = 0", sign_samples, sign_cases);

}  // namespace tg
