// xdivy: x / y, except 0 wherever x == 0 (even at y == 0). It is to division what xlogy is to
// log: a term whose numerator is 0 (such as the gradient of a 0 log 0 term) stays 0 and finite.
// Adjoint: dx = G/y where x != 0, else 0; dy = -G*x/y^2 where x != 0, else 0. The mask selects:
// multiplying by it would turn an infinite G at x = 0 into NaN.
#include "../kernels.hpp"

namespace tg {

namespace {

template <class T> class XdivyNode final : public SavingNode<T, 2> {
 public:
  const char* name() const override { return "xdivy"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    Tensor<T> x = this->get(0), y = this->get(1);
    // G where x != 0, exactly 0 elsewhere, whatever G is there. [x != 0] is piecewise constant:
    // a constant in the graph, and relu_backward(G, mask) is the fused select G*[mask > 0], linear
    // in G and constant in the mask, so a recorded backward stays differentiable in G.
    const Tensor<T> nonzero =
        detail::map_unary("xdivy", x.detach(), [](T v) { return T(v != T(0)); });
    const Tensor<T> selected = relu_backward(g, nonzero);
    if (this->needs_grad(0)) grads[0] = xdivy(selected, y);
    if (this->needs_grad(1)) grads[1] = neg(xdivy(mul(selected, x), mul(y, y)));
  }
};

template <class T> std::vector<GradSample<T>> xdivy_samples(std::uint64_t seed) {
  return samples::binary<T>(seed, -2, 2, 0.5, 2, true,
                            [](const Tensor<T>& a, const Tensor<T>& b) { return xdivy(a, b); });
}

}  // namespace

template <class T> Tensor<T> xdivy(const Tensor<T>& x, const Tensor<T>& y) {
  Tensor<T> out = detail::map_binary("xdivy", x, y, detail::xdivy_value<T>);
  if (auto* node = record<XdivyNode<T>>(out, {&x, &y})) {
    node->saved[0].save_input(x);
    node->saved[1].save_input(y);
  }
  return out;
}

template Tensor<float> xdivy(const Tensor<float>&, const Tensor<float>&);
template Tensor<double> xdivy(const Tensor<double>&, const Tensor<double>&);

TG_DEFINE_OP(xdivy, "dx = G*[x!=0]/y, dy = -G*x/y^2 (0 where x = 0)", xdivy_samples);

}  // namespace tg
