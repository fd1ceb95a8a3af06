// The finite-difference checker itself: it must pass correct adjoints, catch wrong ones, name
// the worst element, and recognise kinks.
#include <doctest/doctest.h>

#include <cmath>
#include <random>

#include "tapegrad/doctest.hpp"
#include "tapegrad/node.hpp"
#include "tapegrad/tapegrad.hpp"

using tg::TensorD;
using tg::TensorF;

namespace {

// A user-defined op, square(x) = x^2, whose adjoint forgets the factor 2 (G*x instead of G*2x):
// a factor-of-2 bug of the commonest kind.
class BuggySquare final : public tg::Node<double> {
 public:
  tg::SavedTensor<double> x;
  const char* name() const override { return "buggy_square"; }
  void backward(const TensorD& g, tg::Grads<double>& grads) override {
    grads[0] = tg::mul(g, x.unpack(*this));
  }
  void release_saved() override { x.reset(); }
};

TensorD buggy_square(const TensorD& in) {
  TensorD out = TensorD::empty(in.shape());
  for (std::size_t i = 0; i < in.size(); ++i) out.data()[i] = in.data()[i] * in.data()[i];
  if (auto* node = tg::record<BuggySquare>(out, {&in})) node->x.save_input(in);
  return out;
}

}  // namespace

TEST_CASE("a correct function passes, one line per named input") {
  TensorD w = TensorD::matrix({{0.5, -1.0, 2.0}, {0.1, 0.2, -0.3}});
  TensorD b = TensorD::vector({0.3, -0.7, 1.1});
  auto f = [](const std::vector<TensorD>& in) {
    return tg::sum(tg::sigmoid(tg::add_bias(in[0], in[1])));
  };
  const auto report = tg::gradcheck(f, {w, b}, {.names = {"W1", "b1"}});
  CHECK_MESSAGE(report.passed, report);
  REQUIRE(report.inputs.size() == 2);
  CHECK(report.inputs[0].name == "W1");
  CHECK(report.inputs[0].shape == tg::Shape{2, 3});
  CHECK(report.inputs[1].relative_error < 1e-7);
  CHECK(report.str().find("W1[2,3]: relative error") != std::string::npos);
}

TEST_CASE("a wrong adjoint fails, naming the worst element with both values") {
  TensorD x = TensorD::vector({0.5, -1.5, 3.0});
  const auto report =
      tg::gradcheck([](const auto& in) { return tg::sum(buggy_square(in[0])); }, {x});
  CHECK_FALSE(report.passed);
  const auto& c = report.inputs[0];
  // analytic x, numeric 2x: ||x - 2x|| / (||x|| + ||2x||) = 1/3 exactly.
  CHECK(c.relative_error == doctest::Approx(1.0 / 3).epsilon(1e-6));
  CHECK(c.worst_index == "[2]");
  CHECK(c.worst_analytic == doctest::Approx(3.0));
  CHECK(c.worst_numeric == doctest::Approx(6.0).epsilon(1e-6));
  CHECK_FALSE(c.kink);
  CHECK(report.str().find("FAIL") != std::string::npos);
}

TEST_CASE("a wrong adjoint of a non-scalar output is caught through the random projection") {
  TensorD x = TensorD::matrix({{0.5, -1.5}, {2.0, 0.25}});
  CHECK_FALSE(tg::gradcheck([](const auto& in) { return buggy_square(in[0]); }, {x}).passed);
  const auto good = tg::gradcheck([](const auto& in) { return tg::pow(in[0], 2.0); }, {x});
  CHECK_MESSAGE(good.passed, good);
}

TEST_CASE("a kink is recognised and reported instead of a plain failure") {
  // relu at exactly 0: analytic 0 (relu'(0) = 0), central difference 0.5.
  TensorD x = TensorD::vector({0.0, 1.0});
  const auto report = tg::gradcheck([](const auto& in) { return tg::sum(tg::relu(in[0])); }, {x});
  CHECK_FALSE(report.passed);
  const auto& c = report.inputs[0];
  CHECK(c.worst_index == "[0]");
  CHECK(c.worst_analytic == 0.0);
  CHECK(c.worst_numeric == doctest::Approx(0.5));
  CHECK(c.kink);
  CHECK(c.left_difference == doctest::Approx(0.0));
  CHECK(c.right_difference == doctest::Approx(1.0));
  CHECK(report.str().find("kink") != std::string::npos);
}

TEST_CASE("float has working defaults") {
  TensorF x = TensorF::matrix({{0.3f, -1.2f}, {2.0f, 0.7f}});
  const auto report =
      tg::gradcheck([](const auto& in) { return tg::sum(tg::tanh(in[0]) * in[0]); }, {x});
  CHECK_MESSAGE(report.passed, report);
  // No step to tune: it is chosen per element, and the report says so.
  CHECK(report.eps == 0);
  CHECK(report.str().find("adaptive steps") != std::string::npos);
}

TEST_CASE("eps and tolerance are the caller's to set") {
  TensorD x = TensorD::vector({1.0, 2.0});
  auto cube = [](const std::vector<TensorD>& in) { return tg::sum(tg::pow(in[0], 3.0)); };
  CHECK(tg::gradcheck(cube, {x}).passed);
  // A huge step makes the central difference 3x^2 + eps^2 and fails the default tolerance...
  CHECK_FALSE(tg::gradcheck(cube, {x}, {.eps = 0.1}).passed);
  // ...and passes a tolerance loosened for it.
  CHECK(tg::gradcheck(cube, {x}, {.eps = 0.1, .tolerance = 1e-2}).passed);
}

TEST_CASE("an input without a path to the output checks as an all-zero gradient") {
  TensorD x = TensorD::vector({1.0, 2.0});
  TensorD unused = TensorD::vector({3.0});
  const auto report =
      tg::gradcheck([](const auto& in) { return tg::sum(in[0] * in[0]); }, {x, unused});
  CHECK_MESSAGE(report.passed, report);
  CHECK(report.inputs[1].worst_analytic == 0.0);
  CHECK(report.inputs[1].worst_numeric == 0.0);
}

TEST_CASE("the caller's tensors are left untouched") {
  TensorD x = TensorD::vector({1.0, 2.0}, true);
  tg::gradcheck([](const auto& in) { return tg::sum(in[0] * in[0]); }, {x});
  CHECK(x.to_vector() == std::vector<double>{1.0, 2.0});
  CHECK(x.grad().to_vector() == std::vector<double>{0.0, 0.0});
}

// ---- the checker must not pass what it cannot judge ------------------------------------------

namespace {

// sum(x.detach() * x): value sum(x^2), true gradient 2x, but the recorded adjoint is x only.
template <class T> tg::Tensor<T> half_gradient_square(const tg::Tensor<T>& x) {
  return tg::sum(tg::mul(x.detach(), x));
}

// y's value with (1 + delta) times y's gradient: a wrong adjoint of a known relative size.
template <class T> tg::Tensor<T> scaled_gradient(const tg::Tensor<T>& y, double delta) {
  return tg::add(y, tg::mul(tg::Tensor<T>::scalar(T(delta)), tg::sub(y, y.detach())));
}

}  // namespace

TEST_CASE("a step that is not positive is a DomainError, not a NaN failure") {
  TensorD x = TensorD::vector({0.5, -1.5, 3.0});
  auto f = [](const std::vector<TensorD>& in) { return tg::sum(in[0] * in[0]); };
  CHECK_THROWS_WITH_AS(tg::gradcheck(f, {x}, {.eps = 0.0}), doctest::Contains("eps"),
                       tg::DomainError);
  CHECK_THROWS_WITH_AS(tg::gradcheck(f, {x}, {.eps = -1e-6}), doctest::Contains("-1e-06"),
                       tg::DomainError);
  CHECK_THROWS_AS(tg::gradcheck(f, {x}, {.eps = std::nan("")}), tg::DomainError);
}

TEST_CASE("a step that vanishes next to an input element is a DomainError naming it") {
  // x + 1e-20 == x for every element here: the differences would all be zero.
  TensorD x = TensorD::vector({0.5, -1.5, 3.0});
  auto f = [](const std::vector<TensorD>& in) { return half_gradient_square(in[0]); };
  CHECK_THROWS_WITH_AS(tg::gradcheck(f, {x}, {.eps = 1e-20}),
                       doctest::Contains("input 0 element [0]"), tg::DomainError);
}

TEST_CASE("a wrong adjoint hidden under a large offset is not passed: the report says why") {
  // f + 1e10: the differences' rounding noise grows with f's magnitude until it is of the order
  // of the gradient itself; the check then cannot judge the adjoint and must not pass it.
  TensorD x = TensorD::vector({0.5, -1.5, 3.0});
  auto f = [](const std::vector<TensorD>& in) {
    return tg::add(half_gradient_square(in[0]), TensorD::scalar(1e10));
  };
  const auto report = tg::gradcheck(f, {x}, {.eps = 1e-6});
  CHECK_FALSE(report.passed);
  CHECK_MESSAGE(report.str().find("cannot resolve") != std::string::npos, report);
  // At the adaptive steps the differences resolve the gradient despite the offset, and the wrong
  // adjoint fails on its numbers.
  const auto adaptive = tg::gradcheck(f, {x});
  CHECK_FALSE(adaptive.passed);
  CHECK(adaptive.inputs[0].resolved);
  CHECK(adaptive.inputs[0].relative_error == doctest::Approx(1.0 / 3).epsilon(1e-3));
  // The same wrong adjoint without the offset fails plainly.
  CHECK_FALSE(
      tg::gradcheck([](const auto& in) { return half_gradient_square(in[0]); }, {x}).passed);
}

TEST_CASE("a correct gradient of exactly zero still passes under rounding noise") {
  // d/dx sum(softmax(x)) = 0: the analytic gradient is zero, the differences are pure noise.
  TensorD x = TensorD::matrix({{0.5, -1.5, 3.0}, {0.1, 0.2, 0.3}});
  TG_CHECK_GRADIENTS([](const auto& in) { return tg::sum(tg::softmax(in[0])); }, {x});
}

TEST_CASE("gradcheck_leaves restores every leaf when f throws on a later evaluation") {
  TensorD W = TensorD::vector({0.5, -1.5, 3.0}, true);
  int calls = 0;
  auto f = [&]() {
    if (++calls == 4) throw tg::Error("f failed on its fourth call");
    return tg::sum(W * W);
  };
  CHECK_THROWS_WITH_AS(tg::gradcheck_leaves(f, std::vector<TensorD>{W}),
                       doctest::Contains("fourth call"), tg::Error);
  CHECK(calls == 4);
  CHECK(W.to_vector() == std::vector<double>{0.5, -1.5, 3.0});
  CHECK_FALSE(W.has_grad());
}

TEST_CASE("float: a wrong adjoint a few percent off fails at the default tolerance") {
  // relative error measure ||a - n|| / (||a|| + ||n||) = delta / (2 + delta): 2.4e-2 here, which
  // a float tolerance loosened to 1e-1 would let through.
  TensorF x = TensorF::matrix({{0.3f, -1.2f, 0.8f}, {2.0f, 0.7f, -0.4f}});
  for (const double delta : {0.05, -0.05}) {
    CAPTURE(delta);
    const auto wrong = tg::gradcheck(
        [delta](const auto& in) {
          return scaled_gradient(tg::sum(tg::tanh(in[0]) * in[0]), delta);
        },
        {x});
    CHECK_FALSE(wrong.passed);
    CHECK(wrong.worst_relative_error() > 1e-2);
    // The same construction with delta = 0 is right and passes.
    const auto right = tg::gradcheck(
        [](const auto& in) { return scaled_gradient(tg::sum(tg::tanh(in[0]) * in[0]), 0.0); }, {x});
    CHECK_MESSAGE(right.passed, right);
  }
  // Non-scalar output, through the projection.
  const auto wrong_matrix =
      tg::gradcheck([](const auto& in) { return scaled_gradient(tg::sigmoid(in[0]), 0.05); }, {x});
  CHECK_FALSE(wrong_matrix.passed);
}

// ---- adaptive steps and the error estimate ---------------------------------------------------

TEST_CASE(
    "double: adjoints off by 1e-6 or 1e-8 relative fail at the defaults, with no step to tune") {
  std::mt19937_64 rng(7);
  const TensorD a = TensorD::uniform({24, 16}, -1.0, 1.0, rng);
  const TensorD b = TensorD::uniform({16, 12}, -1.0, 1.0, rng);
  const TensorD v = TensorD::uniform({5}, 0.2, 3.0, rng);
  for (const double delta : {1e-6, -1e-6, 1e-8, -1e-8}) {
    CAPTURE(delta);
    const auto mm = tg::gradcheck(
        [delta](const auto& in) {
          return scaled_gradient(tg::tanh(tg::matmul(in[0], in[1])), delta);
        },
        {a, b});
    CHECK_FALSE(mm.passed);
    const auto scalar = tg::gradcheck(
        [delta](const auto& in) { return scaled_gradient(tg::sum(tg::log(in[0]) * in[0]), delta); },
        {v});
    CHECK_FALSE(scalar.passed);
  }
  const auto right = tg::gradcheck(
      [](const auto& in) { return scaled_gradient(tg::tanh(tg::matmul(in[0], in[1])), 0.0); },
      {a, b});
  CHECK_MESSAGE(right.passed, right);
}

TEST_CASE("the report states the estimated error of the numerical gradient") {
  TensorD x = TensorD::vector({0.3, 1.7, 2.5});
  const auto report = tg::gradcheck([](const auto& in) { return tg::sum(tg::exp(in[0])); }, {x});
  CHECK_MESSAGE(report.passed, report);
  const auto& c = report.inputs[0];
  CHECK(c.numeric_error > 0);
  CHECK(c.numeric_error < 1e-9);  // Ridders' extrapolation: far below a plain central difference
  CHECK(c.abs_error < 1e-9);
  CHECK(report.str().find("numeric error estimate") != std::string::npos);
}

TEST_CASE("an explicit step is validated element by element") {
  // 1e-12 is a fine step next to 0.5 but vanishes next to 1e6.
  TensorD x = TensorD::vector({0.5, 1e6});
  CHECK_THROWS_WITH_AS(
      tg::gradcheck([](const auto& in) { return tg::sum(in[0] * in[0]); }, {x}, {.eps = 1e-12}),
      doctest::Contains("element [1] = 1e+06"), tg::DomainError);
}

// ---- float adjoints against double differences -----------------------------------------------

TEST_CASE("float: adjoints off by 1e-3 or 1e-4 relative fail against double differences") {
  std::mt19937_64 rng(11);
  const TensorF a = TensorF::uniform({24, 16}, -1.0f, 1.0f, rng);
  const TensorF b = TensorF::uniform({16, 12}, -1.0f, 1.0f, rng);
  const TensorF v = TensorF::uniform({16, 12}, 0.2f, 3.0f, rng);
  for (const double delta : {1e-3, -1e-3, 1e-4, -1e-4}) {
    CAPTURE(delta);
    const auto mm = tg::gradcheck(
        [delta](const auto& in) {
          return scaled_gradient(tg::tanh(tg::matmul(in[0], in[1])), delta);
        },
        {a, b});
    CHECK_FALSE(mm.passed);
    CHECK(mm.reference == "double differences");
    const auto scalar = tg::gradcheck(
        [delta](const auto& in) { return scaled_gradient(tg::sum(tg::log(in[0]) * in[0]), delta); },
        {v});
    CHECK_FALSE(scalar.passed);
  }
  const auto right = tg::gradcheck(
      [](const auto& in) { return scaled_gradient(tg::tanh(tg::matmul(in[0], in[1])), 0.0); },
      {a, b});
  CHECK_MESSAGE(right.passed, right);
  CHECK(right.str().find("double differences") != std::string::npos);
}

TEST_CASE("float: a function that only runs in float is checked with float differences") {
  TensorF x = TensorF::matrix({{0.3f, -1.2f, 0.8f}, {2.0f, 0.7f, -0.4f}});
  auto f = [](const std::vector<TensorF>& in) { return tg::sum(tg::tanh(in[0]) * in[0]); };
  const auto report = tg::gradcheck(f, {x});
  CHECK_MESSAGE(report.passed, report);
  CHECK(report.reference.empty());
}

TEST_CASE("the per-op suite judges every float adjoint against double differences") {
  // Float differences alone are off by up to about 1e-4 on these samples; double differences
  // leave only the float adjoint's own rounding, a few float epsilons.
  for (const auto& row : tg::check_registered_ops({1}, true)) {
    if (row.dtype != "f32") continue;
    CAPTURE(row.op);
    CHECK_MESSAGE(row.passed, row.failure);
    CHECK(row.worst_relative_error < 2e-6);
  }
}

// ---- full Jacobian mode ----------------------------------------------------------------------

TEST_CASE("full Jacobian mode compares every (output, input) pair and names the worst") {
  TensorD x = TensorD::vector({0.3, -0.8, 1.4});
  // Only the Jacobian entry (output 1, input 1) is off, by 1e-6 relative.
  auto f = [](const std::vector<TensorD>& in) {
    const TensorD y = tg::tanh(in[0]);
    const TensorD mask = TensorD::vector({0.0, 1e-6, 0.0});
    return tg::add(y, tg::mul(mask, tg::sub(y, y.detach())));
  };
  const auto full = tg::gradcheck(f, {x}, {.mode = tg::GradCheckMode::full_jacobian});
  CHECK_FALSE(full.passed);
  CHECK(full.mode == tg::GradCheckMode::full_jacobian);
  const auto& c = full.inputs[0];
  CHECK(c.worst_output == "[1]");
  CHECK(c.worst_index == "[1]");
  CHECK(c.worst_analytic == doctest::Approx((1 + 1e-6) * (1 - std::tanh(-0.8) * std::tanh(-0.8))));
  CHECK(full.str().find("(output [1])") != std::string::npos);
  CHECK(full.str().find("full Jacobian") != std::string::npos);

  // A correct function passes in both modes; the projection mode names no output.
  auto g = [](const std::vector<TensorD>& in) { return tg::softmax(tg::reshape(in[0], {1, 3})); };
  const auto right = tg::gradcheck(g, {x}, {.mode = tg::GradCheckMode::full_jacobian});
  CHECK_MESSAGE(right.passed, right);
  const auto projected = tg::gradcheck(g, {x});
  CHECK_MESSAGE(projected.passed, projected);
  CHECK(projected.inputs[0].worst_output.empty());
}

// ---- consistency beyond values ---------------------------------------------------------------

namespace {

// square(x) whose adjoint is NaN at element 1: an analytic NaN where the differences are finite.
class NanAtOneSquare final : public tg::Node<double> {
 public:
  tg::SavedTensor<double> x;
  const char* name() const override { return "nan_at_one_square"; }
  void backward(const TensorD& g, tg::Grads<double>& grads) override {
    TensorD d = tg::mul(g, tg::mul(TensorD::scalar(2.0), x.unpack(*this)));
    d.data()[1] = std::nan("");
    grads[0] = d;
  }
  void release_saved() override { x.reset(); }
};

TensorD nan_at_one_square(const TensorD& in) {
  TensorD out = TensorD::empty(in.shape());
  for (std::size_t i = 0; i < in.size(); ++i) out.data()[i] = in.data()[i] * in.data()[i];
  if (auto* node = tg::record<NanAtOneSquare>(out, {&in})) node->x.save_input(in);
  return out;
}

}  // namespace

TEST_CASE("the recorded forward must equal the function with grad mode off") {
  TensorD x = TensorD::vector({0.5, -1.5});
  auto f = [](const std::vector<TensorD>& in) {
    const TensorD s = tg::sum(in[0] * in[0]);
    return tg::grad_enabled() ? s : tg::add(s, TensorD::scalar(1e-9));
  };
  CHECK_THROWS_WITH_AS(tg::gradcheck(f, {x}), doctest::Contains("recorded forward differs"),
                       tg::GraphError);
}

TEST_CASE("an error the function raises must be raised the same way with grad mode on and off") {
  TensorD x = TensorD::vector({0.5, -1.5});
  auto only_recording = [](const std::vector<TensorD>& in) {
    if (tg::grad_enabled()) throw tg::DomainError("f: refuses to record");
    return tg::sum(in[0]);
  };
  CHECK_THROWS_WITH_AS(tg::gradcheck(only_recording, {x}),
                       doctest::Contains("raises differently with grad mode on (f: refuses"),
                       tg::GraphError);
  // The same error both ways reaches the caller unchanged.
  TensorD a = TensorD::matrix({{1.0, 2.0}});
  CHECK_THROWS_AS(
      tg::gradcheck([](const auto& in) { return tg::sum(tg::matmul(in[0], in[0])); }, {a}),
      tg::ShapeError);
}

TEST_CASE("a NaN on one side only is reported as such") {
  TensorD x = TensorD::vector({0.5, -1.5, 2.0});
  const auto analytic_nan =
      tg::gradcheck([](const auto& in) { return tg::sum(nan_at_one_square(in[0])); }, {x});
  CHECK_FALSE(analytic_nan.passed);
  CHECK(analytic_nan.inputs[0].nan_mismatch.find("analytic NaN") != std::string::npos);
  CHECK(analytic_nan.str().find("analytic NaN where the numeric gradient is -3 at element [1]") !=
        std::string::npos);
  // The reverse: the step leaves log's domain, the adjoint 1/x is finite.
  TensorD y = TensorD::vector({1e-4, 1.0});
  const auto numeric_nan =
      tg::gradcheck([](const auto& in) { return tg::sum(tg::log(in[0])); }, {y}, {.eps = 1e-3});
  CHECK_FALSE(numeric_nan.passed);
  CHECK(numeric_nan.inputs[0].nan_mismatch.find("numeric NaN") != std::string::npos);
}

TEST_CASE("an input the graph does not reach must not change the output either") {
  TensorD x = TensorD::vector({0.5, -1.5});
  TensorD y = TensorD::vector({2.0, 3.0});
  // y enters through a raw copy of its data: recorded nowhere, yet f depends on it.
  auto f = [](const std::vector<TensorD>& in) {
    const TensorD raw = TensorD::from_vector(in[1].shape(), in[1].to_vector());
    return tg::sum(in[0] * raw);
  };
  const auto report = tg::gradcheck(f, {x, y});
  CHECK_FALSE(report.passed);
  CHECK(report.inputs[0].passed);
  CHECK(report.inputs[1].worst_analytic == 0.0);
  CHECK(report.inputs[1].unreached_dependence.find("does not reach") != std::string::npos);
}

// ---- the doctest assertions ------------------------------------------------------------------

TEST_CASE("TG_CHECK_GRADIENTS and TG_CHECK_SECOND_ORDER take gradcheck's arguments as they are") {
  TensorD x = TensorD::vector({0.3, -0.8, 1.4});
  TensorD y = TensorD::vector({1.1, 0.4, -0.6});
  TG_CHECK_GRADIENTS([](const auto& in) { return tg::sum(tg::tanh(in[0]) * in[1]); }, {x, y});
  TG_CHECK_GRADIENTS([](const auto& in) { return tg::sigmoid(tg::mul(in[0], in[1])); }, {x, y},
                     {.names = {"x", "y"}, .mode = tg::GradCheckMode::full_jacobian});
  TG_REQUIRE_GRADIENTS([](const auto& in) { return tg::sum(tg::exp(in[0])); }, {x});
  TG_CHECK_SECOND_ORDER([](const auto& in) { return tg::sum(tg::tanh(in[0]) * in[1]); }, {x, y});
  TensorF xf = TensorF::vector({0.3f, -0.8f, 1.4f});
  TG_CHECK_GRADIENTS([](const auto& in) { return tg::sum(tg::tanh(in[0]) * in[0]); }, {xf});
}

namespace {

// square(x) whose adjoint gives a different value when the backward pass is recorded.
class RecordingDependentSquare final : public tg::Node<double> {
 public:
  tg::SavedTensor<double> x;
  const char* name() const override { return "recording_dependent_square"; }
  void backward(const TensorD& g, tg::Grads<double>& grads) override {
    const TensorD d = tg::mul(g, tg::mul(TensorD::scalar(2.0), x.unpack(*this)));
    grads[0] = tg::grad_enabled() ? d : tg::add(d, TensorD::scalar(1e-6));
  }
  void release_saved() override { x.reset(); }
};

TensorD recording_dependent_square(const TensorD& in) {
  TensorD out = TensorD::empty(in.shape());
  for (std::size_t i = 0; i < in.size(); ++i) out.data()[i] = in.data()[i] * in.data()[i];
  if (auto* node = tg::record<RecordingDependentSquare>(out, {&in})) node->x.save_input(in);
  return out;
}

}  // namespace

TEST_CASE("gradgradcheck shares the consistency checks: a recorded backward that differs") {
  // gradgradcheck's function is the recorded first-order gradient: with grad mode off it is the
  // plain backward, which must give the same values.
  TensorD x = TensorD::vector({0.5, -1.5});
  CHECK_THROWS_WITH_AS(
      tg::gradgradcheck([](const auto& in) { return tg::sum(recording_dependent_square(in[0])); },
                        {x}),
      doctest::Contains("recorded forward differs"), tg::GraphError);
}

// An input with a zero extent has no element to perturb: the check passes it trivially. The
// report's element index was computed by dividing by every extent, so an empty input crashed the
// checker (division by zero, SIGFPE in Release).
TEST_CASE("gradcheck: an input with no elements passes trivially beside one that has some") {
  const auto report =
      tg::gradcheck([](const auto& in) { return tg::sum(in[0]) + tg::sum(in[1] * in[1]); },
                    {TensorD::zeros({0, 3}), TensorD::vector({1, 2, 3})});
  CHECK_MESSAGE(report.passed, report);
  REQUIRE(report.inputs.size() == 2);
  CHECK(report.inputs[0].passed);
  CHECK(report.inputs[0].shape == tg::Shape{0, 3});
  const auto float_report =
      tg::gradcheck([](const auto& in) { return tg::sum(in[0]) + tg::sum(in[1]); },
                    {TensorF::zeros({2, 0}), TensorF::vector({1, 2})});
  CHECK_MESSAGE(float_report.passed, float_report);
}
