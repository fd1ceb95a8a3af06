// matmul: C = op(A) @ op(B), op = optional transpose.
// Adjoints are again matmuls with transpose flags, so no transposed copy is ever made:
//   C = A B     : dA = G B^T   dB = A^T G
//   C = A B^T   : dA = G B     dB = G^T A
//   C = A^T B   : dA = B G^T   dB = A G
//   C = A^T B^T : dA = B^T G^T dB = G^T A^T
#include "../blas.hpp"
#include "../kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> class MatmulNode final : public SavingNode<T, 2> {
 public:
  bool ta = false, tb = false;
  const char* name() const override { return "matmul"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    if (this->needs_grad(0)) {
      Tensor<T> b = this->get(1);
      grads[0] = ta ? matmul(b, g, tb, true) : matmul(g, b, false, !tb);
    }
    if (this->needs_grad(1)) {
      Tensor<T> a = this->get(0);
      grads[1] = tb ? matmul(g, a, true, ta) : matmul(a, g, !ta, false);
    }
  }
};

template <class T> std::vector<GradSample<T>> matmul_samples(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  // (n, k, m) including 1x1, row and column vectors, non-square; one above the BLAS threshold.
  const std::size_t dims[][3] = {{1, 1, 1}, {1, 4, 3}, {4, 3, 1}, {3, 4, 2}, {2, 1, 5}, {9, 8, 10}};
  for (const auto& d : dims) {
    for (int flags = 0; flags < 4; ++flags) {
      const bool ta = flags & 1, tb = flags & 2;
      const Shape sa = ta ? Shape{d[1], d[0]} : Shape{d[0], d[1]};
      const Shape sb = tb ? Shape{d[2], d[1]} : Shape{d[1], d[2]};
      out.push_back(
          {std::string(ta ? "T" : "") + sa.str() + "@" + (tb ? "T" : "") + sb.str(),
           {samples::uniform<T>(sa, -1, 1, rng), samples::uniform<T>(sb, -1, 1, rng)},
           [ta, tb](const std::vector<Tensor<T>>& in) { return matmul(in[0], in[1], ta, tb); }});
    }
  }
  return out;
}

// By hand, with A = [[1,2,3],[4,5,6]] and B = [[7,8],[9,10],[11,12]]:
//   A B = [1*7+2*9+3*11, 1*8+2*10+3*12; 4*7+5*9+6*11, 4*8+5*10+6*12] = [58, 64; 139, 154];
//   A^T A [3,3]: (i,j) = sum_k A[k,i] A[k,j] = [1+16, 2+20, 3+24; 2+20, 4+25, 6+30; 3+24, 6+30,
//   9+36]; A A^T = [1+4+9, 4+10+18; 4+10+18, 16+25+36];  B^T A^T = (A B)^T = [58, 139; 64, 154];
//   A^T B^T [3,3]: (i,j) = sum_k A[k,i] B[j,k]: rows [1*7+4*8, 1*9+4*10, 1*11+4*12],
//   [2*7+5*8, 2*9+5*10, 2*11+5*12], [3*7+6*8, 3*9+6*10, 3*11+6*12].
// For C = P^T Q with P[3,2], Q[3,2] and L = sum(C) = sum_{i,j,k} P[k,i] Q[k,j]: dP[k,i] =
// sum_j Q[k,j] (row sums of Q), dQ[k,j] = sum_i P[k,i] (row sums of P).
OpCases matmul_cases() {
  return {
      .forward = {{"A[2,3] @ B[3,2]",
                   [] {
                     return matmul(TensorD::matrix({{1, 2, 3}, {4, 5, 6}}),
                                   TensorD::matrix({{7, 8}, {9, 10}, {11, 12}}));
                   },
                   Shape{2, 2},
                   {58, 64, 139, 154}},
                  {"A^T A",
                   [] {
                     const TensorD a = TensorD::matrix({{1, 2, 3}, {4, 5, 6}});
                     return matmul(a, a, true, false);
                   },
                   Shape{3, 3},
                   {17, 22, 27, 22, 29, 36, 27, 36, 45}},
                  {"A A^T",
                   [] {
                     const TensorD a = TensorD::matrix({{1, 2, 3}, {4, 5, 6}});
                     return matmul(a, a, false, true);
                   },
                   Shape{2, 2},
                   {14, 32, 32, 77}},
                  {"B^T A^T",
                   [] {
                     return matmul(TensorD::matrix({{7, 8}, {9, 10}, {11, 12}}),
                                   TensorD::matrix({{1, 2, 3}, {4, 5, 6}}), true, true);
                   },
                   Shape{2, 2},
                   {58, 139, 64, 154}},
                  {"A^T B^T",
                   [] {
                     return matmul(TensorD::matrix({{1, 2, 3}, {4, 5, 6}}),
                                   TensorD::matrix({{7, 8}, {9, 10}, {11, 12}}), true, true);
                   },
                   Shape{3, 3},
                   {39, 49, 59, 54, 68, 82, 69, 87, 105}},
                  // [1*1+3*2+5*0, 1*-1+3*0.5+5*3; 2*1+4*2+6*0, 2*-1+4*0.5+6*3]
                  {"P^T Q",
                   [] {
                     return matmul(TensorD::matrix({{1, 2}, {3, 4}, {5, 6}}),
                                   TensorD::matrix({{1, -1}, {2, 0.5}, {0, 3}}), true, false);
                   },
                   Shape{2, 2},
                   {7, 15.5, 10, 18}},
                  {"d/dP sum(P^T Q): row sums of Q",
                   [] {
                     TensorD p = TensorD::matrix({{1, 2}, {3, 4}, {5, 6}}, true);
                     TensorD q = TensorD::matrix({{1, -1}, {2, 0.5}, {0, 3}}, true);
                     return grad(sum(matmul(p, q, true, false)), {p, q})[0];
                   },
                   Shape{3, 2},
                   {0, 0, 2.5, 2.5, 3, 3}},
                  {"d/dQ sum(P^T Q): row sums of P",
                   [] {
                     TensorD p = TensorD::matrix({{1, 2}, {3, 4}, {5, 6}}, true);
                     TensorD q = TensorD::matrix({{1, -1}, {2, 0.5}, {0, 3}}, true);
                     return grad(sum(matmul(p, q, true, false)), {p, q})[1];
                   },
                   Shape{3, 2},
                   {3, 3, 7, 7, 11, 11}}},
      .errors = {
          {"inner dimensions 3 != 2", ErrorKind::shape, "A[2,3] @ B[2,3] (3 != 2)",
           [] {
             matmul(TensorD::zeros(Shape{2, 3}, true), TensorD::zeros(Shape{2, 3}, true));
           }},
          {"inner dimensions with a transpose flag", ErrorKind::shape, "A^T[3,2] @ B[2,2] (3 != 2)",
           [] {
             matmul(TensorD::zeros(Shape{3, 2}, true), TensorD::zeros(Shape{2, 2}, true), true,
                    false);
           }},
          {"1-D A", ErrorKind::shape, "A[3] @ B[3,2]",
           [] {
             matmul(TensorD::zeros(Shape{3}), TensorD::zeros(Shape{3, 2}));
           }},
          {"1-D B", ErrorKind::shape, "A[2,3] @ B[3]", [] {
             matmul(TensorD::zeros(Shape{2, 3}), TensorD::zeros(Shape{3}));
           }}}};
}

}  // namespace

template <class T>
Tensor<T> matmul(const Tensor<T>& a, const Tensor<T>& b, bool transpose_a, bool transpose_b) {
  auto name = [&](const char* n, bool t, const Tensor<T>& x) {
    return std::string(n) + (t ? "^T" : "") + x.shape().str();
  };
  if (a.ndim() != 2 || b.ndim() != 2)
    throw ShapeError("matmul: both operands must be 2-D, got " + name("A", transpose_a, a) + " @ " +
                     name("B", transpose_b, b));
  const std::size_t m = transpose_a ? a.dim(1) : a.dim(0);
  const std::size_t k = transpose_a ? a.dim(0) : a.dim(1);
  const std::size_t kb = transpose_b ? b.dim(1) : b.dim(0);
  const std::size_t n = transpose_b ? b.dim(0) : b.dim(1);
  if (k != kb)
    throw ShapeError("matmul: inner dimensions differ: " + name("A", transpose_a, a) + " @ " +
                     name("B", transpose_b, b) + " (" + std::to_string(k) +
                     " != " + std::to_string(kb) + ")");
  Tensor<T> out = detail::new_output<T>("matmul", Shape{m, n});
  detail::gemm<T>(transpose_a, transpose_b, m, n, k, T(1), a.data(), a.dim(1), b.data(), b.dim(1),
                  T(0), out.data());
  if (auto* node = record<MatmulNode<T>>(out, {&a, &b})) {
    node->ta = transpose_a;
    node->tb = transpose_b;
    // Each operand is needed only for the other's gradient.
    if (node->needs_grad(1)) node->saved[0].save_input(a);
    if (node->needs_grad(0)) node->saved[1].save_input(b);
  }
  return out;
}

template Tensor<float> matmul(const Tensor<float>&, const Tensor<float>&, bool, bool);
template Tensor<double> matmul(const Tensor<double>&, const Tensor<double>&, bool, bool);

TG_DEFINE_OP(matmul, "dA = G @ B^T, dB = A^T @ G (GEMM with transpose flags)", matmul_samples,
             matmul_cases);

}  // namespace tg
