// relu_backward: G where y > 0 or y is NaN, else 0 (selected, never multiplied: an infinite G
// where y <= 0 gives 0, not NaN), for relu's output y (positive exactly where its input is, NaN
// where it is NaN), relu's adjoint as one fused kernel. The mask is piecewise constant: dG = [y >
// 0], dy = 0 (no gradient flows into y; relu''(x) = 0 almost everywhere).
#include <limits>

#include "../kernels.hpp"

namespace tg {

namespace {

template <class T> class ReluBackwardNode final : public SavingNode<T, 1> {
 public:
  const char* name() const override { return "relu_backward"; }
  void backward(const Tensor<T>& u, Grads<T>& grads) override {
    if (this->needs_grad(0)) grads[0] = relu_backward(u, this->get(0));
  }
};

template <class T> std::vector<GradSample<T>> relu_backward_samples(std::uint64_t seed) {
  // y keeps away from 0 so that finite differences in y do not cross the mask's step.
  return samples::binary<T>(seed, -2, 2, 0.05, 2, true, [](const Tensor<T>& g, const Tensor<T>& y) {
    return relu_backward(g, y);
  });
}

// By hand: G where y > 0 or y is NaN, else 0, selected: an infinite G where y <= 0 gives 0.
OpCases relu_backward_cases() {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  constexpr double inf = std::numeric_limits<double>::infinity();
  OpCases cases = {
      .forward = {{"[5]",
                   [] {
                     return relu_backward(TensorD::vector({1, 2, 3, 4, inf}),
                                          TensorD::vector({-1, 0, 0.5, nan, 0}));
                   },
                   Shape{5},
                   {0, 0, 3, 4, 0}}},
      .errors = {
          {"[2,3] and [3,2]", ErrorKind::shape, "shapes [2,3] and [3,2]", [] {
             relu_backward(TensorD::zeros(Shape{2, 3}, true), TensorD::zeros(Shape{3, 2}, true));
           }}}};
  cases.gradient_constant_in_inputs = true;
  return cases;
}

}  // namespace

template <class T> Tensor<T> relu_backward(const Tensor<T>& g, const Tensor<T>& y) {
  Tensor<T> out = detail::map_binary("relu_backward", g, y,
                                     [](T gv, T yv) { return detail::relu_adjoint(gv, yv); });
  if (auto* node = record<ReluBackwardNode<T>>(out, {&g, &y}))
    if (node->needs_grad(0)) node->saved[0].save_input(y.detach());
  return out;
}

template Tensor<float> relu_backward(const Tensor<float>&, const Tensor<float>&);
template Tensor<double> relu_backward(const Tensor<double>&, const Tensor<double>&);

TG_DEFINE_REPLAYABLE_OP(relu_backward, "dG = U*[y > 0], dy = 0", relu_backward_samples,
                        relu_backward_cases);

}  // namespace tg
