// The main job: gradient-check every registered op and print a table, then build one small graph
// by hand and print its gradients next to the values worked out on paper.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

#include "tapegrad/registry.hpp"
#include "tapegrad/tapegrad.hpp"

namespace {

std::string join(const std::vector<std::string>& parts, std::size_t max_chars) {
  std::string s;
  for (const auto& p : parts) {
    if (!s.empty()) s += " ";
    s += p;
  }
  if (s.size() > max_chars) s = s.substr(0, max_chars - 3) + "...";
  return s;
}

bool print_op_table() {
  const auto start = std::chrono::steady_clock::now();
  const auto rows = tg::check_registered_ops({1, 2, 3}, true);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("Per-op gradient check: Ridders-extrapolated central differences (adaptive steps,\n");
  std::printf(
      "with an error estimate) vs one backward pass, 3 seeds per op; double passes below\n");
  std::printf("1e-9, float adjoints are judged against double differences at float's epsilon\n\n");
  std::printf("%-18s %-5s %7s %11s  %-4s  %s\n", "op", "dtype", "samples", "worst rel", "pass",
              "shapes tried");
  bool all = true;
  for (const auto& r : rows) {
    std::printf("%-18s %-5s %7zu %11.2e  %-4s  %s\n", r.op.c_str(), r.dtype.c_str(), r.samples_run,
                r.worst_relative_error, r.passed ? "yes" : "NO", join(r.shapes, 60).c_str());
    if (!r.passed) std::printf("    %s\n", r.failure.c_str());
    all = all && r.passed;
  }
  std::printf("\n%zu ops, %zu rows, %s, in %.2f s\n\n", tg::registered_ops().size(), rows.size(),
              all ? "all passed" : "SOME FAILED", seconds);
  return all;
}

// f(W, x, b) = sum(sigmoid(W @ x + b)) with one shared subexpression, checked against the
// derivative written out by hand: df/dz = s(1-s), dW = df/dz x^T, db = df/dz.
bool hand_built_graph() {
  using tg::TensorD;
  TensorD W = TensorD::matrix({{0.5, -1.0}, {2.0, 0.25}}, true);
  TensorD x = TensorD::matrix({{1.0}, {-2.0}});
  TensorD b = TensorD::matrix({{0.1}, {-0.3}}, true);
  TensorD z = tg::matmul(W, x) + b;
  TensorD f = tg::sum(tg::sigmoid(z));
  f.backward();

  std::printf("Hand-built graph: f = sum(sigmoid(W @ x + b)), W[2,2], x[2,1], b[2,1]\n");
  bool ok = true;
  for (std::size_t i = 0; i < 2; ++i) {
    const double zi = z.data()[i];
    const double s = 1.0 / (1.0 + std::exp(-zi));
    const double dz = s * (1 - s);
    for (std::size_t j = 0; j < 2; ++j) {
      const double expect = dz * x.data()[j];
      const double got = W.grad().data()[i * 2 + j];
      std::printf("  dW[%zu,%zu] = % .12f   by hand % .12f\n", i, j, got, expect);
      ok = ok && std::abs(got - expect) < 1e-12;
    }
    std::printf("  db[%zu]   = % .12f   by hand % .12f\n", i, b.grad().data()[i], dz);
    ok = ok && std::abs(b.grad().data()[i] - dz) < 1e-12;
  }
  const auto report = tg::gradcheck(
      [&](const std::vector<TensorD>& in) {
        return tg::sum(tg::sigmoid(tg::matmul(in[0], x) + in[1]));
      },
      {W, b}, {.names = {"W", "b"}});
  std::printf("%s", report.str().c_str());
  return ok && report.passed;
}

}  // namespace

int main() {
  const bool table = print_op_table();
  const bool graph = hand_built_graph();
  return table && graph ? 0 : 1;
}
