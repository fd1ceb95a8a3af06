// relu: max(x, 0), NaN for a NaN (as PyTorch: a NaN is never hidden). Adjoint: G*[x > 0], so
// relu'(0) = 0 (the PyTorch/JAX/TF convention), and at a NaN the upstream passes (PyTorch's
// threshold_backward zeroes only where the output is <= 0).
// The fused op relu_backward applies the mask; being piecewise constant, the mask passes no
// gradient on to the saved output when backward is recorded.
#include <limits>

#include "../kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> class ReluNode final : public SavingNode<T, 1> {
 public:
  const char* name() const override { return "relu"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    // The saved output is positive exactly where x is.
    grads[0] = relu_backward(detail::last_use(g), this->get(0));
  }
};

template <class T> std::vector<GradSample<T>> relu_samples(std::uint64_t seed) {
  // Inputs stay at least 0.05 away from the kink at 0, where finite differences cannot judge.
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  for (const Shape& s : samples::elementwise_shapes())
    out.push_back({s.str(),
                   {samples::away_from_zero<T>(s, 0.05, 2, rng)},
                   [](const std::vector<Tensor<T>>& in) { return relu(in[0]); }});
  return out;
}

// By hand: max(x, 0), with relu(-0) = 0 and a NaN kept; the gradient [x > 0], so relu'(0) = 0
// (PyTorch's convention at the kink), and at a NaN the upstream passes. relu takes any input: no
// error cases.
OpCases relu_cases() {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  OpCases cases = {.forward = {{"[5]",
                                [] {
                                  return relu(TensorD::vector({-2, 0, 3, -0.0, 1e-300}));
                                },
                                Shape{5},
                                {0, 0, 3, 0, 1e-300}},
                               {"relu'(0) = 0",
                                [] {
                                  TensorD x = TensorD::vector({-2, 0, 3, -0.0, 1e-300}, true);
                                  return grad(sum(relu(x)), {x})[0];
                                },
                                Shape{5},
                                {0, 0, 1, 0, 1}},
                               {"NaN",
                                [] {
                                  return relu(TensorD::vector({nan, -1}));
                                },
                                Shape{2},
                                {nan, 0}},
                               {"the upstream passes at a NaN",
                                [] {
                                  TensorD x = TensorD::vector({nan, -1}, true);
                                  return grad(relu(x), {x}, TensorD::vector({5, 5}))[0];
                                },
                                Shape{2},
                                {5, 0}}}};
  cases.accepts_every_input = true;
  return cases;
}

}  // namespace

template <class T> Tensor<T> relu(const Tensor<T>& x) {
  Tensor<T> out = detail::map_unary("relu", x, [](T v) { return detail::relu_value(v); });
  if (auto* node = record<ReluNode<T>>(out, {&x})) node->saved[0].save_output(out);
  return out;
}

template Tensor<float> relu(const Tensor<float>&);
template Tensor<double> relu(const Tensor<double>&);

TG_DEFINE_REPLAYABLE_OP(relu, "dx = G*[x > 0] (relu'(0) = 0)", relu_samples, relu_cases);

}  // namespace tg
