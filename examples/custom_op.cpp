// An op defined in a user's own program, with nothing but the public headers: SiLU, x*sigmoid(x).
// Its forward, its adjoint, its gradient-check samples and its forward values sit together, it is
// registered with the engine, and the engine's own checker proves it, first and second order, in
// double and in float.
#include <cmath>
#include <cstdio>
#include <utility>

#include <tapegrad/gradcheck.hpp>
#include <tapegrad/gradgradcheck.hpp>
#include <tapegrad/op.hpp>

namespace my {

using tg::Tensor;

// The node keeps x. Its adjoint is written with the engine's ops, so a recorded backward
// (create_graph) is differentiable again: d silu / dx = s + x*s*(1-s), s = sigmoid(x).
template <class T> class SiluNode final : public tg::SavingNode<T, 1> {
 public:
  const char* name() const override { return "silu"; }
  void backward(const Tensor<T>& g, tg::Grads<T>& grads) override {
    const Tensor<T> x = this->get(0);
    const Tensor<T> s = tg::sigmoid(x);
    grads[0] = g * (s + x * s * (T(1) - s));
  }
};

// The forward: one loop over the data, then the node, recorded only when x requires a gradient.
template <class T> Tensor<T> silu(const Tensor<T>& x) {
  Tensor<T> out = Tensor<T>::empty(x.shape());
  const T* in = std::as_const(x).data();
  for (std::size_t i = 0; i < x.size(); ++i) out.data()[i] = in[i] / (T(1) + std::exp(-in[i]));
  if (auto* node = tg::record<SiluNode<T>>(out, {&x})) node->saved[0].save_input(x);
  return out;
}

// Gradient-check samples: every elementwise shape (1x1, 1xn, nx1, non-square, 1-D, 0-d).
template <class T> std::vector<tg::GradSample<T>> silu_samples(std::uint64_t seed) {
  return tg::samples::unary<T>(seed, -3, 3, [](const Tensor<T>& x) { return silu(x); });
}

// Forward values worked out by hand: silu(1) = 1/(1+e^-1), silu(-1) = -1/(1+e).
tg::OpCases silu_cases() {
  return {.forward = {{"[3]",
                       [] {
                         return silu(tg::TensorD::vector({-1, 0, 1}));
                       },
                       tg::Shape{3},
                       {-0.2689414213699951, 0, 0.7310585786300049}}}};
}

}  // namespace my

int main() {
  tg::register_op({"silu", "dx = G*(s + x*s*(1-s)), s = sigmoid(x)", &my::silu_samples<double>,
                   &my::silu_samples<float>, &my::silu_cases});
  const tg::OpInfo& op = tg::registered_ops().back();

  bool passed = true;
  for (const tg::OpCheckResult& row : tg::check_op(op)) {
    std::printf("first order  %s %s: %s (worst relative error %.1e)\n", op.name.c_str(),
                row.dtype.c_str(), row.passed ? "pass" : row.failure.c_str(),
                row.worst_relative_error);
    passed = passed && row.passed;
  }
  for (const tg::SecondOrderCheckResult& row :
       tg::check_op_second_order(op, {1, 2, 3}, {}, /*include_float=*/true)) {
    std::printf("second order %s %s: %s\n", op.name.c_str(), row.dtype.c_str(),
                row.passed ? "pass" : row.failure.c_str());
    passed = passed && row.passed;
  }
  for (const tg::ForwardCase& c : op.cases().forward) {
    const std::vector<double> got = c.call().to_vector();
    for (std::size_t i = 0; i < got.size(); ++i)
      passed = passed && std::abs(got[i] - c.values[i]) <= 1e-15;
  }
  std::printf("%s\n", passed ? "silu: all checks pass" : "silu: a check FAILED");
  return passed ? 0 : 1;
}
