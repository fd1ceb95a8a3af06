// sigmoid: 1/(1+e^-x), evaluated as e^x/(1+e^x) for x < 0 so that e^-x never overflows.
// Saves its output s, not its input. Adjoint: G*s*(1-s), the fused op sigmoid_backward.
#include "../kernels.hpp"

namespace tg {

namespace {

template <class T> class SigmoidNode final : public SavingNode<T, 1> {
 public:
  const char* name() const override { return "sigmoid"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    grads[0] = sigmoid_backward(g, this->get(0));
  }
};

template <class T> std::vector<GradSample<T>> sigmoid_samples(std::uint64_t seed) {
  return samples::unary<T>(seed, -4, 4, [](const Tensor<T>& x) { return sigmoid(x); });
}

}  // namespace

template <class T> Tensor<T> sigmoid(const Tensor<T>& x) {
  Tensor<T> out = detail::map_unary("sigmoid", x, [](T v) {
    if (v >= T(0)) return T(1) / (T(1) + std::exp(-v));
    const T e = std::exp(v);
    return e / (T(1) + e);
  });
  if (auto* node = record<SigmoidNode<T>>(out, {&x})) node->saved[0].save_output(out);
  return out;
}

template Tensor<float> sigmoid(const Tensor<float>&);
template Tensor<double> sigmoid(const Tensor<double>&);

TG_DEFINE_OP(sigmoid, "dx = G*s*(1-s), s = sigmoid(x)", sigmoid_samples);

}  // namespace tg
