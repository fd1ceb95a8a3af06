// neg: -x. Adjoint: -G.
#include "../kernels.hpp"

namespace tg {

namespace {

template <class T> class NegNode final : public Node<T> {
 public:
  const char* name() const override { return "neg"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override { grads[0] = neg(g); }
};

template <class T> std::vector<GradSample<T>> neg_samples(std::uint64_t seed) {
  return samples::unary<T>(seed, -2, 2, [](const Tensor<T>& x) { return neg(x); });
}

}  // namespace

template <class T> Tensor<T> neg(const Tensor<T>& x) {
  Tensor<T> out = detail::map_unary("neg", x, [](T v) { return -v; });
  record<NegNode<T>>(out, {&x});
  return out;
}

template Tensor<float> neg(const Tensor<float>&);
template Tensor<double> neg(const Tensor<double>&);

TG_DEFINE_OP(neg, "dx = -G", neg_samples);

}  // namespace tg
