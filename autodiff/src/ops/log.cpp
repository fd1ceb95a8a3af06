// log: natural log; IEEE-754 outside the domain (log 0 = -inf, log of a negative = NaN).
// Adjoint: G/x.
#include <limits>

#include "../kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> class LogNode final : public SavingNode<T, 1> {
 public:
  const char* name() const override { return "log"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override { grads[0] = div(g, this->get(0)); }
};

template <class T> std::vector<GradSample<T>> log_samples(std::uint64_t seed) {
  return samples::unary<T>(seed, 0.2, 3, [](const Tensor<T>& x) { return log(x); });
}

// NumPy (float64): np.log([1.0, np.e, 0.5, 10.0]); the gradient 1/x by hand. Outside the domain
// IEEE-754 (log 0 = -inf, log of a negative = NaN), and the gradient G/x stays finite at -1 and
// is +inf at 0 for G > 0: [3/-1, 3/2, 3/0.5] and [2/0, 2/1, 2/3]. log takes any input: no error
// cases.
OpCases log_cases() {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  constexpr double inf = std::numeric_limits<double>::infinity();
  OpCases cases = {
      .forward = {{"[4]",
                   [] {
                     return log(TensorD::vector({1, 2.718281828459045, 0.5, 10}));
                   },
                   Shape{4},
                   {0.0, 0.9999999999999999, -0.6931471805599453, 2.3025850929940455}},
                  {"d/dx sum(log x) = 1/x",
                   [] {
                     TensorD x = TensorD::vector({1, 2.718281828459045, 0.5, 10}, true);
                     return grad(sum(log(x)), {x})[0];
                   },
                   Shape{4},
                   {1, 1 / 2.718281828459045, 2, 0.1}},
                  // log 2 from Python's math module
                  {"log(-1) = NaN, log 0 = -inf",
                   [] {
                     return log(TensorD::vector({-1, 0, 2}));
                   },
                   Shape{3},
                   {nan, -inf, 0.6931471805599453}},
                  {"G/x is finite at x = -1",
                   [] {
                     TensorD x = TensorD::vector({-1, 2, 0.5}, true);
                     return grad(log(x), {x}, TensorD::vector({3, 3, 3}))[0];
                   },
                   Shape{3},
                   {-3, 1.5, 6}},
                  {"G/x is +inf at x = 0",
                   [] {
                     TensorD x = TensorD::vector({0, 1, 3}, true);
                     return grad(log(x), {x}, TensorD::vector({2, 2, 2}))[0];
                   },
                   Shape{3},
                   {inf, 2, 2.0 / 3}}}};
  cases.accepts_every_input = true;
  return cases;
}

}  // namespace

template <class T> Tensor<T> log(const Tensor<T>& x) {
  Tensor<T> out = detail::map_unary("log", x, [](T v) { return std::log(v); });
  if (auto* node = record<LogNode<T>>(out, {&x})) node->saved[0].save_input(x);
  return out;
}

template Tensor<float> log(const Tensor<float>&);
template Tensor<double> log(const Tensor<double>&);

TG_DEFINE_REPLAYABLE_OP(log, "dx = G/x", log_samples, log_cases);

}  // namespace tg
