// The finite-difference gradient checker.
//
//   auto report = tg::gradcheck([](const auto& in) { return tg::sum(in[0] * in[1]); }, {x, y});
//   CHECK_MESSAGE(report.passed, report);
//
// For each input it compares the analytic gradient (one backward pass) with central differences
// extrapolated to step zero (Ridders' method, with an error estimate), element by element, and
// reports the measure ||a - n|| / (||a|| + ||n||), the estimated error of n, the worst element
// with both values, and whether the worst element
// sits on a kink (left and right one-sided differences disagree), where finite differences cannot
// judge an adjoint. A non-scalar output is checked through a fixed random projection sum(out * R).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <functional>
#include <initializer_list>
#include <optional>
#include <ostream>
#include <string>
#include <type_traits>
#include <vector>

#include "tapegrad/registry.hpp"
#include "tapegrad/replay.hpp"
#include "tapegrad/tensor.hpp"

namespace tg {

// How a non-scalar output is checked: through a fixed random projection sum(out * R) (one
// backward pass; fast), or element by element (one backward pass per output element: every
// (output, input) pair of the Jacobian is compared; for small functions).
enum class GradCheckMode { projection, full_jacobian };

struct GradCheckOptions {
  // A fixed central-difference step, validated (DomainError when it is not positive and finite,
  // or when x + eps == x for a perturbed element). Default: none; the step is chosen per element
  // by Ridders' method (central differences at a shrinking step, extrapolated to step zero),
  // which also estimates the numerical gradient's error.
  std::optional<double> eps = std::nullopt;
  // Pass when ||a - n|| <= tolerance * (||a|| + ||n||) + 3 * (estimated error of n), where the
  // differences resolve the gradient. Default: 1e-9 in double (an adjoint 1e-8 off fails),
  // 1e-3 in float with float differences.
  std::optional<double> tolerance = std::nullopt;
  // Also pass when ||a - n|| is below this (both gradients essentially zero). Default: 1e-12
  // (double) / 1e-5 (float); when the analytic gradient is that small itself, the larger of that
  // and ten times the numerical gradient's rounding noise (machine epsilon * magnitude of f's
  // terms / eps, times sqrt(elements)), below which central differences cannot tell a gradient
  // from zero. A nonzero analytic gradient is never excused by the noise: when the noise is of
  // its order, the input is reported as unresolved and fails.
  std::optional<double> abs_tolerance = std::nullopt;
  // Seed of the random projection used for non-scalar outputs.
  std::uint64_t seed = 20261122;
  // Names for the inputs in the report ("W1", "b1", ...); "input i" when absent.
  std::vector<std::string> names = {};
  GradCheckMode mode = GradCheckMode::projection;
};

struct InputCheck {
  std::string name;
  Shape shape;
  double relative_error = 0;
  double abs_error = 0;      // ||a - n||
  double noise_floor = 0;    // the rounding part of numeric_error
  double numeric_error = 0;  // estimated error of the numerical gradient (a norm, as abs_error)
  bool passed = false;
  // False when the differences' noise is of the order of the gradient itself: they can neither
  // confirm nor refute the adjoint, and the input does not pass.
  bool resolved = true;
  // The element with the largest |a - n| (flat index and as a multi-index string "[1,2]").
  std::size_t worst_flat_index = 0;
  std::string worst_index;
  // A NaN on one side only (analytic NaN, numeric finite, or the reverse), described; fails.
  std::string nan_mismatch;
  // Set when the output's graph does not reach the input but f changes with it; fails.
  std::string unreached_dependence;
  std::string worst_output;  // full Jacobian mode: the output element of the worst pair
  double worst_analytic = 0;
  double worst_numeric = 0;
  // For a failing input: one-sided differences at the worst element, and whether they disagree
  // (the function has a kink there and the central difference is meaningless).
  bool kink = false;
  double left_difference = 0;
  double right_difference = 0;
};

struct GradCheckReport {
  std::vector<InputCheck> inputs;
  bool passed = false;
  double eps = 0;
  double tolerance = 0;
  // What the adjoint was compared with when not differences in its own type: "double
  // differences" for a float adjoint whose function also runs in double.
  std::string reference;
  GradCheckMode mode = GradCheckMode::projection;
  // The largest relative error over the inputs.
  double worst_relative_error() const;
  // One line per input: the relative error, the verdict, the worst element with both values.
  std::string str() const;
};

std::ostream& operator<<(std::ostream& os, const GradCheckReport& report);

template <class T> using TensorFunction = std::function<Tensor<T>(const std::vector<Tensor<T>>&)>;

namespace detail {
GradCheckReport run_gradcheck(const TensorFunction<double>& f,
                              const std::vector<Tensor<double>>& inputs,
                              const GradCheckOptions& options);
GradCheckReport run_gradcheck(const TensorFunction<float>& f,
                              const std::vector<Tensor<float>>& inputs,
                              const GradCheckOptions& options);
GradCheckReport run_gradcheck_mixed(const TensorFunction<float>& f, const TensorFunction<double>& g,
                                    const std::vector<Tensor<float>>& inputs,
                                    const GradCheckOptions& options);
GradCheckReport run_gradcheck_leaves(const std::function<Tensor<double>()>& f,
                                     const std::vector<Tensor<double>>& leaves,
                                     const GradCheckOptions& options);
GradCheckReport run_gradcheck_leaves(const std::function<Tensor<float>()>& f,
                                     const std::vector<Tensor<float>>& leaves,
                                     const GradCheckOptions& options);
}  // namespace detail

// Checks every input of f, any callable taking `const std::vector<Tensor<T>>&` (a generic lambda
// is fine) and returning a tensor. The inputs are copied into fresh leaves, so their own
// gradients are not touched. f is evaluated 4 to 12 times per input element (2 with an explicit
// eps).
//
// A float check of an f that can also be called with double tensors (a generic lambda) compares
// the float adjoint with double differences at the same input values, at a tolerance derived
// from float's epsilon and the computation's size (an adjoint 1e-4 off fails). A generic lambda
// whose body only compiles for float (it captures a TensorF) must name its parameter type:
// `const std::vector<tg::TensorF>&`.
template <class F, class T>
GradCheckReport gradcheck(F&& f, const std::vector<Tensor<T>>& inputs,
                          const GradCheckOptions& options = {}) {
  if constexpr (std::is_same_v<T, float> &&
                std::is_invocable_v<F&, const std::vector<Tensor<double>>&>) {
    return detail::run_gradcheck_mixed(TensorFunction<float>(f), TensorFunction<double>(f), inputs,
                                       options);
  } else {
    return detail::run_gradcheck(TensorFunction<T>(std::forward<F>(f)), inputs, options);
  }
}
template <class F, class T>
GradCheckReport gradcheck(F&& f, std::initializer_list<Tensor<T>> inputs,
                          const GradCheckOptions& options = {}) {
  return gradcheck(std::forward<F>(f), std::vector<Tensor<T>>(inputs), options);
}

// Checks f() against existing leaves that f reads by itself, such as a model's parameters: the
// leaves are perturbed in place and restored, and their gradients are put aside and restored.
template <class F, class T>
GradCheckReport gradcheck_leaves(F&& f, const std::vector<Tensor<T>>& leaves,
                                 const GradCheckOptions& options = {}) {
  return detail::run_gradcheck_leaves(std::function<Tensor<T>()>(std::forward<F>(f)), leaves,
                                      options);
}

// Checks a recorded step (tapegrad/replay.hpp): the gradients a run gives the parameters it was
// recorded with, against finite differences of the loss that runs give when the parameters are
// perturbed in place (each difference is one run; the recorded kernels, not eager mode, are
// judged). The parameters are restored, then run once more: they end with their values and the
// gradients of one run. The step's inputs keep their current values. ReplayError for a
// recording that updates its parameters (sgd_update): its runs move them.
GradCheckReport gradcheck(Replay<double>& step, const GradCheckOptions& options = {});
GradCheckReport gradcheck(Replay<float>& step, const GradCheckOptions& options = {});

// The per-op suite: every registered op's samples, checked for each seed, in double and in float
// (each float sample's adjoint against double differences of the double sample with the same
// structure, at the float inputs' values). A row fails when the op has no sample, when a
// sample's output was not produced by the op itself, when a sample raises, or when any gradient
// check fails.
struct OpCheckResult {
  std::string op;
  std::string dtype;  // "f64" or "f32"
  std::string adjoint;
  std::size_t samples_run = 0;
  std::vector<std::string> shapes;  // the distinct sample labels tried
  double worst_relative_error = 0;
  std::string worst_sample;
  bool passed = false;
  std::string failure;  // why it failed: the first failing report, or the missing sample
};

// One op's samples, for each seed: a row in double, and with include_float one in float.
std::vector<OpCheckResult> check_op(const OpInfo& op,
                                    const std::vector<std::uint64_t>& seeds = {1, 2, 3},
                                    bool include_float = true);
std::vector<OpCheckResult> check_registered_ops(const std::vector<std::uint64_t>& seeds = {1, 2, 3},
                                                bool include_float = true);

}  // namespace tg
