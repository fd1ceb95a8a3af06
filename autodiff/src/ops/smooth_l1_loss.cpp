// smooth_l1_loss: PyTorch's, with d = a-b: d^2/(2 beta) where |d| < beta, else |d| - beta/2,
// reduced as asked (mean over all N elements by default; N = 1 below for sum and none); beta >= 0,
// and beta = 0 is l1_loss (PyTorch hands that case to l1_loss, whose gradient is 0 at d = 0).
// huber_loss(delta) = delta * smooth_l1_loss(beta = delta). Adjoint: da = G*d/beta/N inside,
// G*sign(d)/N outside (the pieces agree at |d| = beta), db = -da; differentiable again.
#include <limits>
#include <string>

#include "../loss_kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> std::vector<GradSample<T>> smooth_l1_loss_samples(std::uint64_t seed) {
  std::vector<GradSample<T>> out;
  for (const double beta : {1.0, 0.5, 0.0})
    for (GradSample<T>&s : detail::kinked_loss_samples<T>(
             seed, beta, [beta](const Tensor<T>&a, const Tensor<T>&b, Reduction r) {
               return smooth_l1_loss(a, b, T(beta), r);
             })) {
      s.label += " beta " + format_number(beta);
      out.push_back(std::move(s));
    }
  return out;
}

// By hand, a - b = [1, -3, 0, -1.5]: beta 1 gives [0.5, 2.5, 0, 1] (mean 1); beta 0.5 gives
// [0.75, 2.75, 0, 1.25] (sum 4.75), and d = [0.25, -0.5] inside it 0.25^2/1 = 0.0625 and, at the
// joint, 0.5 - 0.25 = 0.25. beta 0 is |d|. Gradients of the sum in a: beta 0.5 at d = [0.25, -3]
// is [0.5, -1]; beta 0 at d = [2, 0, -1] is [1, 0, -1], l1's.
OpCases smooth_l1_loss_cases() {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  constexpr double inf = std::numeric_limits<double>::infinity();
  return {
      .forward = {{"[4] beta 1 mean",
                   [] {
                     return smooth_l1_loss(TensorD::vector({1, -2, 3, 0.5}),
                                           TensorD::vector({0, 1, 3, 2}));
                   },
                   Shape{},
                   {1}},
                  {"[2,2] beta 0.5 sum",
                   [] {
                     return smooth_l1_loss(TensorD::matrix({{1, -2}, {3, 0.5}}),
                                           TensorD::matrix({{0, 1}, {3, 2}}), 0.5, Reduction::sum);
                   },
                   Shape{},
                   {4.75}},
                  {"[2] beta 0.5 none, inside and at the joint",
                   [] {
                     return smooth_l1_loss(TensorD::vector({0.25, -0.5}), TensorD::zeros(Shape{2}),
                                           0.5, Reduction::none);
                   },
                   Shape{2},
                   {0.0625, 0.25}},
                  {"[3] beta 0 is l1",
                   [] {
                     return smooth_l1_loss(TensorD::vector({2, 0, -1}), TensorD::zeros(Shape{3}), 0,
                                           Reduction::none);
                   },
                   Shape{3},
                   {2, 0, 1}},
                  {"NaN",
                   [] { return smooth_l1_loss(TensorD::vector({nan}), TensorD::vector({1})); },
                   Shape{},
                   {nan}},
                  {"gradient, beta 0.5",
                   [] {
                     TensorD a = TensorD::vector({0.25, -3}, true);
                     return tg::grad(
                         smooth_l1_loss(a, TensorD::zeros(Shape{2}), 0.5, Reduction::sum), {a})[0];
                   },
                   Shape{2},
                   {0.5, -1}},
                  {"gradient, beta 0: sign, 0 at a == b",
                   [] {
                     TensorD a = TensorD::vector({2, 0, -1}, true);
                     return tg::grad(smooth_l1_loss(a, TensorD::zeros(Shape{3}), 0, Reduction::sum),
                                     {a})[0];
                   },
                   Shape{3},
                   {1, 0, -1}},
                  {"gradient at an infinite a - b: sign(a - b), not NaN",
                   [] {
                     TensorD a = TensorD::vector({0.5, -1}, true);
                     return tg::grad(
                         smooth_l1_loss(a, TensorD::vector({inf, -inf}), 0.5, Reduction::sum),
                         {a})[0];
                   },
                   Shape{2},
                   {-1, 1}}},
      .errors = {{"shapes differ", ErrorKind::shape, "[2,3] and [3,2]",
                  [] {
                    smooth_l1_loss(TensorD::zeros(Shape{2, 3}), TensorD::zeros(Shape{3, 2}));
                  }},
                 {"negative beta", ErrorKind::domain, "beta must not be negative, got -1",
                  [] { smooth_l1_loss(TensorD::zeros(Shape{2}), TensorD::zeros(Shape{2}), -1); }},
                 {"empty mean", ErrorKind::shape, "empty input [0]",
                  [] { smooth_l1_loss(TensorD::zeros(Shape{0}), TensorD::zeros(Shape{0})); }},
                 {"unknown reduction", ErrorKind::domain, "unknown reduction 5", [] {
                    smooth_l1_loss(TensorD::zeros(Shape{2}), TensorD::zeros(Shape{2}), 1,
                                   static_cast<Reduction>(5));
                  }}}};
}

}  // namespace

template <class T>
Tensor<T> smooth_l1_loss(const Tensor<T>& a, const Tensor<T>& b, std::type_identity_t<T> beta,
                         Reduction reduction) {
  if (!(beta >= T(0)))
    throw DomainError("smooth_l1_loss: beta must not be negative, got " +
                      format_number(double(beta)));
  // beta = 0 has no quadratic piece: the divisor is never used.
  return detail::kinked_loss("smooth_l1_loss", a, b, reduction,
                             detail::KinkedLoss<T>{beta, beta == T(0) ? T(1) : beta, T(1)});
}

template Tensor<float> smooth_l1_loss(const Tensor<float>&, const Tensor<float>&, float, Reduction);
template Tensor<double> smooth_l1_loss(const Tensor<double>&, const Tensor<double>&, double,
                                       Reduction);

TG_DEFINE_REPLAYABLE_OP(
    smooth_l1_loss,
    "da = G*(a-b)/beta/N where |a-b| < beta, G*sign(a-b)/N elsewhere (0 at a == b; N = 1 "
    "for sum, none), db = -da",
    smooth_l1_loss_samples, smooth_l1_loss_cases);

}  // namespace tg
