// l1_loss: |a-b| reduced as asked (mean over all N elements by default; N = 1 below for sum and
// none); a and b of the same shape (never broadcast). Adjoint: da = G*sign(a-b)/N with PyTorch's
// sign(0) = 0, so a == b gets no gradient; db = -da. The sign is a constant of the backward pass
// (its derivative is 0 wherever it exists), so the adjoint is differentiable again.
#include <limits>

#include "../loss_kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> std::vector<GradSample<T>> l1_loss_samples(std::uint64_t seed) {
  return detail::kinked_loss_samples<T>(
      seed, 0,
      [](const Tensor<T>& a, const Tensor<T>& b, Reduction r) { return l1_loss(a, b, r); });
}

// By hand: a - b = [1, -3, 0, -1.5], |a - b| = [1, 3, 0, 1.5], sum 5.5, mean 1.375. The gradient
// in a of the sum is sign(a - b) = [1, -1, 0]: 0 at a == b. A NaN passes through.
OpCases l1_loss_cases() {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  OpCases cases = {
      .forward =
          {{"[4] mean",
            [] {
              return l1_loss(TensorD::vector({1, -2, 3, 0.5}), TensorD::vector({0, 1, 3, 2}));
            },
            Shape{},
            {1.375}},
           {"[2,2] sum",
            [] {
              return l1_loss(TensorD::matrix({{1, -2}, {3, 0.5}}),
                             TensorD::matrix({{0, 1}, {3, 2}}), Reduction::sum);
            },
            Shape{},
            {5.5}},
           {"[2,2] none",
            [] {
              return l1_loss(TensorD::matrix({{1, -2}, {3, 0.5}}),
                             TensorD::matrix({{0, 1}, {3, 2}}), Reduction::none);
            },
            Shape{2, 2},
            {1, 3, 0, 1.5}},
           {"empty sum is 0",
            [] {
              return l1_loss(TensorD::zeros(Shape{0}), TensorD::zeros(Shape{0}), Reduction::sum);
            },
            Shape{},
            {0}},
           {"NaN",
            [] { return l1_loss(TensorD::vector({nan}), TensorD::vector({1})); },
            Shape{},
            {nan}},
           {"gradient sign(a-b), 0 at a == b",
            [] {
              TensorD a = TensorD::vector({1, -2, 3}, true);
              return tg::grad(l1_loss(a, TensorD::vector({0, 1, 3}), Reduction::sum), {a})[0];
            },
            Shape{3},
            {1, -1, 0}}},
      .errors = {{"shapes differ", ErrorKind::shape, "[2,3] and [3,2]",
                  [] {
                    l1_loss(TensorD::zeros(Shape{2, 3}), TensorD::zeros(Shape{3, 2}));
                  }},
                 {"no broadcasting", ErrorKind::shape, "[4,1] and [4]",
                  [] {
                    l1_loss(TensorD::zeros(Shape{4, 1}), TensorD::zeros(Shape{4}));
                  }},
                 {"empty mean", ErrorKind::shape, "empty input [0]",
                  [] { l1_loss(TensorD::zeros(Shape{0}), TensorD::zeros(Shape{0})); }},
                 {"unknown reduction", ErrorKind::domain, "unknown reduction 3", [] {
                    l1_loss(TensorD::zeros(Shape{2}), TensorD::zeros(Shape{2}),
                            static_cast<Reduction>(3));
                  }}}};
  cases.gradient_constant_in_inputs = true;
  return cases;
}

}  // namespace

template <class T> Tensor<T> l1_loss(const Tensor<T>& a, const Tensor<T>& b, Reduction reduction) {
  return detail::kinked_loss("l1_loss", a, b, reduction, detail::KinkedLoss<T>{0, 1, 1});
}

template Tensor<float> l1_loss(const Tensor<float>&, const Tensor<float>&, Reduction);
template Tensor<double> l1_loss(const Tensor<double>&, const Tensor<double>&, Reduction);

TG_DEFINE_REPLAYABLE_OP(l1_loss, "da = G*sign(a-b)/N (0 at a == b; N = 1 for sum, none), db = -da",
                        l1_loss_samples, l1_loss_cases);

}  // namespace tg
