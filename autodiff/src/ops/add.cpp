// add: a + b with NumPy broadcasting. Adjoint: da = G, db = G (the engine sums each back to its
// input's shape).
#include "../kernels.hpp"

namespace tg {

namespace {

template <class T> class AddNode final : public Node<T> {
 public:
  const char* name() const override { return "add"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    grads[0] = g;
    grads[1] = g;
  }
};

template <class T> std::vector<GradSample<T>> add_samples(std::uint64_t seed) {
  return samples::binary<T>(seed, -2, 2, -2, 2, false,
                            [](const Tensor<T>& a, const Tensor<T>& b) { return add(a, b); });
}

}  // namespace

template <class T> Tensor<T> add(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = detail::map_binary("add", a, b, [](T x, T y) { return x + y; });
  record<AddNode<T>>(out, {&a, &b});
  return out;
}

template Tensor<float> add(const Tensor<float>&, const Tensor<float>&);
template Tensor<double> add(const Tensor<double>&, const Tensor<double>&);

TG_DEFINE_OP(add, "da = G, db = G (summed back to each input's shape)", add_samples);

}  // namespace tg
