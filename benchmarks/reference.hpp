// The hand-written reference: the benchmark networks with manual backprop, every matmul one
// direct cblas_?gemm call on preallocated row-major buffers with transpose flags, the elementwise
// work fused into single loops, no allocation per step, no autodiff. On this stack this is the
// practical limit an engine can approach; every result is reported as a ratio to it.
//
// reference.cpp is the only benchmark file that includes OpenBLAS's <cblas.h> (which clashes
// with xtensor-blas's headers in one translation unit).
#pragma once

#include <memory>

#include "bench_common.hpp"

namespace bench {

std::unique_ptr<Runner> make_reference(const Problem& problem, bool f32);

// Raw GEMM throughput: C[n,n] = A[n,n] B[n,n] with cblas_dgemm / cblas_sgemm, repeated for at
// least min_seconds; returns GFLOP/s (2 n^3 per call).
double gemm_gflops(bool f32, std::size_t n, double min_seconds);

}  // namespace bench
