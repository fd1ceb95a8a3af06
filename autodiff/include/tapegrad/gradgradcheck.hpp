// The second-order gradient checker (PyTorch's gradgradcheck).
//
//   auto report = tg::gradgradcheck([](const auto& in) { return tg::sum(tg::tanh(in[0]) * in[1]);
//   },
//                                   {x, y}, {.names = {"x", "y"}});
//   CHECK_MESSAGE(report.passed, report);
//
// For f of inputs x_1..x_k with output y, it builds the scalar function
//
//   g(x_1..x_k, U) = sum_i sum(grad_i * R_i),   grad_i = U^T dy/dx_i (a recorded backward pass),
//
// with a fixed random upstream gradient U of y's shape and fixed random projections R_i of each
// input's shape, and hands g to tg::gradcheck: g's analytic gradient (the backward of the recorded
// backward: the second derivatives) is compared with central differences of g, that is of the
// analytic first derivatives. U is an input of g too (check_upstream), so the recorded backward's
// dependence on its upstream gradient is checked as well, as gradgradcheck does with grad_outputs.
//
// An op whose gradient does not depend on its inputs (add, neg, sum, reshape, ...) has second
// derivative zero: the recorded gradient is constant in x, g's analytic gradient is zero there and
// so are the differences, which passes (gradcheck's absolute tolerance). An adjoint built from a
// piece that does not record (a raw kernel, a detach where the value matters) is caught: its
// missing term is present in the differences.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <initializer_list>
#include <optional>
#include <random>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "tapegrad/grad.hpp"
#include "tapegrad/gradcheck.hpp"
#include "tapegrad/ops.hpp"
#include "tapegrad/registry.hpp"
#include "tapegrad/tensor.hpp"

namespace tg {

struct GradGradCheckOptions {
  // Step, pass threshold and absolute threshold for g, as in GradCheckOptions (the same
  // defaults: adaptive steps, 1e-9 / 1e-12 in double; in float against double differences
  // gradcheck's float tolerance / 1e-5, with float differences 1e-3 / 1e-5).
  std::optional<double> eps = std::nullopt;
  std::optional<double> tolerance = std::nullopt;
  std::optional<double> abs_tolerance = std::nullopt;
  // Seed of the upstream gradient U and the projections R_i.
  std::uint64_t seed = 20261123;
  // Names for the inputs in the report; "input i" when absent. U is reported as "upstream".
  std::vector<std::string> names = {};
  // Also check the derivative with respect to the upstream gradient U.
  bool check_upstream = true;
};

namespace detail {

// The checks behind gradgradcheck, compiled into the library for float and double.
template <class T>
GradCheckReport run_gradgradcheck(const TensorFunction<T>& f, const std::vector<Tensor<T>>& inputs,
                                  const GradGradCheckOptions& options);
// Float second derivatives judged as float first derivatives are: against differences of the
// double first derivatives (fd, the same function in double) at the float inputs' values.
GradCheckReport run_gradgradcheck_mixed(const TensorFunction<float>& f,
                                        const TensorFunction<double>& fd,
                                        const std::vector<Tensor<float>>& inputs,
                                        const GradGradCheckOptions& options);

}  // namespace detail

// Checks the second derivatives of f, any callable taking `const std::vector<Tensor<T>>&` and
// returning a tensor (any shape), at `inputs` (copied into fresh leaves: theirs are untouched).
// One report line per input (and one for the upstream gradient), as gradcheck's. g is evaluated
// 2 * (input elements + output elements) + 1 times, each a forward and a backward pass of f.
//
// A float check of an f that can also be called with double tensors (a generic lambda) compares
// the float second derivatives with double differences of the double first derivatives at the
// same input values, at gradcheck's float tolerance (derived from float's epsilon and the
// computation's size); a float-only f gets float differences of its float gradient.
template <class F, class T>
GradCheckReport gradgradcheck(F&& f, const std::vector<Tensor<T>>& inputs,
                              const GradGradCheckOptions& options = {}) {
  if constexpr (std::is_same_v<T, float> &&
                std::is_invocable_v<F&, const std::vector<Tensor<double>>&>) {
    return detail::run_gradgradcheck_mixed(TensorFunction<float>(f), TensorFunction<double>(f),
                                           inputs, options);
  } else {
    return detail::run_gradgradcheck<T>(TensorFunction<T>(std::forward<F>(f)), inputs, options);
  }
}
template <class F, class T>
GradCheckReport gradgradcheck(F&& f, std::initializer_list<Tensor<T>> inputs,
                              const GradGradCheckOptions& options = {}) {
  return gradgradcheck(std::forward<F>(f), std::vector<Tensor<T>>(inputs), options);
}

// ---- the per-op second-order suite ---------------------------------------------------------

struct SecondOrderCheckResult {
  std::string op;
  std::string dtype;  // "f64" or "f32"
  std::string adjoint;
  std::size_t samples_run = 0;
  std::vector<std::string> shapes;  // the distinct sample labels tried
  double worst_relative_error = 0;
  std::string worst_sample;
  // Whether, on some sample, the recorded first-order gradient is a function of the op's inputs
  // (false for ops linear in their inputs: their second derivative is zero by construction).
  bool gradient_depends_on_inputs = false;
  bool passed = false;
  std::string failure;  // the first failing report, the missing sample, or what was raised
};

// One op's samples, for each seed, through gradgradcheck: a row in double, and with include_float
// one in float (each float sample's second derivatives against double differences of the double
// sample's first derivatives, at the float inputs' values). A row fails when the op has no
// sample, when a sample's output is not the op's, when the second derivatives disagree with the
// differences of the first, or when double backward raises.
std::vector<SecondOrderCheckResult> check_op_second_order(
    const OpInfo& op, const std::vector<std::uint64_t>& seeds = {1, 2, 3},
    const GradGradCheckOptions& options = {}, bool include_float = false);

// The same for every registered op.
std::vector<SecondOrderCheckResult> check_registered_ops_second_order(
    const std::vector<std::uint64_t>& seeds = {1, 2, 3}, const GradGradCheckOptions& options = {},
    bool include_float = false);

}  // namespace tg
