// The regression gradient-validation tutorial (docs/tutorials.md): a 2-5-1 regression MLP
// (sigmoid hidden, linear output) on 20 samples of y = x1^2 + x2^2 with x ~ U(-1,1)^2, loss
// 0.5 * mean((yhat - y)^2), eps 1e-5; the per-parameter report must show every relative error
// below 1e-7. Then the network is trained.
#include <cstdio>
#include <random>

#include "tapegrad/nn/module.hpp"
#include "tapegrad/nn/optim.hpp"
#include "tapegrad/nn/parameters.hpp"
#include "tapegrad/tapegrad.hpp"

int main() {
  namespace nn = tg::nn;
  using tg::TensorD;
  std::mt19937_64 rng(42);
  TensorD X = TensorD::uniform({20, 2}, -1, 1, rng);
  TensorD y = tg::reshape(tg::sum(X * X, 1), {20, 1});  // x1^2 + x2^2

  // Xavier normal for the sigmoid layer, biases zero (as the tutorial).
  auto net = nn::mlp<double>({2, 5, 1}, nn::Activation::sigmoid, nn::Activation::identity,
                             nn::Init::xavier_normal(), rng);
  auto loss = [&] { return tg::mse(net(X), y) * 0.5; };

  std::printf("--- Gradient check: %s, eps 1e-5, pass below 1e-7 ---\n", net.describe().c_str());
  const auto report = nn::gradcheck_model<double>(
      net, loss, {.eps = 1e-5, .tolerance = 1e-7, .names = {"W1", "b1", "W2", "b2"}});
  for (const auto& c : report.inputs)
    std::printf("%-3s %-6s relative error: %.3e  %s\n", c.name.c_str(), c.shape.str().c_str(),
                c.relative_error, c.passed ? "PASSED" : "FAILED");
  if (!report.passed) {
    std::printf("%s", report.str().c_str());
    return 1;
  }

  nn::Adam<double> adam(net.parameters(), {.lr = 0.05});
  double first = 0, last = 0;
  for (int step = 0; step <= 2000; ++step) {
    adam.zero_grad();
    TensorD value = loss();
    value.backward();
    adam.step();
    if (step == 0) first = value.item();
    last = value.item();
    if (step % 500 == 0) std::printf("step %4d  loss %.6f\n", step, value.item());
  }
  std::printf("training with Adam (lr 0.05): loss %.6f -> %.6f\n", first, last);
  return last < first / 10 ? 0 : 1;
}
