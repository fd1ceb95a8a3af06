// transpose: matrix transpose, 2-D only. Adjoint: transpose(G).
#include "../kernels.hpp"

namespace tg {

namespace {

template <class T> class TransposeNode final : public Node<T> {
 public:
  const char* name() const override { return "transpose"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override { grads[0] = transpose(g); }
};

template <class T> std::vector<GradSample<T>> transpose_samples(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  for (const Shape& s : {Shape{1, 1}, Shape{1, 5}, Shape{4, 1}, Shape{3, 4}})
    out.push_back({s.str(),
                   {samples::uniform<T>(s, -1, 1, rng)},
                   [](const std::vector<Tensor<T>>& in) { return transpose(in[0]); }});
  return out;
}

}  // namespace

template <class T> Tensor<T> transpose(const Tensor<T>& x) {
  require_rank("transpose", x, 2);
  const std::size_t n = x.dim(0), m = x.dim(1);
  Tensor<T> out = detail::new_output<T>("transpose", Shape{m, n});
  const T* in = x.data();
  T* o = out.data();
  // An empty [2^40, 0] still has 2^40 rows: no loop over them.
  if (out.size() != 0)
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < m; ++j) o[j * n + i] = in[i * m + j];
  record<TransposeNode<T>>(out, {&x});
  return out;
}

template Tensor<float> transpose(const Tensor<float>&);
template Tensor<double> transpose(const Tensor<double>&);

TG_DEFINE_OP(transpose, "dx = G^T", transpose_samples);

}  // namespace tg
