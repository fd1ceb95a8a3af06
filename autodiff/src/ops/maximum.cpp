// maximum: the larger of a and b elementwise with NumPy broadcasting; NaN where either is NaN
// (PyTorch's maximum, not fmax). Adjoint: G to the larger operand, G/2 to each at a tie
// (PyTorch's convention: the subgradient that treats both sides alike), and G to both where a
// NaN made the output (neither comparison holds there, so neither side is masked, as in PyTorch).
#include <limits>

#include "../binary_kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

// a's share of G: 1 where a wins, 1/2 at a tie, 0 where b wins, 1 at a NaN; b's is a's with the
// operands swapped.
template <class T> T maximum_share(T mine, T other) {
  if (mine == other) return T(0.5);
  return mine < other ? T(0) : T(1);
}

template <class T> class MaximumNode final : public SavingNode<T, 2> {
 public:
  const char* name() const override { return "maximum"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    const Tensor<T> a = this->get(0), b = this->get(1);
    if (this->needs_grad(0))
      grads[0] = detail::select_share(g, detail::map_binary("maximum", a, b, maximum_share<T>));
    if (this->needs_grad(1))
      grads[1] = detail::select_share(
          g, detail::map_binary("maximum", a, b, [](T x, T y) { return maximum_share(y, x); }));
  }
};

template <class T> std::vector<GradSample<T>> maximum_samples(std::uint64_t seed) {
  return samples::apart<T>(seed,
                           [](const Tensor<T>& a, const Tensor<T>& b) { return maximum(a, b); });
}

// Forward values by hand. Gradients of sum(maximum(a, b)) (G = 1): 1 to the larger side, 0 to
// the other, 0.5 to each at a tie (also at -0 vs +0, which compare equal), 1 to both at a NaN;
// with broadcasting each input's gradient is summed over the elements it took part in.
OpCases maximum_cases() {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  constexpr double inf = std::numeric_limits<double>::infinity();
  OpCases cases = {
      .forward =
          {{"[6] values, ties, infinities, NaN on either side",
            [] {
              return maximum(TensorD::vector({1, -2, 3, -inf, nan, 2}),
                             TensorD::vector({0.5, -1, 3, -5, 1, nan}));
            },
            Shape{6},
            {1, -1, 3, -5, nan, nan}},
           {"[2,1] with [3] broadcasts to [2,3]",
            [] {
              return maximum(TensorD::from_vector({2, 1}, {0, 2}), TensorD::vector({-1, 1, 3}));
            },
            Shape{2, 3},
            {0, 1, 3, 2, 2, 3}},
           {"0-d with 0-d",
            [] { return maximum(TensorD::scalar(-3), TensorD::scalar(-4)); },
            Shape{},
            {-3}},
           {"gradient to a: larger 1, smaller 0, tie 1/2, NaN 1",
            [] {
              TensorD a = TensorD::vector({2, 1, 4, -0.0, nan, 1}, true);
              TensorD b = TensorD::vector({1, 2, 4, 0.0, 1, nan}, true);
              return tg::grad(sum(maximum(a, b)), {a, b})[0];
            },
            Shape{6},
            {1, 0, 0.5, 0.5, 1, 1}},
           {"gradient to b: larger 1, smaller 0, tie 1/2, NaN 1",
            [] {
              TensorD a = TensorD::vector({2, 1, 4, -0.0, nan, 1}, true);
              TensorD b = TensorD::vector({1, 2, 4, 0.0, 1, nan}, true);
              return tg::grad(sum(maximum(a, b)), {a, b})[1];
            },
            Shape{6},
            {0, 1, 0.5, 0.5, 1, 1}},
           {"gradient to a [2,1] against b [3], summed over the row it was broadcast along",
            // a = [[0], [2]], b = [-1, 0, 3]: row 0 wins, ties, loses (1 + 1/2 + 0); row 1
            // wins, wins, loses (1 + 1 + 0).
            [] {
              TensorD a = TensorD::from_vector({2, 1}, {0, 2}, true);
              TensorD b = TensorD::vector({-1, 0, 3}, true);
              return tg::grad(sum(maximum(a, b)), {a, b})[0];
            },
            Shape{2, 1},
            {1.5, 2}},
           {"gradient to b [3] against a [2,1], summed over the column",
            // b[0] = -1 loses to both rows, b[1] = 0 ties row 0 (1/2) and loses to row 1,
            // b[2] = 3 wins both rows.
            [] {
              TensorD a = TensorD::from_vector({2, 1}, {0, 2}, true);
              TensorD b = TensorD::vector({-1, 0, 3}, true);
              return tg::grad(sum(maximum(a, b)), {a, b})[1];
            },
            Shape{3},
            {0, 0.5, 2}},
           {"an infinite G where a lost gives a 0, not NaN",
            // G = d/dy sum(y * c) = c, c = [inf, 1]: a loses at element 0, wins at 1.
            [] {
              TensorD a = TensorD::vector({0, 5}, true);
              TensorD b = TensorD::vector({1, 2});
              TensorD c = TensorD::vector({inf, 1});
              return tg::grad(sum(maximum(a, b) * c), {a})[0];
            },
            Shape{2},
            {0, 1}}},
      .errors = {{"[2,3] with [4]", ErrorKind::shape, "[2,3] and [4]", [] {
                    maximum(TensorD::zeros({2, 3}), TensorD::zeros({4}));
                  }}}};
  cases.gradient_constant_in_inputs = true;
  return cases;
}

}  // namespace

template <class T> Tensor<T> maximum(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = detail::map_binary("maximum", a, b, [](T x, T y) {
    if (x != x || y != y) return std::numeric_limits<T>::quiet_NaN();
    return x < y ? y : x;
  });
  if (auto* node = record<MaximumNode<T>>(out, {&a, &b})) {
    node->saved[0].save_input(a);
    node->saved[1].save_input(b);
  }
  return out;
}

template Tensor<float> maximum(const Tensor<float>&, const Tensor<float>&);
template Tensor<double> maximum(const Tensor<double>&, const Tensor<double>&);

TG_DEFINE_REPLAYABLE_OP(maximum, "da = G*[a > b] + G/2*[a = b], db likewise (ties split G equally)",
                        maximum_samples, maximum_cases);

}  // namespace tg
