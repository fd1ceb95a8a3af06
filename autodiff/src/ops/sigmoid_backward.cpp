// sigmoid_backward: G*s*(1-s), sigmoid's adjoint as one fused kernel (one buffer instead of
// four on the backward pass). Recorded when backward itself is recorded (create_graph), so it
// has an adjoint of its own: dG = s*(1-s), ds = G*(1-2s).
#include "../kernels.hpp"

namespace tg {

namespace {

template <class T> class SigmoidBackwardNode final : public SavingNode<T, 2> {
 public:
  const char* name() const override { return "sigmoid_backward"; }
  void backward(const Tensor<T>& u, Grads<T>& grads) override {
    Tensor<T> s = this->get(1);
    if (this->needs_grad(0)) grads[0] = sigmoid_backward(u, s);
    if (this->needs_grad(1)) grads[1] = u * this->get(0) * (T(1) - T(2) * s);
  }
};

template <class T> std::vector<GradSample<T>> sigmoid_backward_samples(std::uint64_t seed) {
  return samples::binary<T>(
      seed, -2, 2, 0.05, 0.95, false,
      [](const Tensor<T>& g, const Tensor<T>& s) { return sigmoid_backward(g, s); });
}

// By hand: G*s*(1-s) = [2*0.5*0.5, -1*0.25*0.75, 4*1*0]; a 0-d G = 2 over s = [0.1, 0.9] gives
// 2*0.1*0.9 twice.
OpCases sigmoid_backward_cases() {
  return {
      .forward =
          {{"[3]",
            [] {
              return sigmoid_backward(TensorD::vector({2, -1, 4}), TensorD::vector({0.5, 0.25, 1}));
            },
            Shape{3},
            {0.5, -0.1875, 0}},
           {"0-d G",
            [] {
              return sigmoid_backward(TensorD::scalar(2), TensorD::vector({0.1, 0.9}));
            },
            Shape{2},
            {0.18, 0.18}}},
      .errors = {
          {"[2,3] and [3,2]", ErrorKind::shape, "shapes [2,3] and [3,2]", [] {
             sigmoid_backward(TensorD::zeros(Shape{2, 3}, true), TensorD::zeros(Shape{3, 2}, true));
           }}}};
}

}  // namespace

template <class T> Tensor<T> sigmoid_backward(const Tensor<T>& g, const Tensor<T>& s) {
  Tensor<T> out = detail::map_binary("sigmoid_backward", g, s,
                                     [](T gv, T yv) { return detail::sigmoid_adjoint(gv, yv); });
  if (auto* node = record<SigmoidBackwardNode<T>>(out, {&g, &s})) {
    if (node->needs_grad(1)) node->saved[0].save_input(g);
    node->saved[1].save_input(s);
  }
  return out;
}

template Tensor<float> sigmoid_backward(const Tensor<float>&, const Tensor<float>&);
template Tensor<double> sigmoid_backward(const Tensor<double>&, const Tensor<double>&);

TG_DEFINE_REPLAYABLE_OP(sigmoid_backward, "dG = U*s*(1-s), ds = U*G*(1-2s)",
                        sigmoid_backward_samples, sigmoid_backward_cases);

}  // namespace tg
