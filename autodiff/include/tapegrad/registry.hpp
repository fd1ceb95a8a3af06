// The op registry: every op gives, beside its definition, the formula of its adjoint and a
// gradient-check sample, so that the per-op gradient-check suite finds every op by itself.
// The library's own ops are listed once (autodiff/src/ops/op_table.hpp) and registered on first
// use of the registry, not by static initializers, so a static link keeps every one of them.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tapegrad/tensor.hpp"

namespace tg {

// One gradient-check case: a function of the inputs, evaluated at `inputs` (which require grad).
template <class T>
struct GradSample {
  std::string label;  // the shapes tried, e.g. "[3,4]@[4,2]"
  std::vector<Tensor<T>> inputs;
  std::function<Tensor<T>(const std::vector<Tensor<T>>&)> fn;
};

template <class T>
using SampleFactory = std::vector<GradSample<T>> (*)(std::uint64_t seed);

struct OpInfo {
  std::string name;     // the name its nodes report (Node::name())
  std::string adjoint;  // the adjoint formula, for the check table and documentation
  SampleFactory<double> samples_double = nullptr;
  SampleFactory<float> samples_float = nullptr;
};

// All registered ops: the library's own (in the op table's order), then those registered with
// register_op, in registration order.
const std::vector<OpInfo>& registered_ops();
// Registers an op defined outside the library (directly or through TG_REGISTER_OP); throws on a
// duplicate name or a missing sample.
bool register_op(OpInfo info);

}  // namespace tg

// For an op defined outside the library: registers op NAME with its adjoint formula and a sample
// factory template `template <class T> std::vector<GradSample<T>> FACTORY(std::uint64_t seed)`
// from a static initializer, which a static link drops with the object file unless something else
// in that file is referenced; calling tg::register_op from the program does not depend on that.
#define TG_REGISTER_OP(NAME, ADJOINT, FACTORY)              \
  [[maybe_unused]] static const bool tg_registered_##NAME = \
      ::tg::register_op(::tg::OpInfo{#NAME, ADJOINT, &FACTORY<double>, &FACTORY<float>})

// For the library's own ops (inside namespace tg, in the op's file): defines the function through
// which the registry, following the op table, gets op NAME's adjoint formula and sample factory.
#define TG_DEFINE_OP(NAME, ADJOINT, FACTORY)                                \
  ::tg::OpInfo op_info_##NAME() {                                           \
    return ::tg::OpInfo{#NAME, ADJOINT, &FACTORY<double>, &FACTORY<float>}; \
  }                                                                         \
  static_assert(true)
