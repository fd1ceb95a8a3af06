// exp: e^x. Saves its output. Adjoint: G*e^x.
#include "../kernels.hpp"

namespace tg {

namespace {

template <class T> class ExpNode final : public SavingNode<T, 1> {
 public:
  const char* name() const override { return "exp"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override { grads[0] = mul(g, this->get(0)); }
};

template <class T> std::vector<GradSample<T>> exp_samples(std::uint64_t seed) {
  return samples::unary<T>(seed, -2, 2, [](const Tensor<T>& x) { return exp(x); });
}

}  // namespace

template <class T> Tensor<T> exp(const Tensor<T>& x) {
  Tensor<T> out = detail::map_unary("exp", x, [](T v) { return std::exp(v); });
  if (auto* node = record<ExpNode<T>>(out, {&x})) node->saved[0].save_output(out);
  return out;
}

template Tensor<float> exp(const Tensor<float>&);
template Tensor<double> exp(const Tensor<double>&);

TG_DEFINE_OP(exp, "dx = G*e^x", exp_samples);

}  // namespace tg
