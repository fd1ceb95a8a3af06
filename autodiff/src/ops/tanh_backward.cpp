// tanh_backward: G*(1-t^2), tanh's adjoint as one fused kernel. Recorded under create_graph,
// with its own adjoint: dG = 1-t^2, dt = -2*G*t.
#include "../kernels.hpp"

namespace tg {

namespace {

template <class T> class TanhBackwardNode final : public SavingNode<T, 2> {
 public:
  const char* name() const override { return "tanh_backward"; }
  void backward(const Tensor<T>& u, Grads<T>& grads) override {
    Tensor<T> t = this->get(1);
    if (this->needs_grad(0)) grads[0] = tanh_backward(u, t);
    if (this->needs_grad(1)) grads[1] = u * this->get(0) * t * T(-2);
  }
};

template <class T> std::vector<GradSample<T>> tanh_backward_samples(std::uint64_t seed) {
  return samples::binary<T>(
      seed, -2, 2, -0.95, 0.95, false,
      [](const Tensor<T>& g, const Tensor<T>& t) { return tanh_backward(g, t); });
}

// By hand: G*(1-t^2) = [2*(1-0), -1*(1-0.25), 3*(1-1)].
OpCases tanh_backward_cases() {
  return {
      .forward =
          {{"[3]",
            [] {
              return tanh_backward(TensorD::vector({2, -1, 3}), TensorD::vector({0, 0.5, -1}));
            },
            Shape{3},
            {2, -0.75, 0}}},
      .errors = {
          {"[2,3] and [3,2]", ErrorKind::shape, "shapes [2,3] and [3,2]", [] {
             tanh_backward(TensorD::zeros(Shape{2, 3}, true), TensorD::zeros(Shape{3, 2}, true));
           }}}};
}

}  // namespace

template <class T> Tensor<T> tanh_backward(const Tensor<T>& g, const Tensor<T>& t) {
  Tensor<T> out = detail::map_binary("tanh_backward", g, t,
                                     [](T gv, T yv) { return detail::tanh_adjoint(gv, yv); });
  if (auto* node = record<TanhBackwardNode<T>>(out, {&g, &t})) {
    if (node->needs_grad(1)) node->saved[0].save_input(g);
    node->saved[1].save_input(t);
  }
  return out;
}

template Tensor<float> tanh_backward(const Tensor<float>&, const Tensor<float>&);
template Tensor<double> tanh_backward(const Tensor<double>&, const Tensor<double>&);

TG_DEFINE_REPLAYABLE_OP(tanh_backward, "dG = U*(1-t^2), dt = -2*U*G*t", tanh_backward_samples,
                        tanh_backward_cases);

}  // namespace tg
