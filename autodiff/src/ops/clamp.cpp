// clamp: min(max(x, lo), hi) with either bound optional (at least one given: DomainError
// otherwise, as PyTorch raises); lo > hi gives hi everywhere, a NaN input or bound gives NaN.
// Saves its input. Adjoint: G where lo <= x <= hi (bounds inclusive, PyTorch's convention:
// its clamp_backward selects G where x >= lo and x <= hi), else 0; 0 at a NaN input. Selected by
// relu_backward with a constant selector, never multiplied or subtracted: an infinite or NaN G at
// a clamped entry still gives exactly 0 there, as PyTorch's. The recorded backward is linear in G,
// so differentiable (clamp'' = 0 off the bounds).
#include <limits>
#include <optional>

#include "../kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> class ClampNode final : public SavingNode<T, 1> {
 public:
  std::optional<T> lo, hi;
  const char* name() const override { return "clamp"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    const Tensor<T> inside = detail::map_unary("clamp", this->get(0), [lo = lo, hi = hi](T v) {
      return (!lo || v >= *lo) && (!hi || v <= *hi) ? T(1) : T(0);
    });
    grads[0] = relu_backward(g, inside);
  }
};

// Inputs in [-2, 2) at least 0.1 away from the bounds -0.5 and 1.
template <class T> Tensor<T> off_bounds(const Shape& s, std::mt19937_64& rng) {
  Tensor<T> x = samples::uniform<T>(s, -2, 2, rng);
  for (std::size_t i = 0; i < x.size(); ++i)
    for (const T bound : {T(-0.5), T(1)}) {
      T& v = x.data()[i];
      if (std::abs(v - bound) < T(0.1)) v = v < bound ? bound - T(0.1) : bound + T(0.1);
    }
  return x;
}

template <class T> std::vector<GradSample<T>> clamp_samples(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  for (const Shape& s : samples::elementwise_shapes()) {
    out.push_back({s.str() + " [-0.5,1]",
                   {off_bounds<T>(s, rng)},
                   [](const std::vector<Tensor<T>>& in) { return clamp(in[0], -0.5, 1.0); }});
    out.push_back(
        {s.str() + " [-0.5,]", {off_bounds<T>(s, rng)}, [](const std::vector<Tensor<T>>& in) {
           return clamp(in[0], -0.5, std::nullopt);
         }});
    out.push_back(
        {s.str() + " [,1]", {off_bounds<T>(s, rng)}, [](const std::vector<Tensor<T>>& in) {
           return clamp(in[0], std::nullopt, 1.0);
         }});
  }
  return out;
}

// By hand. The gradient passes at both bounds (inclusive).
OpCases clamp_cases() {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  constexpr double inf = std::numeric_limits<double>::infinity();
  OpCases cases{
      .forward =
          {{"[7] both bounds",
            [] {
              return clamp(TensorD::vector({-2, -1, 0.5, 1, 2, -inf, nan}), -1.0, 1.0);
            },
            Shape{7},
            {-1, -1, 0.5, 1, 1, -1, nan}},
           {"lower bound only",
            [] {
              return clamp(TensorD::vector({-2, 0, 3, inf}), 0.0, std::nullopt);
            },
            Shape{4},
            {0, 0, 3, inf}},
           {"upper bound only",
            [] {
              return clamp(TensorD::vector({-2, 0, 3}), std::nullopt, 0.5);
            },
            Shape{3},
            {-2, 0, 0.5}},
           {"lo > hi gives hi",
            [] {
              return clamp(TensorD::vector({-5, 0, 5}), 2.0, 1.0);
            },
            Shape{3},
            {1, 1, 1}},
           {"NaN bound",
            [] {
              return clamp(TensorD::vector({-5, 5}), std::numeric_limits<double>::quiet_NaN(), 1.0);
            },
            Shape{2},
            {nan, nan}},
           {"gradient, bounds inclusive",
            [] {
              TensorD x = TensorD::vector({-2, -1, 0, 1, 2, nan}, true);
              return grad(sum(clamp(x, -1.0, 1.0)), {x})[0];
            },
            Shape{6},
            {0, 1, 1, 1, 0, 0}},
           {"gradient, upper bound only",
            [] {
              TensorD x = TensorD::vector({-5, 1, 2}, true);
              return grad(sum(clamp(x, std::nullopt, 1.0)), {x})[0];
            },
            Shape{3},
            {1, 1, 0}},
           {"gradient, lower bound only",
            [] {
              TensorD x = TensorD::vector({-1, 0, 3}, true);
              return grad(sum(clamp(x, 0.0, std::nullopt)), {x})[0];
            },
            Shape{3},
            {0, 1, 1}},
           {"gradient, lo > hi",
            [] {
              TensorD x = TensorD::vector({0.5, 1, 2}, true);
              return grad(sum(clamp(x, 2.0, 1.0)), {x})[0];
            },
            Shape{3},
            {0, 0, 0}},
           {"gradient 0 at clamped entries whatever the upstream",
            [] {
              TensorD x = TensorD::vector({-2, 0.5, 3, -3, 0}, true);
              return grad(clamp(x, -1.0, 1.0), {x}, TensorD::vector({nan, nan, inf, -inf, inf}))[0];
            },
            Shape{5},
            {0, nan, 0, 0, inf}}},
      .errors = {{"no bound", ErrorKind::domain, "at least one of lo and hi", [] {
                    clamp(TensorD::zeros(Shape{2, 3}), std::nullopt, std::nullopt);
                  }}}};
  // A selection of G by a constant mask of x (clamp is piecewise linear).
  cases.gradient_constant_in_inputs = true;
  return cases;
}

}  // namespace

template <class T>
Tensor<T> clamp(const Tensor<T>& x, std::optional<std::type_identity_t<T>> lo,
                std::optional<std::type_identity_t<T>> hi) {
  if (!lo && !hi)
    throw DomainError("clamp: at least one of lo and hi must be given, got neither (input " +
                      x.shape().str() + ")");
  constexpr T inf = std::numeric_limits<T>::infinity();
  const T low = lo ? *lo : -inf, high = hi ? *hi : inf;
  Tensor<T> out = detail::map_unary("clamp", x, [low, high](T v) {
    if (low != low) return low;  // a NaN bound
    if (high != high) return high;
    const T above = v < low ? low : v;  // a NaN input passes both comparisons
    return above > high ? high : above;
  });
  if (auto* node = record<ClampNode<T>>(out, {&x})) {
    node->lo = lo;
    node->hi = hi;
    node->saved[0].save_input(x);
  }
  return out;
}

template Tensor<float> clamp(const Tensor<float>&, std::optional<float>, std::optional<float>);
template Tensor<double> clamp(const Tensor<double>&, std::optional<double>, std::optional<double>);

TG_DEFINE_REPLAYABLE_OP(clamp, "dx = G where lo <= x <= hi (bounds inclusive), else 0",
                        clamp_samples, clamp_cases);

}  // namespace tg
