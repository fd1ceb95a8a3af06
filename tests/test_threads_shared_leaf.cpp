// Data-parallel training: several threads, each with its own graph over the same parameters, run
// backward at once and accumulate into the same leaves' gradients. The result must equal the
// serial sum to rounding (the order of the additions differs), with no data race (this file also
// runs in the ThreadSanitizer build).
#include <doctest/doctest.h>

#include <atomic>
#include <cstddef>
#include <random>
#include <thread>
#include <vector>

#include "tapegrad/tapegrad.hpp"

using tg::TensorD;

namespace {

constexpr int kThreads = 4;
constexpr int kPasses = 100;

struct Params {
  TensorD w, b;
  Params() {
    std::mt19937_64 rng(7);
    w = TensorD::uniform({6, 5}, -1, 1, rng, true);
    b = TensorD::uniform({5}, -1, 1, rng, true);
  }
};

// Thread t's batch for pass k: distinct data on every thread and pass.
TensorD batch(int t, int k) {
  std::mt19937_64 rng(1000 * std::uint64_t(t) + std::uint64_t(k));
  return TensorD::uniform({3, 6}, -1, 1, rng);
}

TensorD loss_of(const Params& p, const TensorD& x) {
  return tg::sum(tg::tanh(tg::add_bias(tg::matmul(x, p.w), p.b)));
}

// Holds every thread until all have started, so that their passes overlap.
class StartLine {
 public:
  void arrive_and_wait(int threads) {
    arrived_.fetch_add(1);
    while (arrived_.load() < threads) std::this_thread::yield();
  }

 private:
  std::atomic<int> arrived_{0};
};

void check_close(const TensorD& got, const TensorD& want) {
  REQUIRE(got.shape() == want.shape());
  const std::vector<double> a = got.to_vector(), b = want.to_vector();
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(a[i] == doctest::Approx(b[i]).epsilon(1e-12));
}

}  // namespace

TEST_CASE(
    "threads: four threads run backward into the same leaves, gradients equal the serial sum") {
  Params serial;
  for (int t = 0; t < kThreads; ++t)
    for (int k = 0; k < kPasses; ++k) loss_of(serial, batch(t, k)).backward();

  // A few rounds: how much the threads overlap varies from run to run.
  for (int round = 0; round < 4; ++round) {
    Params shared;
    StartLine start;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([&shared, &start, t] {
        start.arrive_and_wait(kThreads);
        for (int k = 0; k < kPasses; ++k) loss_of(shared, batch(t, k)).backward();
      });
    for (auto& th : threads) th.join();

    CHECK(shared.w.has_grad());
    CHECK(shared.b.has_grad());
    check_close(shared.w.grad(), serial.w.grad());
    check_close(shared.b.grad(), serial.b.grad());
  }
}

TEST_CASE(
    "threads: recorded (create_graph) gradients accumulated from four threads into one leaf") {
  // Each thread records sum(w^3 . x) for its x; the leaf's recorded gradient is 3 w^2 . sum(x),
  // and differentiating it again gives 6 w . sum(x).
  TensorD w = TensorD::vector({0.5, -1.0, 2.0}, true);
  std::vector<TensorD> xs;
  std::vector<double> xsum(3, 0.0);
  for (int t = 0; t < kThreads; ++t) {
    xs.push_back(TensorD::vector({1.0 + t, 0.5 * t, -1.0 + 0.25 * t}));
    for (std::size_t i = 0; i < 3; ++i) xsum[i] += xs.back().to_vector()[i] * kPasses;
  }
  StartLine start;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&w, &xs, &start, t] {
      start.arrive_and_wait(kThreads);
      for (int k = 0; k < kPasses; ++k)
        tg::sum(w * w * w * xs[std::size_t(t)]).backward({.create_graph = true});
    });
  for (auto& th : threads) th.join();

  REQUIRE(w.has_grad());
  const TensorD g = w.grad();
  CHECK(g.requires_grad());
  const std::vector<double> wv = w.to_vector(), gv = g.to_vector();
  for (std::size_t i = 0; i < 3; ++i)
    CHECK(gv[i] == doctest::Approx(3 * wv[i] * wv[i] * xsum[i]).epsilon(1e-12));
  w.zero_grad();
  tg::sum(g).backward();
  const std::vector<double> hv = w.grad().to_vector();
  for (std::size_t i = 0; i < 3; ++i)
    CHECK(hv[i] == doctest::Approx(6 * wv[i] * xsum[i]).epsilon(1e-12));
}

TEST_CASE("threads: zero_grad and has_grad on one thread while two others accumulate") {
  // Which passes survive the clearing depends on the interleaving; the ThreadSanitizer build
  // checks that none of it races, and the leaf works normally afterwards.
  Params shared;
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&shared, t] {
      for (int k = 0; k < kPasses; ++k) loss_of(shared, batch(t, k)).backward();
    });
  for (int k = 0; k < kPasses; ++k) {
    (void)shared.w.has_grad();
    shared.w.zero_grad();
  }
  for (auto& th : threads) th.join();
  shared.w.zero_grad();
  shared.b.zero_grad();
  CHECK_FALSE(shared.w.has_grad());
  loss_of(shared, batch(0, 0)).backward();
  Params fresh;
  loss_of(fresh, batch(0, 0)).backward();
  check_close(shared.w.grad(), fresh.w.grad());
  check_close(shared.b.grad(), fresh.b.grad());
}
