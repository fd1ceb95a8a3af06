// log: natural log; IEEE-754 outside the domain (log 0 = -inf, log of a negative = NaN).
// Adjoint: G/x.
#include "../kernels.hpp"

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

}  // namespace

template <class T> Tensor<T> log(const Tensor<T>& x) {
  Tensor<T> out = detail::map_unary("log", x, [](T v) { return std::log(v); });
  if (auto* node = record<LogNode<T>>(out, {&x})) node->saved[0].save_input(x);
  return out;
}

template Tensor<float> log(const Tensor<float>&);
template Tensor<double> log(const Tensor<double>&);

TG_DEFINE_OP(log, "dx = G/x", log_samples);

}  // namespace tg
