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

// gradcheck's options for g, from gradgradcheck's (the fields they share); the names are g's
// inputs' (the upstream gradient's last). g is scalar, so gradcheck's modes coincide for it and
// GradGradCheckOptions has none.
inline GradCheckOptions first_order_options(const GradGradCheckOptions& options, std::size_t k) {
  GradCheckOptions gc;
  gc.eps = options.eps;
  gc.tolerance = options.tolerance;
  gc.abs_tolerance = options.abs_tolerance;
  gc.seed = options.seed;
  for (std::size_t i = 0; i < k; ++i)
    gc.names.push_back(i < options.names.size() ? options.names[i] : "input " + std::to_string(i));
  if (options.check_upstream) gc.names.push_back("upstream");
  return gc;
}

// What g is built from: f's output shape, the upstream gradient U and the projections R_i, drawn
// in T from the seed.
template <class T> struct SecondOrderSetup {
  Shape out_shape;
  Tensor<T> U;
  std::vector<Tensor<T>> R;
};

template <class T>
SecondOrderSetup<T> second_order_setup(const TensorFunction<T>& f,
                                       const std::vector<Tensor<T>>& inputs,
                                       const GradGradCheckOptions& options) {
  if (inputs.empty()) throw Error("gradgradcheck: no inputs");
  for (std::size_t i = 0; i < inputs.size(); ++i)
    if (!inputs[i].defined())
      throw Error("gradgradcheck: input " + std::to_string(i) + " is undefined");
  SecondOrderSetup<T> s;
  {
    std::vector<Tensor<T>> probe;
    for (const auto& t : inputs) probe.push_back(t.detach());
    NoGradGuard no_grad;
    const Tensor<T> y = f(probe);
    if (!y.defined()) throw Error("gradgradcheck: the function returned an undefined tensor");
    s.out_shape = y.shape();
  }
  std::mt19937_64 rng(options.seed);
  s.U = Tensor<T>::uniform(s.out_shape, T(-1), T(1), rng);
  for (const auto& t : inputs) s.R.push_back(Tensor<T>::uniform(t.shape(), T(-1), T(1), rng));
  return s;
}

// The same values in double (float's are exactly representable there).
template <class T> Tensor<double> promote(const Tensor<T>& t) {
  const T* d = std::as_const(t).data();
  return Tensor<double>::from_vector(t.shape(), std::vector<double>(d, d + t.size()));
}

// g(inputs[, U]) = sum_i sum(grad_i * R_i). gradcheck calls it with grad mode on for the analytic
// pass (record the first backward so that it can be differentiated) and under NoGradGuard for
// the differences (plain first-order gradients, raw kernels).
template <class T>
TensorFunction<T> second_order_function(TensorFunction<T> f, std::size_t k, Shape out_shape,
                                        Tensor<T> U, std::vector<Tensor<T>> R,
                                        bool check_upstream) {
  return [f = std::move(f), k, out_shape = std::move(out_shape), U = std::move(U), R = std::move(R),
          check_upstream](const std::vector<Tensor<T>>& in) -> Tensor<T> {
    const bool record = grad_enabled();
    EnableGradGuard on;  // f must build its graph even inside the differences
    const std::vector<Tensor<T>> x(in.begin(), in.begin() + std::ptrdiff_t(k));
    const Tensor<T> u = check_upstream ? in[k] : U;
    const Tensor<T> y = f(x);
    if (!y.defined() || y.shape() != out_shape)
      throw Error("gradgradcheck: the function's output shape changed from " + out_shape.str() +
                  " to " + (y.defined() ? y.shape().str() : std::string("undefined")));
    const std::vector<Tensor<T>> grads = grad(y, x, u, {.create_graph = record});
    Tensor<T> total;
    for (std::size_t i = 0; i < k; ++i) {
      Tensor<T> term = sum(mul(grads[i], R[i]));
      total = total.defined() ? add(total, term) : term;
    }
    return total;
  };
}

template <class T>
GradCheckReport run_gradgradcheck(const TensorFunction<T>& f, const std::vector<Tensor<T>>& inputs,
                                  const GradGradCheckOptions& options) {
  EnableGradGuard recording;  // the check needs graphs even if called under NoGradGuard
  SecondOrderSetup<T> s = second_order_setup(f, inputs, options);
  const std::size_t k = inputs.size();
  std::vector<Tensor<T>> all(inputs);
  if (options.check_upstream) all.push_back(s.U);
  const TensorFunction<T> g =
      second_order_function<T>(f, k, s.out_shape, s.U, s.R, options.check_upstream);
  return gradcheck(g, all, first_order_options(options, k));
}

// Float second derivatives judged as float first derivatives are: against differences of the
// double first derivatives (fd, the same function in double, with U and R at float's values) at
// the float inputs' values, at gradcheck's float-against-double tolerance. Float differences of
// a float gradient are too noisy for a steep function (bce near its targets): their error is of
// the order of the second derivative itself.
inline GradCheckReport run_gradgradcheck_mixed(const TensorFunction<float>& f,
                                               const TensorFunction<double>& fd,
                                               const std::vector<Tensor<float>>& inputs,
                                               const GradGradCheckOptions& options) {
  EnableGradGuard recording;
  SecondOrderSetup<float> s = second_order_setup(f, inputs, options);
  const std::size_t k = inputs.size();
  std::vector<Tensor<double>> R;
  for (const auto& r : s.R) R.push_back(promote(r));
  const TensorFunction<double> gd = second_order_function<double>(
      fd, k, s.out_shape, promote(s.U), std::move(R), options.check_upstream);
  std::vector<Tensor<float>> all(inputs);
  if (options.check_upstream) all.push_back(s.U);
  const TensorFunction<float> g =
      second_order_function<float>(f, k, s.out_shape, s.U, s.R, options.check_upstream);
  return run_gradcheck_mixed(g, gd, all, first_order_options(options, k));
}

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

namespace detail {

// A float sample is judged against the double sample with the same structure (its index and
// label for the seed), differentiated at the float inputs' values.
template <class T>
SecondOrderCheckResult check_op_second_order(const OpInfo& op, SampleFactory<T> factory,
                                             const std::vector<std::uint64_t>& seeds,
                                             const GradGradCheckOptions& options) {
  SecondOrderCheckResult row;
  row.dtype = std::is_same_v<T, float> ? "f32" : "f64";
  EnableGradGuard recording;
  detail::DoubleReferences references;
  run_op_samples<T>(
      row, op, factory, seeds,
      [&](const GradSample<T>& sample, std::size_t k, std::uint64_t seed, const Tensor<T>& out,
          const std::vector<Tensor<T>>& probe) -> GradCheckReport {
        // Does the recorded backward depend on the inputs (constant upstream)?
        const std::vector<Tensor<T>> first =
            grad(out, probe, Tensor<T>::ones(out.shape()), {.create_graph = true});
        for (const auto& d : first)
          row.gradient_depends_on_inputs = row.gradient_depends_on_inputs || d.requires_grad();
        if constexpr (std::is_same_v<T, float>) {
          return run_gradgradcheck_mixed(sample.fn, references.of(op, seed, k, sample).fn,
                                         sample.inputs, options);
        } else {
          (void)k;
          (void)seed;
          return gradgradcheck(sample.fn, sample.inputs, options);
        }
      });
  return row;
}

}  // namespace detail

// Every registered op's samples, for each seed, through gradgradcheck: one row per op in double,
// and with include_float a second one in float (each float sample's second derivatives against
// double differences of the double sample's first derivatives, at the float inputs' values).
// A row fails when the op has no sample, when a sample's output is not the op's, when the second
// derivatives disagree with the differences of the first, or when double backward raises.
inline std::vector<SecondOrderCheckResult> check_registered_ops_second_order(
    const std::vector<std::uint64_t>& seeds = {1, 2, 3}, const GradGradCheckOptions& options = {},
    bool include_float = false) {
  std::vector<SecondOrderCheckResult> rows;
  for (const OpInfo& op : registered_ops()) {
    rows.push_back(detail::check_op_second_order<double>(op, op.samples_double, seeds, options));
    if (include_float)
      rows.push_back(detail::check_op_second_order<float>(op, op.samples_float, seeds, options));
  }
  return rows;
}

}  // namespace tg
