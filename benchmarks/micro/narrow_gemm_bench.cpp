// A row-major C[m,n] = op(A) op(B) asked of BLAS as given, against the transposed call
// C^T = op(B)^T op(A)^T into a scratch buffer then transposed into C (what the engine's
// tg::NarrowGemm::tune may pick), on the networks' products; median of rounds of wall time; and
// whether both give the same bits (beta = 1 onto a random C). Run with OMP_NUM_THREADS=1 (and
// OPENBLAS_NUM_THREADS=1 for the pthread build), and with OPENBLAS_CORETYPE=Haswell to see another
// kernel's answer. Built with OpenMP against OpenBLAS's OpenMP build and run at more threads, it
// also times what the engine does there: C's rows split in one block per thread (a multiple of 16
// rows), each block one single-threaded call, direct or transposed; and whether the threaded
// direct call and the split give one thread's bits.
//   g++ -O2 -std=c++20 narrow_gemm_bench.cpp -lopenblas -o narrow_gemm_bench
//   (with OpenMP: add -fopenmp, and -L$D -Wl,-rpath,$D before -lopenblas, for
//   D=/usr/lib/x86_64-linux-gnu/openblas-openmp)
//   ./narrow_gemm_bench [rounds]
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

using Clock = std::chrono::steady_clock;

template <class F> double median_us(int rounds, F&& f) {
  std::vector<double> v;
  for (int r = 0; r < rounds; ++r) {
    const auto start = Clock::now();
    int calls = 0;
    do {
      f();
      ++calls;
    } while (std::chrono::duration<double>(Clock::now() - start).count() < 0.02);
    v.push_back(std::chrono::duration<double>(Clock::now() - start).count() / calls);
  }
  std::sort(v.begin(), v.end());
  return v[v.size() / 2] * 1e6;
}

template <class T>
void gemm(bool ta, bool tb, int m, int n, int k, const T* a, int lda, const T* b, int ldb, T beta,
          T* c, int ldc) {
  const auto fa = ta ? CblasTrans : CblasNoTrans, fb = tb ? CblasTrans : CblasNoTrans;
  if constexpr (sizeof(T) == 8)
    cblas_dgemm(CblasRowMajor, fa, fb, m, n, k, 1, a, lda, b, ldb, beta, c, ldc);
  else
    cblas_sgemm(CblasRowMajor, fa, fb, m, n, k, 1, a, lda, b, ldb, beta, c, ldc);
}

// dst[cols, rows] = src[rows, cols]^T in 16 x 16 tiles (the engine's loop).
template <class T> void transpose_into(const T* src, int rows, int cols, T* dst) {
  for (int i0 = 0; i0 < rows; i0 += 16)
    for (int j0 = 0; j0 < cols; j0 += 16)
      for (int i = i0; i < std::min(rows, i0 + 16); ++i)
        for (int j = j0; j < std::min(cols, j0 + 16); ++j) dst[j * rows + i] = src[i * cols + j];
}

template <class T> void run(int rounds, const char* name, bool ta, bool tb, int m, int n, int k) {
  std::vector<T> a(std::size_t(m) * k), b(std::size_t(k) * n), c0(std::size_t(m) * n);
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<double> u(-1, 1);
  for (auto* v : {&a, &b, &c0})
    for (T& x : *v) x = T(u(rng));
  const int lda = ta ? m : k, ldb = tb ? k : n;
  std::vector<T> c = c0, ct(c0.size()), c2(c0.size());
  gemm<T>(ta, tb, m, n, k, a.data(), lda, b.data(), ldb, T(1), c.data(), n);
  transpose_into(c0.data(), m, n, ct.data());
  gemm<T>(!tb, !ta, n, m, k, b.data(), ldb, a.data(), lda, T(1), ct.data(), m);
  transpose_into(ct.data(), n, m, c2.data());
  const bool same = std::memcmp(c.data(), c2.data(), c.size() * sizeof(T)) == 0;
  const double direct = median_us(
      rounds, [&] { gemm<T>(ta, tb, m, n, k, a.data(), lda, b.data(), ldb, T(0), c.data(), n); });
  const double transposed = median_us(rounds, [&] {
    gemm<T>(!tb, !ta, n, m, k, b.data(), ldb, a.data(), lda, T(0), ct.data(), m);
    transpose_into(ct.data(), n, m, c.data());
  });
  std::printf("%-22s %s %c%c %5d x %3d x %5d  direct %9.1f us  transposed %9.1f us  %.2fx  %s\n",
              name, sizeof(T) == 8 ? "f64" : "f32", ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, direct,
              transposed, transposed / direct, same ? "same bits" : "bits differ");
#ifdef _OPENMP
  const int threads = omp_get_max_threads();
  if (threads < 2) return;
  // One thread's bits: this thread's OpenMP count is what OpenBLAS's OpenMP build uses.
  std::vector<T> one = c0, threaded = c0;
  omp_set_num_threads(1);
  gemm<T>(ta, tb, m, n, k, a.data(), lda, b.data(), ldb, T(1), one.data(), n);
  omp_set_num_threads(threads);
  gemm<T>(ta, tb, m, n, k, a.data(), lda, b.data(), ldb, T(1), threaded.data(), n);
  const int per = ((m + threads - 1) / threads + 15) / 16 * 16, blocks = (m + per - 1) / per;
  const auto split = [&](bool transposed_blocks, T beta, T* out) {
#pragma omp parallel for num_threads(blocks) schedule(static, 1)
    for (int block = 0; block < blocks; ++block) {
      const int r0 = block * per, rows = std::min(m, r0 + per) - r0;
      const T* a_rows = ta ? a.data() + r0 : a.data() + std::size_t(r0) * lda;
      T* c_rows = out + std::size_t(r0) * n;
      if (!transposed_blocks) {
        gemm<T>(ta, tb, rows, n, k, a_rows, lda, b.data(), ldb, beta, c_rows, n);
        continue;
      }
      T* ct_rows = ct.data() + std::size_t(r0) * n;
      if (beta != T(0)) transpose_into(c_rows, rows, n, ct_rows);
      gemm<T>(!tb, !ta, n, rows, k, b.data(), ldb, a_rows, lda, beta, ct_rows, rows);
      transpose_into(ct_rows, n, rows, c_rows);
    }
  };
  std::vector<T> split_direct = c0, split_transposed = c0;
  split(false, T(1), split_direct.data());
  split(true, T(1), split_transposed.data());
  const auto as_one = [&](const std::vector<T>& x) {
    return std::memcmp(x.data(), one.data(), x.size() * sizeof(T)) == 0 ? "yes" : "no";
  };
  const double split_d = median_us(rounds, [&] { split(false, T(0), c.data()); });
  const double split_t = median_us(rounds, [&] { split(true, T(0), c.data()); });
  std::printf(
      "%-22s %d threads: split %9.1f us (%.2fx direct), transposed blocks %9.1f us "
      "(%.2fx); one thread's bits: direct %s, split %s, transposed blocks %s\n",
      "", threads, split_d, split_d / direct, split_t, split_t / direct, as_one(threaded),
      as_one(split_direct), as_one(split_transposed));
#endif
}

template <class T> void all(int rounds) {
  // The digit network (5000 images, 400-25-10): the products of 25 and 10 columns.
  run<T>(rounds, "W3 forward, layer 1", false, false, 5000, 25, 400);
  run<T>(rounds, "W3 dW, layer 1", true, false, 400, 25, 5000);
  run<T>(rounds, "W3 forward, layer 2", false, false, 5000, 10, 25);
  // The 784-512-512-10 network's output layer over 256 images, and a wide layer (not narrow).
  run<T>(rounds, "W4 forward, layer 3", false, false, 256, 10, 512);
  run<T>(rounds, "W4 dW, layer 3", true, false, 512, 10, 256);
  run<T>(rounds, "W4 forward, layer 1", false, false, 256, 512, 784);
  // Narrow results of a few columns over many rows.
  for (int n : {1, 4, 16, 64}) run<T>(rounds, "tall, narrow", false, false, 4096, n, 512);
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::max(1, std::atoi(argv[1])) : 5;
  all<double>(rounds);
  all<float>(rounds);
}
