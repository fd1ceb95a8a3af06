// abs: |x|, NaN for a NaN. Saves its input. Adjoint: G*sign(x), 0 at x = 0 (PyTorch's
// convention, a subgradient), written as relu_backward(G, x) - relu_backward(G, -x) so that the
// recorded backward is differentiable (abs'' = 0 away from 0) and exact: G, -G or 0, selected.
// At a NaN input both terms pass G; a constant factor, NaN there and 1 elsewhere, then gives NaN
// (G*sign(x) with sign(NaN) = NaN, see sign) without touching the other entries. PyTorch gives 0
// there, from its sign(NaN) = 0.
#include <limits>

#include "../kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> class AbsNode final : public SavingNode<T, 1> {
 public:
  const char* name() const override { return "abs"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    const Tensor<T> x = this->get(0);
    Tensor<T> d = relu_backward(g, x) - relu_backward(g, neg(x));
    // Under a recording the factor is always applied (1 leaves d's bits as they are), so that the
    // tape is right for a NaN that only a later run's values hold.
    if (detail::active_capture() ||
        std::any_of(x.data(), x.data() + x.size(), [](T v) { return v != v; }))
      d = d * detail::map_unary("abs", x, [](T v) { return v != v ? v : T(1); });
    grads[0] = d;
  }
};

template <class T> std::vector<GradSample<T>> abs_samples(std::uint64_t seed) {
  // Inputs at least 0.1 away from the kink at 0, where finite differences cannot judge.
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  for (const Shape& s : samples::elementwise_shapes())
    out.push_back({s.str(),
                   {samples::away_from_zero<T>(s, 0.1, 2, rng)},
                   [](const std::vector<Tensor<T>>& in) { return abs(in[0]); }});
  return out;
}

// By hand. The gradient at 0 is 0 (PyTorch's sign(0) = 0).
OpCases abs_cases() {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  constexpr double inf = std::numeric_limits<double>::infinity();
  OpCases cases = {.forward = {{"[6]",
                                [] {
                                  return abs(TensorD::vector({-1.5, 0, 2, -inf, inf, nan}));
                                },
                                Shape{6},
                                {1.5, 0, 2, inf, inf, nan}},
                               {"gradient sign(x), 0 at 0",
                                [] {
                                  TensorD x = TensorD::vector({-1.5, 0, 2, -inf}, true);
                                  return grad(sum(abs(x)), {x})[0];
                                },
                                Shape{4},
                                {-1, 0, 1, -1}},
                               {"gradient NaN at a NaN only",
                                [] {
                                  TensorD x = TensorD::vector({-1.5, nan, 0, 2}, true);
                                  return grad(sum(abs(x)), {x})[0];
                                },
                                Shape{4},
                                {-1, nan, 0, 1}}}};
  cases.accepts_every_input = true;
  return cases;
}

}  // namespace

template <class T> Tensor<T> abs(const Tensor<T>& x) {
  Tensor<T> out = detail::map_unary("abs", x, [](T v) { return std::abs(v); });
  if (auto* node = record<AbsNode<T>>(out, {&x})) node->saved[0].save_input(x);
  return out;
}

template Tensor<float> abs(const Tensor<float>&);
template Tensor<double> abs(const Tensor<double>&);

TG_DEFINE_REPLAYABLE_OP(abs, "dx = G*sign(x) (0 at x = 0)", abs_samples, abs_cases);

}  // namespace tg
