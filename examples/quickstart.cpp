// The README's example, built and run by the test suite so that it cannot rot.
#include <iostream>
#include <random>
#include <tapegrad/tapegrad.hpp>

int main() {
  std::mt19937_64 rng(42);
  auto X = tg::TensorD::uniform({4, 3}, -1, 1, rng);  // data: no gradient
  auto W = tg::TensorD::uniform({3, 2}, -1, 1, rng, /*requires_grad=*/true);
  auto b = tg::TensorD::zeros({2}, /*requires_grad=*/true);
  auto Y = tg::TensorD::matrix({{0, 1}, {1, 0}, {1, 1}, {0, 0}});

  auto loss = tg::bce(tg::sigmoid(tg::add_bias(tg::matmul(X, W), b)), Y);
  loss.backward();  // one generic reverse pass fills W.grad() and b.grad()
  std::cout << "loss " << loss.item() << ", dloss/dW[0,0] " << W.grad().at({0, 0}) << "\n";

  auto report = tg::gradcheck(  // central differences vs the adjoints, per input
      [&](const auto& in) {
        return tg::bce(tg::sigmoid(tg::add_bias(tg::matmul(X, in[0]), in[1])), Y);
      },
      {W, b}, {.names = {"W", "b"}});
  std::cout << report;
  return report.passed ? 0 : 1;
}
