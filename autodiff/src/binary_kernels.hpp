// What maximum and minimum share: the gradient that selects G by a piecewise-constant share, and
// samples whose two operands never come close to a tie.
#pragma once

#include <random>
#include <vector>

#include "kernels.hpp"

namespace tg::detail {

// G * share where share != 0, and exactly 0 where share == 0, for a share of 0, 1/2 or 1 (each
// element's part of G at a maximum or minimum). Selected rather than multiplied, as PyTorch's
// masked_fill: an infinite or NaN G where the operand lost gives 0, not NaN. The share is a
// constant in the graph: the result is linear in G and passes nothing back to the operands.
template <class T> Tensor<T> select_share(const Tensor<T>& g, const Tensor<T>& share) {
  const T* s = share.data();
  // Under a recording G is always multiplied (by 1 where one operand wins: the same bits), so that
  // the tape is right for a tie that only a later run's values hold.
  bool halves = active_capture() != nullptr;
  for (std::size_t i = 0; i < share.size() && !halves; ++i) halves = s[i] == T(0.5);
  const Tensor<T> zero = Tensor<T>::scalar(T(0));
  return where(share, halves ? mul(g, share) : g, zero);
}

}  // namespace tg::detail

namespace tg::samples {

// Samples of a broadcasting binary op whose operands must stay apart (a kink at a == b): over
// binary_shape_pairs() and a 4-D pair, a on the grid 0.2k and b on the grid 0.2k + 0.1 (k in
// -10..10), each moved by at most 0.02, so that any two elements that meet differ by 0.06 or more;
// either may be the larger.
template <class T, class F> std::vector<GradSample<T>> apart(std::uint64_t seed, F fn) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> step(-10, 10);
  std::uniform_real_distribution<double> jitter(-0.02, 0.02);
  auto on_grid = [&](const Shape& shape, double offset) {
    Tensor<T> t = Tensor<T>::zeros(shape, true);
    T* d = t.data();
    for (std::size_t i = 0; i < t.size(); ++i) d[i] = T(0.2 * step(rng) + offset + jitter(rng));
    return t;
  };
  std::vector<std::pair<Shape, Shape>> pairs = binary_shape_pairs();
  pairs.push_back({Shape{2, 1, 1, 3}, Shape{2, 1}});
  std::vector<GradSample<T>> out;
  for (const auto& [sa, sb] : pairs) {
    Tensor<T> a = on_grid(sa, 0.0);
    Tensor<T> b = on_grid(sb, 0.1);
    out.push_back({sa.str() + "," + sb.str(), {a, b}, [fn](const std::vector<Tensor<T>>& in) {
                     return fn(in[0], in[1]);
                   }});
  }
  return out;
}

}  // namespace tg::samples
