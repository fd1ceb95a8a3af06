// log_softmax along the last axis: x - logsumexp(x) per row (max-shifted, so +-800 is fine).
// Saves its output. Adjoint: G - softmax(x) * rowsum(G), softmax(x) = exp(output).
#include "../kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> class LogSoftmaxNode final : public SavingNode<T, 1> {
 public:
  const char* name() const override { return "log_softmax"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    grads[0] = g - exp(this->get(0)) * detail::row_sum_keep(g);
  }
};

template <class T> std::vector<GradSample<T>> log_softmax_samples(std::uint64_t seed) {
  return samples::rows<T>(seed, [](const Tensor<T>& x) { return log_softmax(x); });
}

// NumPy (float64), with
//   def sm(x): m = x.max(-1, keepdims=True); e = np.exp(x - m); return e / e.sum(-1, keepdims=True)
//   def lsm(x): m = x.max(-1, keepdims=True); return (x - m) - np.log(np.exp(x - m).sum(-1,
//   keepdims=True))
// lsm(np.array([[1.0,2,3],[-1,0,5]])).ravel(). Logits of +-800: row [800, -800, 0] is
// [0, -1600, -800] (log(1 + e^-800) = 0); a row of equal logits is -log 3 = -1.0986122886681096
// (np.log(3)); lsm(np.array([[800.,800,799]])) as x - max = [0, 0, -1]. The vector-Jacobian
// product G - sm(x)*rowsum(G): x = np.array([[1.,2,3],[-1,0,5]]); G =
// np.array([[1.,0,0],[0,2,-1]]); (G - sm(x)*G.sum(1,keepdims=True)).ravel()
OpCases log_softmax_cases() {
  return {
      .forward = {{"[2,3]",
                   [] {
                     return log_softmax(TensorD::matrix({{1, 2, 3}, {-1, 0, 5}}));
                   },
                   Shape{2, 3},
                   {-2.4076059644443806, -1.4076059644443804, -0.40760596444438035,
                    -6.0091744845917345, -5.0091744845917345, -0.009174484591734727}},
                  {"logits of +-800",
                   [] {
                     return log_softmax(
                         TensorD::matrix({{800, -800, 0}, {-800, -800, -800}, {800, 800, 799}}));
                   },
                   Shape{3, 3},
                   {0, -1600, -800, -1.0986122886681096, -1.0986122886681096, -1.0986122886681096,
                    -0.861994804058251, -0.861994804058251, -1.861994804058251}},
                  {"vector-Jacobian product",
                   [] {
                     TensorD x = TensorD::matrix({{1, 2, 3}, {-1, 0, 5}}, true);
                     return grad(log_softmax(x), {x}, TensorD::matrix({{1, 0, 0}, {0, 2, -1}}))[0];
                   },
                   Shape{2, 3},
                   {0.9099694268296196, -0.24472847105479767, -0.6652409557748218,
                    -0.0024561149044509535, 1.9933235874866235, -1.9908674725821727}}},
      .errors = {
          {"0-d", ErrorKind::shape, "got a scalar []", [] { log_softmax(TensorD::scalar(1)); }}}};
}

}  // namespace

template <class T> Tensor<T> log_softmax(const Tensor<T>& x) {
  Tensor<T> out = detail::softmax_rows(x, true, "log_softmax");
  if (auto* node = record<LogSoftmaxNode<T>>(out, {&x})) node->saved[0].save_output(out);
  return out;
}

template Tensor<float> log_softmax(const Tensor<float>&);
template Tensor<double> log_softmax(const Tensor<double>&);

TG_DEFINE_REPLAYABLE_OP(log_softmax, "dx = G - softmax(x)*rowsum(G)", log_softmax_samples,
                        log_softmax_cases);

}  // namespace tg
