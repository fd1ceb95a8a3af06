// exp: e^x. Saves its output. Adjoint: G*e^x.
#include "../kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> class ExpNode final : public SavingNode<T, 1> {
 public:
  const char* name() const override { return "exp"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    grads[0] = mul(detail::last_use(g), this->get(0));
  }
};

template <class T> std::vector<GradSample<T>> exp_samples(std::uint64_t seed) {
  return samples::unary<T>(seed, -2, 2, [](const Tensor<T>& x) { return exp(x); });
}

// NumPy (float64): np.exp([0.0, 1.0, -1.0, 2.5]), which is also the gradient. exp takes any
// input: no error cases.
OpCases exp_cases() {
  OpCases cases = {.forward = {{"[4]",
                                [] {
                                  return exp(TensorD::vector({0, 1, -1, 2.5}));
                                },
                                Shape{4},
                                {1.0, 2.718281828459045, 0.3678794411714424, 12.182493960703473}},
                               {"d/dx sum(e^x) = e^x",
                                [] {
                                  TensorD x = TensorD::vector({0, 1, -1, 2.5}, true);
                                  return grad(sum(exp(x)), {x})[0];
                                },
                                Shape{4},
                                {1.0, 2.718281828459045, 0.3678794411714424, 12.182493960703473}}}};
  cases.accepts_every_input = true;
  return cases;
}

}  // namespace

template <class T> Tensor<T> exp(const Tensor<T>& x) {
  Tensor<T> out = detail::new_output<T>("exp", x.shape());
  detail::launch_elementwise(
      x.size(),
      [in = x.data(), o = out.data()](std::size_t begin, std::size_t end) {
        detail::exp_values(in + begin, o + begin, end - begin);
      },
      [&] { return detail::writes_from(out, x); });
  if (auto* node = record<ExpNode<T>>(out, {&x})) node->saved[0].save_output(out);
  return out;
}

template Tensor<float> exp(const Tensor<float>&);
template Tensor<double> exp(const Tensor<double>&);

TG_DEFINE_REPLAYABLE_OP(exp, "dx = G*e^x", exp_samples, exp_cases);

}  // namespace tg
