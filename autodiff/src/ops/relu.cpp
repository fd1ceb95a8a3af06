// relu: max(x, 0), NaN for a NaN (as PyTorch: a NaN is never hidden). Adjoint: G*[x > 0], so
// relu'(0) = 0 (the PyTorch/JAX/TF convention), and at a NaN the upstream passes (PyTorch's
// threshold_backward zeroes only where the output is <= 0).
// The fused op relu_backward applies the mask; being piecewise constant, the mask passes no
// gradient on to the saved output when backward is recorded.
#include "../kernels.hpp"

namespace tg {

namespace {

template <class T> class ReluNode final : public SavingNode<T, 1> {
 public:
  const char* name() const override { return "relu"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    // The saved output is positive exactly where x is.
    grads[0] = relu_backward(g, this->get(0));
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

}  // namespace

template <class T> Tensor<T> relu(const Tensor<T>& x) {
  Tensor<T> out = detail::map_unary("relu", x, [](T v) { return v <= T(0) ? T(0) : v; });
  if (auto* node = record<ReluNode<T>>(out, {&x})) node->saved[0].save_output(out);
  return out;
}

template Tensor<float> relu(const Tensor<float>&);
template Tensor<double> relu(const Tensor<double>&);

TG_DEFINE_OP(relu, "dx = G*[x > 0] (relu'(0) = 0)", relu_samples);

}  // namespace tg
