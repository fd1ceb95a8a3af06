// The generic backward traversal: fan-out, diamonds, deep chains, accumulation, no-grad,
// non-scalar outputs, graph release, and second-order recording.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "tapegrad/tapegrad.hpp"

using tg::TensorD;
using tg::TensorF;

TEST_CASE("fan-out: a tensor used twice gets both contributions") {
  TensorD x = TensorD::vector({1.0, -2.0, 3.0}, true);
  TensorD y = tg::sum(x * x + x);  // dy/dx = 2x + 1
  y.backward();
  CHECK(x.grad().to_vector() == std::vector<double>{3.0, -3.0, 7.0});
}

TEST_CASE("diamond: two paths from one node meet again") {
  // a = 2x; b = exp(a); c = a * 3; y = sum(b + c)  => dy/dx = 2 e^(2x) + 6
  TensorD x = TensorD::vector({0.5, -1.0}, true);
  TensorD a = x * 2.0;
  TensorD y = tg::sum(tg::exp(a) + a * 3.0);
  y.backward();
  for (std::size_t i = 0; i < 2; ++i)
    CHECK(x.grad().data()[i] == doctest::Approx(2 * std::exp(2 * x.data()[i]) + 6).epsilon(1e-14));
}

TEST_CASE("a deep chain of 100000 ops does not overflow the stack") {
  TensorD x = TensorD::scalar(1.0, true);
  TensorD y = x;
  for (int i = 0; i < 100000; ++i) y = y * 1.0000001;
  y.backward();
  CHECK(x.grad().item() == doctest::Approx(std::pow(1.0000001, 100000)).epsilon(1e-9));
}

TEST_CASE("the first node of a long chain is released without deep recursion") {
  // Destroying a 200000-node chain must not recurse once per node.
  {
    TensorD x = TensorD::scalar(1.0, true);
    TensorD y = x;
    for (int i = 0; i < 200000; ++i) y = tg::neg(y);
  }
  {
    // Ops that save their input hold their producer twice (edge and saved tensor).
    TensorD x = TensorD::scalar(2.0, true);
    TensorD y = x;
    for (int i = 0; i < 200000; ++i) y = tg::pow(y, 1.0);
  }
  CHECK(tg::memory_stats().live_nodes == 0);
}

TEST_CASE("take_grad removes the accumulated gradient and set_grad puts one back") {
  TensorD x = TensorD::vector({1.0, 2.0}, true);
  tg::sum(x * x).backward();  // 2x
  TensorD taken = x.take_grad();
  CHECK(taken.to_vector() == std::vector<double>{2.0, 4.0});
  CHECK_FALSE(x.has_grad());
  CHECK_FALSE(x.take_grad().defined());  // nothing left to take
  tg::sum(x).backward();                 // accumulates from nothing: 1
  CHECK(x.grad().to_vector() == std::vector<double>{1.0, 1.0});
  x.set_grad(taken);
  CHECK(x.grad().to_vector() == std::vector<double>{2.0, 4.0});
  x.set_grad(TensorD());
  CHECK_FALSE(x.has_grad());
  CHECK_THROWS_AS(x.set_grad(TensorD::zeros(tg::Shape{3})), tg::ShapeError);
  CHECK_FALSE(x.has_grad());
}

TEST_CASE("gradients accumulate across backward calls until zeroed") {
  TensorD w = TensorD::vector({1.0, 2.0}, true);
  tg::sum(w * w).backward();
  tg::sum(w * w).backward();
  CHECK(w.grad().to_vector() == std::vector<double>{4.0, 8.0});
  w.zero_grad();
  tg::sum(w * 3.0).backward();
  CHECK(w.grad().to_vector() == std::vector<double>{3.0, 3.0});
}

TEST_CASE("a leaf reached through add gets its own gradient buffer") {
  // add's adjoint hands the same G to both inputs; accumulating into one must not change the other.
  TensorD a = TensorD::vector({1.0, 1.0}, true);
  TensorD b = TensorD::vector({1.0, 1.0}, true);
  tg::sum(a + b).backward();
  tg::sum(a * 5.0).backward();
  CHECK(a.grad().to_vector() == std::vector<double>{6.0, 6.0});
  CHECK(b.grad().to_vector() == std::vector<double>{1.0, 1.0});
}

TEST_CASE("broadcast gradients are summed back to each input's shape") {
  TensorD x = TensorD::matrix({{1, 2, 3}, {4, 5, 6}}, true);
  TensorD row = TensorD::vector({1, 10, 100}, true);
  TensorD col = TensorD::matrix({{2}, {3}}, true);
  TensorD s = TensorD::scalar(0.5, true);
  tg::sum(x * row + col * s).backward();
  CHECK(row.grad().shape() == tg::Shape{3});
  CHECK(row.grad().to_vector() == std::vector<double>{5, 7, 9});   // column sums of x
  CHECK(col.grad().to_vector() == std::vector<double>{1.5, 1.5});  // 3 columns * s
  CHECK(s.grad().shape() == tg::Shape{});
  CHECK(s.grad().item() == doctest::Approx(3 * (2 + 3)));  // sum of col over 3 columns
  CHECK(x.grad().to_vector() == std::vector<double>{1, 10, 100, 1, 10, 100});
}

TEST_CASE("an input with no path to the output gets an all-zero gradient of its shape") {
  TensorD x = TensorD::vector({1.0, 2.0}, true);
  TensorD unused = TensorD::matrix({{1, 2}, {3, 4}}, true);
  tg::sum(x).backward();
  CHECK(unused.grad().shape() == tg::Shape{2, 2});
  CHECK(unused.grad().to_vector() == std::vector<double>{0, 0, 0, 0});
}

TEST_CASE("constants get no gradient and are not recorded") {
  TensorD c = TensorD::vector({1.0, 2.0});
  TensorD y = tg::sum(c * c);
  CHECK_FALSE(y.requires_grad());
  CHECK(y.is_leaf());
  CHECK_FALSE(c.has_grad());
  CHECK_THROWS_WITH_AS(c.grad(), doctest::Contains("does not require a gradient"), tg::GraphError);
}

TEST_CASE("a no-grad scope records nothing and restores the mode") {
  TensorD x = TensorD::vector({1.0, 2.0}, true);
  {
    tg::NoGradGuard guard;
    TensorD y = tg::sum(x * x);
    CHECK_FALSE(y.requires_grad());
    CHECK(tg::memory_stats().live_nodes == 0);
    CHECK_THROWS_AS(y.backward(), tg::GraphError);
  }
  CHECK(tg::grad_enabled());
  CHECK(tg::sum(x * x).requires_grad());
}

TEST_CASE("backward on a non-scalar takes an upstream gradient of the output's shape") {
  TensorD x = TensorD::vector({1.0, 2.0, 3.0}, true);
  TensorD y = x * x;
  y.backward(TensorD::vector({1.0, 0.5, -1.0}));
  CHECK(x.grad().to_vector() == std::vector<double>{2.0, 2.0, -6.0});
}

TEST_CASE("a one-element non-0-d output is seeded with 1") {
  TensorD w = TensorD::matrix({{2.0}}, true);
  TensorD y = tg::matmul(w, w);  // [1,1]
  y.backward();
  CHECK(w.grad().item() == doctest::Approx(4.0));
}

TEST_CASE("backward on a leaf accumulates the seed into it") {
  TensorD x = TensorD::scalar(3.0, true);
  x.backward();
  CHECK(x.grad().item() == 1.0);
}

TEST_CASE("the graph is released after backward and kept with retain_graph") {
  TensorD x = TensorD::vector({1.0, 2.0}, true);
  TensorD y = tg::sum(tg::sigmoid(x) * x);
  CHECK(y.graph_stats().nodes == 3);
  CHECK(y.graph_stats().saved_bytes > 0);
  y.backward({.retain_graph = true});
  const auto first = x.grad().to_vector();
  y.backward();
  for (std::size_t i = 0; i < 2; ++i) CHECK(x.grad().data()[i] == doctest::Approx(2 * first[i]));
  CHECK(y.graph_stats().saved_bytes == 0);
  CHECK_THROWS_AS(y.backward(), tg::GraphError);
}

TEST_CASE("the graph's memory goes away with the tensors that own it") {
  const auto before = tg::memory_stats();
  {
    TensorD x = TensorD::vector({1.0, 2.0}, true);
    TensorD y = tg::sum(tg::exp(x) * x);
    CHECK(tg::memory_stats().live_nodes == before.live_nodes + 3);
  }
  const auto after = tg::memory_stats();
  CHECK(after.live_nodes == before.live_nodes);
  CHECK(after.live_buffers == before.live_buffers);
  CHECK(after.live_buffer_bytes == before.live_buffer_bytes);
}

TEST_CASE("float tensors work end to end") {
  TensorF x = TensorF::vector({1.0f, -2.0f}, true);
  tg::sum(tg::tanh(x) * 2.0f).backward();
  for (std::size_t i = 0; i < 2; ++i) {
    const float t = std::tanh(x.data()[i]);
    CHECK(x.grad().data()[i] == doctest::Approx(2 * (1 - t * t)).epsilon(1e-6));
  }
}

TEST_CASE("create_graph records the backward pass: second derivative of x^3") {
  TensorD x = TensorD::vector({1.5, -2.0}, true);
  TensorD y = tg::sum(tg::pow(x, 3.0));
  y.backward({.create_graph = true});
  TensorD dx = x.grad();  // 3x^2, itself differentiable
  CHECK(dx.requires_grad());
  x.zero_grad();
  tg::sum(dx).backward();  // d/dx sum(3x^2) = 6x
  CHECK(x.grad().to_vector() == std::vector<double>{9.0, -12.0});
}

TEST_CASE("create_graph through a saved output: second derivative of sigmoid") {
  TensorD x = TensorD::scalar(0.3, true);
  tg::sigmoid(x).backward({.create_graph = true});
  TensorD ds = x.grad();
  x.zero_grad();
  ds.backward();
  const double s = 1 / (1 + std::exp(-0.3));
  CHECK(x.grad().item() == doctest::Approx(s * (1 - s) * (1 - 2 * s)).epsilon(1e-14));
}

TEST_CASE("a plain backward after a recorded one never writes into a shared gradient") {
  // create_graph stores the upstream itself as both leaves' gradient (add passes G on); a later
  // plain backward into a must not change b's gradient or the caller's upstream.
  TensorD a = TensorD::vector({1.0, 2.0}, true);
  TensorD b = TensorD::vector({3.0, 4.0}, true);
  TensorD upstream = TensorD::vector({10.0, 20.0});
  (a + b).backward(upstream, {.create_graph = true});
  tg::sum(a * 1.0).backward();
  CHECK(a.grad().to_vector() == std::vector<double>{11.0, 21.0});
  CHECK(b.grad().to_vector() == std::vector<double>{10.0, 20.0});
  CHECK(upstream.to_vector() == std::vector<double>{10.0, 20.0});
}

TEST_CASE("a gradient handle kept by the caller is not changed by later accumulation") {
  TensorD w = TensorD::vector({1.0, 2.0}, true);
  tg::sum(w * w).backward();
  TensorD first = w.grad();
  tg::sum(w * w).backward();
  CHECK(first.to_vector() == std::vector<double>{2.0, 4.0});
  CHECK(w.grad().to_vector() == std::vector<double>{4.0, 8.0});
}
