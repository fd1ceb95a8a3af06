// Per-call cost of cblas_dgemm against xt::blas::gemm on adapted buffers, same shapes, same
// buffers, calls interleaved; median of rounds of thread CPU time. Run with OPENBLAS_NUM_THREADS=1.
//   g++ -O3 -std=c++20 -DNDEBUG gemm_bench.cpp gemm_cblas.cpp gemm_xblas.cpp -lopenblas -o
//   gemm_bench
//   ./gemm_bench [rounds] [seconds per measurement] [calls]   (calls > 0: fixed count, no timing;
//   for callgrind --toggle-collect='*gemm_cblas*' / '*gemm_xblas*')
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <vector>

void gemm_cblas(bool, bool, std::size_t, std::size_t, std::size_t, const double*, std::size_t,
                const double*, std::size_t, double*);
void gemm_xblas(bool, bool, std::size_t, std::size_t, std::size_t, const double*, std::size_t,
                const double*, std::size_t, double*);
using Fn = decltype(&gemm_cblas);

struct Case {
  bool ta, tb;
  std::size_t m, n, k;
};

// The thread's CPU time, not the wall clock: on a shared machine the wall clock also counts the
// time other processes hold the core.
double now() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

double per_call(Fn f, const Case& c, const std::vector<double>& a, const std::vector<double>& b,
                std::vector<double>& out, double seconds) {
  const std::size_t lda = c.ta ? c.m : c.k, ldb = c.tb ? c.k : c.n;
  std::size_t calls = 0, batch = 1;
  const double start = now();
  double t = 0;
  while ((t = now() - start) < seconds) {
    for (std::size_t i = 0; i < batch; ++i)
      f(c.ta, c.tb, c.m, c.n, c.k, a.data(), lda, b.data(), ldb, out.data());
    calls += batch;
    batch *= 2;
  }
  return t / double(calls);
}

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 7;
  const double seconds = argc > 2 ? std::atof(argv[2]) : 0.1;
  const long fixed = argc > 3 ? std::atol(argv[3]) : 0;
  const std::vector<Case> cases = {
      {false, false, 4, 2, 2},      {false, false, 9, 8, 8},       {true, false, 8, 9, 8},
      {false, true, 8, 8, 9},       {false, false, 20, 5, 8},      {false, false, 16, 16, 16},
      {false, false, 32, 32, 32},   {false, false, 256, 10, 512},  {false, true, 256, 512, 10},
      {true, false, 512, 10, 256},  {false, false, 5000, 25, 400}, {false, false, 256, 512, 784},
      {true, false, 784, 512, 256}, {false, true, 256, 784, 512}};
  std::printf("%-22s %14s %14s %8s\n", "case (ta tb m n k)", "cblas", "xt::blas", "ratio");
  for (const Case& c : cases) {
    // Counting instructions: the large products would take minutes under valgrind, and their BLAS
    // work is the same call either way; the small ones show the per-call overhead. (Count with
    // two call counts and take the difference: the first call also sets OpenBLAS up.)
    if (fixed > 0 && c.m * c.n * c.k > 32 * 32 * 32) continue;
    std::vector<double> a(c.m * c.k), b(c.k * c.n), out(c.m * c.n), ref(c.m * c.n);
    for (std::size_t i = 0; i < a.size(); ++i) a[i] = std::sin(double(i));
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = std::cos(double(i));
    const std::size_t lda = c.ta ? c.m : c.k, ldb = c.tb ? c.k : c.n;
    gemm_cblas(c.ta, c.tb, c.m, c.n, c.k, a.data(), lda, b.data(), ldb, ref.data());
    gemm_xblas(c.ta, c.tb, c.m, c.n, c.k, a.data(), lda, b.data(), ldb, out.data());
    if (ref != out) {
      std::printf("MISMATCH %zu %zu %zu\n", c.m, c.n, c.k);
      return 1;
    }
    if (fixed > 0) {
      for (long i = 0; i < fixed; ++i)
        gemm_cblas(c.ta, c.tb, c.m, c.n, c.k, a.data(), lda, b.data(), ldb, out.data());
      for (long i = 0; i < fixed; ++i)
        gemm_xblas(c.ta, c.tb, c.m, c.n, c.k, a.data(), lda, b.data(), ldb, out.data());
      continue;
    }
    std::vector<double> tc, tx;
    // Alternating which goes first, so that neither always runs second in a round.
    for (int r = 0; r < rounds; ++r) {
      if (r % 2) tx.push_back(per_call(gemm_xblas, c, a, b, out, seconds));
      tc.push_back(per_call(gemm_cblas, c, a, b, out, seconds));
      if (r % 2 == 0) tx.push_back(per_call(gemm_xblas, c, a, b, out, seconds));
    }
    std::sort(tc.begin(), tc.end());
    std::sort(tx.begin(), tx.end());
    const double mc = tc[tc.size() / 2], mx = tx[tx.size() / 2];
    char name[64];
    std::snprintf(name, sizeof name, "%d %d %zux%zux%zu", c.ta, c.tb, c.m, c.n, c.k);
    auto show = [](double s) {
      static char buf[4][32];
      static int i = 0;
      char* p = buf[i++ % 4];
      if (s < 1e-6)
        std::snprintf(p, 32, "%.1f ns", s * 1e9);
      else if (s < 1e-3)
        std::snprintf(p, 32, "%.2f us", s * 1e6);
      else
        std::snprintf(p, 32, "%.2f ms", s * 1e3);
      return p;
    };
    std::printf("%-22s %14s %14s %8.3f\n", name, show(mc), show(mx), mx / mc);
  }
}
