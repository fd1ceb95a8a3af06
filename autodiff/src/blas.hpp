// GEMM on raw row-major buffers, through xtensor-blas's cxxblas layer in blas.cpp, so that no op
// file pays for xtensor-blas's headers.
#pragma once

#include <cstddef>

namespace tg::detail {

// C[m,n] = alpha * op(A) @ op(B) + beta * C, row-major; op(A) is [m,k], op(B) is [k,n].
// lda/ldb are the row lengths of A and B as stored.
template <class T>
void gemm(bool transpose_a, bool transpose_b, std::size_t m, std::size_t n, std::size_t k, T alpha,
          const T* a, std::size_t lda, const T* b, std::size_t ldb, T beta, T* c);

}  // namespace tg::detail
