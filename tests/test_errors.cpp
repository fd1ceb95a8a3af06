// Errors: each op's own (the inputs it rejects, the typed error and what its message names) are in
// its file (OpCases) and run by the first test here, which also checks that nothing is left
// behind. What stays below is not one op's data: that every op states its errors, a rejected op
// inside a model, the float instantiations, graph misuse, and no half-built state across several
// ops (no leaked nodes, leaf gradients unchanged, a later correct backward works).
#include <doctest/doctest.h>

#include <algorithm>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "check_error.hpp"
#include "library_ops.hpp"
#include "tapegrad/op.hpp"
#include "tapegrad/tapegrad.hpp"

using tg::Shape;
using tg::TensorD;
using tg::TensorF;

namespace {

// Type via CHECK_THROWS_AS, message via check_error.
#define CHECK_ERROR(expr, Type, ...)                         \
  do {                                                       \
    CHECK_THROWS_AS((void)(expr), Type);                     \
    check_error<Type>([&] { (void)(expr); }, {__VA_ARGS__}); \
  } while (0)

std::int64_t live_nodes() {
  return tg::memory_stats().live_nodes;
}

// Runs one of the registry's error cases: the error of the kind it states, a message that starts
// with the op's name and mentions what is wrong, and no node left behind.
void check_error_case(const std::string& op, const tg::ErrorCase& c) {
  INFO("op " << op << ", error case " << c.label);
  const std::int64_t nodes_before = live_nodes();
  try {
    c.call();
    FAIL_CHECK("no exception thrown");
  } catch (const tg::Error& e) {
    const std::string msg = e.what();
    INFO("message: " << msg);
    switch (c.kind) {
      case tg::ErrorKind::shape:
        CHECK(dynamic_cast<const tg::ShapeError*>(&e));
        break;
      case tg::ErrorKind::axis:
        CHECK(dynamic_cast<const tg::AxisError*>(&e));
        break;
      case tg::ErrorKind::index:
        CHECK(dynamic_cast<const tg::IndexError*>(&e));
        break;
      case tg::ErrorKind::domain:
        CHECK(dynamic_cast<const tg::DomainError*>(&e));
        break;
      case tg::ErrorKind::graph:
        CHECK(dynamic_cast<const tg::GraphError*>(&e));
        break;
    }
    CHECK(msg.rfind(op + ":", 0) == 0);
    CHECK(msg.find(c.mentions) != std::string::npos);
  }
  CHECK(live_nodes() == nodes_before);
}

}  // namespace

// The registry's error cases: every op carries, in its own file, the inputs it must reject.
TEST_CASE("every registered op rejects the inputs its cases name, with a typed error") {
  for (const tg::OpInfo& op : tg::registered_ops())
    if (op.cases)
      for (const tg::ErrorCase& c : op.cases().errors) check_error_case(op.name, c);
}

// Every op of the library states the inputs it rejects, unless its cases say it accepts every
// input (then it must state none). An op a program registers itself may come without cases.
TEST_CASE("every op of the library names inputs it rejects, unless it accepts every input") {
  for (const std::string& name : library_op_names()) {
    INFO("op " << name);
    const tg::OpInfo* op = find_registered_op(name);
    REQUIRE(op != nullptr);
    REQUIRE(static_cast<bool>(op->cases));
    const tg::OpCases cases = op->cases();
    CHECK(cases.errors.empty() == cases.accepts_every_input);
  }
}

// ============================================================================================
// A rejected op inside a model
// ============================================================================================

TEST_CASE("errors: matmul [6,5] @ [4,2] in the 2nd layer of an MLP rejects at that node") {
  const TensorD x = TensorD::ones(Shape{6, 3});
  TensorD w1 = TensorD::full(Shape{3, 5}, 0.1, true);
  TensorD b1 = TensorD::zeros(Shape{5}, true);
  TensorD w2 = TensorD::full(Shape{4, 2}, 0.1, true);  // wrong: should be [5,2]
  const TensorD h = tg::sigmoid(tg::add_bias(tg::matmul(x, w1), b1));
  REQUIRE(h.shape().str() == "[6,5]");
  const std::int64_t before = live_nodes();
  CHECK_ERROR(tg::matmul(h, w2), tg::ShapeError, "matmul", "[6,5]", "[4,2]");
  CHECK(live_nodes() == before);  // nothing recorded for the failed node
  // The first layer is intact: a correct backward through it still works.
  tg::sum(h).backward();
  CHECK(w1.grad().shape().str() == "[3,5]");
  CHECK(b1.grad().shape().str() == "[5]");
  // w2 has no path to the output: an all-zero gradient of its shape.
  CHECK(w2.grad().to_vector() == std::vector<double>(8, 0.0));
}

// ============================================================================================
// float
// ============================================================================================

TEST_CASE("errors: float instantiations raise the same typed errors") {
  CHECK_ERROR(tg::matmul(TensorF::zeros(Shape{2, 3}), TensorF::zeros(Shape{2, 3})), tg::ShapeError,
              "matmul", "[2,3]");
  CHECK_ERROR(tg::mse(TensorF::zeros(Shape{4, 1}), TensorF::zeros(Shape{4})), tg::ShapeError, "mse",
              "[4,1]", "[4]");
  CHECK_ERROR(tg::softmax_ce(TensorF::zeros(Shape{2, 3}), tg::Labels{0, 3}), tg::IndexError,
              "softmax_ce", "3");
  CHECK_ERROR(tg::bce(TensorF::vector({1.5f}), TensorF::vector({1})), tg::DomainError, "bce",
              "1.5");
  CHECK_ERROR(tg::sum(TensorF::zeros(Shape{2, 3}), 2), tg::AxisError, "sum", "2");
}

// ============================================================================================
// Graph misuse
// ============================================================================================

TEST_CASE("errors: backward on a non-scalar without an upstream gradient is a GraphError") {
  TensorD x = TensorD::zeros(Shape{2, 3}, true);
  const TensorD y = x * 2.0;
  CHECK_ERROR(y.backward(), tg::GraphError, "backward", "[2,3]");
  // Nothing accumulated; a correct call still works.
  CHECK(x.grad().to_vector() == std::vector<double>(6, 0.0));
  y.backward(TensorD::ones(Shape{2, 3}));
  CHECK(x.grad().to_vector() == std::vector<double>(6, 2.0));
}

TEST_CASE("errors: backward with an upstream gradient of the wrong shape is a ShapeError") {
  TensorD x = TensorD::vector({1, 2, 3}, true);
  const TensorD y = x * x;
  CHECK_ERROR(y.backward(TensorD::ones(Shape{3, 1})), tg::ShapeError, "backward", "[3,1]", "[3]");
  CHECK(x.grad().to_vector() == std::vector<double>(3, 0.0));
  // The failed call released nothing: the graph is still usable.
  y.backward(TensorD::ones(Shape{3}));
  CHECK(x.grad().to_vector() == std::vector<double>{2, 4, 6});
}

TEST_CASE("errors: backward twice through a released graph is a GraphError") {
  TensorD x = TensorD::vector({1, 2}, true);
  const TensorD y = tg::sum(x * x);
  y.backward();
  CHECK(x.grad().to_vector() == std::vector<double>{2, 4});
  CHECK_ERROR(y.backward(), tg::GraphError, "backward", "released");
  // The failed second call leaves the gradient from the first unchanged.
  CHECK(x.grad().to_vector() == std::vector<double>{2, 4});
}

TEST_CASE("errors: backward twice succeeds when the first call retained the graph") {
  TensorD x = TensorD::vector({1, 2}, true);
  const TensorD y = tg::sum(x * x);
  y.backward(tg::BackwardOptions{.retain_graph = true});
  CHECK(x.grad().to_vector() == std::vector<double>{2, 4});
  y.backward();                                              // releases now
  CHECK(x.grad().to_vector() == std::vector<double>{4, 8});  // accumulated
  CHECK_THROWS_AS(y.backward(), tg::GraphError);
  CHECK(x.grad().to_vector() == std::vector<double>{4, 8});
}

TEST_CASE("errors: backward into a partly released graph fails before computing anything") {
  TensorD x = TensorD::vector({1, 2}, true);
  TensorD w = TensorD::vector({3, 4}, true);
  const TensorD h = x * x;  // released by the first backward
  tg::sum(h).backward();
  CHECK(x.grad().to_vector() == std::vector<double>{2, 4});
  // A new graph on top of the released h: w's branch is fine, x's is not. The whole call must
  // fail without touching either gradient.
  const TensorD z = tg::sum(h * w);
  CHECK_ERROR(z.backward(), tg::GraphError, "released");
  CHECK(x.grad().to_vector() == std::vector<double>{2, 4});
  CHECK(w.grad().to_vector() == std::vector<double>{0, 0});
  // A later correct backward works and accumulates normally.
  tg::sum(x * w).backward();
  CHECK(x.grad().to_vector() == std::vector<double>{5, 8});
  CHECK(w.grad().to_vector() == std::vector<double>{1, 2});
}

TEST_CASE("errors: backward on a tensor that does not require grad is a GraphError") {
  const TensorD x = TensorD::vector({1, 2});
  const TensorD y = tg::sum(x * x);
  CHECK_ERROR(y.backward(), tg::GraphError, "backward");
  CHECK_ERROR(x.backward(TensorD::ones(Shape{2})), tg::GraphError, "backward", "[2]");
}

TEST_CASE("errors: set_requires_grad on a non-leaf is a GraphError") {
  TensorD x = TensorD::vector({1, 2}, true);
  TensorD y = x * 2.0;
  CHECK_ERROR(y.set_requires_grad(false), tg::GraphError, "set_requires_grad");
  CHECK(y.requires_grad());
  // Still part of the graph.
  tg::sum(y).backward();
  CHECK(x.grad().to_vector() == std::vector<double>{2, 2});
}

// ============================================================================================
// No half-built state
// ============================================================================================

TEST_CASE("errors: a rejected op records no node and leaves its inputs usable") {
  TensorD a = TensorD::matrix({{1, 2}, {3, 4}}, true);
  TensorD b = TensorD::vector({1, 2, 3}, true);
  const std::int64_t before = live_nodes();
  CHECK_THROWS_AS(tg::add(a, b), tg::ShapeError);
  CHECK_THROWS_AS(tg::matmul(a, TensorD::zeros(Shape{3, 1}, true)), tg::ShapeError);
  CHECK_THROWS_AS(tg::mse(a, TensorD::zeros(Shape{4}, true)), tg::ShapeError);
  CHECK_THROWS_AS(tg::softmax_ce(a, tg::Labels{0, 2}), tg::IndexError);
  CHECK_THROWS_AS(tg::bce(a, TensorD::zeros(Shape{2, 2})), tg::DomainError);  // a has 3, 4 > 1
  CHECK_THROWS_AS(tg::sum(a, 5), tg::AxisError);
  CHECK(live_nodes() == before);
  CHECK(a.is_leaf());
  CHECK(a.grad().to_vector() == std::vector<double>(4, 0.0));
  tg::sum(a * a).backward();
  CHECK(a.grad().to_vector() == std::vector<double>{2, 4, 6, 8});
  CHECK(b.grad().to_vector() == std::vector<double>(3, 0.0));
}

TEST_CASE("errors: a failed backward leaves accumulated leaf gradients unchanged") {
  TensorD w = TensorD::matrix({{1, 2}, {3, 4}}, true);
  const TensorD x = TensorD::matrix({{1, 0}, {0, 1}});
  // First a good pass: d sum(x @ w) / dw = x^T @ ones = ones
  tg::sum(tg::matmul(x, w)).backward();
  CHECK(w.grad().to_vector() == std::vector<double>(4, 1.0));
  // Then two bad ones.
  const TensorD y = tg::matmul(x, w);
  CHECK_THROWS_AS(y.backward(), tg::GraphError);                         // [2,2], no upstream
  CHECK_THROWS_AS(y.backward(TensorD::ones(Shape{4})), tg::ShapeError);  // wrong upstream
  CHECK(w.grad().to_vector() == std::vector<double>(4, 1.0));
  // A correct one still works and accumulates once.
  y.backward(TensorD::ones(Shape{2, 2}));
  CHECK(w.grad().to_vector() == std::vector<double>(4, 2.0));
}

TEST_CASE("op_error writes the op, then text, shapes, tensors' shapes and numbers in order") {
  const TensorD x = TensorD::zeros(Shape{2, 3});
  const tg::ShapeError e = tg::op_error<tg::ShapeError>(
      "myop", "got X", x, ", a shape ", Shape{4}, std::string(", axis "), std::size_t(2),
      ", offset ", -1, ", eps ", 0.5, " and ", 1e-7f);
  CHECK(std::string(e.what()) ==
        "myop: got X[2,3], a shape [4], axis 2, offset -1, eps 0.5 and 1e-07");
  const tg::AxisError a = tg::op_error<tg::AxisError>("sum", "axis ", 3u);
  CHECK(std::string(a.what()) == "sum: axis 3");
}
