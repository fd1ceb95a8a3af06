// A replayed chain of elementwise ops with the tape's elementwise fusion and without it (a block
// larger than any tensor turns it off): microseconds per run, median of rounds, wall and thread CPU
// time, the two settings interleaved. x is an input, w a parameter; the tape holds the chain's
// forward and backward.
//   cmake --build build
//   g++ -O2 -std=c++20 -Iautodiff/include benchmarks/micro/fusion_bench.cpp -Lbuild/autodiff
//       -ltapegrad_autodiff -Wl,-rpath,$PWD/build/autodiff -o /tmp/fusion_bench
//   OPENBLAS_NUM_THREADS=1 /tmp/fusion_bench [rounds]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <random>
#include <vector>

#include "tapegrad/ops.hpp"
#include "tapegrad/replay.hpp"

using tg::Shape;
using tg::TensorD;

namespace {

double thread_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

struct Chain {
  const char* name;
  std::function<TensorD(const TensorD&, const TensorD&)> f;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 5;
  const std::vector<Chain> chains = {
      {"sum(((x*w + x)*w - x)*x)",
       [](const TensorD& x, const TensorD& w) { return tg::sum(((x * w + x) * w - x) * x); }},
      {"sum(tanh(sigmoid(x*w)*x + w)*x)",
       [](const TensorD& x, const TensorD& w) {
         return tg::sum(tg::tanh(tg::sigmoid(x * w) * x + w) * x);
       }},
  };
  const std::size_t default_block = tg::fusion_block();
  std::mt19937_64 rng(1);
  for (const Chain& chain : chains)
    for (std::size_t rows : {64, 512}) {
      const Shape shape{rows, 1024};
      TensorD x = TensorD::uniform(shape, -1.0, 1.0, rng);
      TensorD w = TensorD::uniform(shape, -1.0, 1.0, rng, true);
      std::vector<double> wall[2], cpu[2];
      std::size_t kernels[2] = {0, 0};
      for (int r = 0; r < rounds; ++r)
        for (int fused = 0; fused < 2; ++fused) {
          tg::set_fusion_block(fused ? default_block : std::size_t(1) << 40);
          auto step = tg::record_step([&] { return chain.f(x, w); }, {w}, {x});
          kernels[fused] = step.kernels();
          for (int i = 0; i < 3; ++i) step.run();
          const int runs = rows == 64 ? 200 : 30;
          const auto t0 = std::chrono::steady_clock::now();
          const double c0 = thread_seconds();
          for (int i = 0; i < runs; ++i) step.run();
          cpu[fused].push_back((thread_seconds() - c0) * 1e6 / runs);
          wall[fused].push_back(
              std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0)
                  .count() /
              runs);
        }
      tg::set_fusion_block(default_block);
      std::printf(
          "%-34s [%zu,1024]: %2zu kernels %8.1f us wall %8.1f us cpu | fused, %2zu kernels "
          "%8.1f us wall %8.1f us cpu | %.2fx wall %.2fx cpu\n",
          chain.name, rows, kernels[0], median(wall[0]), median(cpu[0]), kernels[1],
          median(wall[1]), median(cpu[1]), median(wall[0]) / median(wall[1]),
          median(cpu[0]) / median(cpu[1]));
    }
}
