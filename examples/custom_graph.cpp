// An arbitrary graph that is not a network: a function of two matrices with a shared
// subexpression, its gradients from one backward pass, and their gradient check.
//
//   S = A B^T                     (A[3,4], B[2,4] -> S[3,2]; used twice below)
//   f = sum(tanh(S) * S) + mean(S^2) + sum(exp(-A^2))
//
// The subexpression S fans out into two branches; backward adds both contributions into S's
// gradient before passing it on to A and B.
#include <cstdio>
#include <random>

#include "tapegrad/tapegrad.hpp"

namespace {

tg::TensorD f(const tg::TensorD& A, const tg::TensorD& B) {
  tg::TensorD S = tg::matmul(A, B, false, true);  // A @ B^T, no transposed copy
  return tg::sum(tg::tanh(S) * S) + tg::mean(tg::pow(S, 2.0)) + tg::sum(tg::exp(-(A * A)));
}

void print(const char* name, const tg::TensorD& t) {
  std::printf("%s%s =\n", name, t.shape().str().c_str());
  for (std::size_t i = 0; i < t.dim(0); ++i) {
    std::printf("  ");
    for (std::size_t j = 0; j < t.dim(1); ++j) std::printf("% .6f ", t.at({i, j}));
    std::printf("\n");
  }
}

}  // namespace

int main() {
  std::mt19937_64 rng(2026);
  tg::TensorD A = tg::TensorD::uniform({3, 4}, -1, 1, rng, true);
  tg::TensorD B = tg::TensorD::uniform({2, 4}, -1, 1, rng, true);

  tg::TensorD value = f(A, B);
  const auto stats = value.graph_stats();
  std::printf("f(A, B) = %.12f  (graph: %zu nodes, %zu bytes saved for the adjoints)\n",
              value.item(), stats.nodes, stats.saved_bytes);
  value.backward();
  print("df/dA", A.grad());
  print("df/dB", B.grad());

  const auto report =
      tg::gradcheck([](const auto& in) { return f(in[0], in[1]); }, {A, B}, {.names = {"A", "B"}});
  std::printf("%s", report.str().c_str());
  return report.passed ? 0 : 1;
}
