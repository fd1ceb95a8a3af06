// scale: x * c for a constant number c, what `x * c` and `c * x` record. Adjoint: G*c.
// The same values as mul(x, scalar(c)) (IEEE products commute), without making a 0-d tensor for c,
// broadcasting against it and saving it: on a small network `loss * 0.5` was 3% of a step.
#include <limits>

#include "../kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> class ScaleNode final : public Node<T> {
 public:
  T factor = T(0);
  const char* name() const override { return "scale"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    grads[0] = scale(detail::last_use(g), factor);
  }
};

template <class T> std::vector<GradSample<T>> scale_samples(std::uint64_t seed) {
  return samples::unary<T>(seed, -2, 2, [](const Tensor<T>& x) { return scale(x, T(-1.5)); });
}

// By hand. The products are exact in binary (factors 2, -0.5, 0.25 and 3 on small integers and
// halves); inf * 0 is NaN under IEEE, as for mul.
OpCases scale_cases() {
  constexpr double inf = std::numeric_limits<double>::infinity();
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  OpCases cases = {
      .forward = {{"[3] * 2",
                   [] {
                     return scale(TensorD::vector({1, -2.5, 0}), 2.0);
                   },
                   Shape{3},
                   {2, -5, 0}},
                  {"x * c is the same op",
                   [] {
                     return TensorD::matrix({{1, 2}, {-4, 6}}) * -0.5;
                   },
                   Shape{2, 2},
                   {-0.5, -1, 2, -3}},
                  {"c * x is the same op",
                   [] {
                     return 0.25 * TensorD::vector({4, -8});
                   },
                   Shape{2},
                   {1, -2}},
                  {"0-d", [] { return scale(TensorD::scalar(7), 3.0); }, Shape{}, {21}},
                  {"inf and NaN",
                   [] {
                     return scale(TensorD::vector({inf, nan, 1}), 0.0);
                   },
                   Shape{3},
                   {nan, nan, 0}},
                  {"d/dx sum(x * 3) = 3",
                   [] {
                     TensorD x = TensorD::vector({1, -2.5, 0}, true);
                     return grad(sum(x * 3.0), {x})[0];
                   },
                   Shape{3},
                   {3, 3, 3}},
                  {"d/dx of 0.5 * mse(x, y): (x - y) / N",
                   [] {
                     TensorD x = TensorD::vector({1, 4}, true);
                     TensorD y = TensorD::vector({0, 1});
                     return grad(0.5 * mse(x, y), {x})[0];
                   },
                   Shape{2},
                   {0.5, 1.5}}}};
  cases.gradient_constant_in_inputs = true;
  cases.accepts_every_input = true;
  return cases;
}

}  // namespace

template <class T> Tensor<T> scale(const Tensor<T>& x, std::type_identity_t<T> factor) {
  Tensor<T> out = detail::map_unary("scale", x, [factor](T v) { return v * factor; });
  if (auto* node = record<ScaleNode<T>>(out, {&x})) node->factor = factor;
  return out;
}

template Tensor<float> scale(const Tensor<float>&, float);
template Tensor<double> scale(const Tensor<double>&, double);

TG_DEFINE_REPLAYABLE_OP(scale, "dx = G*c", scale_samples, scale_cases);

}  // namespace tg
