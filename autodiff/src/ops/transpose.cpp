// transpose: matrix transpose, 2-D only. Adjoint: transpose(G).
#include "../kernels.hpp"
#include "tapegrad/grad.hpp"

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

// By hand: [[1,2,3],[4,5,6]]^T; the gradient is G^T.
OpCases transpose_cases() {
  OpCases cases = {
      .forward = {{"[2,3]",
                   [] {
                     return transpose(TensorD::matrix({{1, 2, 3}, {4, 5, 6}}));
                   },
                   Shape{3, 2},
                   {1, 4, 2, 5, 3, 6}},
                  {"gradient G^T",
                   [] {
                     TensorD x = TensorD::matrix({{1, 2, 3}, {4, 5, 6}}, true);
                     return grad(transpose(x), {x}, TensorD::matrix({{1, 2}, {3, 4}, {5, 6}}))[0];
                   },
                   Shape{2, 3},
                   {1, 3, 5, 2, 4, 6}}},
      .errors = {{"1-D", ErrorKind::shape, "got [3]", [] { transpose(TensorD::zeros(Shape{3})); }},
                 {"3-D", ErrorKind::shape, "got [2,3,4]", [] {
                    transpose(TensorD::zeros(Shape{2, 3, 4}));
                  }}}};
  cases.gradient_constant_in_inputs = true;
  return cases;
}

}  // namespace

template <class T> Tensor<T> transpose(const Tensor<T>& x) {
  require_rank("transpose", x, 2);
  const std::size_t n = x.dim(0), m = x.dim(1);
  Tensor<T> out = detail::new_output<T>("transpose", Shape{m, n});
  // An empty [2^40, 0] still has 2^40 rows: no loop over them.
  if (out.size() != 0)
    detail::launch([in = x.data(), o = out.data(), n, m] {
      for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < m; ++j) o[j * n + i] = in[i * m + j];
    });
  record<TransposeNode<T>>(out, {&x});
  return out;
}

template Tensor<float> transpose(const Tensor<float>&);
template Tensor<double> transpose(const Tensor<double>&);

TG_DEFINE_REPLAYABLE_OP(transpose, "dx = G^T", transpose_samples, transpose_cases);

}  // namespace tg
