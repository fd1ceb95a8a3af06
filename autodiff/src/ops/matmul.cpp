// matmul: C = op(A) @ op(B), op = optional transpose.
// Adjoints are again matmuls with transpose flags, so no transposed copy is ever made:
//   C = A B     : dA = G B^T   dB = A^T G
//   C = A B^T   : dA = G B     dB = G^T A
//   C = A^T B   : dA = B G^T   dB = A G
//   C = A^T B^T : dA = B^T G^T dB = G^T A^T
#include "../blas.hpp"
#include "../kernels.hpp"

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

TG_DEFINE_OP(matmul, "dA = G @ B^T, dB = A^T @ G (GEMM with transpose flags)", matmul_samples);

}  // namespace tg
