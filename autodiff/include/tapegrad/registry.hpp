// The op registry: every op registers, beside its definition, the formula of its adjoint and a
// gradient-check sample, so that the per-op gradient-check suite finds every op by itself.
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

// All registered ops, in registration order.
const std::vector<OpInfo>& registered_ops();
// Registers an op (used through TG_REGISTER_OP); throws on a duplicate name or a missing sample.
bool register_op(OpInfo info);

}  // namespace tg

// Registers op NAME with its adjoint formula and a sample factory template
// `template <class T> std::vector<GradSample<T>> FACTORY(std::uint64_t seed)`.
#define TG_REGISTER_OP(NAME, ADJOINT, FACTORY)              \
  [[maybe_unused]] static const bool tg_registered_##NAME = \
      ::tg::register_op(::tg::OpInfo{#NAME, ADJOINT, &FACTORY<double>, &FACTORY<float>})
