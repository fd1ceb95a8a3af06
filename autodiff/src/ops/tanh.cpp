// tanh. Saves its output t. Adjoint: G*(1 - t^2), the fused op tanh_backward.
#include "../kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> class TanhNode final : public SavingNode<T, 1> {
 public:
  const char* name() const override { return "tanh"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    grads[0] = tanh_backward(detail::last_use(g), this->get(0));
  }
};

template <class T> std::vector<GradSample<T>> tanh_samples(std::uint64_t seed) {
  return samples::unary<T>(seed, -2.5, 2.5, [](const Tensor<T>& x) { return tanh(x); });
}

// NumPy (float64): np.tanh([1000.0, -1000.0, 0.0, 0.5, -1.5]), saturating to +-1 far out; the
// gradient 1 - np.tanh(np.array([0.5, -1.5]))**2, and 0 at +-1000, 1 at 0 by hand. tanh takes
// any input: no error cases.
OpCases tanh_cases() {
  OpCases cases = {.forward = {{"[5]",
                                [] {
                                  return tanh(TensorD::vector({1000, -1000, 0, 0.5, -1.5}));
                                },
                                Shape{5},
                                {1.0, -1.0, 0.0, 0.46211715726000974, -0.9051482536448665}},
                               {"d/dx sum(tanh x) = 1 - tanh^2",
                                [] {
                                  TensorD x = TensorD::vector({1000, -1000, 0, 0.5, -1.5}, true);
                                  return grad(sum(tanh(x)), {x})[0];
                                },
                                Shape{5},
                                {0, 0, 1, 0.7864477329659274, 0.18070663892364836}}}};
  cases.accepts_every_input = true;
  return cases;
}

}  // namespace

template <class T> Tensor<T> tanh(const Tensor<T>& x) {
  Tensor<T> out = detail::map_unary("tanh", x, [](T v) { return std::tanh(v); });
  if (auto* node = record<TanhNode<T>>(out, {&x})) node->saved[0].save_output(out);
  return out;
}

template Tensor<float> tanh(const Tensor<float>&);
template Tensor<double> tanh(const Tensor<double>&);

TG_DEFINE_REPLAYABLE_OP(tanh, "dx = G*(1 - t^2), t = tanh(x)", tanh_samples, tanh_cases);

}  // namespace tg
