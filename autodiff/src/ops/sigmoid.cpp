// sigmoid: 1/(1+e^-x), evaluated as e^x/(1+e^x) for x < 0 so that e^-x never overflows.
// Saves its output s, not its input. Adjoint: G*s*(1-s), the fused op sigmoid_backward.
#include <limits>
#include <typeinfo>

#include "../kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> class SigmoidNode final : public SavingNode<T, 1> {
 public:
  const char* name() const override { return "sigmoid"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    grads[0] = sigmoid_backward(detail::last_use(g), this->get(0));
  }
};

template <class T> std::vector<GradSample<T>> sigmoid_samples(std::uint64_t seed) {
  return samples::unary<T>(seed, -4, 4, [](const Tensor<T>& x) { return sigmoid(x); });
}

// Values from Python's math module: 1/(1+exp(-x)). Far out, e^-x overflows in the naive form; the
// results are exactly 0 and 1, and NaN passes through. sigmoid takes any input: no error cases.
// NumPy (float64): 1/(1+np.exp(-np.array([0.0, 2.0, -2.0, 0.5]))), and the gradient
// (lambda s: s*(1-s))(1/(1+np.exp(-np.array([2.0, -2.0])))), 0.25 at 0 by hand, s*(1-s) at 0.5
// from Python's math module. At -800 and 800 e^-800 ~ 3.7e-348 underflows to 0 in double:
// s(-800) = 0/(1+0) = 0, s(800) = 1/(1+0) = 1, both with gradient 0 (no NaN).
OpCases sigmoid_cases() {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  OpCases cases = {
      .forward = {{"[5]",
                   [] {
                     return sigmoid(TensorD::vector({-1, 0, 1, -1000, 1000}));
                   },
                   Shape{5},
                   {0.2689414213699951, 0.5, 0.7310585786300049, 0, 1}},
                  {"0-d NaN", [] { return sigmoid(TensorD::scalar(nan)); }, Shape{}, {nan}},
                  {"[4]",
                   [] {
                     return sigmoid(TensorD::vector({0, 2, -2, 0.5}));
                   },
                   Shape{4},
                   {0.5, 0.8807970779778825, 0.11920292202211755, 0.6224593312018546}},
                  {"gradient s(1-s)",
                   [] {
                     TensorD x = TensorD::vector({0, 2, -2, 0.5}, true);
                     return grad(sum(sigmoid(x)), {x})[0];
                   },
                   Shape{4},
                   {0.25, 0.10499358540350645, 0.1049935854035065, 0.2350037122015945}},
                  {"-800 and 800",
                   [] {
                     return sigmoid(TensorD::vector({-800, 800}));
                   },
                   Shape{2},
                   {0, 1}},
                  {"gradient 0 at -800 and 800",
                   [] {
                     TensorD x = TensorD::vector({-800, 800}, true);
                     return grad(sum(sigmoid(x)), {x})[0];
                   },
                   Shape{2},
                   {0, 0}}}};
  cases.accepts_every_input = true;
  return cases;
}

}  // namespace

template <class T> Tensor<T> sigmoid(const Tensor<T>& x) {
  Tensor<T> out = detail::new_output<T>("sigmoid", x.shape());
  detail::launch_elementwise(
      x.size(),
      [in = x.data(), o = out.data()](std::size_t begin, std::size_t end) {
        detail::sigmoid_values(in, o, begin, end);
      },
      [&] { return detail::writes_from(out, x); });
  if (auto* node = record<SigmoidNode<T>>(out, {&x})) node->saved[0].save_output(out);
  return out;
}

template Tensor<float> sigmoid(const Tensor<float>&);
template Tensor<double> sigmoid(const Tensor<double>&);

namespace detail {

// The node's exact type (SigmoidNode is final): a pointer compare of this file's own type_info,
// where a dynamic_cast walks the class hierarchy (2% of the XOR network's step).
template <class T> bool is_sigmoid(const Node<T>& node) {
  return typeid(node) == typeid(SigmoidNode<T>);
}

template bool is_sigmoid(const Node<float>&);
template bool is_sigmoid(const Node<double>&);

}  // namespace detail

TG_DEFINE_REPLAYABLE_OP(sigmoid, "dx = G*s*(1-s), s = sigmoid(x)", sigmoid_samples, sigmoid_cases);

}  // namespace tg
