// tanh. Saves its output t. Adjoint: G*(1 - t^2), the fused op tanh_backward.
#include "../kernels.hpp"

namespace tg {

namespace {

template <class T> class TanhNode final : public SavingNode<T, 1> {
 public:
  const char* name() const override { return "tanh"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    grads[0] = tanh_backward(g, this->get(0));
  }
};

template <class T> std::vector<GradSample<T>> tanh_samples(std::uint64_t seed) {
  return samples::unary<T>(seed, -2.5, 2.5, [](const Tensor<T>& x) { return tanh(x); });
}

}  // namespace

template <class T> Tensor<T> tanh(const Tensor<T>& x) {
  Tensor<T> out = detail::map_unary("tanh", x, [](T v) { return std::tanh(v); });
  if (auto* node = record<TanhNode<T>>(out, {&x})) node->saved[0].save_output(out);
  return out;
}

template Tensor<float> tanh(const Tensor<float>&);
template Tensor<double> tanh(const Tensor<double>&);

TG_DEFINE_OP(tanh, "dx = G*(1 - t^2), t = tanh(x)", tanh_samples);

}  // namespace tg
