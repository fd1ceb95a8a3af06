// sigmoid_backward: G*s*(1-s), sigmoid's adjoint as one fused kernel (one buffer instead of
// four on the backward pass). Recorded when backward itself is recorded (create_graph), so it
// has an adjoint of its own: dG = s*(1-s), ds = G*(1-2s).
#include "../kernels.hpp"

namespace tg {

namespace {

template <class T> class SigmoidBackwardNode final : public SavingNode<T, 2> {
 public:
  const char* name() const override { return "sigmoid_backward"; }
  void backward(const Tensor<T>& u, Grads<T>& grads) override {
    Tensor<T> s = this->get(1);
    if (this->needs_grad(0)) grads[0] = sigmoid_backward(u, s);
    if (this->needs_grad(1)) grads[1] = u * this->get(0) * (T(1) - T(2) * s);
  }
};

template <class T> std::vector<GradSample<T>> sigmoid_backward_samples(std::uint64_t seed) {
  return samples::binary<T>(
      seed, -2, 2, 0.05, 0.95, false,
      [](const Tensor<T>& g, const Tensor<T>& s) { return sigmoid_backward(g, s); });
}

}  // namespace

template <class T> Tensor<T> sigmoid_backward(const Tensor<T>& g, const Tensor<T>& s) {
  Tensor<T> out = detail::map_binary("sigmoid_backward", g, s,
                                     [](T gv, T sv) { return gv * (sv * (T(1) - sv)); });
  if (auto* node = record<SigmoidBackwardNode<T>>(out, {&g, &s})) {
    if (node->needs_grad(1)) node->saved[0].save_input(g);
    node->saved[1].save_input(s);
  }
  return out;
}

template Tensor<float> sigmoid_backward(const Tensor<float>&, const Tensor<float>&);
template Tensor<double> sigmoid_backward(const Tensor<double>&, const Tensor<double>&);

TG_DEFINE_OP(sigmoid_backward, "dG = U*s*(1-s), ds = U*G*(1-2s)", sigmoid_backward_samples);

}  // namespace tg
