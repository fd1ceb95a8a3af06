// neg: -x. Adjoint: -G.
#include "../kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> class NegNode final : public Node<T> {
 public:
  const char* name() const override { return "neg"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override { grads[0] = neg(g); }
};

template <class T> std::vector<GradSample<T>> neg_samples(std::uint64_t seed) {
  return samples::unary<T>(seed, -2, 2, [](const Tensor<T>& x) { return neg(x); });
}

// By hand. neg takes any input: no error cases.
OpCases neg_cases() {
  OpCases cases = {.forward = {{"[3]",
                                [] {
                                  return neg(TensorD::vector({1, -2.5, 0}));
                                },
                                Shape{3},
                                {-1, 2.5, 0}},
                               {"-x is the same op",
                                [] {
                                  return -TensorD::vector({1, -2.5, 0});
                                },
                                Shape{3},
                                {-1, 2.5, 0}},
                               {"d/dx sum(-x)",
                                [] {
                                  TensorD x = TensorD::vector({1, -2.5, 0}, true);
                                  return grad(sum(neg(x)), {x})[0];
                                },
                                Shape{3},
                                {-1, -1, -1}}}};
  cases.gradient_constant_in_inputs = true;
  cases.accepts_every_input = true;
  return cases;
}

}  // namespace

template <class T> Tensor<T> neg(const Tensor<T>& x) {
  Tensor<T> out = detail::map_unary("neg", x, [](T v) { return -v; });
  record<NegNode<T>>(out, {&x});
  return out;
}

template Tensor<float> neg(const Tensor<float>&);
template Tensor<double> neg(const Tensor<double>&);

TG_DEFINE_REPLAYABLE_OP(neg, "dx = -G", neg_samples, neg_cases);

}  // namespace tg
