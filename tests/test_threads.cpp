// Graphs built on separate threads do not interfere: no global tape is shared between threads.
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <thread>
#include <vector>

#include "tapegrad/replay.hpp"
#include "tapegrad/tapegrad.hpp"

using tg::TensorD;

namespace {

// A 3-4-1 sigmoid network and its batch, trained with plain gradient descent.
struct Net {
  std::mt19937_64 rng;
  TensorD x = TensorD::uniform({8, 3}, -1, 1, rng);
  TensorD y = TensorD::uniform({8, 1}, 0, 1, rng);
  TensorD w1 = TensorD::uniform({3, 4}, -0.5, 0.5, rng, true);
  TensorD b1 = TensorD::zeros({4}, true);
  TensorD w2 = TensorD::uniform({4, 1}, -0.5, 0.5, rng, true);
  TensorD b2 = TensorD::zeros({1}, true);

  explicit Net(std::uint64_t seed) : rng(seed) {}
  TensorD loss() const {
    TensorD h = tg::sigmoid(tg::add_bias(tg::matmul(x, w1), b1));
    return tg::mse(tg::sigmoid(tg::add_bias(tg::matmul(h, w2), b2)), y);
  }
  void update() {
    for (TensorD* p : {&w1, &b1, &w2, &b2}) {
      TensorD g = p->grad();
      for (std::size_t i = 0; i < p->size(); ++i) p->data()[i] -= 0.5 * g.data()[i];
    }
  }
  std::vector<double> weights() {
    std::vector<double> out;
    for (TensorD* p : {&w1, &b1, &w2, &b2})
      for (double v : p->to_vector()) out.push_back(v);
    return out;
  }
};

// Trains eagerly; returns the final weights.
std::vector<double> train(std::uint64_t seed, int steps) {
  Net net(seed);
  for (int s = 0; s < steps; ++s) {
    net.loss().backward();
    net.update();
    for (TensorD* p : {&net.w1, &net.b1, &net.w2, &net.b2}) p->zero_grad();
  }
  return net.weights();
}

// Trains by replay: the first step recorded, the others replayed, the batch rewritten in place
// before each run.
std::vector<double> train_by_replay(std::uint64_t seed, int steps) {
  Net net(seed);
  auto step =
      tg::record_step([&] { return net.loss(); }, {net.w1, net.b1, net.w2, net.b2}, {net.x, net.y});
  net.update();
  for (int s = 1; s < steps; ++s) {
    for (std::size_t i = 0; i < net.x.size(); ++i) net.x.data()[i] = std::sin(double(s + i));
    step.run();
    net.update();
  }
  return net.weights();
}

}  // namespace

TEST_CASE("recordings made and replayed on four threads at once give the serial results") {
  const int kThreads = 4, kSteps = 200;
  std::vector<std::vector<double>> expected;
  for (int t = 0; t < kThreads; ++t) expected.push_back(train_by_replay(300 + t, kSteps));
  std::vector<std::vector<double>> got(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] { got[t] = train_by_replay(300 + t, kSteps); });
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) CHECK(got[t] == expected[t]);
  CHECK(expected[0] != expected[1]);
}

TEST_CASE("training on four threads at once gives the single-threaded results bit for bit") {
  const int kThreads = 4, kSteps = 300;
  std::vector<std::vector<double>> expected;
  for (int t = 0; t < kThreads; ++t) expected.push_back(train(100 + t, kSteps));

  std::vector<std::vector<double>> got(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] { got[t] = train(100 + t, kSteps); });
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) CHECK(got[t] == expected[t]);
}

TEST_CASE("a no-grad scope on one thread does not affect another") {
  tg::NoGradGuard guard;
  bool other_thread_records = false;
  std::thread th([&] {
    TensorD x = TensorD::scalar(2.0, true);
    other_thread_records = (x * x).requires_grad();
  });
  th.join();
  CHECK(other_thread_records);
  CHECK_FALSE(tg::grad_enabled());
}

TEST_CASE("two threads run backward at once through nodes their graphs share (retain_graph)") {
  // Backward's per-call state lives in the call, not in the nodes: with the shared graph retained,
  // both calls only read it, and their gradients meet in the leaf under its lock.
  std::mt19937_64 rng(7);
  TensorD x = TensorD::uniform({6, 3}, -1, 1, rng);
  TensorD w = TensorD::uniform({3, 4}, -0.5, 0.5, rng, true);
  TensorD trunk = tg::sigmoid(tg::matmul(x, w));  // shared by both heads
  TensorD head_a = tg::sum(tg::mul(trunk, trunk));
  TensorD head_b = tg::sum(tg::tanh(trunk));
  head_a.backward({.retain_graph = true});
  head_b.backward({.retain_graph = true});
  const TensorD once = w.grad().clone();
  w.zero_grad();

  constexpr int kRuns = 200;
  std::thread a([&] {
    for (int i = 0; i < kRuns; ++i) head_a.backward({.retain_graph = true});
  });
  std::thread b([&] {
    for (int i = 0; i < kRuns; ++i) head_b.backward({.retain_graph = true});
  });
  a.join();
  b.join();
  const TensorD g = w.grad();
  for (std::size_t i = 0; i < g.size(); ++i)
    CHECK(g.data()[i] == doctest::Approx(kRuns * once.data()[i]).epsilon(1e-9));
}
