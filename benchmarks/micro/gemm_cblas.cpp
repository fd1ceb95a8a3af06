// The direct call: cblas_dgemm on row-major buffers (its own translation unit: <cblas.h> clashes
// with xtensor-blas's headers).
#include <cblas.h>

#include <cstddef>

void gemm_cblas(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, const double* a,
                std::size_t lda, const double* b, std::size_t ldb, double* c) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(m),
              int(n), int(k), 1.0, a, int(lda), b, int(ldb), 0.0, c, int(n));
}
