// leaky_relu: x where x > 0, else slope*x (NaN for a NaN), as PyTorch. Saves its input.
// Adjoint: G where x > 0, else slope*G, so leaky_relu'(0) = slope and a NaN input gets slope*G
// (PyTorch's leaky_relu_backward tests x > 0). Written as P + slope*R with P = G where x > 0,
// else exactly 0, and R = G where not x > 0, else exactly 0: both selected, never G - P, which
// is inf - inf (NaN) where G is infinite. P is relu_backward(G, x), which records the dependence
// on x (the recorded backward stays differentiable, leaky_relu'' = 0 away from 0), but passes G
// at a NaN too, so it goes once more through relu_backward with a constant selector that is
// positive only where x > 0; R is G through the opposite selector.
#include <limits>

#include "../kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> class LeakyReluNode final : public SavingNode<T, 1> {
 public:
  T slope = T(0.01);
  const char* name() const override { return "leaky_relu"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    const Tensor<T> x = this->get(0);
    const Tensor<T> positive =
        detail::map_unary("leaky_relu", x, [](T v) { return v > T(0) ? T(1) : T(-1); });
    const Tensor<T> passed = relu_backward(relu_backward(g, x), positive);
    grads[0] = passed + relu_backward(g, neg(positive)) * slope;
  }
};

template <class T> std::vector<GradSample<T>> leaky_relu_samples(std::uint64_t seed) {
  // Inputs at least 0.1 away from the kink at 0; the default slope and a steep one.
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  for (const double slope : {0.01, 0.3})
    for (const Shape& s : samples::elementwise_shapes())
      out.push_back(
          {s.str() + " slope " + format_number(slope),
           {samples::away_from_zero<T>(s, 0.1, 2, rng)},
           [slope](const std::vector<Tensor<T>>& in) { return leaky_relu(in[0], T(slope)); }});
  return out;
}

// By hand. The gradient at 0 is the slope (PyTorch's convention).
OpCases leaky_relu_cases() {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  constexpr double inf = std::numeric_limits<double>::infinity();
  OpCases cases = {
      .forward = {
          {"[6] default slope 0.01",
           [] {
             return leaky_relu(TensorD::vector({-2, 0, 3, -inf, inf, nan}));
           },
           Shape{6},
           {-0.02, 0, 3, -inf, inf, nan}},
          {"[3] slope 0.2",
           [] {
             return leaky_relu(TensorD::vector({-2, 0, 3}), 0.2);
           },
           Shape{3},
           {-0.4, 0, 3}},
          {"gradient 1 or slope, slope at 0",
           [] {
             TensorD x = TensorD::vector({-2, 0, 3}, true);
             return grad(sum(leaky_relu(x, 0.2)), {x})[0];
           },
           Shape{3},
           {0.2, 0.2, 1}},
          {"gradient default slope 0.01 at 0, and at a NaN",
           [] {
             TensorD x = TensorD::vector({0, -1, std::numeric_limits<double>::quiet_NaN()}, true);
             return grad(sum(leaky_relu(x)), {x})[0];
           },
           Shape{3},
           {0.01, 0.01, 0.01}},
          {"gradient for an infinite upstream: G or slope*G, never inf - inf",
           [] {
             TensorD x = TensorD::vector({2, -1, inf}, true);
             return grad(leaky_relu(x, 0.2), {x}, TensorD::vector({inf, inf, -inf}))[0];
           },
           Shape{3},
           {inf, inf, -inf}}}};
  cases.accepts_every_input = true;
  return cases;
}

}  // namespace

template <class T> Tensor<T> leaky_relu(const Tensor<T>& x, std::type_identity_t<T> slope) {
  Tensor<T> out =
      detail::map_unary("leaky_relu", x, [slope](T v) { return v > T(0) ? v : v * slope; });
  if (auto* node = record<LeakyReluNode<T>>(out, {&x})) {
    node->slope = slope;
    node->saved[0].save_input(x);
  }
  return out;
}

template Tensor<float> leaky_relu(const Tensor<float>&, float);
template Tensor<double> leaky_relu(const Tensor<double>&, double);

TG_DEFINE_REPLAYABLE_OP(leaky_relu, "dx = G where x > 0, else slope*G (slope at 0)",
                        leaky_relu_samples, leaky_relu_cases);

}  // namespace tg
