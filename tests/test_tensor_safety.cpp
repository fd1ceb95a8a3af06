// Misuse of tensor handles and of the graph that must end in a typed error (never a crash or a
// silently wrong gradient), the graph's ownership of leaves (no reference cycle through a
// recorded gradient), and the engine never writing into a gradient buffer that someone else holds.
#include <doctest/doctest.h>

#include <utility>
#include <vector>

#include "tapegrad/nn/optim.hpp"
#include "tapegrad/tapegrad.hpp"

using tg::TensorD;
using tg::TensorF;

// ---- undefined handles ----------------------------------------------------------------------

TEST_CASE("an undefined tensor: every accessor throws GraphError saying so and why") {
  TensorD u;
  const TensorD& cu = u;
  CHECK_FALSE(u.defined());
  const auto undefined = doctest::Contains("undefined");
  CHECK_THROWS_WITH_AS(u.size(), undefined, tg::GraphError);
  CHECK_THROWS_WITH_AS(u.shape(), undefined, tg::GraphError);
  CHECK_THROWS_WITH_AS(u.ndim(), undefined, tg::GraphError);
  CHECK_THROWS_WITH_AS(u.dim(0), undefined, tg::GraphError);
  CHECK_THROWS_WITH_AS(u.data(), undefined, tg::GraphError);
  CHECK_THROWS_WITH_AS(cu.data(), undefined, tg::GraphError);
  CHECK_THROWS_WITH_AS(u.to_vector(), undefined, tg::GraphError);
  CHECK_THROWS_WITH_AS(u.item(), undefined, tg::GraphError);
  CHECK_THROWS_WITH_AS(u.at({0}), undefined, tg::GraphError);
  CHECK_THROWS_WITH_AS(u.requires_grad(), undefined, tg::GraphError);
  CHECK_THROWS_WITH_AS(u.set_requires_grad(), undefined, tg::GraphError);
  CHECK_THROWS_WITH_AS(u.is_leaf(), undefined, tg::GraphError);
  CHECK_THROWS_WITH_AS(u.op_name(), undefined, tg::GraphError);
  CHECK_THROWS_WITH_AS(u.grad(), undefined, tg::GraphError);
  CHECK_THROWS_WITH_AS(u.has_grad(), undefined, tg::GraphError);
  CHECK_THROWS_WITH_AS(u.zero_grad(), undefined, tg::GraphError);
  CHECK_THROWS_WITH_AS(u.backward(), undefined, tg::GraphError);
  CHECK_THROWS_WITH_AS(u.detach(), undefined, tg::GraphError);
  CHECK_THROWS_WITH_AS(u.clone(), undefined, tg::GraphError);
  CHECK_THROWS_WITH_AS(u.graph_stats(), undefined, tg::GraphError);
  // The message names the accessor and the usual cause.
  CHECK_THROWS_WITH_AS(u.size(), doctest::Contains("size: "), tg::GraphError);
  CHECK_THROWS_WITH_AS(u.size(), doctest::Contains("default-constructed"), tg::GraphError);
}

TEST_CASE("ops given an undefined input throw GraphError instead of crashing") {
  const TensorD u;
  const TensorD x = TensorD::vector({1, 2, 3}, true);
  const TensorD m = TensorD::matrix({{1, 2}, {3, 4}}, true);
  const auto undefined = doctest::Contains("undefined");
  CHECK_THROWS_WITH_AS(tg::sum(u), undefined, tg::GraphError);
  CHECK_THROWS_WITH_AS(tg::sum(TensorF()), undefined, tg::GraphError);
  CHECK_THROWS_WITH_AS(tg::mean(u), undefined, tg::GraphError);
  CHECK_THROWS_WITH_AS(tg::mul(x, u), undefined, tg::GraphError);
  CHECK_THROWS_WITH_AS(tg::mul(u, x), undefined, tg::GraphError);
  CHECK_THROWS_WITH_AS(tg::add(u, x), undefined, tg::GraphError);
  CHECK_THROWS_WITH_AS(tg::matmul(m, u), undefined, tg::GraphError);
  CHECK_THROWS_WITH_AS(tg::add_bias(m, u), undefined, tg::GraphError);
  CHECK_THROWS_WITH_AS(tg::exp(u), undefined, tg::GraphError);
  CHECK_THROWS_WITH_AS(tg::relu(u), undefined, tg::GraphError);
  CHECK_THROWS_WITH_AS(tg::sigmoid(u), undefined, tg::GraphError);
  CHECK_THROWS_WITH_AS(tg::reshape(u, tg::Shape{3}), undefined, tg::GraphError);
  CHECK_THROWS_WITH_AS(tg::mse(x, u), undefined, tg::GraphError);
  CHECK_THROWS_WITH_AS(x.backward(u), undefined, tg::GraphError);
}

TEST_CASE("grad() of a tensor that does not require a gradient says how to get one") {
  TensorD c = TensorD::vector({1.0, 2.0});
  TensorD y = tg::sum(c * c);
  CHECK_THROWS_WITH_AS(c.grad(), doctest::Contains("grad: "), tg::GraphError);
  CHECK_THROWS_WITH_AS(c.grad(), doctest::Contains("does not require a gradient"), tg::GraphError);
  CHECK_THROWS_WITH_AS(c.grad(), doctest::Contains("requires_grad = true"), tg::GraphError);
  CHECK_THROWS_WITH_AS(c.grad(), doctest::Contains("set_requires_grad()"), tg::GraphError);
  CHECK_FALSE(c.has_grad());
  // Marked before the graph is built, it gets one.
  c.set_requires_grad();
  tg::sum(c * c).backward();
  CHECK(c.grad().to_vector() == std::vector<double>{2.0, 4.0});
}

TEST_CASE("dim(i) past the last axis and back() of a rank-0 shape are AxisErrors") {
  const TensorD m = TensorD::zeros({2, 3});
  CHECK(m.dim(1) == 3);
  CHECK_THROWS_WITH_AS(m.dim(2), doctest::Contains("dim: axis 2"), tg::AxisError);
  CHECK_THROWS_WITH_AS(m.dim(2), doctest::Contains("[2,3]"), tg::AxisError);
  CHECK_THROWS_WITH_AS(TensorD::scalar(1).dim(0), doctest::Contains("[]"), tg::AxisError);
  CHECK(tg::Shape{4, 5}.back() == 5);
  CHECK_THROWS_WITH_AS(tg::Shape{}.back(), doctest::Contains("back"), tg::AxisError);
}

// ---- the graph holds leaves weakly ------------------------------------------------------------

TEST_CASE("a gradient recorded into a leaf (create_graph) does not keep the leaf and its graph") {
  // leaf -> its recorded gradient -> that gradient's graph -> the leaf would be a cycle that
  // nothing frees; the graph refers to leaves weakly, so dropping the leaf frees all of it.
  const tg::MemoryStats base = tg::memory_stats();
  for (int i = 0; i < 10; ++i) {
    TensorD x = TensorD::vector({1, 2, 3}, true);
    tg::sum(x * x * x).backward({.create_graph = true});
    CHECK(x.grad().to_vector() == std::vector<double>{3, 12, 27});
    CHECK(x.grad().requires_grad());
  }
  const tg::MemoryStats after = tg::memory_stats();
  CHECK(after.live_nodes == base.live_nodes);
  CHECK(after.live_buffers == base.live_buffers);
  CHECK(after.live_buffer_bytes == base.live_buffer_bytes);
}

TEST_CASE("leaves held weakly by the graph still get every gradient a caller can read") {
  // Second order through a saved leaf: the recorded 3x^2 is a function of x itself.
  TensorD x = TensorD::vector({1, 2, 3}, true);
  tg::sum(x * x * x).backward({.create_graph = true});
  const TensorD g = x.grad();
  x.zero_grad();
  tg::sum(g).backward();
  CHECK(x.grad().to_vector() == std::vector<double>{6, 12, 18});

  // A leaf dropped before backward: the graph kept its values, the other leaf gets its gradient.
  TensorD w = TensorD::vector({1, 2}, true);
  TensorD y;
  {
    TensorD a = TensorD::vector({3, 4}, true);
    y = tg::sum(a * w);
  }
  y.backward();
  CHECK(w.grad().to_vector() == std::vector<double>{3, 4});

  // grad() of a recorded gradient (a Hessian entry) through the saved leaf.
  TensorD z = TensorD::scalar(2.0, true);
  const std::vector<TensorD> gz = tg::grad(tg::sum(z * z * z), {z}, {.create_graph = true});
  const std::vector<TensorD> hz = tg::grad(gz[0], {z});
  CHECK(gz[0].item() == 12.0);
  CHECK(hz[0].item() == 12.0);
}

// ---- in-place changes to saved tensors ----------------------------------------------------------

namespace {

template <class F> std::string graph_error_of(F f) {
  try {
    f();
  } catch (const tg::GraphError& e) {
    return e.what();
  }
  return "(no GraphError)";
}

}  // namespace

TEST_CASE("versions: a saved input written in place before backward is a GraphError") {
  TensorD x = TensorD::vector({1, 2, 3}, true);
  TensorD y = tg::sum(x * x);
  x.data()[0] = 100;
  const std::string msg = graph_error_of([&] { y.backward(); });
  CHECK(msg.find("mul: input 0 [3] saved for the gradient was modified in place") == 0);
  CHECK(msg.find("(version 0 when saved, now 1)") != std::string::npos);
  CHECK_FALSE(x.has_grad());

  // The recorded (create_graph) backward checks as well.
  TensorD b = TensorD::vector({1, 2}, true);
  TensorD c = TensorD::vector({5, 6});
  TensorD z = tg::sum(c * b);
  c.data()[1] = 0;
  const std::string rec = graph_error_of([&] { z.backward({.create_graph = true}); });
  CHECK(rec.find("mul: input 0 [2] saved for the gradient was modified in place") == 0);
  CHECK(rec.find("(version 0 when saved, now 1)") != std::string::npos);
}

TEST_CASE("versions: reads never invalidate a graph, clones are separate, detach() is not") {
  TensorD x = TensorD::vector({1, 2, 3}, true);
  TensorD y = tg::sum(x * x);
  CHECK(std::as_const(x).data()[0] == 1.0);
  CHECK(x.at({1}) == 2.0);
  CHECK(x.to_vector().size() == 3);
  CHECK(tg::sum(x).item() == 6.0);
  CHECK(x.detach().to_vector()[2] == 3.0);
  x.clone().data()[0] = 50;  // a copy: its own version
  y.backward({.retain_graph = true});
  CHECK(x.grad().to_vector() == std::vector<double>{2, 4, 6});

  x.detach().data()[0] = 50;  // the same storage: the same version
  const std::string msg = graph_error_of([&] { y.backward(); });
  CHECK(msg.find("mul: input 0 [3]") == 0);
  CHECK(msg.find("modified in place") != std::string::npos);
}

TEST_CASE("versions: an op's saved output written in place before backward is a GraphError") {
  TensorD x = TensorD::vector({0, 1}, true);
  TensorD e = tg::exp(x);
  TensorD y = tg::sum(e);
  e.data()[1] = 0;
  const std::string msg = graph_error_of([&] { y.backward(); });
  CHECK(msg.find("exp: its output [2] saved for the gradient was modified in place") == 0);
  CHECK(msg.find("when saved, now") != std::string::npos);
}

TEST_CASE("versions: an optimizer step between forward and backward of a retained graph raises") {
  TensorD w = TensorD::vector({1, 2}, true);
  TensorD loss = tg::sum(w * w);
  loss.backward({.retain_graph = true});
  tg::nn::SGD<double> opt({w}, {.lr = 0.1});
  opt.step();
  const std::string msg = graph_error_of([&] { loss.backward(); });
  CHECK(msg.find("mul: input 0 [2] saved for the gradient was modified in place") == 0);
  // After the step, a fresh forward is the right way: it works.
  w.zero_grad();
  tg::sum(w * w).backward();
  CHECK(w.grad().to_vector()[0] == doctest::Approx(2 * 0.8));
  CHECK(w.grad().to_vector()[1] == doctest::Approx(2 * 1.6));
}

TEST_CASE("a dense layer's adjoint reads X, W and Y with the checks of every saved tensor") {
  // Its plain backward reads the saved buffers without handles (no reference counted); the
  // version check and a dropped leaf's values must hold all the same, and a released graph is
  // refused (by the engine, before any adjoint runs).
  const auto layer = [](const TensorD& x, const TensorD& w, const TensorD& b, bool fused) {
    return fused ? tg::linear_act(x, w, b, tg::FusedActivation::tanh) : tg::linear(x, w, b);
  };
  for (const bool fused : {false, true}) {
    CAPTURE(fused);
    const std::string op = fused ? "linear_act" : "linear";
    TensorD x = TensorD::matrix({{1, 2}, {3, 4}}, true);
    TensorD w = TensorD::matrix({{0.5, -1}, {0.25, 0.5}}, true);
    TensorD b = TensorD::vector({0, 0.1}, true);
    TensorD y = tg::sum(layer(x, w, b, fused));
    w.data()[3] = 7;
    std::string msg = graph_error_of([&] { y.backward(); });
    CHECK(msg.find(op + ": input 1 [2,2] saved for the gradient was modified in place") == 0);
    TensorD y2 = tg::sum(layer(tg::exp(x), w, b, fused));  // X not a leaf: saved by handle
    y2.backward();
    CHECK(w.has_grad());
    y2 = tg::sum(layer(x, w, b, fused));
    y2.backward({.retain_graph = true});
    y2.backward();  // the graph was kept: a second pass runs
    msg = graph_error_of([&] { y2.backward(); });
    CHECK(msg.find("already released") != std::string::npos);
    if (fused) {  // the output Y, which the activation's adjoint reads from its saved buffer
      TensorD out = layer(x, w, b, fused);
      TensorD y4 = tg::sum(out);
      out.data()[0] = 0;
      msg = graph_error_of([&] { y4.backward(); });
      CHECK(msg.find("linear_act: its output [2,2] saved for the gradient was modified in place") ==
            0);
    }

    // W dropped before backward: X's gradient comes from W's saved values, G W^T (G = 1 for
    // linear; for tanh, 1 - tanh^2 of each output).
    TensorD x2 = TensorD::matrix({{1, 2}}, true);
    TensorD y3;
    std::vector<double> expected;
    {
      TensorD w2 = TensorD::matrix({{0.5, -1}, {0.25, 0.5}}, true);
      TensorD out = layer(x2, w2, TensorD::vector({0, 0}), fused);
      const std::vector<double> a = out.to_vector();
      const double g0 = fused ? 1 - a[0] * a[0] : 1, g1 = fused ? 1 - a[1] * a[1] : 1;
      expected = {g0 * 0.5 + g1 * -1, g0 * 0.25 + g1 * 0.5};
      y3 = tg::sum(out);
    }
    y3.backward();
    const std::vector<double> dx = x2.grad().to_vector();
    CHECK(dx[0] == doctest::Approx(expected[0]).epsilon(1e-15));
    CHECK(dx[1] == doctest::Approx(expected[1]).epsilon(1e-15));
  }
}

// ---- the engine never accumulates into a buffer someone else holds -----------------------------

TEST_CASE(
    "writing into an upstream gradient or a returned gradient after backward leaves the "
    "leaves' gradients unchanged") {
  // A leaf as the root: its gradient is the caller's upstream, which it must not alias.
  TensorD x = TensorD::vector({1, 2}, true);
  TensorD up = TensorD::vector({0.5, 0.25});
  x.backward(up);
  up.data()[0] = 99;
  CHECK(x.grad().to_vector() == std::vector<double>{0.5, 0.25});

  // add passes its upstream through unchanged to both inputs: neither leaf may alias it, nor
  // each other.
  TensorD a = TensorD::vector({1, 2}, true);
  TensorD b = TensorD::vector({3, 4}, true);
  TensorD s = a + b;
  TensorD up2 = TensorD::vector({1, 2});
  s.backward(up2, {.retain_graph = true});
  up2.data()[1] = -7;
  CHECK(a.grad().to_vector() == std::vector<double>{1, 2});
  CHECK(b.grad().to_vector() == std::vector<double>{1, 2});
  TensorD ga = a.grad();
  ga.data()[0] = 42;  // the gradient itself, by its handle: b's must not follow
  CHECK(b.grad().to_vector() == std::vector<double>{1, 2});

  // A second pass accumulates: never into the caller's upstream nor into the handle held.
  TensorD up3 = TensorD::vector({10, 20});
  s.backward(up3);
  CHECK(up3.to_vector() == std::vector<double>{10, 20});
  CHECK(ga.to_vector() == std::vector<double>{42, 2});
  CHECK(a.grad().to_vector() == std::vector<double>{52, 22});
  CHECK(b.grad().to_vector() == std::vector<double>{11, 22});
}
