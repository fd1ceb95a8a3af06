// The same product through xt::blas::gemm on xt::adapt views of the same buffers, as
// autodiff/src/blas.cpp does it.
#include <array>
#include <cstddef>
#include <xtensor-blas/xblas.hpp>
#include <xtensor/xadapt.hpp>

void gemm_xblas(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, const double* a,
                std::size_t lda, const double* b, std::size_t ldb, double* c) {
  const std::size_t a_rows = ta ? k : m, b_rows = tb ? n : k;
  const auto av = xt::adapt(a, a_rows * lda, xt::no_ownership(), std::array{a_rows, lda});
  const auto bv = xt::adapt(b, b_rows * ldb, xt::no_ownership(), std::array{b_rows, ldb});
  auto cv = xt::adapt(c, m * n, xt::no_ownership(), std::array{m, n});
  xt::blas::gemm(av, bv, cv, ta, tb, 1.0, 0.0);
}
