// matmul: PyTorch's matmul, with transpose flags that apply to the last two dimensions.
//   2-D @ 2-D: C = op(A) @ op(B), op = transpose when the flag is set; one GEMM (the fast path).
//   1-D operands take part as matrices: A[k] as the row [1,k], B[k] as the column [k,1], and that
//   1 is removed from the result: [k] @ [k] -> [] (dot), [k] @ [k,n] -> [n], [m,k] @ [k] -> [m].
//   N-D: a batch of matrices in the last two dimensions whose batch dimensions broadcast; one GEMM
//   per batch on the operands' own buffers (a broadcast operand's matrix is read again at the
//   same offset, never copied). A flag on a 1-D operand is a ShapeError: it could only mean the
//   row/column choice that the operand's side already makes.
// Adjoints are again matmuls with transpose flags, so no transposed copy is ever made:
//   C = A B     : dA = G B^T   dB = A^T G
//   C = A B^T   : dA = G B     dB = G^T A
//   C = A^T B   : dA = B G^T   dB = A G
//   C = A^T B^T : dA = B^T G^T dB = G^T A^T
// computed on the operands as matrices (1-D ones and G reshaped, in backward only), then summed
// over the batch dimensions the operand was broadcast along (sum_to) and reshaped back.
// dot(a, b) is matmul on two 1-D operands after its own checks: it records a matmul node and
// costs nothing more, so it is not an op of its own.
#include <limits>
#include <utility>

#include "../blas.hpp"
#include "../kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

// An operand's shape as a (batch of) matrices: a 1-D A is the row [1,k], a 1-D B the column [k,1].
Shape matrix_shape_a(const Shape& s) {
  return s.rank() == 1 ? Shape{1, s[0]} : s;
}
Shape matrix_shape_b(const Shape& s) {
  return s.rank() == 1 ? Shape{s[0], 1} : s;
}

// The result's shape as a (batch of) matrices: the 1s removed for 1-D operands put back.
Shape matrix_shape_out(const Shape& out, bool a_vector, bool b_vector) {
  if (a_vector && b_vector) return Shape{1, 1};
  if (b_vector) {
    Shape s = out;
    s.push_back(1);
    return s;
  }
  if (!a_vector) return out;
  Shape s(out.begin(), out.end() - 1);
  s.push_back(1);
  s.push_back(out.back());
  return s;
}

template <class T> Tensor<T> reshaped(const Tensor<T>& x, const Shape& shape) {
  return x.shape() == shape ? x : reshape(x, shape);
}

template <class T> class MatmulNode final : public SavingNode<T, 2> {
 public:
  bool ta = false, tb = false;
  const char* name() const override { return "matmul"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    const Shape& sa = this->input_shape(0);
    const Shape& sb = this->input_shape(1);
    if (sa.rank() == 2 && sb.rank() == 2) {
      if (this->needs_grad(0)) {
        Tensor<T> b = this->get(1);
        grads[0] = ta ? matmul(b, g, tb, true) : matmul(g, b, false, !tb);
      }
      if (this->needs_grad(1)) {
        Tensor<T> a = this->get(0);
        grads[1] = tb ? matmul(g, a, true, ta) : matmul(a, g, !ta, false);
      }
      return;
    }
    if (g.size() == 0) {
      // Nothing flows back, but the batched products below would still span the whole batch:
      // [2^40,0,3] @ [3,4] would sum 2^40 zero [3,4] matrices into dB.
      for (std::size_t i = 0; i < 2; ++i)
        if (this->needs_grad(i)) grads[i] = detail::zeros_output<T>("matmul", this->input_shape(i));
      return;
    }
    const Shape ma = matrix_shape_a(sa), mb = matrix_shape_b(sb);
    const Tensor<T> gm = reshaped(g, matrix_shape_out(g.shape(), sa.rank() == 1, sb.rank() == 1));
    if (this->needs_grad(0)) {
      const Tensor<T> b = reshaped(this->get(1), mb);
      grads[0] = reshaped(sum_to(ta ? matmul(b, gm, tb, true) : matmul(gm, b, false, !tb), ma), sa);
    }
    if (this->needs_grad(1)) {
      const Tensor<T> a = reshaped(this->get(0), ma);
      grads[1] = reshaped(sum_to(tb ? matmul(gm, a, true, ta) : matmul(a, gm, !ta, false), mb), sb);
    }
  }
};

template <class T> std::string operand_name(const char* n, bool t, const Tensor<T>& x) {
  return std::string(n) + (t ? "^T" : "") + x.shape().str();
}

template <class T>
[[noreturn, gnu::cold, gnu::noinline]] void throw_inner_dimensions(const Tensor<T>& a,
                                                                   const Tensor<T>& b, bool ta,
                                                                   bool tb, std::size_t k,
                                                                   std::size_t kb) {
  throw ShapeError("matmul: inner dimensions differ: " + operand_name("A", ta, a) + " @ " +
                   operand_name("B", tb, b) + " (" + std::to_string(k) +
                   " != " + std::to_string(kb) + ")");
}

// 2-D @ 2-D, the fast path, compiled into matmul itself. The extents come from the shapes (not
// through dim()) and the error is thrown out of line: with dim() and the throw inline, GCC stopped
// inlining parts of the recording into matmul, and a small 2-D product cost 60 to 80 instructions
// more than before batches existed, against about 20 now (callgrind).
template <class T>
[[gnu::always_inline]] inline Tensor<T> matrix_product(const Tensor<T>& a, const Shape& sa,
                                                       const Tensor<T>& b, const Shape& sb,
                                                       bool transpose_a, bool transpose_b) {
  const std::size_t m = transpose_a ? sa[1] : sa[0];
  const std::size_t k = transpose_a ? sa[0] : sa[1];
  const std::size_t kb = transpose_b ? sb[1] : sb[0];
  const std::size_t n = transpose_b ? sb[0] : sb[1];
  if (k != kb) throw_inner_dimensions(a, b, transpose_a, transpose_b, k, kb);
  Shape out_shape = sa;
  out_shape[0] = m;
  out_shape[1] = n;
  Tensor<T> out = detail::new_output<T>("matmul", out_shape);
  detail::launch(
      [transpose_a, transpose_b, m, n, k, pa = a.data(), lda = sa[1], pb = b.data(), ldb = sb[1],
       po = out.data()] {
        detail::gemm<T>(transpose_a, transpose_b, m, n, k, T(1), pa, lda, pb, ldb, T(0), po);
      },
      [&] {
        detail::Access access = detail::writes_from(out, a, b);
        access.add_into = [=, pa = a.data(), lda = sa[1], pb = b.data(), ldb = sb[1]](
                              void* into, double scale) {
          return std::function<void()>([=, o = static_cast<T*>(into), alpha = T(scale)] {
            detail::gemm<T>(transpose_a, transpose_b, m, n, k, alpha, pa, lda, pb, ldb, T(1), o);
          });
        };
        return access;
      });
  return out;
}

// Every case but 2-D @ 2-D: the operands as batches of matrices, one GEMM per batch. Out of line,
// so that it does not weigh on the 2-D path (measured with callgrind).
template <class T>
[[gnu::noinline]] Tensor<T> batched_product(const Tensor<T>& a, const Tensor<T>& b,
                                            bool transpose_a, bool transpose_b) {
  auto operands = [&] {
    return operand_name("A", transpose_a, a) + " @ " + operand_name("B", transpose_b, b);
  };
  if (a.ndim() == 0 || b.ndim() == 0)
    throw ShapeError("matmul: both operands must be at least 1-D, got " + operands());
  if ((transpose_a && a.ndim() == 1) || (transpose_b && b.ndim() == 1))
    throw ShapeError("matmul: a transpose flag needs an operand of 2 or more dimensions, got " +
                     operands());
  const Shape ma = matrix_shape_a(a.shape()), mb = matrix_shape_b(b.shape());
  const std::size_t ra = ma.rank(), rb = mb.rank();
  const std::size_t m = transpose_a ? ma[ra - 1] : ma[ra - 2];
  const std::size_t k = transpose_a ? ma[ra - 2] : ma[ra - 1];
  const std::size_t kb = transpose_b ? mb[rb - 1] : mb[rb - 2];
  const std::size_t n = transpose_b ? mb[rb - 2] : mb[rb - 1];
  if (k != kb) throw_inner_dimensions(a, b, transpose_a, transpose_b, k, kb);
  const Shape batch_a(ma.begin(), ma.end() - 2), batch_b(mb.begin(), mb.end() - 2);
  const std::size_t rank = std::max(batch_a.rank(), batch_b.rank());
  Shape out_shape;
  for (std::size_t d = 0; d < rank; ++d) {
    const std::size_t ea = d + batch_a.rank() < rank ? 1 : batch_a[d + batch_a.rank() - rank];
    const std::size_t eb = d + batch_b.rank() < rank ? 1 : batch_b[d + batch_b.rank() - rank];
    if (ea != eb && ea != 1 && eb != 1)
      throw ShapeError("matmul: batch dimensions do not broadcast: " + operands() + " (batch " +
                       batch_a.str() + " against " + batch_b.str() + ")");
    out_shape.push_back(ea == 1 ? eb : ea);
  }
  const Shape batch = out_shape;
  if (a.ndim() != 1) out_shape.push_back(m);
  if (b.ndim() != 1) out_shape.push_back(n);
  Tensor<T> out = detail::new_output<T>("matmul", out_shape);
  // An empty result may still have huge extents ([2^40, 0, 3] @ [3, 4]): no loop over batches.
  if (out.size() != 0) {
    const std::size_t step_a = ma[ra - 2] * ma[ra - 1], step_b = mb[rb - 2] * mb[rb - 1];
    const std::size_t step_out = m * n;
    detail::launch([=, pa = a.data(), pb = b.data(), po = out.data(), lda = ma[ra - 1],
                    ldb = mb[rb - 1], sta = detail::broadcast_strides(batch_a, batch),
                    stb = detail::broadcast_strides(batch_b, batch)] {
      detail::for_each_broadcast(
          batch, sta, stb, [&](std::size_t i, std::size_t ia, std::size_t ib) {
            detail::gemm<T>(transpose_a, transpose_b, m, n, k, T(1), pa + ia * step_a, lda,
                            pb + ib * step_b, ldb, T(0), po + i * step_out);
          });
    });
  }
  return out;
}

template <class T> std::vector<GradSample<T>> matmul_samples(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  auto add = [&](const Shape& sa, const Shape& sb, bool ta, bool tb) {
    out.push_back(
        {std::string(ta ? "T" : "") + sa.str() + "@" + (tb ? "T" : "") + sb.str(),
         {samples::uniform<T>(sa, -1, 1, rng), samples::uniform<T>(sb, -1, 1, rng)},
         [ta, tb](const std::vector<Tensor<T>>& in) { return matmul(in[0], in[1], ta, tb); }});
  };
  // The stored shape of an operand whose last two dimensions are [rows, cols] after its flag.
  auto stored = [](Shape s, bool t) {
    if (t && s.rank() >= 2) std::swap(s[s.rank() - 2], s[s.rank() - 1]);
    return s;
  };
  // 2-D (n, k, m) including 1x1, row and column vectors, non-square; one above the BLAS threshold.
  const std::size_t dims[][3] = {{1, 1, 1}, {1, 4, 3}, {4, 3, 1}, {3, 4, 2}, {2, 1, 5}, {9, 8, 10}};
  for (const auto& d : dims)
    for (int flags = 0; flags < 4; ++flags)
      add(stored(Shape{d[0], d[1]}, flags & 1), stored(Shape{d[1], d[2]}, flags & 2), flags & 1,
          flags & 2);
  // 1-D operands: the flag, where allowed, is on the other one.
  add(Shape{4}, Shape{4}, false, false);
  add(Shape{1}, Shape{1}, false, false);
  for (bool t : {false, true}) {
    add(Shape{3}, stored(Shape{3, 2}, t), false, t);
    add(stored(Shape{2, 3}, t), Shape{3}, t, false);
    add(Shape{4}, stored(Shape{2, 4, 3}, t), false, t);
    add(stored(Shape{2, 3, 4}, t), Shape{4}, t, false);
  }
  // Batches: equal, one side 2-D (broadcast along the batch), and batch dimensions broadcasting
  // against each other ([2,1] with [3]), with every pair of flags.
  const std::pair<Shape, Shape> batched[] = {{Shape{2, 3, 4}, Shape{2, 4, 2}},
                                             {Shape{2, 3, 4}, Shape{4, 2}},
                                             {Shape{3, 4}, Shape{2, 4, 2}},
                                             {Shape{2, 1, 3, 4}, Shape{3, 4, 2}}};
  for (const auto& [sa, sb] : batched)
    for (int flags = 0; flags < 4; ++flags)
      add(stored(sa, flags & 1), stored(sb, flags & 2), flags & 1, flags & 2);
  return out;
}

// Worked by hand: each entry is a sum of products of small integers. The 2-D, 1-D and batched
// cases share A0 = [[1,2],[3,4]], A1 = [[0,1],[1,0]], B0 = I, B1 = [[2,3],[4,5]].
OpCases matmul_form_cases() {
  constexpr double inf = std::numeric_limits<double>::infinity();
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  const auto a3 = [] { return TensorD::from_vector(Shape{2, 2, 2}, {1, 2, 3, 4, 0, 1, 1, 0}); };
  const auto b3 = [] { return TensorD::from_vector(Shape{2, 2, 2}, {1, 0, 0, 1, 2, 3, 4, 5}); };
  const auto m23 = [] { return TensorD::matrix({{1, 2, 3}, {4, 5, 6}}); };
  OpCases c;
  c.forward = {
      // [1 2 3; 4 5 6] @ [7 8; 9 10; 11 12]: 1*7+2*9+3*11 = 58, ..., 4*8+5*10+6*12 = 154.
      {"[2,3]@[3,2]",
       [m23] {
         return matmul(m23(), TensorD::matrix({{7, 8}, {9, 10}, {11, 12}}));
       },
       Shape{2, 2},
       {58, 64, 139, 154}},
      // A^T A for A = [1 2 3; 4 5 6]: column dot products 1+16, 2+20, ..., 9+36.
      {"T[2,3]@[2,3]",
       [m23] { return matmul(m23(), m23(), true, false); },
       Shape{3, 3},
       {17, 22, 27, 22, 29, 36, 27, 36, 45}},
      // 1*4 + 2*5 + 3*6.
      {"[3]@[3] dot",
       [] {
         return matmul(TensorD::vector({1, 2, 3}), TensorD::vector({4, 5, 6}));
       },
       Shape{},
       {32}},
      // [1 2] @ [1 2 3; 4 5 6] = [1+8, 2+10, 3+12]; the same with B^T stored.
      {"[2]@[2,3]",
       [m23] {
         return matmul(TensorD::vector({1, 2}), m23());
       },
       Shape{3},
       {9, 12, 15}},
      {"[2]@T[3,2]",
       [] {
         return matmul(TensorD::vector({1, 2}), TensorD::matrix({{1, 4}, {2, 5}, {3, 6}}), false,
                       true);
       },
       Shape{3},
       {9, 12, 15}},
      // [1 2 3; 4 5 6] @ [1 0 -1] = [1-3, 4-6]; A^T @ [1 -1] = [1-4, 2-5, 3-6].
      {"[2,3]@[3]",
       [m23] {
         return matmul(m23(), TensorD::vector({1, 0, -1}));
       },
       Shape{2},
       {-2, -2}},
      {"T[2,3]@[2]",
       [m23] {
         return matmul(m23(), TensorD::vector({1, -1}), true, false);
       },
       Shape{3},
       {-3, -3, -3}},
      // A0 @ I = A0; A1 @ B1 swaps B1's rows.
      {"[2,2,2]@[2,2,2]",
       [a3, b3] { return matmul(a3(), b3()); },
       Shape{2, 2, 2},
       {1, 2, 3, 4, 4, 5, 2, 3}},
      // A0^T = [1 3; 2 4]; A1 is symmetric.
      {"T[2,2,2]@[2,2,2]",
       [a3, b3] { return matmul(a3(), b3(), true, false); },
       Shape{2, 2, 2},
       {1, 3, 2, 4, 4, 5, 2, 3}},
      // A1 @ B1^T = [0 1; 1 0] @ [2 4; 3 5] = [3 5; 2 4].
      {"[2,2,2]@T[2,2,2]",
       [a3, b3] { return matmul(a3(), b3(), false, true); },
       Shape{2, 2, 2},
       {1, 2, 3, 4, 3, 5, 2, 4}},
      // Both batches times [1 1; 0 2]: A0 -> [1 5; 3 11], A1 -> [0 2; 1 1].
      {"[2,2,2]@[2,2] broadcast",
       [a3] {
         return matmul(a3(), TensorD::matrix({{1, 1}, {0, 2}}));
       },
       Shape{2, 2, 2},
       {1, 5, 3, 11, 0, 2, 1, 1}},
      // M = [1 1; 0 2] times both batches: M @ B0 = M, M @ B1 = [2+4 3+5; 8 10].
      {"[2,2]@[2,2,2] broadcast",
       [b3] {
         return matmul(TensorD::matrix({{1, 1}, {0, 2}}), b3());
       },
       Shape{2, 2, 2},
       {1, 1, 0, 2, 6, 8, 8, 10}},
      // [2,1,1,2] @ [3,2,1]: rows a0 = [1 2], a1 = [3 -1] against columns b0 = [1 1], b1 = [2 0],
      // b2 = [0 -1]: out[i,j] = a_i . b_j = 3, 2, -2 and 2, 6, 1.
      {"[2,1,1,2]@[3,2,1] batch broadcast",
       [] {
         return matmul(TensorD::from_vector(Shape{2, 1, 1, 2}, {1, 2, 3, -1}),
                       TensorD::from_vector(Shape{3, 2, 1}, {1, 1, 2, 0, 0, -1}));
       },
       Shape{2, 3, 1, 1},
       {3, 2, -2, 2, 6, 1}},
      // [1 2] @ B0 = [1 2], [1 2] @ B1 = [2+8, 3+10].
      {"[2]@[2,2,2]",
       [b3] {
         return matmul(TensorD::vector({1, 2}), b3());
       },
       Shape{2, 2},
       {1, 2, 10, 13}},
      // A0 @ [1 -1] = [-1 -1], A1 @ [1 -1] = [-1 1].
      {"[2,2,2]@[2]",
       [a3] {
         return matmul(a3(), TensorD::vector({1, -1}));
       },
       Shape{2, 2},
       {-1, -1, -1, 1}},
      // Empty inner dimension: sums of nothing are 0 (as in PyTorch); empty batch and rows.
      {"[0]@[0]",
       [] { return matmul(TensorD::zeros(Shape{0}), TensorD::zeros(Shape{0})); },
       Shape{},
       {0}},
      {"[2,2,0]@[0,3]",
       [] {
         return matmul(TensorD::zeros(Shape{2, 2, 0}), TensorD::zeros(Shape{0, 3}));
       },
       Shape{2, 2, 3},
       {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
      {"[0,2,3]@[3,4]",
       [] {
         return matmul(TensorD::zeros(Shape{0, 2, 3}), TensorD::zeros(Shape{3, 4}));
       },
       Shape{0, 2, 4},
       {}},
      // IEEE: inf*0 is NaN, inf*1 + 1*1 is inf.
      {"[2]@[2] inf",
       [] {
         return matmul(TensorD::vector({inf, 1}), TensorD::vector({0, 1}));
       },
       Shape{},
       {nan}},
      {"[2]@[2,2] inf",
       [] {
         return matmul(TensorD::vector({inf, 1}), TensorD::matrix({{1, 0}, {1, 2}}));
       },
       Shape{2},
       {inf, nan}},
  };
  c.errors = {
      {"inner dimensions differ", ErrorKind::shape, "A[2,3] @ B[2,3] (3 != 2)",
       [] {
         matmul(TensorD::zeros(Shape{2, 3}), TensorD::zeros(Shape{2, 3}));
       }},
      {"1-D lengths differ", ErrorKind::shape, "A[3] @ B[4] (3 != 4)",
       [] { matmul(TensorD::zeros(Shape{3}), TensorD::zeros(Shape{4})); }},
      {"1-D against 2-D", ErrorKind::shape, "A[3] @ B[2,2] (3 != 2)",
       [] {
         matmul(TensorD::zeros(Shape{3}), TensorD::zeros(Shape{2, 2}));
       }},
      {"2-D against 1-D with a flag", ErrorKind::shape, "A^T[2,3] @ B[3] (2 != 3)",
       [] {
         matmul(TensorD::zeros(Shape{2, 3}), TensorD::zeros(Shape{3}), true, false);
       }},
      {"batched inner dimensions differ", ErrorKind::shape, "A[2,3,4] @ B[2,3,4] (4 != 3)",
       [] {
         matmul(TensorD::zeros(Shape{2, 3, 4}), TensorD::zeros(Shape{2, 3, 4}));
       }},
      {"batch dimensions do not broadcast", ErrorKind::shape,
       "A[2,3,4] @ B[5,4,2] (batch [2] against [5])",
       [] {
         matmul(TensorD::zeros(Shape{2, 3, 4}), TensorD::zeros(Shape{5, 4, 2}));
       }},
      {"batch dimensions do not broadcast, 4-D", ErrorKind::shape, "batch [2,3] against [2]",
       [] {
         matmul(TensorD::zeros(Shape{2, 3, 1, 4}), TensorD::zeros(Shape{2, 4, 1}));
       }},
      {"0-d operand", ErrorKind::shape, "at least 1-D, got A[] @ B[3]",
       [] { matmul(TensorD::scalar(1), TensorD::zeros(Shape{3})); }},
      {"0-d operand on the right", ErrorKind::shape, "A[3,2] @ B[]",
       [] {
         matmul(TensorD::zeros(Shape{3, 2}), TensorD::scalar(1));
       }},
      {"flag on a 1-D operand", ErrorKind::shape, "A^T[3] @ B[3,2]",
       [] {
         matmul(TensorD::zeros(Shape{3}), TensorD::zeros(Shape{3, 2}), true, false);
       }},
      {"flag on a 1-D right operand", ErrorKind::shape, "A[2,3] @ B^T[3]",
       [] {
         matmul(TensorD::zeros(Shape{2, 3}), TensorD::zeros(Shape{3}), false, true);
       }},
  };
  return c;
}

// By hand, with A = [[1,2,3],[4,5,6]] and B = [[7,8],[9,10],[11,12]]:
//   A B = [1*7+2*9+3*11, 1*8+2*10+3*12; 4*7+5*9+6*11, 4*8+5*10+6*12] = [58, 64; 139, 154];
//   A^T A [3,3]: (i,j) = sum_k A[k,i] A[k,j] = [1+16, 2+20, 3+24; 2+20, 4+25, 6+30; 3+24, 6+30,
//   9+36]; A A^T = [1+4+9, 4+10+18; 4+10+18, 16+25+36];  B^T A^T = (A B)^T = [58, 139; 64, 154];
//   A^T B^T [3,3]: (i,j) = sum_k A[k,i] B[j,k]: rows [1*7+4*8, 1*9+4*10, 1*11+4*12],
//   [2*7+5*8, 2*9+5*10, 2*11+5*12], [3*7+6*8, 3*9+6*10, 3*11+6*12].
// For C = P^T Q with P[3,2], Q[3,2] and L = sum(C) = sum_{i,j,k} P[k,i] Q[k,j]: dP[k,i] =
// sum_j Q[k,j] (row sums of Q), dQ[k,j] = sum_i P[k,i] (row sums of P).
OpCases matmul_value_cases() {
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
      .errors = {{"inner dimensions 3 != 2", ErrorKind::shape, "A[2,3] @ B[2,3] (3 != 2)",
                  [] {
                    matmul(TensorD::zeros(Shape{2, 3}, true), TensorD::zeros(Shape{2, 3}, true));
                  }},
                 {"inner dimensions with a transpose flag", ErrorKind::shape,
                  "A^T[3,2] @ B[2,2] (3 != 2)", [] {
                    matmul(TensorD::zeros(Shape{3, 2}, true), TensorD::zeros(Shape{2, 2}, true),
                           true, false);
                  }}}};
}

OpCases matmul_cases() {
  return join_cases(matmul_form_cases(), matmul_value_cases());
}

}  // namespace

template <class T>
Tensor<T> matmul(const Tensor<T>& a, const Tensor<T>& b, bool transpose_a, bool transpose_b) {
  const Shape& sa = a.shape();
  const Shape& sb = b.shape();
  Tensor<T> out = sa.rank() == 2 && sb.rank() == 2
                      ? matrix_product(a, sa, b, sb, transpose_a, transpose_b)
                      : batched_product(a, b, transpose_a, transpose_b);
  if (auto* node = record<MatmulNode<T>>(out, {&a, &b})) {
    node->ta = transpose_a;
    node->tb = transpose_b;
    // Each operand is needed only for the other's gradient.
    if (node->needs_grad(1)) node->saved[0].save_input(a);
    if (node->needs_grad(0)) node->saved[1].save_input(b);
  }
  return out;
}

template <class T> Tensor<T> dot(const Tensor<T>& a, const Tensor<T>& b) {
  if (a.ndim() != 1 || b.ndim() != 1)
    throw ShapeError("dot: both operands must be 1-D, got " + a.shape().str() + " and " +
                     b.shape().str());
  if (a.size() != b.size())
    throw ShapeError("dot: lengths differ: " + a.shape().str() + " and " + b.shape().str());
  return matmul(a, b);
}

template Tensor<float> matmul(const Tensor<float>&, const Tensor<float>&, bool, bool);
template Tensor<double> matmul(const Tensor<double>&, const Tensor<double>&, bool, bool);
template Tensor<float> dot(const Tensor<float>&, const Tensor<float>&);
template Tensor<double> dot(const Tensor<double>&, const Tensor<double>&);

TG_DEFINE_REPLAYABLE_OP(
    matmul,
    "dA = G @ B^T, dB = A^T @ G (GEMMs with transpose flags), summed over broadcast batch "
    "dimensions",
    matmul_samples, matmul_cases);

}  // namespace tg
