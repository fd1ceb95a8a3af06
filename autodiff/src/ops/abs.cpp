// abs: |x|, NaN for a NaN. Saves its input. Adjoint: G*sign(x), 0 at x = 0 (PyTorch's
// convention, a subgradient), as PyTorch computes it: G times a constant sign(x), so the recorded
// backward is linear in G (abs'' = 0 away from 0), G*0 is NaN where G is infinite or NaN at x = 0
// (PyTorch's too), and a NaN input gives NaN (sign(NaN) = NaN, see sign; PyTorch gives 0 there,
// from its sign(NaN) = 0).
#include <limits>

#include "../kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> class AbsNode final : public SavingNode<T, 1> {
 public:
  const char* name() const override { return "abs"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    grads[0] = mul(g, detail::map_unary("abs", this->get(0), [](T v) {
                     return v > T(0) ? T(1) : v < T(0) ? T(-1) : v == T(0) ? T(0) : v;
                   }));
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
                                {-1, nan, 0, 1}},
                               {"gradient G*0 at 0: NaN for an infinite upstream, as PyTorch",
                                [] {
                                  TensorD x = TensorD::vector({0, 2, -1}, true);
                                  return grad(abs(x), {x}, TensorD::vector({inf, inf, inf}))[0];
                                },
                                Shape{3},
                                {nan, inf, -inf}}}};
  cases.accepts_every_input = true;
  cases.gradient_constant_in_inputs = true;  // G times a constant sign
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
