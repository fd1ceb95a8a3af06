// huber_loss: PyTorch's, with d = a-b: d^2/2 where |d| < delta, else delta*(|d| - delta/2),
// reduced as asked (mean over all N elements by default; N = 1 below for sum and none); delta > 0.
// Adjoint: da = G*clamp(d, -delta, delta)/N (the two pieces agree at |d| = delta), db = -da;
// built from d times a constant mask plus constant slopes, so it is differentiable again.
#include <limits>
#include <string>

#include "../loss_kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> std::vector<GradSample<T>> huber_loss_samples(std::uint64_t seed) {
  std::vector<GradSample<T>> out = detail::kinked_loss_samples<T>(
      seed, 1,
      [](const Tensor<T>& a, const Tensor<T>& b, Reduction r) { return huber_loss(a, b, 1, r); });
  for (GradSample<T>&s : detail::kinked_loss_samples<T>(
           seed + 1, 0.5, [](const Tensor<T>&a, const Tensor<T>&b, Reduction r) {
             return huber_loss(a, b, 0.5, r);
           })) {
    s.label += " delta 0.5";
    out.push_back(std::move(s));
  }
  return out;
}

// By hand, a - b = [1, -3, 0, -1.5]: delta 1 gives [0.5, 2.5, 0, 1] (mean 1); delta 2 gives
// [0.5, 4, 0, 1.125] (sum 5.625). The gradient in a of the sum at d = [1, -1, 0.5, -3], delta 1,
// is [1, -1, 0.5, -1]: d itself up to |d| = delta, delta*sign(d) beyond.
OpCases huber_loss_cases() {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  constexpr double inf = std::numeric_limits<double>::infinity();
  return {
      .forward =
          {{"[4] delta 1 mean",
            [] {
              return huber_loss(TensorD::vector({1, -2, 3, 0.5}), TensorD::vector({0, 1, 3, 2}));
            },
            Shape{},
            {1}},
           {"[4] delta 2 none",
            [] {
              return huber_loss(TensorD::vector({1, -2, 3, 0.5}), TensorD::vector({0, 1, 3, 2}), 2,
                                Reduction::none);
            },
            Shape{4},
            {0.5, 4, 0, 1.125}},
           {"[2,2] delta 2 sum",
            [] {
              return huber_loss(TensorD::matrix({{1, -2}, {3, 0.5}}),
                                TensorD::matrix({{0, 1}, {3, 2}}), 2, Reduction::sum);
            },
            Shape{},
            {5.625}},
           {"NaN",
            [] { return huber_loss(TensorD::vector({nan}), TensorD::vector({1})); },
            Shape{},
            {nan}},
           {"gradient clamp(d, -delta, delta), delta*sign at |d| = delta",
            [] {
              TensorD a = TensorD::vector({1, -1, 0.5, -3}, true);
              return tg::grad(huber_loss(a, TensorD::zeros(Shape{4}), 1, Reduction::sum), {a})[0];
            },
            Shape{4},
            {1, -1, 0.5, -1}},
           {"gradient at an infinite a - b: delta*sign(a - b), not NaN",
            [] {
              TensorD a = TensorD::vector({0.5, -1}, true);
              return tg::grad(huber_loss(a, TensorD::vector({inf, -inf}), 0.5, Reduction::sum),
                              {a})[0];
            },
            Shape{2},
            {-0.5, 0.5}}},
      .errors = {{"shapes differ", ErrorKind::shape, "[2,3] and [3,2]",
                  [] {
                    huber_loss(TensorD::zeros(Shape{2, 3}), TensorD::zeros(Shape{3, 2}));
                  }},
                 {"delta 0", ErrorKind::domain, "delta must be positive, got 0",
                  [] { huber_loss(TensorD::zeros(Shape{2}), TensorD::zeros(Shape{2}), 0); }},
                 {"empty mean", ErrorKind::shape, "empty input [0]",
                  [] { huber_loss(TensorD::zeros(Shape{0}), TensorD::zeros(Shape{0})); }},
                 {"unknown reduction", ErrorKind::domain, "unknown reduction -1", [] {
                    huber_loss(TensorD::zeros(Shape{2}), TensorD::zeros(Shape{2}), 1,
                               static_cast<Reduction>(-1));
                  }}}};
}

}  // namespace

template <class T>
Tensor<T> huber_loss(const Tensor<T>& a, const Tensor<T>& b, std::type_identity_t<T> delta,
                     Reduction reduction) {
  if (!(delta > T(0)))
    throw DomainError("huber_loss: delta must be positive, got " + format_number(double(delta)));
  return detail::kinked_loss("huber_loss", a, b, reduction,
                             detail::KinkedLoss<T>{delta, T(1), delta});
}

template Tensor<float> huber_loss(const Tensor<float>&, const Tensor<float>&, float, Reduction);
template Tensor<double> huber_loss(const Tensor<double>&, const Tensor<double>&, double, Reduction);

TG_DEFINE_REPLAYABLE_OP(huber_loss,
                        "da = G*clamp(a-b, -delta, delta)/N (N = 1 for sum, none), db = -da",
                        huber_loss_samples, huber_loss_cases);

}  // namespace tg
