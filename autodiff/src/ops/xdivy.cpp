// xdivy: x / y, except 0 wherever x == 0 (even at y == 0). It is to division what xlogy is to
// log: a term whose numerator is 0 (such as the gradient of a 0 log 0 term) stays 0 and finite.
// Adjoint: dx = G/y where x != 0, else 0; dy = -G*x/y^2 where x != 0, else 0, evaluated as
// -((G*x)/y)/y (y^2 underflows to 0 for |y| below 1e-154 where this is still finite). The mask
// selects: multiplying by it would turn an infinite G at x = 0 into NaN.
#include <limits>

#include "../kernels.hpp"
#include "tapegrad/grad.hpp"

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
    if (this->needs_grad(1)) grads[1] = neg(xdivy(xdivy(mul(selected, x), y), y));
  }
};

template <class T> std::vector<GradSample<T>> xdivy_samples(std::uint64_t seed) {
  return samples::binary<T>(seed, -2, 2, 0.5, 2, true,
                            [](const Tensor<T>& a, const Tensor<T>& b) { return xdivy(a, b); });
}

// By hand: [0 (0/0), 0/5, 2/4, -3/2, 0/-1 = -0 == 0]; a non-zero x over y = 0 is still the IEEE
// quotient, and a NaN y is never hidden. Gradients: dx = [x != 0]/y, dy = -x/y^2 with 0 where
// x = 0: at x = [0, 2], y = [0, 4], [0, 1/4] and [0, -2/16]. The mask selects: an infinite
// upstream where x = 0 still gives 0 there (not inf * 0), so for G = [inf, 2] at x = [0, 2],
// y = [1, 4]: dx = [0, 2/4], dy = [0, -2*2/4^2], also when backward is recorded; for a 0-d y = 2
// and G = [inf, 1, -inf] at x = [0, 2, 0], dx = [0, 1/2, 0] and dy sums to -1*2/2^2.
OpCases xdivy_cases() {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  constexpr double inf = std::numeric_limits<double>::infinity();
  OpCases cases{
      .forward =
          {{"0 wherever x == 0, even at y == 0",
            [] {
              return xdivy(TensorD::vector({0, 0, 2, -3, 0}), TensorD::vector({0, 5, 4, 2, -1}));
            },
            Shape{5},
            {0, 0, 0.5, -1.5, 0}},
           {"a non-zero x over 0",
            [] {
              return xdivy(TensorD::vector({1, -1}), TensorD::vector({0, 0}));
            },
            Shape{2},
            {inf, -inf}},
           {"0 over NaN",
            [] { return xdivy(TensorD::vector({0}), TensorD::vector({nan})); },
            Shape{1},
            {nan}},
           {"dx finite where x == 0 and y == 0",
            [] {
              TensorD x = TensorD::vector({0, 2}, true), y = TensorD::vector({0, 4}, true);
              return grad(sum(xdivy(x, y)), {x, y})[0];
            },
            Shape{2},
            {0, 0.25}},
           {"dy finite where x == 0 and y == 0",
            [] {
              TensorD x = TensorD::vector({0, 2}, true), y = TensorD::vector({0, 4}, true);
              return grad(sum(xdivy(x, y)), {x, y})[1];
            },
            Shape{2},
            {0, -0.125}},
           {"dy finite where y^2 underflows",
            [] {
              TensorD x = TensorD::vector({1e-170}, true), y = TensorD::vector({1e-170}, true);
              return grad(sum(xdivy(x, y)), {x, y})[1];
            },
            Shape{1},
            {-1e170}},
           {"dy of a 0-d y, an infinite upstream where x == 0",
            [] {
              TensorD x = TensorD::vector({0, 2, 0}, true), y = TensorD::scalar(2, true);
              return grad(xdivy(x, y), {x, y}, TensorD::vector({inf, 1, -inf}))[1];
            },
            Shape{},
            {-0.5}},
           {"dx with a 0-d y, an infinite upstream where x == 0",
            [] {
              TensorD x = TensorD::vector({0, 2, 0}, true), y = TensorD::scalar(2, true);
              return grad(xdivy(x, y), {x, y}, TensorD::vector({inf, 1, -inf}))[0];
            },
            Shape{3},
            {0, 0.5, 0}}},
      .errors = {{"[2,3] and [3,2]", ErrorKind::shape, "shapes [2,3] and [3,2]", [] {
                    xdivy(TensorD::zeros(Shape{2, 3}, true), TensorD::zeros(Shape{3, 2}, true));
                  }}}};
  for (const bool recorded : {false, true}) {
    const std::string suffix = recorded ? ", recorded" : "";
    cases.forward.push_back(
        {"dx 0 where x == 0 for an infinite upstream" + suffix,
         [recorded] {
           TensorD x = TensorD::vector({0, 2}, true), y = TensorD::vector({1, 4}, true);
           return grad(xdivy(x, y), {x, y}, TensorD::vector({inf, 2}),
                       {.create_graph = recorded})[0];
         },
         Shape{2},
         {0, 0.5}});
    cases.forward.push_back(
        {"dy 0 where x == 0 for an infinite upstream" + suffix,
         [recorded] {
           TensorD x = TensorD::vector({0, 2}, true), y = TensorD::vector({1, 4}, true);
           return grad(xdivy(x, y), {x, y}, TensorD::vector({inf, 2}),
                       {.create_graph = recorded})[1];
         },
         Shape{2},
         {0, -0.25}});
  }
  return cases;
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

TG_DEFINE_REPLAYABLE_OP(xdivy, "dx = G*[x!=0]/y, dy = -G*x/y^2 (0 where x = 0)", xdivy_samples,
                        xdivy_cases);

}  // namespace tg
