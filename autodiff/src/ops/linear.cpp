// linear: Y = X W + b for X[n,k], W[k,m], b[m]: a dense layer as one op, as PyTorch's addmm. The
// bias is written into Y first and one GEMM adds X W onto it (beta = 1), so Y is written once
// instead of twice (matmul, then add_bias), and the graph holds one node instead of two.
// Adjoint: dX = G W^T, dW = X^T G (GEMMs with transpose flags), db[j] = sum_i G[i,j].
#include "../blas.hpp"
#include "../dense_layer.hpp"
#include "../kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> class LinearNode final : public detail::LinearAdjointNode<T, 2> {
 public:
  const char* name() const override { return "linear"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override { this->linear_backward(g, grads); }
};

template <class T> std::vector<GradSample<T>> linear_samples(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  struct Dims {
    std::size_t n, k, m;
  };
  for (const auto& [n, k, m] :
       {Dims{1, 1, 1}, Dims{1, 4, 3}, Dims{4, 1, 2}, Dims{3, 2, 1}, Dims{5, 3, 4}, Dims{2, 6, 5}})
    out.push_back(
        {Shape{n, k}.str() + "@" + Shape{k, m}.str() + "+" + Shape{m}.str(),
         {samples::uniform<T>(Shape{n, k}, -1, 1, rng),
          samples::uniform<T>(Shape{k, m}, -1, 1, rng), samples::uniform<T>(Shape{m}, -1, 1, rng)},
         [](const std::vector<Tensor<T>>& in) { return linear(in[0], in[1], in[2]); }});
  return out;
}

// By hand, for X = [[1,2],[3,4]], W = [[1,0,2],[0,1,-1]], b = [10,20,30]:
//   Y = [[1+10, 2+20, 2-2+30], [3+10, 4+20, 6-4+30]] = [[11,22,30],[13,24,32]].
// With the upstream G = [[1,2,3],[4,5,6]]:
//   dX = G W^T = [[1+0+6, 0+2-3], [4+0+12, 0+5-6]] = [[7,-1],[16,-1]],
//   dW = X^T G = [1*[1,2,3] + 3*[4,5,6], 2*[1,2,3] + 4*[4,5,6]] = [[13,17,21],[18,24,30]],
//   db = column sums of G = [5,7,9].
std::vector<TensorD> linear_example_grads() {
  TensorD x = TensorD::matrix({{1, 2}, {3, 4}}, true);
  TensorD w = TensorD::matrix({{1, 0, 2}, {0, 1, -1}}, true);
  TensorD b = TensorD::vector({10, 20, 30}, true);
  return grad(linear(x, w, b), {x, w, b}, TensorD::matrix({{1, 2, 3}, {4, 5, 6}}));
}

OpCases linear_cases() {
  OpCases cases = {
      .forward =
          {{"X[2,2] W[2,3] + b[3]",
            [] {
              return linear(TensorD::matrix({{1, 2}, {3, 4}}),
                            TensorD::matrix({{1, 0, 2}, {0, 1, -1}}),
                            TensorD::vector({10, 20, 30}));
            },
            Shape{2, 3},
            {11, 22, 30, 13, 24, 32}},
           {"dX = G W^T", [] { return linear_example_grads()[0]; }, Shape{2, 2}, {7, -1, 16, -1}},
           {"dW = X^T G",
            [] { return linear_example_grads()[1]; },
            Shape{2, 3},
            {13, 17, 21, 18, 24, 30}},
           {"db = column sums of G", [] { return linear_example_grads()[2]; }, Shape{3}, {5, 7, 9}},
           {"no inputs per row: every row is the bias",
            [] {
              return linear(TensorD::zeros(Shape{2, 0}), TensorD::zeros(Shape{0, 2}),
                            TensorD::vector({1, 2}));
            },
            Shape{2, 2},
            {1, 2, 1, 2}}},
      .errors = {{"1-D X", ErrorKind::shape, "X[2], W[2,3] and b[3]",
                  [] {
                    linear(TensorD::zeros(Shape{2}), TensorD::zeros(Shape{2, 3}),
                           TensorD::zeros(Shape{3}));
                  }},
                 {"1-D W", ErrorKind::shape, "X[4,2], W[2] and b[1]",
                  [] {
                    linear(TensorD::zeros(Shape{4, 2}), TensorD::zeros(Shape{2}),
                           TensorD::zeros(Shape{1}));
                  }},
                 {"inner dimensions differ", ErrorKind::shape, "X[2,3], W[2,4] and b[4]",
                  [] {
                    linear(TensorD::zeros(Shape{2, 3}, true), TensorD::zeros(Shape{2, 4}, true),
                           TensorD::zeros(Shape{4}, true));
                  }},
                 {"bias of the wrong length", ErrorKind::shape, "X[2,2], W[2,4] and b[2]",
                  [] {
                    linear(TensorD::zeros(Shape{2, 2}), TensorD::zeros(Shape{2, 4}),
                           TensorD::zeros(Shape{2}));
                  }},
                 {"2-D bias", ErrorKind::shape, "X[2,2], W[2,4] and b[1,4]", [] {
                    linear(TensorD::zeros(Shape{2, 2}), TensorD::zeros(Shape{2, 4}),
                           TensorD::zeros(Shape{1, 4}));
                  }}}};
  return cases;
}

}  // namespace

template <class T>
Tensor<T> linear(const Tensor<T>& x, const Tensor<T>& weight, const Tensor<T>& bias) {
  if (x.ndim() != 2 || weight.ndim() != 2 || bias.ndim() != 1 || weight.dim(0) != x.dim(1) ||
      bias.dim(0) != weight.dim(1))
    throw op_error<ShapeError>("linear", "needs X[n,k], W[k,m] and b[m], got X", x, ", W", weight,
                               " and b", bias);
  const std::size_t n = x.dim(0), k = x.dim(1), m = weight.dim(1);
  Tensor<T> out = detail::new_output<T>("linear", Shape{n, m});
  if (out.size() != 0) {  // an empty Y may still have 2^40 rows: no loop over them
    detail::launch([y = out.data(), b = bias.data(), xd = x.data(), w = weight.data(), n, m,
                    k] { detail::dense_forward(y, b, xd, w, n, m, k); },
                   [&] { return detail::writes_from(out, x, weight, bias); });
  }
  if (auto* node = record<LinearNode<T>>(out, {&x, &weight, &bias})) {
    // Each of X and W is needed only for the other's gradient.
    if (node->needs_grad(1)) node->saved[0].save_input(x);
    if (node->needs_grad(0)) node->saved[1].save_input(weight);
  }
  return out;
}

template Tensor<float> linear(const Tensor<float>&, const Tensor<float>&, const Tensor<float>&);
template Tensor<double> linear(const Tensor<double>&, const Tensor<double>&, const Tensor<double>&);

TG_DEFINE_REPLAYABLE_OP(linear,
                        "dX = G W^T, dW = X^T G (GEMMs with transpose flags), db = sum(G, axis 0)",
                        linear_samples, linear_cases);

}  // namespace tg
