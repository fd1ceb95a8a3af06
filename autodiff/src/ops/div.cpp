// div: a / b elementwise with NumPy broadcasting; IEEE-754 for b = 0 (inf/NaN, no error).
// Adjoint: da = G/b, db = -G*a/b^2.
#include "../kernels.hpp"

namespace tg {

namespace {

template <class T> class DivNode final : public SavingNode<T, 2> {
 public:
  const char* name() const override { return "div"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    Tensor<T> b = this->get(1);
    if (this->needs_grad(0)) grads[0] = div(g, b);
    if (this->needs_grad(1)) grads[1] = neg(div(mul(g, this->get(0)), mul(b, b)));
  }
};

template <class T> std::vector<GradSample<T>> div_samples(std::uint64_t seed) {
  // Denominators at least 0.5 from zero keep the central differences accurate.
  return samples::binary<T>(seed, -2, 2, 0.5, 2, true,
                            [](const Tensor<T>& a, const Tensor<T>& b) { return div(a, b); });
}

}  // namespace

template <class T> Tensor<T> div(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = detail::map_binary("div", a, b, [](T x, T y) { return x / y; });
  if (auto* node = record<DivNode<T>>(out, {&a, &b})) {
    if (node->needs_grad(1)) node->saved[0].save_input(a);
    node->saved[1].save_input(b);
  }
  return out;
}

template Tensor<float> div(const Tensor<float>&, const Tensor<float>&);
template Tensor<double> div(const Tensor<double>&, const Tensor<double>&);

TG_DEFINE_OP(div, "da = G/b, db = -G*a/b^2", div_samples);

}  // namespace tg
