// Every error in the README's op table (its "raises" column) and the graph-misuse errors: the
// exception TYPE, a message that names the op and the shapes / value / axis involved, and no
// half-built state after the throw (no leaked nodes, leaf gradients unchanged, a later correct
// backward works).
#include <doctest/doctest.h>

#include <functional>
#include <string>
#include <vector>

#include "check_error.hpp"
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
    FAIL("no exception thrown");
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

// ============================================================================================
// The errors of the README's op table
// ============================================================================================

TEST_CASE("errors: matmul [2,3] @ [2,3] rejects, inner dims 3 != 2") {
  const TensorD a = TensorD::zeros(Shape{2, 3}, true);
  const TensorD b = TensorD::zeros(Shape{2, 3}, true);
  CHECK_ERROR(tg::matmul(a, b), tg::ShapeError, "matmul", "[2,3]", "3", "2");
}

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

TEST_CASE("errors: add_bias(X[4,3], b[4]) rejects, one bias entry per column") {
  const TensorD x = TensorD::zeros(Shape{4, 3}, true);
  const TensorD b = TensorD::zeros(Shape{4}, true);
  CHECK_ERROR(tg::add_bias(x, b), tg::ShapeError, "add_bias", "[4,3]", "[4]");
}

TEST_CASE("errors: add_bias with a bias of wrong length or rank") {
  const TensorD x = TensorD::zeros(Shape{2, 3});
  CHECK_ERROR(tg::add_bias(x, TensorD::zeros(Shape{2})), tg::ShapeError, "add_bias", "[2,3]",
              "[2]");
  CHECK_ERROR(tg::add_bias(x, TensorD::zeros(Shape{1, 3})), tg::ShapeError, "add_bias", "[1,3]");
  CHECK_ERROR(tg::add_bias(TensorD::zeros(Shape{3}), TensorD::zeros(Shape{3})), tg::ShapeError,
              "add_bias", "[3]");
}

TEST_CASE("errors: mse([3,2], [2,3]) rejects") {
  CHECK_ERROR(tg::mse(TensorD::zeros(Shape{3, 2}), TensorD::zeros(Shape{2, 3})), tg::ShapeError,
              "mse", "[3,2]", "[2,3]");
}

TEST_CASE("errors: mse([4,1], [4]) rejects, never broadcasts to [4,4]") {
  const TensorD a = TensorD::zeros(Shape{4, 1}, true);
  const TensorD b = TensorD::zeros(Shape{4});
  CHECK_ERROR(tg::mse(a, b), tg::ShapeError, "mse", "[4,1]", "[4]");
  CHECK_ERROR(tg::mse(b, a), tg::ShapeError, "mse", "[4,1]", "[4]");
}

TEST_CASE("errors: add([2,3], [3,2]) rejects under any broadcasting rule") {
  const TensorD a = TensorD::zeros(Shape{2, 3}, true);
  const TensorD b = TensorD::zeros(Shape{3, 2}, true);
  CHECK_ERROR(tg::add(a, b), tg::ShapeError, "add", "[2,3]", "[3,2]");
  CHECK_ERROR(a + b, tg::ShapeError, "add", "[2,3]", "[3,2]");
  CHECK_ERROR(tg::sub(a, b), tg::ShapeError, "sub", "[2,3]", "[3,2]");
  CHECK_ERROR(tg::mul(a, b), tg::ShapeError, "mul", "[2,3]", "[3,2]");
  CHECK_ERROR(tg::div(a, b), tg::ShapeError, "div", "[2,3]", "[3,2]");
}

TEST_CASE("errors: softmax_ce with label 3 of 3 classes (IndexError naming label and C)") {
  const TensorD logits = TensorD::zeros(Shape{2, 3}, true);
  CHECK_ERROR(tg::softmax_ce(logits, tg::Labels{0, 3}), tg::IndexError, "softmax_ce", "3");
  // A label far out of range, so that label and C are distinguishable in the message.
  CHECK_ERROR(tg::softmax_ce(logits, tg::Labels{7, 0}), tg::IndexError, "softmax_ce", "7", "3");
}

TEST_CASE("errors: softmax_ce with label -1 (no ignore-index semantics)") {
  const TensorD logits = TensorD::zeros(Shape{2, 3}, true);
  CHECK_ERROR(tg::softmax_ce(logits, tg::Labels{-1, 0}), tg::IndexError, "softmax_ce", "-1");
}

TEST_CASE("errors: softmax_ce with 3 labels for 4 rows") {
  const TensorD logits = TensorD::zeros(Shape{4, 3}, true);
  CHECK_ERROR(tg::softmax_ce(logits, tg::Labels{0, 1, 2}), tg::ShapeError, "softmax_ce", "3", "4");
}

TEST_CASE("errors: softmax_ce with targets [4,2] for logits [4,3]") {
  const TensorD logits = TensorD::zeros(Shape{4, 3}, true);
  CHECK_ERROR(tg::softmax_ce(logits, TensorD::zeros(Shape{4, 2})), tg::ShapeError, "softmax_ce",
              "[4,2]", "[4,3]");
}

TEST_CASE("errors: softmax_ce with non-2-D logits") {
  CHECK_ERROR(tg::softmax_ce(TensorD::zeros(Shape{3}), tg::Labels{0}), tg::ShapeError, "softmax_ce",
              "[3]");
  CHECK_ERROR(tg::softmax_ce(TensorD::zeros(Shape{3}), TensorD::zeros(Shape{3})), tg::ShapeError,
              "softmax_ce", "[3]");
}

TEST_CASE("errors: sum(x[2,3], axis=2) is an AxisError naming axis and shape") {
  const TensorD x = TensorD::zeros(Shape{2, 3}, true);
  CHECK_ERROR(tg::sum(x, 2), tg::AxisError, "sum", "2", "[2,3]");
  CHECK_ERROR(tg::mean(x, 2), tg::AxisError, "mean", "2", "[2,3]");
  CHECK_ERROR(tg::sum(TensorD::scalar(1), 0), tg::AxisError, "sum", "0", "[]");
}

TEST_CASE("errors: mean of an empty tensor is a ShapeError") {
  CHECK_ERROR(tg::mean(TensorD::zeros(Shape{0})), tg::ShapeError, "mean", "[0]");
  CHECK_ERROR(tg::mean(TensorD::zeros(Shape{2, 0})), tg::ShapeError, "mean", "[2,0]");
  CHECK_ERROR(tg::mean(TensorD::zeros(Shape{2, 0}), 1), tg::ShapeError, "mean", "[2,0]");
}

TEST_CASE("errors: bce with p = 1.5 (or -0.5) is a DomainError naming the value") {
  const TensorD y = TensorD::vector({1, 0});
  CHECK_ERROR(tg::bce(TensorD::vector({0.5, 1.5}, true), y), tg::DomainError, "bce", "1.5");
  CHECK_ERROR(tg::bce(TensorD::vector({-0.5, 0.5}, true), y), tg::DomainError, "bce", "-0.5");
}

TEST_CASE("errors: bce and bce_with_logits reject mismatched shapes") {
  CHECK_ERROR(tg::bce(TensorD::full(Shape{4, 1}, 0.5), TensorD::zeros(Shape{4})), tg::ShapeError,
              "bce", "[4,1]", "[4]");
  CHECK_ERROR(tg::bce_with_logits(TensorD::zeros(Shape{4, 1}), TensorD::zeros(Shape{4})),
              tg::ShapeError, "bce", "[4,1]", "[4]");
}

// ============================================================================================
// Layout ops
// ============================================================================================

TEST_CASE("errors: reshape to a wrong element count") {
  const TensorD x = TensorD::zeros(Shape{2, 3}, true);
  CHECK_ERROR(tg::reshape(x, Shape{4, 2}), tg::ShapeError, "reshape", "[2,3]", "[4,2]");
}

TEST_CASE("errors: transpose of a 1-D or 3-D tensor") {
  CHECK_ERROR(tg::transpose(TensorD::zeros(Shape{3})), tg::ShapeError, "transpose", "[3]");
  CHECK_ERROR(tg::transpose(TensorD::zeros(Shape{2, 3, 4})), tg::ShapeError, "transpose",
              "[2,3,4]");
}

TEST_CASE("errors: matmul of a 1-D operand") {
  CHECK_ERROR(tg::matmul(TensorD::zeros(Shape{3}), TensorD::zeros(Shape{3, 2})), tg::ShapeError,
              "matmul", "[3]");
  CHECK_ERROR(tg::matmul(TensorD::zeros(Shape{2, 3}), TensorD::zeros(Shape{3})), tg::ShapeError,
              "matmul", "[3]");
}

TEST_CASE("errors: broadcast_to and sum_to with incompatible shapes") {
  CHECK_ERROR(tg::broadcast_to(TensorD::zeros(Shape{3}), Shape{2, 4}), tg::ShapeError,
              "broadcast_to", "[3]", "[2,4]");
  CHECK_ERROR(tg::sum_to(TensorD::zeros(Shape{2, 4}), Shape{3}), tg::ShapeError, "sum_to", "[2,4]",
              "[3]");
}

TEST_CASE("errors: softmax / log_softmax of a 0-d scalar") {
  CHECK_ERROR(tg::softmax(TensorD::scalar(1)), tg::ShapeError, "softmax", "[]");
  CHECK_ERROR(tg::log_softmax(TensorD::scalar(1)), tg::ShapeError, "log_softmax", "[]");
}

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
