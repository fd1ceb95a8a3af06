// sub: a - b with NumPy broadcasting. Adjoint: da = G, db = -G.
#include "../kernels.hpp"

namespace tg {

namespace {

template <class T> class SubNode final : public Node<T> {
 public:
  const char* name() const override { return "sub"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    grads[0] = g;
    if (this->needs_grad(1)) grads[1] = neg(g);
  }
};

template <class T> std::vector<GradSample<T>> sub_samples(std::uint64_t seed) {
  return samples::binary<T>(seed, -2, 2, -2, 2, false,
                            [](const Tensor<T>& a, const Tensor<T>& b) { return sub(a, b); });
}

}  // namespace

template <class T> Tensor<T> sub(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = detail::map_binary("sub", a, b, [](T x, T y) { return x - y; });
  record<SubNode<T>>(out, {&a, &b});
  return out;
}

template Tensor<float> sub(const Tensor<float>&, const Tensor<float>&);
template Tensor<double> sub(const Tensor<double>&, const Tensor<double>&);

TG_DEFINE_OP(sub, "da = G, db = -G", sub_samples);

}  // namespace tg
