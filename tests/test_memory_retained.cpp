// Bounded memory when one graph is differentiated many times (test_memory.cpp covers a fresh graph
// per step): backward through a retained graph, with gradients cleared or accumulating, and
// recorded (create_graph) backward passes whose gradient graphs are dropped every step. Counted
// with the engine's live-object counters, which are exact.
#include <doctest/doctest.h>

#include <algorithm>
#include <random>

#include "tapegrad/tapegrad.hpp"

using tg::TensorD;

namespace {

struct Net {
  TensorD x, y, w1, b1, w2, b2;
  explicit Net(std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    x = TensorD::uniform({8, 3}, -1, 1, rng);
    y = TensorD::uniform({8, 2}, 0, 1, rng);
    w1 = TensorD::uniform({3, 5}, -1, 1, rng, true);
    b1 = TensorD::zeros({5}, true);
    w2 = TensorD::uniform({5, 2}, -1, 1, rng, true);
    b2 = TensorD::zeros({2}, true);
  }
  TensorD loss() const {
    TensorD h = tg::tanh(tg::add_bias(tg::matmul(x, w1), b1));
    return tg::bce(tg::sigmoid(tg::add_bias(tg::matmul(h, w2), b2)), y);
  }
  void zero_grad() {
    for (TensorD* p : {&w1, &b1, &w2, &b2}) p->zero_grad();
  }
};

// Tracks the largest live counts seen after a warm-up.
struct Peak {
  tg::MemoryStats warm{};
  std::int64_t nodes = 0, buffers = 0, bytes = 0;
  void see(int step, int warmup) {
    const tg::MemoryStats now = tg::memory_stats();
    if (step == warmup) warm = now;
    if (step < warmup) return;
    nodes = std::max(nodes, now.live_nodes);
    buffers = std::max(buffers, now.live_buffers);
    bytes = std::max(bytes, now.live_buffer_bytes);
  }
  void check_flat() const {
    CHECK(nodes == warm.live_nodes);
    CHECK(buffers == warm.live_buffers);
    CHECK(bytes == warm.live_buffer_bytes);
  }
};

}  // namespace

TEST_CASE("memory: 20000 backward passes through one retained graph keep memory flat") {
  Net net(11);
  TensorD loss = net.loss();
  const tg::GraphStats graph = loss.graph_stats();
  CHECK(graph.saved_bytes > 0);
  Peak peak;
  std::vector<double> first;
  for (int step = 0; step < 20000; ++step) {
    loss.backward({.retain_graph = true});
    if (step == 0) first = net.w1.grad().to_vector();
    if (step % 1000 == 999) {
      CHECK(net.w1.grad().to_vector() == first);  // the same gradient, every pass
      CHECK(loss.graph_stats().saved_bytes == graph.saved_bytes);
      CHECK(loss.graph_stats().nodes == graph.nodes);
    }
    net.zero_grad();
    peak.see(step, 2);
  }
  peak.check_flat();
  // The last pass may release it: the saved tensors go, the nodes stay with the loss.
  loss.backward();
  CHECK(loss.graph_stats().saved_bytes == 0);
  CHECK(loss.graph_stats().nodes == graph.nodes);
}

TEST_CASE("memory: retained-graph passes accumulating into the same gradients keep memory flat") {
  Net net(12);
  TensorD loss = net.loss();
  Peak peak;
  for (int step = 0; step < 20000; ++step) {
    loss.backward({.retain_graph = true});  // accumulates in place: no zero_grad
    peak.see(step, 2);
  }
  peak.check_flat();
  net.zero_grad();
}

TEST_CASE("memory: 5000 recorded (create_graph) backward passes through one graph stay flat") {
  // A gradient-norm penalty on a retained graph: each step records the backward pass, builds
  // sum(dL/dW1^2) on it, differentiates that, and drops the gradients (and their graphs).
  Net net(13);
  TensorD loss = net.loss();
  Peak peak;
  for (int step = 0; step < 5000; ++step) {
    loss.backward({.create_graph = true});
    TensorD g = net.w1.grad();
    net.zero_grad();  // dropping the recorded gradients breaks the leaf -> grad -> leaf cycle
    TensorD penalty = tg::sum(g * g);
    // The penalty's graph reaches the loss's forward nodes: keep them for the next step.
    penalty.backward({.retain_graph = true});
    net.zero_grad();
    peak.see(step, 2);
  }
  peak.check_flat();
}
