// Small matrix products (the loops that replace BLAS for tiny networks: whole rows of 2 to 8
// columns, tiles of 1 to 4 rows by 1 to 4 columns, tall products in 4-row blocks, a single column,
// an inner dimension of 1) give, for every shape up to 13 x 9 x 7, the products a plain triple loop
// gives: matmul's forward (no transpose), both of its adjoints (one operand transposed each), and
// linear's forward (the bias written first, then accumulated into). Entries are small integers, so
// every sum is exact in float and double alike and the expected values do not depend on the order
// of the additions.
#include <doctest/doctest.h>

#include <cstddef>
#include <vector>

#include "tapegrad/ops.hpp"

namespace {

// Integer entries in -3..3 from a position and a seed, with no pattern a wrong index would keep.
template <class T>
tg::Tensor<T> integers(std::size_t rows, std::size_t cols, std::size_t seed, bool grad = false) {
  std::vector<T> v(rows * cols);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = T(long((i * 7 + seed * 13 + i / 3) % 7) - 3);
  return tg::Tensor<T>::from_vector(tg::Shape{rows, cols}, v, grad);
}

// C[i,j] = sum_p A(i,p) B(p,j), where A(i,p) = a[i*lda+p] or a[p*lda+i] transposed; likewise B.
template <class T>
std::vector<T> plain_product(const tg::Tensor<T>& a, bool ta, const tg::Tensor<T>& b, bool tb,
                             std::size_t m, std::size_t n, std::size_t k) {
  const std::vector<T> av = a.to_vector(), bv = b.to_vector();
  std::vector<T> c(m * n, T(0));
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = 0; j < n; ++j)
      for (std::size_t p = 0; p < k; ++p)
        c[i * n + j] += (ta ? av[p * m + i] : av[i * k + p]) * (tb ? bv[j * k + p] : bv[p * n + j]);
  return c;
}

template <class T> void check_every_small_shape() {
  for (std::size_t m = 1; m <= 13; ++m)
    for (std::size_t n = 1; n <= 9; ++n)
      for (std::size_t k = 1; k <= 7; ++k) {
        CAPTURE(m);
        CAPTURE(n);
        CAPTURE(k);
        tg::Tensor<T> A = integers<T>(m, k, 1, true), B = integers<T>(k, n, 2, true);
        const tg::Tensor<T> W = integers<T>(m, n, 3);
        const tg::Tensor<T> C = tg::matmul(A, B);
        REQUIRE(C.to_vector() == plain_product(A, false, B, false, m, n, k));
        tg::sum(tg::mul(C, W)).backward();
        // dA = W B^T ([m,n] x [n,k]), dB = A^T W ([k,m] x [m,n]).
        REQUIRE(A.grad().to_vector() == plain_product(W, false, B, true, m, k, n));
        REQUIRE(B.grad().to_vector() == plain_product(A, true, W, false, k, n, m));

        const tg::Tensor<T> bias =
            tg::Tensor<T>::from_vector(tg::Shape{n}, integers<T>(1, n, 4).to_vector());
        std::vector<T> expected = plain_product(A, false, B, false, m, n, k);
        const std::vector<T> bv = bias.to_vector();
        for (std::size_t i = 0; i < m; ++i)
          for (std::size_t j = 0; j < n; ++j) expected[i * n + j] += bv[j];
        REQUIRE(tg::linear(A.detach(), B.detach(), bias).to_vector() == expected);
      }
}

}  // namespace

TEST_CASE("small products equal a plain triple loop for every shape up to 13 x 9 x 7, double") {
  check_every_small_shape<double>();
}

TEST_CASE("small products equal a plain triple loop for every shape up to 13 x 9 x 7, float") {
  check_every_small_shape<float>();
}
