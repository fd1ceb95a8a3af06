// softmax along the last axis: exp(x - logsumexp(x)) per row. Saves its output s.
// Adjoint: s * (G - rowsum(G*s)).
#include "../kernels.hpp"

namespace tg {

namespace {

template <class T> class SoftmaxNode final : public SavingNode<T, 1> {
 public:
  const char* name() const override { return "softmax"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    Tensor<T> s = this->get(0);
    grads[0] = s * (g - detail::row_sum_keep(g * s));
  }
};

template <class T> std::vector<GradSample<T>> softmax_samples(std::uint64_t seed) {
  return samples::rows<T>(seed, [](const Tensor<T>& x) { return softmax(x); });
}

}  // namespace

template <class T> Tensor<T> softmax(const Tensor<T>& x) {
  Tensor<T> out = detail::softmax_rows(x, false, "softmax");
  if (auto* node = record<SoftmaxNode<T>>(out, {&x})) node->saved[0].save_output(out);
  return out;
}

template Tensor<float> softmax(const Tensor<float>&);
template Tensor<double> softmax(const Tensor<double>&);

TG_DEFINE_OP(softmax, "dx = s*(G - rowsum(G*s)), s = softmax(x)", softmax_samples);

}  // namespace tg
