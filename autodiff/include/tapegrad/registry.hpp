// The op registry: every op gives, beside its definition, the formula of its adjoint,
// gradient-check samples, forward values worked out independently and inputs it must reject, so
// that the per-op suites (gradients first and second order, forward values, errors) and the fuzzer
// find every op by themselves. The library's own ops are its op files (autodiff/src/ops/<op>.cpp,
// listed by the build) and are registered on first use of the registry, not by static initializers,
// so a static link keeps every one of them.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tapegrad/tensor.hpp"

namespace tg {

// One gradient-check case: a function of the inputs, evaluated at `inputs` (which require grad).
template <class T> struct GradSample {
  std::string label;  // the shapes tried, e.g. "[3,4]@[4,2]"
  std::vector<Tensor<T>> inputs;
  std::function<Tensor<T>(const std::vector<Tensor<T>>&)> fn;
};

template <class T> using SampleFactory = std::vector<GradSample<T>> (*)(std::uint64_t seed);

// A forward value worked out independently of the op's kernel (by hand, or from a formula in
// another tool): `call` must give exactly `shape`, and `values` (row-major) to within `tolerance`
// relative to max(1, |value|); a NaN expects a NaN, an infinity the same infinity.
struct ForwardCase {
  std::string label;
  std::function<Tensor<double>()> call;
  Shape shape;
  std::vector<double> values;
  double tolerance = 1e-12;
};

// Which tg::Error an ErrorCase expects.
enum class ErrorKind { shape, axis, index, domain, graph };

// Inputs the op must reject: `call` must throw the error of `kind`, whose message starts with the
// op's name and contains `mentions` (the shapes, axis or index that are wrong).
struct ErrorCase {
  std::string label;
  ErrorKind kind;
  std::string mentions;
  std::function<void()> call;
};

struct OpCases {
  std::vector<ForwardCase> forward = {};
  std::vector<ErrorCase> errors = {};
  // The op raises for no input of the right types (an elementwise function defined by IEEE
  // arithmetic everywhere), so it has no error cases; every other op of the library has some.
  bool accepts_every_input = false;
  // The op's recorded gradient does not depend on its inputs: linear ops (add, reshape, slice)
  // and piecewise-constant selections (relu_backward, maximum, where, max). The second-order
  // suite checks this claim against the recorded backward.
  bool gradient_constant_in_inputs = false;
  // The op's gradient is 0 everywhere (sign): a scaled adjoint is the same adjoint, so the
  // mutation test has nothing to catch; the first-order suite checks the zero against differences.
  bool gradient_is_zero = false;
  // Every write of the op's forward and adjoint goes through kernel capture (tapegrad/replay.hpp),
  // so a recording may contain it; any other op raises ReplayError when it runs under a recording.
  bool replayable = false;
};

// `cases` with the op marked replayable.
inline OpCases replayable(OpCases cases) {
  cases.replayable = true;
  return cases;
}

// The cases of a and b together (an op file may state its cases in several groups).
inline OpCases join_cases(OpCases a, OpCases b) {
  for (auto& c : b.forward) a.forward.push_back(std::move(c));
  for (auto& c : b.errors) a.errors.push_back(std::move(c));
  a.accepts_every_input = a.accepts_every_input || b.accepts_every_input;
  a.gradient_constant_in_inputs = a.gradient_constant_in_inputs || b.gradient_constant_in_inputs;
  a.gradient_is_zero = a.gradient_is_zero || b.gradient_is_zero;
  a.replayable = a.replayable || b.replayable;
  return a;
}

using CaseFactory = OpCases (*)();

struct OpInfo {
  std::string name;     // the name its nodes report (Node::name())
  std::string adjoint;  // the adjoint formula, for the check table and documentation
  SampleFactory<double> samples_double = nullptr;
  SampleFactory<float> samples_float = nullptr;
  CaseFactory cases = nullptr;  // forward values and error inputs
};

namespace detail {
// Notes, from a static initializer (TG_DEFINE_REPLAYABLE_OP), that op `name` (a string literal) is
// replayable: a recording checks the ops it meets against these names, without building every
// op's cases, which would touch the code of the whole library.
bool note_replayable(const char* name) noexcept;
}  // namespace detail

// All registered ops: the library's own (in the op table's order), then those registered with
// register_op, in registration order.
const std::vector<OpInfo>& registered_ops();
// Registers an op defined outside the library (directly or through TG_REGISTER_OP); throws on a
// duplicate name or a missing sample.
bool register_op(OpInfo info);

}  // namespace tg

// For an op defined outside the library: registers op NAME with its adjoint formula, a sample
// factory template `template <class T> std::vector<GradSample<T>> FACTORY(std::uint64_t seed)` and
// optionally a `OpCases CASES()`, from a static initializer, which a static link drops with the
// object file unless something else in that file is referenced; calling tg::register_op from the
// program does not depend on that.
#define TG_REGISTER_OP(NAME, ADJOINT, FACTORY, ...)                            \
  [[maybe_unused]] static const bool tg_registered_##NAME = ::tg::register_op( \
      ::tg::OpInfo{#NAME, ADJOINT, &FACTORY<double>, &FACTORY<float> __VA_OPT__(, &__VA_ARGS__)})

// For the library's own ops (inside namespace tg, in the op's file <NAME>.cpp): defines the
// function through which the registry gets op NAME's adjoint formula, sample factory and cases.
#define TG_DEFINE_OP(NAME, ADJOINT, FACTORY, ...)                    \
  ::tg::OpInfo op_info_##NAME() {                                    \
    return ::tg::OpInfo{#NAME, ADJOINT, &FACTORY<double>,            \
                        &FACTORY<float> __VA_OPT__(, &__VA_ARGS__)}; \
  }                                                                  \
  static_assert(true)

// TG_DEFINE_OP for an op whose every write goes through kernel capture (OpCases::replayable).
#define TG_DEFINE_REPLAYABLE_OP(NAME, ADJOINT, FACTORY, CASES)                                    \
  [[maybe_unused]] static const bool tg_replayable_##NAME = ::tg::detail::note_replayable(#NAME); \
  ::tg::OpInfo op_info_##NAME() {                                                                 \
    return ::tg::OpInfo{#NAME, ADJOINT, &FACTORY<double>, &FACTORY<float>,                        \
                        +[] { return ::tg::replayable(CASES()); }};                               \
  }                                                                                               \
  static_assert(true)
