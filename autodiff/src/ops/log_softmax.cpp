// log_softmax along the last axis: x - logsumexp(x) per row (max-shifted, so +-800 is fine).
// Saves its output. Adjoint: G - softmax(x) * rowsum(G), softmax(x) = exp(output).
#include "../kernels.hpp"

namespace tg {

namespace {

template <class T> class LogSoftmaxNode final : public SavingNode<T, 1> {
 public:
  const char* name() const override { return "log_softmax"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    grads[0] = g - exp(this->get(0)) * detail::row_sum_keep(g);
  }
};

template <class T> std::vector<GradSample<T>> log_softmax_samples(std::uint64_t seed) {
  return samples::rows<T>(seed, [](const Tensor<T>& x) { return log_softmax(x); });
}

}  // namespace

template <class T> Tensor<T> log_softmax(const Tensor<T>& x) {
  Tensor<T> out = detail::softmax_rows(x, true, "log_softmax");
  if (auto* node = record<LogSoftmaxNode<T>>(out, {&x})) node->saved[0].save_output(out);
  return out;
}

template Tensor<float> log_softmax(const Tensor<float>&);
template Tensor<double> log_softmax(const Tensor<double>&);

TG_DEFINE_OP(log_softmax, "dx = G - softmax(x)*rowsum(G)", log_softmax_samples);

}  // namespace tg
