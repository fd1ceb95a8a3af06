// pow: x^p elementwise for a constant exponent p; IEEE-754 outside the domain (a negative base
// with a fractional p gives NaN). Adjoint: G*p*x^(p-1); exactly 0 for p = 0 (whatever G).
#include "../kernels.hpp"

namespace tg {

namespace {

template <class T> class PowNode final : public SavingNode<T, 1> {
 public:
  T exponent = 1;
  const char* name() const override { return "pow"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    // x^p is constant for p = 0: its gradient is 0 whatever G (PyTorch's zeros_like(x)), where
    // p * x^(p-1) would be 0 * inf = NaN at x = 0 and G * 0 would be NaN for an infinite G.
    if (exponent == T(0)) {
      grads[0] = detail::zeros_output<T>("pow", this->input_shape(0));
      return;
    }
    grads[0] = mul(g, pow(this->get(0), exponent - T(1)) * exponent);
  }
};

template <class T> std::vector<GradSample<T>> pow_samples(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  for (const double p : {2.0, 3.0, -1.0, 0.5, 1.5, 0.0}) {
    const bool integral = p == std::floor(p);
    for (const Shape& s : samples::elementwise_shapes()) {
      // Fractional powers need positive bases; integral ones are checked on both signs.
      Tensor<T> x = integral ? samples::away_from_zero<T>(s, 0.3, 2, rng)
                             : samples::uniform<T>(s, 0.3, 2, rng);
      out.push_back({s.str() + " ^" + format_number(p), {x}, [p](const std::vector<Tensor<T>>& in) {
                       return pow(in[0], T(p));
                     }});
    }
  }
  return out;
}

}  // namespace

template <class T> Tensor<T> pow(const Tensor<T>& x, T exponent) {
  Tensor<T> out;
  if (exponent == T(2))
    out = detail::map_unary("pow", x, [](T v) { return v * v; });
  else
    out = detail::map_unary("pow", x, [exponent](T v) { return std::pow(v, exponent); });
  if (auto* node = record<PowNode<T>>(out, {&x})) {
    node->exponent = exponent;
    if (exponent != T(0)) node->saved[0].save_input(x);  // x^0's adjoint needs no x
  }
  return out;
}

template Tensor<float> pow(const Tensor<float>&, float);
template Tensor<double> pow(const Tensor<double>&, double);

TG_DEFINE_OP(pow, "dx = G*p*x^(p-1) (0 for p = 0)", pow_samples);

}  // namespace tg
