#include "blas.hpp"

#include <cblas.h>

#include <algorithm>
#include <climits>

namespace tg::detail {

namespace {

// Below this many multiply-adds a plain loop beats the call overhead of BLAS (45-100 ns per
// cblas call, docs/design-notes.md "BLAS"; the XOR network's matrices are 4x2).
constexpr std::size_t kSmallGemm = 512;

// Whether the plain loop must do it: an empty output, an empty inner dimension (C is beta*C; BLAS
// wants lda >= 1 there), a small product, or a dimension beyond cblas's int. Written so that no
// product of the dimensions can wrap.
bool use_small_gemm(std::size_t m, std::size_t n, std::size_t k, std::size_t lda, std::size_t ldb) {
  if (m == 0 || n == 0 || k == 0) return true;
  if (std::max({m, n, k, lda, ldb}) > std::size_t(INT_MAX)) return true;
  std::size_t work = 0;
  return !__builtin_mul_overflow(m, n, &work) && !__builtin_mul_overflow(work, k, &work) &&
         work <= kSmallGemm;
}

template <class T>
void small_gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, T alpha, const T* a,
                std::size_t lda, const T* b, std::size_t ldb, T beta, T* c) {
  // No loop over the rows of an empty output ([2^40, 0] has 2^40 of them).
  if (n == 0) return;
  for (std::size_t i = 0; i < m; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      T acc = 0;
      for (std::size_t p = 0; p < k; ++p)
        acc += (ta ? a[p * lda + i] : a[i * lda + p]) * (tb ? b[j * ldb + p] : b[p * ldb + j]);
      c[i * n + j] = alpha * acc + (beta == T(0) ? T(0) : beta * c[i * n + j]);
    }
  }
}

}  // namespace

template <>
void gemm<double>(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, double alpha,
                  const double* a, std::size_t lda, const double* b, std::size_t ldb, double beta,
                  double* c) {
  if (use_small_gemm(m, n, k, lda, ldb))
    return small_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c);
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(m),
              int(n), int(k), alpha, a, int(lda), b, int(ldb), beta, c, int(n));
}

template <>
void gemm<float>(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, float alpha,
                 const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta,
                 float* c) {
  if (use_small_gemm(m, n, k, lda, ldb))
    return small_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c);
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(m),
              int(n), int(k), alpha, a, int(lda), b, int(ldb), beta, c, int(n));
}

}  // namespace tg::detail
