// mul: a * b elementwise with NumPy broadcasting. Adjoint: da = G*b, db = G*a.
#include "../kernels.hpp"

namespace tg {

namespace {

template <class T> class MulNode final : public SavingNode<T, 2> {
 public:
  const char* name() const override { return "mul"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    if (this->needs_grad(0)) grads[0] = mul(g, this->get(1));
    if (this->needs_grad(1)) grads[1] = mul(g, this->get(0));
  }
};

template <class T> std::vector<GradSample<T>> mul_samples(std::uint64_t seed) {
  return samples::binary<T>(seed, -2, 2, -2, 2, false,
                            [](const Tensor<T>& a, const Tensor<T>& b) { return mul(a, b); });
}

}  // namespace

template <class T> Tensor<T> mul(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = detail::map_binary("mul", a, b, [](T x, T y) { return x * y; });
  if (auto* node = record<MulNode<T>>(out, {&a, &b})) {
    if (node->needs_grad(1)) node->saved[0].save_input(a);
    if (node->needs_grad(0)) node->saved[1].save_input(b);
  }
  return out;
}

template Tensor<float> mul(const Tensor<float>&, const Tensor<float>&);
template Tensor<double> mul(const Tensor<double>&, const Tensor<double>&);

TG_DEFINE_OP(mul, "da = G*b, db = G*a", mul_samples);

}  // namespace tg
