// The XOR tutorial's network (docs/tutorials.md): [2,2,2,1], sigmoid everywhere, mean squared
// error, plain SGD with eta 0.1.
//
// The tutorial's backprop gradient came out 2x the finite-difference one and its author divided it
// by 2 without an explanation. The cost was J = (1/m) sum (yhat - y)^2, whose gradient is
// (2/m) sum (yhat - y) sigma'(z) a; the tutorial's delta terms computed sum (yhat - y) sigma'(z) a,
// dropping the 2/m factor. With m = 4 samples that is m/2 = 2 times the true gradient: the
// "division by 2" was the missing 2/m, right only because m happened to be 4. Here mse's
// adjoint carries the 2/N itself, so the gradient check below passes without any fudge factor.
//
// The training step is recorded once as a replayable tape and replayed every epoch: the same
// kernels on the same buffers as eager mode (so the same numbers, bit for bit), without building
// and walking a graph each time. `xor --eager` trains eagerly instead, for comparison.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>

#include "tapegrad/nn/module.hpp"
#include "tapegrad/nn/optim.hpp"
#include "tapegrad/nn/parameters.hpp"
#include "tapegrad/replay.hpp"
#include "tapegrad/tapegrad.hpp"

int main(int argc, char** argv) {
  namespace nn = tg::nn;
  using tg::TensorD;
  TensorD X = TensorD::matrix({{0, 0}, {0, 1}, {1, 0}, {1, 1}});
  TensorD y = TensorD::matrix({{0}, {1}, {1}, {0}});

  std::mt19937_64 rng(0);
  // Symmetry breaking: weights uniform in [-1, 1] (the tutorial drew from [0, 1)); biases start at
  // 0.
  auto net = nn::mlp<double>({2, 2, 2, 1}, nn::Activation::sigmoid, nn::Activation::sigmoid,
                             nn::Init::uniform(1.0), rng);
  std::printf("%s\n", net.describe().c_str());

  const auto check = nn::gradcheck_model<double>(net, [&] { return tg::mse(net(X), y); });
  std::printf("%s", check.str().c_str());
  if (!check.passed) return 1;

  const bool eager = argc > 1 && std::strcmp(argv[1], "--eager") == 0;
  nn::SGD<double> sgd(net.parameters(), {.lr = 0.1});
  auto converged = [&] {
    tg::NoGradGuard no_grad;
    TensorD out = net(X);
    for (std::size_t i = 0; i < 4; ++i)
      if (std::abs(out.data()[i] - y.data()[i]) >= 0.1) return false;
    return true;
  };
  const auto start = std::chrono::steady_clock::now();
  // Recording runs the step once (forward and backward), as the first epoch's backward would.
  auto step = tg::record_step([&] { return tg::mse(net(X), y); }, net.parameters(), {X, y});
  const std::size_t max_epochs = 1000000;
  std::size_t epoch = 0;
  for (; epoch < max_epochs && !converged(); ++epoch) {
    double loss = 0;
    if (eager) {
      sgd.zero_grad();
      TensorD J = tg::mse(net(X), y);
      J.backward();
      loss = J.item();
    } else {
      loss = epoch == 0 ? step.loss().item() : step.run().item();
    }
    sgd.step();
    if (epoch % 20000 == 0) std::printf("epoch %7zu  loss %.6f\n", epoch, loss);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  TensorD out = net(X);
  std::printf("after %zu epochs (stop: every output within 0.1 of its target), %.2f s %s\n", epoch,
              seconds, eager ? "eagerly" : "replaying the recorded step");
  for (std::size_t i = 0; i < 4; ++i)
    std::printf("  %g xor %g = %g  ->  %.4f\n", X.at({i, 0}), X.at({i, 1}), y.data()[i],
                out.data()[i]);
  return converged() ? 0 : 1;
}
