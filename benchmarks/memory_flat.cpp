// Prints the process's resident memory and the engine's live objects while a small MLP trains
// for 100,000 steps: the figures must stay flat after the first steps.
//   ./build/benchmarks/memory_flat [steps]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>

#include "tapegrad/tapegrad.hpp"

namespace {

long resident_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  using tg::TensorD;
  const long steps = argc > 1 ? std::strtol(argv[1], nullptr, 10) : 100000;
  std::mt19937_64 rng(1);
  TensorD x = TensorD::uniform({32, 8}, -1, 1, rng);
  TensorD y = TensorD::uniform({32, 1}, 0, 1, rng);
  TensorD w1 = TensorD::uniform({8, 16}, -0.5, 0.5, rng, true);
  TensorD b1 = TensorD::zeros({16}, true);
  TensorD w2 = TensorD::uniform({16, 1}, -0.5, 0.5, rng, true);
  TensorD b2 = TensorD::zeros({1}, true);
  std::printf("%10s %12s %10s %12s %14s %10s\n", "step", "loss", "RSS KiB", "live nodes",
              "live buffers", "buf KiB");
  const auto start = std::chrono::steady_clock::now();
  for (long step = 1; step <= steps; ++step) {
    TensorD h = tg::sigmoid(tg::add_bias(tg::matmul(x, w1), b1));
    TensorD loss = tg::mse(tg::add_bias(tg::matmul(h, w2), b2), y);
    loss.backward();
    for (TensorD* p : {&w1, &b1, &w2, &b2}) {
      TensorD g = p->grad();
      for (std::size_t i = 0; i < p->size(); ++i) p->data()[i] -= 0.1 * g.data()[i];
      p->zero_grad();
    }
    if (step == 1 || step == 10 || step == 100 || step % (steps / 10 > 0 ? steps / 10 : 1) == 0) {
      const auto m = tg::memory_stats();
      std::printf("%10ld %12.6f %10ld %12lld %14lld %10.1f\n", step, loss.item(), resident_kib(),
                  (long long)m.live_nodes, (long long)m.live_buffers, m.live_buffer_bytes / 1024.0);
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%ld steps in %.2f s (%.2f us per step)\n", steps, seconds, 1e6 * seconds / steps);
  return 0;
}
