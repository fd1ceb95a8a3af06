// Elementwise and reduction kernels two ways on the same row-major buffers: the hand loops of
// autodiff/src/kernels.hpp, and xtensor expressions over xt::adapt views (xt::noalias assignment,
// immediate reductions). Median of rounds of thread CPU time, one thread.
//   g++ -O3 -std=c++20 -DNDEBUG kernels_bench.cpp -o kernels_bench
//   ./kernels_bench [rounds] [seconds per measurement]
//   ./kernels_bench --count SIZE_INDEX CALLS   (fixed call counts, for valgrind --tool=callgrind;
//                                               compare the functions' inclusive counts)
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>
#include <xtensor/xadapt.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xnoalias.hpp>
#include <xtensor/xvectorize.hpp>

#define NOINLINE __attribute__((noinline))

using A1 = std::array<std::size_t, 1>;
using A2 = std::array<std::size_t, 2>;
using A3 = std::array<std::size_t, 3>;

struct Buffers {
  std::size_t rows, cols;
  std::vector<double> a, b, row, out, out_row, out_col;
};

double sigmoid(double x) {
  return 1.0 / (1.0 + std::exp(-x));
}

// ---- loops: as in kernels.hpp ----------------------------------------------------------------
NOINLINE void loop_sigmoid(Buffers& B) {
  const std::size_t n = B.rows * B.cols;
  const double* in = B.a.data();
  double* o = B.out.data();
  auto f = [](double x) { return sigmoid(x); };
  for (std::size_t i = 0; i < n; ++i) o[i] = f(in[i]);
}
NOINLINE void loop_mul(Buffers& B) {
  const std::size_t n = B.rows * B.cols;
  const double *pa = B.a.data(), *pb = B.b.data();
  double* o = B.out.data();
  for (std::size_t i = 0; i < n; ++i) o[i] = pa[i] * pb[i];
}
NOINLINE void loop_scalar(Buffers& B) {
  const std::size_t n = B.rows * B.cols;
  const double* pa = B.a.data();
  const double s = B.b[0];
  double* o = B.out.data();
  for (std::size_t i = 0; i < n; ++i) o[i] = pa[i] * s;
}
// Row broadcast as map_binary's general path does it: strides 0 along the broadcast axis.
NOINLINE void loop_row(Buffers& B) {
  const double *pa = B.a.data(), *pb = B.row.data();
  double* o = B.out.data();
  const std::size_t inner = B.cols;
  for (std::size_t r = 0, flat = 0; r < B.rows; ++r, flat += inner)
    for (std::size_t j = 0; j < inner; ++j) o[flat + j] = pa[flat + j] + pb[j];
}
// reduce_axis viewing x as [outer, length, inner].
void loop_reduce(const double* in, double* o, std::size_t outer, std::size_t length,
                 std::size_t inner) {
  std::fill_n(o, outer * inner, 0.0);
  for (std::size_t a = 0; a < outer; ++a)
    for (std::size_t l = 0; l < length; ++l)
      for (std::size_t i = 0; i < inner; ++i) o[a * inner + i] += in[(a * length + l) * inner + i];
}
NOINLINE void loop_sum0(Buffers& B) {
  loop_reduce(B.a.data(), B.out_row.data(), 1, B.rows, B.cols);
}
NOINLINE void loop_sum1(Buffers& B) {
  loop_reduce(B.a.data(), B.out_col.data(), B.rows, B.cols, 1);
}

// ---- xtensor expressions on adapted buffers ---------------------------------------------------
auto flat(const std::vector<double>& v, std::size_t n) {
  return xt::adapt(v.data(), n, xt::no_ownership(), A1{n});
}
auto flat_out(std::vector<double>& v, std::size_t n) {
  return xt::adapt(v.data(), n, xt::no_ownership(), A1{n});
}
NOINLINE void xt_sigmoid(Buffers& B) {
  const std::size_t n = B.rows * B.cols;
  auto o = flat_out(B.out, n);
  xt::noalias(o) = 1.0 / (1.0 + xt::exp(-flat(B.a, n)));
}
// The engine's map_unary takes any functor: xt::vectorize is how xtensor applies one.
NOINLINE void xt_vectorize_sigmoid(Buffers& B) {
  const std::size_t n = B.rows * B.cols;
  auto o = flat_out(B.out, n);
  xt::noalias(o) = xt::vectorize([](double x) { return sigmoid(x); })(flat(B.a, n));
}
NOINLINE void xt_mul(Buffers& B) {
  const std::size_t n = B.rows * B.cols;
  auto o = flat_out(B.out, n);
  xt::noalias(o) = flat(B.a, n) * flat(B.b, n);
}
NOINLINE void xt_scalar(Buffers& B) {
  const std::size_t n = B.rows * B.cols;
  auto o = flat_out(B.out, n);
  xt::noalias(o) = flat(B.a, n) * B.b[0];
}
NOINLINE void xt_row(Buffers& B) {
  const std::size_t n = B.rows * B.cols;
  auto o = xt::adapt(B.out.data(), n, xt::no_ownership(), A2{B.rows, B.cols});
  const auto a = xt::adapt(B.a.data(), n, xt::no_ownership(), A2{B.rows, B.cols});
  const auto r = xt::adapt(B.row.data(), B.cols, xt::no_ownership(), A1{B.cols});
  xt::noalias(o) = a + r;
}
NOINLINE void xt_sum0(Buffers& B) {
  const std::size_t n = B.rows * B.cols;
  const auto a = xt::adapt(B.a.data(), n, xt::no_ownership(), A2{B.rows, B.cols});
  auto o = xt::adapt(B.out_row.data(), B.cols, xt::no_ownership(), A1{B.cols});
  xt::noalias(o) = xt::sum(a, {0}, xt::evaluation_strategy::immediate);
}
NOINLINE void xt_sum1(Buffers& B) {
  const std::size_t n = B.rows * B.cols;
  const auto a = xt::adapt(B.a.data(), n, xt::no_ownership(), A2{B.rows, B.cols});
  auto o = xt::adapt(B.out_col.data(), B.rows, xt::no_ownership(), A1{B.rows});
  xt::noalias(o) = xt::sum(a, {1}, xt::evaluation_strategy::immediate);
}

using Fn = void (*)(Buffers&);
struct Kernel {
  const char* name;
  Fn loop, xt;
  std::vector<double> Buffers::*result;
};

// The thread's CPU time, not the wall clock: on a shared machine the wall clock also counts the
// time other processes hold the core.
double now() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}
double per_call(Fn f, Buffers& B, double seconds) {
  std::size_t calls = 0, batch = 1;
  const double start = now();
  double t = 0;
  while ((t = now() - start) < seconds) {
    for (std::size_t i = 0; i < batch; ++i) f(B);
    calls += batch;
    batch *= 2;
  }
  return t / double(calls);
}

int main(int argc, char** argv) {
  std::vector<std::array<std::size_t, 2>> sizes = {{4, 2}, {20, 5}, {256, 512}, {5000, 25}};
  // KERNELS_SIZES="256x10,64x64" measures other shapes; KERNELS_ONLY=sum only those kernels.
  if (const char* env = std::getenv("KERNELS_SIZES")) {
    sizes.clear();
    for (const char* p = env; *p;) {
      char* end = nullptr;
      const std::size_t r = std::strtoul(p, &end, 10), c = std::strtoul(end + 1, &end, 10);
      sizes.push_back({r, c});
      p = *end ? end + 1 : end;
    }
  }
  const char* only = std::getenv("KERNELS_ONLY");
  const std::vector<Kernel> kernels = {
      {"sigmoid", loop_sigmoid, xt_sigmoid, &Buffers::out},
      {"sigmoid (vectorize)", loop_sigmoid, xt_vectorize_sigmoid, &Buffers::out},
      {"mul same shape", loop_mul, xt_mul, &Buffers::out},
      {"mul scalar", loop_scalar, xt_scalar, &Buffers::out},
      {"add row-broadcast", loop_row, xt_row, &Buffers::out},
      {"sum axis 0", loop_sum0, xt_sum0, &Buffers::out_row},
      {"sum axis 1", loop_sum1, xt_sum1, &Buffers::out_col}};
  auto make = [](std::size_t r, std::size_t c) {
    Buffers B{r, c, {}, {}, {}, {}, {}, {}};
    B.a.resize(r * c);
    B.b.resize(r * c);
    B.row.resize(c);
    B.out.resize(r * c);
    B.out_row.resize(c);
    B.out_col.resize(r);
    for (std::size_t i = 0; i < r * c; ++i) B.a[i] = std::sin(0.1 * double(i));
    for (std::size_t i = 0; i < r * c; ++i) B.b[i] = std::cos(0.3 * double(i));
    for (std::size_t i = 0; i < c; ++i) B.row[i] = 0.5 - double(i % 7);
    return B;
  };
  if (argc > 1 && std::strcmp(argv[1], "--count") == 0) {
    const auto s = sizes.at(std::size_t(std::atoi(argv[2])));
    const long calls = std::atol(argv[3]);
    Buffers B = make(s[0], s[1]);
    for (const Kernel& k : kernels) {
      for (long i = 0; i < calls; ++i) k.loop(B);
      for (long i = 0; i < calls; ++i) k.xt(B);
    }
    return 0;
  }
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 7;
  const double seconds = argc > 2 ? std::atof(argv[2]) : 0.05;
  std::printf("%-22s %-10s %12s %12s %7s\n", "kernel", "shape", "loop", "xtensor", "ratio");
  for (const Kernel& k : kernels) {
    if (only && !std::strstr(k.name, only)) continue;
    for (const auto& s : sizes) {
      Buffers B = make(s[0], s[1]);
      k.loop(B);
      const std::vector<double> ref = B.*k.result;
      k.xt(B);
      double err = 0;
      for (std::size_t i = 0; i < ref.size(); ++i)
        err = std::max(err, std::abs(ref[i] - (B.*k.result)[i]));
      if (err > 1e-12) {
        std::printf("MISMATCH %s: %g\n", k.name, err);
        return 1;
      }
      std::vector<double> tl, tx;
      for (int r = 0; r < rounds; ++r) {
        if (r % 2) tx.push_back(per_call(k.xt, B, seconds));
        tl.push_back(per_call(k.loop, B, seconds));
        if (r % 2 == 0) tx.push_back(per_call(k.xt, B, seconds));
      }
      std::sort(tl.begin(), tl.end());
      std::sort(tx.begin(), tx.end());
      const double ml = tl[tl.size() / 2], mx = tx[tx.size() / 2];
      const std::string shape = "[" + std::to_string(s[0]) + "," + std::to_string(s[1]) + "]";
      std::printf("%-22s %-10s %9.1f ns %9.1f ns %7.2f\n", k.name, shape.c_str(), ml * 1e9,
                  mx * 1e9, mx / ml);
    }
  }
}
