// Transcendental maps (sigmoid, exp, tanh, log) as a hand loop and as an xtensor expression over
// adapted buffers, to weigh XTENSOR_USE_XSIMD and a target flag. Thread CPU time, median of rounds.
//   g++ -O3 -std=c++20 -DNDEBUG xsimd_bench.cpp -o xsimd_default
//   g++ -O3 -std=c++20 -DNDEBUG -march=x86-64-v3 xsimd_bench.cpp -o xsimd_v3
//   g++ -O3 -std=c++20 -DNDEBUG -march=x86-64-v3 -DXTENSOR_USE_XSIMD xsimd_bench.cpp -o
//   xsimd_v3_xsimd
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <vector>
#include <xtensor/xadapt.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xnoalias.hpp>

#define NOINLINE __attribute__((noinline))
using V = std::vector<double>;
using A1 = std::array<std::size_t, 1>;

#define KERNEL(NAME, SCALAR, EXPR)                                                  \
  NOINLINE void loop_##NAME(const V& a, V& o) {                                     \
    for (std::size_t i = 0; i < a.size(); ++i) {                                    \
      const double x = a[i];                                                        \
      o[i] = SCALAR;                                                                \
    }                                                                               \
  }                                                                                 \
  NOINLINE void xt_##NAME(const V& a, V& o) {                                       \
    const auto x = xt::adapt(a.data(), a.size(), xt::no_ownership(), A1{a.size()}); \
    auto out = xt::adapt(o.data(), o.size(), xt::no_ownership(), A1{o.size()});     \
    xt::noalias(out) = EXPR;                                                        \
  }
KERNEL(sigmoid, 1.0 / (1.0 + std::exp(-x)), 1.0 / (1.0 + xt::exp(-x)))
KERNEL(exp, std::exp(x), xt::exp(x))
KERNEL(tanh, std::tanh(x), xt::tanh(x))
KERNEL(log, std::log(x + 2.0), xt::log(x + 2.0))

double now() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}
using Fn = void (*)(const V&, V&);
double per_call(Fn f, const V& a, V& o, double seconds) {
  std::size_t calls = 0, batch = 1;
  const double start = now();
  double t = 0;
  while ((t = now() - start) < seconds) {
    for (std::size_t i = 0; i < batch; ++i) f(a, o);
    calls += batch;
    batch *= 2;
  }
  return t / double(calls);
}

int main() {
  struct K {
    const char* name;
    Fn loop, xt;
  } ks[] = {{"sigmoid", loop_sigmoid, xt_sigmoid},
            {"exp", loop_exp, xt_exp},
            {"tanh", loop_tanh, xt_tanh},
            {"log", loop_log, xt_log}};
  std::printf("%-8s %8s %12s %12s %6s\n", "kernel", "n", "loop", "xtensor", "ratio");
  for (const K& k : ks)
    for (std::size_t n : {8, 100, 131072}) {
      V a(n), o(n);
      for (std::size_t i = 0; i < n; ++i) a[i] = std::sin(0.1 * double(i));
      std::vector<double> tl, tx;
      for (int r = 0; r < 5; ++r) {
        tl.push_back(per_call(k.loop, a, o, 0.02));
        tx.push_back(per_call(k.xt, a, o, 0.02));
      }
      std::sort(tl.begin(), tl.end());
      std::sort(tx.begin(), tx.end());
      std::printf("%-8s %8zu %9.1f ns %9.1f ns %6.2f\n", k.name, n, tl[2] * 1e9, tx[2] * 1e9,
                  tx[2] / tl[2]);
    }
}
