// Products: dot (matmul of two 1-D operands, not an op of its own), outer, and the gradients of
// 1-D and batched matmul, with values worked out by hand in the comments. matmul's and outer's
// forward values and errors are in their op files (run by the registry's drivers).
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include "check_error.hpp"
#include "tapegrad/grad.hpp"
#include "tapegrad/tapegrad.hpp"

using tg::Shape;
using tg::TensorD;
using tg::TensorF;

namespace {

void check_values(const TensorD& t, const Shape& shape, const std::vector<double>& expected) {
  REQUIRE(t.defined());
  CHECK(t.shape().str() == shape.str());
  REQUIRE(t.size() == expected.size());
  const std::vector<double> got = t.to_vector();
  for (std::size_t i = 0; i < expected.size(); ++i) {
    INFO("element " << i);
    CHECK(got[i] == doctest::Approx(expected[i]).epsilon(1e-12));
  }
}

}  // namespace

TEST_CASE("dot: 1*4 + 2*5 + 3*6 = 32, a 0-d matmul node, gradients b and a") {
  TensorD a = TensorD::vector({1, 2, 3}, true);
  TensorD b = TensorD::vector({4, 5, 6}, true);
  const TensorD d = tg::dot(a, b);
  check_values(d, Shape{}, {32});
  CHECK(std::string(d.op_name()) == "matmul");
  d.backward();
  check_values(a.grad(), Shape{3}, {4, 5, 6});
  check_values(b.grad(), Shape{3}, {1, 2, 3});
}

TEST_CASE("dot in float gives the same value") {
  CHECK(tg::dot(TensorF::vector({1, 2, 3}), TensorF::vector({4, 5, 6})).item() == 32.0f);
}

TEST_CASE("dot: the Hessian of dot(x, x) is 2I") {
  const TensorD x = TensorD::vector({0.5, -1, 2});
  const TensorD H = tg::hessian([](const TensorD& v) { return tg::dot(v, v); }, x);
  check_values(H, Shape{3, 3}, {2, 0, 0, 0, 2, 0, 0, 0, 2});
}

TEST_CASE("dot rejects other ranks and unequal lengths, naming both shapes") {
  check_error<tg::ShapeError>(
      [] {
        tg::dot(TensorD::zeros(Shape{2, 2}), TensorD::zeros(Shape{2}));
      },
      {"dot: ", "[2,2] and [2]"});
  check_error<tg::ShapeError>([] { tg::dot(TensorD::scalar(1), TensorD::zeros(Shape{1})); },
                              {"dot: ", "[] and [1]"});
  check_error<tg::ShapeError>([] { tg::dot(TensorD::zeros(Shape{3}), TensorD::zeros(Shape{4})); },
                              {"dot: ", "lengths differ", "[3] and [4]"});
}

TEST_CASE("outer: gradients under the upstream G = [[1, 0, -1], [2, 1, 0]]") {
  TensorD a = TensorD::vector({1, -2}, true);
  TensorD b = TensorD::vector({3, 4, 5}, true);
  const TensorD o = tg::outer(a, b);
  check_values(o, Shape{2, 3}, {3, 4, 5, -6, -8, -10});
  o.backward(TensorD::matrix({{1, 0, -1}, {2, 1, 0}}));
  // da[i] = sum_j G[i,j] b[j] = 3-5, 6+4; db[j] = sum_i a[i] G[i,j] = 1-4, 0-2, -1-0.
  check_values(a.grad(), Shape{2}, {-2, 10});
  check_values(b.grad(), Shape{3}, {-3, -2, -1});
}

TEST_CASE("matmul [2] @ [2,3]: dx = M @ G, dM = outer(x, G)") {
  TensorD x = TensorD::vector({1, 2}, true);
  TensorD m = TensorD::matrix({{1, 2, 3}, {4, 5, 6}}, true);
  const TensorD y = tg::matmul(x, m);
  check_values(y, Shape{3}, {9, 12, 15});
  y.backward(TensorD::vector({1, 0, -1}));
  check_values(x.grad(), Shape{2}, {1 - 3, 4 - 6});
  check_values(m.grad(), Shape{2, 3}, {1, 0, -1, 2, 0, -2});
}

TEST_CASE("matmul [2,2,2] @ [2,2]: the broadcast matrix's gradient sums over the batch") {
  // A0 = [1 2; 3 4], A1 = [0 1; 1 0], W = [1 1; 0 2]; G picks C[0,0,0] and C[1,1,1].
  // C[0,0,0] = A0[0,:] . W[:,0], so dW[:,0] gets A0[0,:] = [1 2] and dA[0,0,:] = W[:,0] = [1 0];
  // C[1,1,1] = A1[1,:] . W[:,1], so dW[:,1] gets A1[1,:] = [1 0] and dA[1,1,:] = W[:,1] = [1 2].
  TensorD a = TensorD::from_vector(Shape{2, 2, 2}, {1, 2, 3, 4, 0, 1, 1, 0}, true);
  TensorD w = TensorD::matrix({{1, 1}, {0, 2}}, true);
  const TensorD c = tg::matmul(a, w);
  c.backward(TensorD::from_vector(Shape{2, 2, 2}, {1, 0, 0, 0, 0, 0, 0, 1}));
  check_values(w.grad(), Shape{2, 2}, {1, 1, 2, 0});
  check_values(a.grad(), Shape{2, 2, 2}, {1, 0, 0, 0, 0, 0, 1, 2});
}

TEST_CASE("matmul [2,1,1,2] @ [3,2,1]: both operands' broadcast batch dimensions are summed back") {
  // Rows a0 = [1 2], a1 = [3 -1]; columns b0 = [1 1], b1 = [2 0], b2 = [0 -1]; out [2,3,1,1].
  // With G = 1: da_i = b0 + b1 + b2 = [3 0]; db_j = a0 + a1 = [4 1].
  TensorD a = TensorD::from_vector(Shape{2, 1, 1, 2}, {1, 2, 3, -1}, true);
  TensorD b = TensorD::from_vector(Shape{3, 2, 1}, {1, 1, 2, 0, 0, -1}, true);
  const TensorD c = tg::matmul(a, b);
  CHECK(c.shape() == Shape{2, 3, 1, 1});
  tg::sum(c).backward();
  check_values(a.grad(), Shape{2, 1, 1, 2}, {3, 0, 3, 0});
  check_values(b.grad(), Shape{3, 2, 1}, {4, 1, 4, 1, 4, 1});
}

TEST_CASE("matmul with a flag on a batched operand transposes its last two dimensions") {
  // A stored as [1,2,3] (one batch), used as A^T [3,2]; B = [1 -1]^T as [2,1].
  // A^T @ B = [1-4, 2-5, 3-6]; with G = 1, dA^T[i,:] = B^T, so dA (stored) = [1 1 1; -1 -1 -1].
  TensorD a = TensorD::from_vector(Shape{1, 2, 3}, {1, 2, 3, 4, 5, 6}, true);
  TensorD b = TensorD::matrix({{1}, {-1}}, true);
  const TensorD c = tg::matmul(a, b, true, false);
  check_values(c, Shape{1, 3, 1}, {-3, -3, -3});
  tg::sum(c).backward();
  check_values(a.grad(), Shape{1, 2, 3}, {1, 1, 1, -1, -1, -1});
  // dB = sum over the rows of A^T = [1+2+3, 4+5+6].
  check_values(b.grad(), Shape{2, 1}, {6, 15});
}

TEST_CASE("matmul with an empty batch result and huge extents finishes at once, forward and back") {
  const std::size_t k2p40 = std::size_t(1) << 40;
  TensorD a = TensorD::zeros(Shape{k2p40, 0, 3}, true);
  TensorD b = TensorD::zeros(Shape{3, 4}, true);
  const auto start = std::chrono::steady_clock::now();
  const TensorD c = tg::matmul(a, b);
  CHECK(c.shape() == Shape{k2p40, 0, 4});
  tg::sum(c).backward();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(seconds < 1.0);
  CHECK(a.grad().shape() == Shape{k2p40, 0, 3});
  check_values(b.grad(), Shape{3, 4}, std::vector<double>(12, 0.0));
}

// Below a few hundred multiply-adds the product is a plain loop (no BLAS call), summing each entry
// over the inner index in order, several entries at once: every shape around the loop's blocks
// (rows by 2, columns by 4, their remainders, an empty inner dimension) against an in-order sum
// written here, bit for bit, for the product and both gradients (the transposed cases).
TEST_CASE("small matmuls and their gradients equal in-order sums for every shape near the blocks") {
  std::uint64_t state = 12345;
  auto next = [&state] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return double(state >> 11) / double(1ULL << 53) - 0.5;
  };
  auto filled = [&](std::size_t rows, std::size_t cols) {
    std::vector<double> v(rows * cols);
    for (double& x : v) x = next();
    return v;
  };
  // C[i,j] = sum over p of A(i,p) B(p,j), in order of p, from 0.
  auto in_order = [](std::size_t m, std::size_t n, std::size_t k, auto A, auto B) {
    std::vector<double> c(m * n);
    for (std::size_t i = 0; i < m; ++i)
      for (std::size_t j = 0; j < n; ++j) {
        double s = 0;
        for (std::size_t p = 0; p < k; ++p) s += A(i, p) * B(p, j);
        c[i * n + j] = s;
      }
    return c;
  };
  for (std::size_t m = 1; m <= 5; ++m)
    for (std::size_t n = 1; n <= 9; ++n)
      for (std::size_t k = 0; k <= 6; ++k) {
        CAPTURE(m);
        CAPTURE(n);
        CAPTURE(k);
        const std::vector<double> a = filled(m, k), b = filled(k, n), g = filled(m, n);
        TensorD A = TensorD::from_vector(Shape{m, k}, a, true);
        TensorD B = TensorD::from_vector(Shape{k, n}, b, true);
        const TensorD C = tg::matmul(A, B);
        CHECK(C.to_vector() == in_order(
                                   m, n, k, [&](auto i, auto p) { return a[i * k + p]; },
                                   [&](auto p, auto j) { return b[p * n + j]; }));
        if (k == 0) continue;
        // sum(C * G) hands C the gradient G exactly.
        tg::sum(C * TensorD::from_vector(Shape{m, n}, g)).backward();
        // dA = G B^T ([m,n] by the transpose of [k,n]), dB = A^T G.
        CHECK(A.grad().to_vector() == in_order(
                                          m, k, n, [&](auto i, auto j) { return g[i * n + j]; },
                                          [&](auto j, auto p) { return b[p * n + j]; }));
        CHECK(B.grad().to_vector() == in_order(
                                          k, n, m, [&](auto p, auto i) { return a[i * k + p]; },
                                          [&](auto i, auto j) { return g[i * n + j]; }));
      }
}
