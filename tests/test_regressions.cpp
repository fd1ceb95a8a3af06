// Regression tests for engine bugs the hardening work (fuzzing, sanitizers, stability
// tests) found, each the minimal reproducer of the correct behaviour. All three were fixed in
// commit 8c0d164; fuzz/corpus/crash_* replays bug 1 through the fuzzer as well.
#include <doctest/doctest.h>

#include <cstddef>
#include <random>
#include <vector>

#include "tapegrad/tapegrad.hpp"

using tg::TensorD;
using tg::TensorF;

// Bug 1 (was). TanhBackwardNode/SigmoidBackwardNode::backward unpack the saved G (get(0))
// unconditionally, but the forward saves G only when the second operand needs a gradient. With a
// constant t (or s) backward throws GraphError "tanh_backward: its saved tensors were already
// released by an earlier backward" on the very first pass. Fixed: saved[0] is read only inside
// `if (this->needs_grad(1))`.
TEST_CASE("regression 1a: tanh_backward(G, t) with a constant t can be differentiated") {
  TensorD g = TensorD::vector({1.0, 2.0}, true);
  const TensorD t = TensorD::vector({0.5, -0.5});
  TensorD out = tg::sum(tg::tanh_backward(g, t));
  CHECK_NOTHROW(out.backward());
  CHECK(g.has_grad());
  CHECK(g.grad().to_vector() == std::vector<double>{0.75, 0.75});  // 1 - t^2
}

TEST_CASE("regression 1b: sigmoid_backward(G, s) with a constant s can be differentiated") {
  TensorD g = TensorD::vector({1.0, 2.0}, true);
  const TensorD s = TensorD::vector({0.5, 0.25});
  TensorD out = tg::sum(tg::sigmoid_backward(g, s));
  CHECK_NOTHROW(out.backward());
  CHECK(g.has_grad());
  CHECK(g.grad().to_vector() == std::vector<double>{0.25, 0.1875});  // s(1-s)
}

// Bug 2 (was). softmax_rows (autodiff/src/kernels.hpp), softmax_ce and softmax_ce_onehot compute x
// - logsumexp(x) with logsumexp = max + log(sum exp(x - max)): rounding max + log(sum) at the
// logits' magnitude before subtracting loses digits, about 3e-5 relative in float at |x| ~ 1000
// (1e-3 at 1e4; double: 1e-13 at 1e3, 1e-7 at 1e9). Fixed: (x - max) - log(sum), max and log(sum)
// kept apart.
TEST_CASE("regression 2: float log_softmax and softmax_ce keep their digits for logits near 1000") {
  const TensorF x = TensorF::matrix({{1000, 999, 998}});
  // lsm([0, -1, -2])[0] = -0.40760596444438035; float resolves it to ~1e-7
  CHECK(double(tg::log_softmax(x).to_vector()[0]) ==
        doctest::Approx(-0.40760596444438035).epsilon(1e-6));
  CHECK(double(tg::softmax_ce(x, tg::Labels{0}).item()) ==
        doctest::Approx(0.40760596444438035).epsilon(1e-6));
}

// Bug 3 (was). Shape never checks that its element count fits in size_t: Shape{2^62, 4}.numel()
// wraps to 0, the tensor gets a 1-element buffer, and ops that loop over the extents rather than
// numel() write out of bounds (add_bias(zeros({2^62, 4}), b[4]) is a heap overflow under ASan;
// reshape(x[0], {2^62, 4}) is accepted too). Fixed: numel() checks the product and throws.
TEST_CASE("regression 3: a shape whose element count overflows size_t is a ShapeError") {
  const tg::Shape huge{std::size_t(1) << 62, 4};
  CHECK_THROWS_AS(TensorD::zeros(huge), tg::ShapeError);
  CHECK_THROWS_AS(tg::reshape(TensorD::zeros(tg::Shape{0}), huge), tg::ShapeError);
}

// numel() refused an element count that overflows size_t, but the byte count numel * sizeof(T)
// was not checked: Shape{2^61} of doubles is 2^64 bytes, which wrapped to 0, so the tensor got a
// buffer of a few bytes and claimed 2^61 elements, and sum() then read off the heap. An empty
// [0, 2^61] passed too, and sum(x, 0) of it made [2^61] over an empty buffer. Fixed: every buffer
// is sized through Shape::checked_bytes, which counts an extent of 0 as 1.
TEST_CASE("regression 4: a shape whose byte count overflows is a ShapeError before allocation") {
  CHECK_THROWS_AS(TensorD::empty(tg::Shape{std::size_t(1) << 61}), tg::ShapeError);
  CHECK_THROWS_AS(TensorF::empty(tg::Shape{std::size_t(1) << 62}), tg::ShapeError);
  CHECK_THROWS_AS(TensorD::zeros(tg::Shape{0, std::size_t(1) << 61}), tg::ShapeError);
  CHECK_THROWS_WITH_AS(TensorD::empty(tg::Shape{std::size_t(1) << 61}),
                       doctest::Contains("empty: shape [2305843009213693952]"), tg::ShapeError);
  // The largest shapes that fit still describe themselves correctly (nothing is allocated here).
  const tg::Shape fits{0, std::size_t(1) << 59}, too_large{0, std::size_t(1) << 60};
  CHECK(fits.checked_bytes(sizeof(double), "t") == 0);
  CHECK_THROWS_AS(too_large.checked_bytes(sizeof(double), "t"), tg::ShapeError);
  CHECK(TensorF::empty(tg::Shape{0, 3}).size() == 0);
}

// Every factory names itself when a shape is too large for any buffer (they all allocated
// through empty(), whose name the message carried).
TEST_CASE("regression 5: the factories name themselves for a shape no buffer could hold") {
  const tg::Shape huge{std::size_t(1) << 61};
  std::mt19937_64 rng(1);
  CHECK_THROWS_WITH_AS(TensorD::zeros(huge), doctest::Contains("zeros: shape"), tg::ShapeError);
  CHECK_THROWS_WITH_AS(TensorD::ones(huge), doctest::Contains("ones: shape"), tg::ShapeError);
  CHECK_THROWS_WITH_AS(TensorD::full(huge, 2.0), doctest::Contains("full: shape"), tg::ShapeError);
  CHECK_THROWS_WITH_AS(TensorD::uniform(huge, 0.0, 1.0, rng), doctest::Contains("uniform: shape"),
                       tg::ShapeError);
  CHECK_THROWS_WITH_AS(TensorD::normal(huge, 0.0, 1.0, rng), doctest::Contains("normal: shape"),
                       tg::ShapeError);
}
