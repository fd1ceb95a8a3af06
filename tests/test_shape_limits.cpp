// Shapes at the limits: an op whose output shape no buffer could hold raises a ShapeError naming
// the op and the shape before allocating anything, and no kernel runs a loop over an extent of an
// empty tensor (an empty [2^40, 0] must cost nothing, not 2^40 iterations).
//
// The tensors below are legal and cost nothing: every one of them is empty (an extent 0), so its
// buffer is a single element whatever its other extents. The outputs are either empty too (the
// loop tests) or too large for any buffer (the overflow tests).
#include <doctest/doctest.h>

#include <chrono>
#include <cstddef>
#include <string>

#include "tapegrad/tapegrad.hpp"

using tg::Shape;
using tg::TensorD;
using tg::TensorF;

namespace {

constexpr std::size_t k2p32 = std::size_t(1) << 32;
constexpr std::size_t k2p40 = std::size_t(1) << 40;
constexpr std::size_t k2p61 = std::size_t(1) << 61;
constexpr std::size_t k2p62 = std::size_t(1) << 62;

// Two legal empty operands that broadcast to [2^32, 2^32, 0]: 2^64 elements if the 0 counted as
// 1, so no buffer could describe it.
template <class T> tg::Tensor<T> wide_left() {
  return tg::Tensor<T>::zeros(Shape{k2p32, 1, 0});
}
template <class T> tg::Tensor<T> wide_right() {
  return tg::Tensor<T>::zeros(Shape{1, k2p32, 0});
}

#define TG_HUGE_SHAPE "[4294967296,4294967296,0]"

// Runs f and checks that it finished well within a second: the loops it must not run would take
// minutes (a hang fails the suite by its timeout as well).
template <class F> auto instantly(F f) {
  const auto start = std::chrono::steady_clock::now();
  auto result = f();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(seconds < 1.0);
  return result;
}

}  // namespace

// ---- outputs too large for any buffer ---------------------------------------------------------

TEST_CASE_TEMPLATE("shape limits: every broadcasting op names itself and the shape it refuses", T,
                   float, double) {
  const auto a = wide_left<T>(), b = wide_right<T>();
  CHECK_THROWS_WITH_AS(tg::add(a, b), doctest::Contains("add: shape " TG_HUGE_SHAPE),
                       tg::ShapeError);
  CHECK_THROWS_WITH_AS(tg::sub(a, b), doctest::Contains("sub: shape " TG_HUGE_SHAPE),
                       tg::ShapeError);
  CHECK_THROWS_WITH_AS(tg::mul(a, b), doctest::Contains("mul: shape " TG_HUGE_SHAPE),
                       tg::ShapeError);
  CHECK_THROWS_WITH_AS(tg::div(a, b), doctest::Contains("div: shape " TG_HUGE_SHAPE),
                       tg::ShapeError);
  CHECK_THROWS_WITH_AS(tg::xdivy(a, b), doctest::Contains("xdivy: shape " TG_HUGE_SHAPE),
                       tg::ShapeError);
  CHECK_THROWS_WITH_AS(tg::sigmoid_backward(a, b),
                       doctest::Contains("sigmoid_backward: shape " TG_HUGE_SHAPE), tg::ShapeError);
  CHECK_THROWS_WITH_AS(tg::tanh_backward(a, b),
                       doctest::Contains("tanh_backward: shape " TG_HUGE_SHAPE), tg::ShapeError);
  CHECK_THROWS_WITH_AS(tg::relu_backward(a, b),
                       doctest::Contains("relu_backward: shape " TG_HUGE_SHAPE), tg::ShapeError);
  CHECK_THROWS_WITH_AS(a + b, doctest::Contains("add: shape"), tg::ShapeError);
  // The same refusal when the operands require a gradient: nothing is recorded.
  const auto live = tg::memory_stats().live_nodes;
  auto la = wide_left<T>().set_requires_grad(true);
  CHECK_THROWS_AS(tg::mul(la, b), tg::ShapeError);
  CHECK(tg::memory_stats().live_nodes == live);
}

TEST_CASE("shape limits: broadcast_to a shape no buffer could hold names broadcast_to") {
  CHECK_THROWS_WITH_AS(tg::broadcast_to(TensorD::ones({1}), Shape{k2p61}),
                       doctest::Contains("broadcast_to: shape [2305843009213693952]"),
                       tg::ShapeError);
  CHECK_THROWS_WITH_AS(tg::broadcast_to(TensorF::ones({1}), Shape{k2p62}),
                       doctest::Contains("broadcast_to: shape [4611686018427387904]"),
                       tg::ShapeError);
  // Empty, but with an extent no buffer could describe: [2^62, 0] of floats counts 2^64 bytes.
  CHECK_THROWS_WITH_AS(tg::broadcast_to(TensorF::zeros({1, 0}), Shape{k2p62, 0}),
                       doctest::Contains("broadcast_to: shape [4611686018427387904,0]"),
                       tg::ShapeError);
}

TEST_CASE("shape limits: reshape to a shape no buffer could hold names reshape") {
  // The element count itself overflows size_t.
  CHECK_THROWS_WITH_AS(tg::reshape(TensorD::zeros({0}), Shape{k2p62, 4}),
                       doctest::Contains("reshape: shape [4611686018427387904,4]"), tg::ShapeError);
  // The element count (0) agrees, but the shape describes 2^65 bytes.
  CHECK_THROWS_WITH_AS(tg::reshape(TensorD::zeros({0}), Shape{0, k2p62}),
                       doctest::Contains("reshape: shape [0,4611686018427387904]"), tg::ShapeError);
}

TEST_CASE("shape limits: sum_to with a target no buffer could hold names sum_to") {
  CHECK_THROWS_WITH_AS(tg::sum_to(TensorD::zeros({0}), Shape{k2p62, 4}),
                       doctest::Contains("sum_to: "), tg::ShapeError);
}

TEST_CASE_TEMPLATE("shape limits: matmul of two empty operands with a huge product names matmul", T,
                   float, double) {
  // [2^40, 0] @ [0, 2^40] -> [2^40, 2^40]: 2^80 elements.
  const auto a = tg::Tensor<T>::zeros(Shape{k2p40, 0});
  const auto b = tg::Tensor<T>::zeros(Shape{0, k2p40});
  CHECK_THROWS_WITH_AS(tg::matmul(a, b),
                       doctest::Contains("matmul: shape [1099511627776,1099511627776]"),
                       tg::ShapeError);
  CHECK_THROWS_WITH_AS(tg::matmul(b, a, true, true),
                       doctest::Contains("matmul: shape [1099511627776,1099511627776]"),
                       tg::ShapeError);
}

TEST_CASE("shape limits: a reduction's output is never larger than its input") {
  // checked_bytes counts an extent 0 as 1, so an input that exists has an output that fits: the
  // [0, 2^61] doubles that sum(x, 0) would have turned into [2^61] cannot be made at all.
  CHECK_THROWS_AS(TensorD::zeros(Shape{0, k2p61}), tg::ShapeError);
  CHECK_THROWS_AS(TensorF::zeros(Shape{0, k2p62}), tg::ShapeError);
  const TensorD x = TensorD::zeros(Shape{0, 3});
  CHECK(tg::sum(x, 0).shape() == Shape{3});
  CHECK(tg::sum(x, 0).to_vector() == std::vector<double>{0, 0, 0});
}

// ---- no work proportional to an empty extent --------------------------------------------------

TEST_CASE_TEMPLATE("shape limits: reductions of [2^40, 0] finish at once", T, float, double) {
  using TT = tg::Tensor<T>;
  const TT x = TT::zeros(Shape{k2p40, 0});
  CHECK(instantly([&] { return tg::sum(x, 0); }).shape() == Shape{0});
  CHECK(instantly([&] { return tg::mean(x, 0); }).shape() == Shape{0});
  CHECK(instantly([&] { return tg::sum(x); }).item() == T(0));
  const TT y = TT::zeros(Shape{k2p40, 0, 3});
  CHECK(instantly([&] { return tg::sum(y, 0); }).shape() == Shape{0, 3});
  CHECK(instantly([&] { return tg::sum(y, 2); }).shape() == Shape{k2p40, 0});
  CHECK(instantly([&] { return tg::sum_to(y, Shape{1, 0, 3}); }).shape() == Shape{1, 0, 3});
  CHECK(instantly([&] { return tg::sum_to(y, Shape{0, 1}); }).shape() == Shape{0, 1});
}

TEST_CASE_TEMPLATE("shape limits: layout and row ops on [2^40, 0] finish at once", T, float,
                   double) {
  using TT = tg::Tensor<T>;
  const TT x = TT::zeros(Shape{k2p40, 0});
  CHECK(instantly([&] { return tg::transpose(x); }).shape() == Shape{0, k2p40});
  CHECK(instantly([&] { return tg::transpose(tg::transpose(x)); }).shape() == Shape{k2p40, 0});
  CHECK(instantly([&] { return tg::add_bias(x, TT::zeros({0})); }).shape() == Shape{k2p40, 0});
  CHECK(instantly([&] {
          return tg::broadcast_to(TT::zeros({1, 0}), Shape{k2p40, 0});
        }).shape() == Shape{k2p40, 0});
  CHECK(instantly([&] { return tg::reshape(x, Shape{0, k2p40}); }).shape() == Shape{0, k2p40});
  CHECK(instantly([&] { return tg::softmax(x); }).shape() == Shape{k2p40, 0});
  CHECK(instantly([&] { return tg::log_softmax(x); }).shape() == Shape{k2p40, 0});
  CHECK(instantly([&] { return tg::relu(x) + x * x; }).shape() == Shape{k2p40, 0});
}

TEST_CASE_TEMPLATE("shape limits: matmul with an empty extent finishes at once", T, float, double) {
  using TT = tg::Tensor<T>;
  // m = 2^40, n = 0 and m = 0, n = 2^40: an empty product.
  CHECK(instantly([&] {
          return tg::matmul(TT::zeros({k2p40, 0}), TT::zeros({0, 0}));
        }).shape() == Shape{k2p40, 0});
  CHECK(instantly([&] {
          return tg::matmul(TT::zeros({0, 0}), TT::zeros({0, k2p40}));
        }).shape() == Shape{0, k2p40});
  // k = 2^40 with an empty output, and k = 0 with a small one (all zeros, as in NumPy).
  CHECK(instantly([&] {
          return tg::matmul(TT::zeros({0, k2p40}), TT::zeros({k2p40, 0}));
        }).shape() == Shape{0, 0});
  const TT c = tg::matmul(TT::zeros({2, 0}), TT::zeros({0, 3}));
  CHECK(c.shape() == Shape{2, 3});
  CHECK(c.to_vector() == std::vector<T>(6, T(0)));
}

TEST_CASE_TEMPLATE("shape limits: softmax_ce with zero classes and many rows finishes at once", T,
                   float, double) {
  using TT = tg::Tensor<T>;
  // An empty sum over the classes of each row: the loss is 0, as in PyTorch, without visiting
  // the 2^40 rows.
  const TT logits = TT::zeros(Shape{k2p40, 0}), targets = TT::zeros(Shape{k2p40, 0});
  CHECK(instantly([&] { return tg::softmax_ce(logits, targets); }).item() == T(0));
}

TEST_CASE_TEMPLATE("shape limits: gradients through [2^40, 0] finish at once", T, float, double) {
  using TT = tg::Tensor<T>;
  TT x = TT::zeros(Shape{k2p40, 0}, true);
  TT w = TT::zeros(Shape{0, 0}, true);
  instantly([&] {
    tg::sum(tg::matmul(tg::transpose(tg::transpose(x)), w) + tg::sum(x, 0)).backward();
    return 0;
  });
  CHECK(x.grad().shape() == Shape{k2p40, 0});
  CHECK(w.grad().shape() == Shape{0, 0});
}
