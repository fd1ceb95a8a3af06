// add_bias: Y[i,j] = X[i,j] + b[j] for X[n,m], b[m] (the bias broadcast over rows), the one op
// that broadcasts by definition. Adjoint: dX = G, db[j] = sum_i G[i,j].
#include "../kernels.hpp"

namespace tg {

namespace {

template <class T> class AddBiasNode final : public Node<T> {
 public:
  const char* name() const override { return "add_bias"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    grads[0] = g;
    if (this->needs_grad(1)) grads[1] = sum(g, 0);
  }
};

template <class T> std::vector<GradSample<T>> add_bias_samples(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  for (const auto& [n, m] :
       {std::pair<std::size_t, std::size_t>{1, 1}, {1, 5}, {4, 1}, {3, 4}, {5, 2}})
    out.push_back(
        {Shape{n, m}.str() + "+" + Shape{m}.str(),
         {samples::uniform<T>(Shape{n, m}, -1, 1, rng), samples::uniform<T>(Shape{m}, -1, 1, rng)},
         [](const std::vector<Tensor<T>>& in) { return add_bias(in[0], in[1]); }});
  return out;
}

}  // namespace

template <class T> Tensor<T> add_bias(const Tensor<T>& x, const Tensor<T>& bias) {
  if (x.ndim() != 2 || bias.ndim() != 1 || bias.dim(0) != x.dim(1))
    throw ShapeError("add_bias: needs X[n,m] and a bias b[m] with one entry per column, got X" +
                     x.shape().str() + " and b" + bias.shape().str());
  const std::size_t n = x.dim(0), m = x.dim(1);
  Tensor<T> out = detail::new_output<T>("add_bias", x.shape());
  const T* in = x.data();
  const T* b = bias.data();
  T* o = out.data();
  // An empty X may still have 2^40 rows: no loop over them.
  if (out.size() != 0)
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < m; ++j) o[i * m + j] = in[i * m + j] + b[j];
  record<AddBiasNode<T>>(out, {&x, &bias});
  return out;
}

template Tensor<float> add_bias(const Tensor<float>&, const Tensor<float>&);
template Tensor<double> add_bias(const Tensor<double>&, const Tensor<double>&);

TG_DEFINE_OP(add_bias, "dX = G, db = sum(G, axis 0)", add_bias_samples);

}  // namespace tg
