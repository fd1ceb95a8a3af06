// softmax along the last axis: exp(x - logsumexp(x)) per row. Saves its output s.
// Adjoint: s * (G - rowsum(G*s)).
#include "../kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> class SoftmaxNode final : public SavingNode<T, 1> {
 public:
  const char* name() const override { return "softmax"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    Tensor<T> s = this->get(0);
    grads[0] = s * (g - detail::row_sum_keep(g * s));
  }
};

template <class T> std::vector<GradSample<T>> softmax_samples(std::uint64_t seed) {
  return samples::rows<T>(seed, [](const Tensor<T>& x) { return softmax(x); });
}

// NumPy (float64), with
//   def sm(x): m = x.max(-1, keepdims=True); e = np.exp(x - m); return e / e.sum(-1, keepdims=True)
// sm(np.array([[1.0,2,3],[-1,0,5]])).ravel(). Logits of +-800: row [800, -800, 0] shifted by its
// max is [0, -1600, -800], e^-800 underflows: [1, 0, 0]; a row of equal logits is 1/3 each;
// sm(np.array([[800.,800,799]])) as x - max = [0, 0, -1]. The vector-Jacobian product
// s*(G - rowsum(G*s)): x = np.array([[1.,2,3],[-1,0,5]]); G = np.array([[1.,0,0],[0,2,-1]]);
// s = sm(x); (s*(G-(G*s).sum(1,keepdims=True))).ravel()
OpCases softmax_cases() {
  return {.forward = {{"[2,3]",
                       [] {
                         return softmax(TensorD::matrix({{1, 2, 3}, {-1, 0, 5}}));
                       },
                       Shape{2, 3},
                       {0.09003057317038043, 0.24472847105479767, 0.6652409557748218,
                        0.0024561149044509535, 0.006676412513376451, 0.9908674725821726}},
                      {"logits of +-800",
                       [] {
                         return softmax(TensorD::matrix(
                             {{800, -800, 0}, {-800, -800, -800}, {800, 800, 799}}));
                       },
                       Shape{3, 3},
                       {1, 0, 0, 1.0 / 3, 1.0 / 3, 1.0 / 3, 0.4223187982515182, 0.4223187982515182,
                        0.15536240349696365}},
                      {"vector-Jacobian product",
                       [] {
                         TensorD x = TensorD::matrix({{1, 2, 3}, {-1, 0, 5}}, true);
                         return grad(softmax(x), {x}, TensorD::matrix({{1, 0, 0}, {0, 2, -1}}))[0];
                       },
                       Shape{2, 3},
                       {0.08192506906499321, -0.02203304452017429, -0.05989202454481891,
                        0.002400888295179987, 0.019879116051700677, -0.022280004346880742}}},
          .errors = {
              {"0-d", ErrorKind::shape, "got a scalar []", [] { softmax(TensorD::scalar(1)); }}}};
}

}  // namespace

template <class T> Tensor<T> softmax(const Tensor<T>& x) {
  Tensor<T> out = detail::softmax_rows(x, false, "softmax");
  if (auto* node = record<SoftmaxNode<T>>(out, {&x})) node->saved[0].save_output(out);
  return out;
}

template Tensor<float> softmax(const Tensor<float>&);
template Tensor<double> softmax(const Tensor<double>&);

TG_DEFINE_REPLAYABLE_OP(softmax, "dx = s*(G - rowsum(G*s)), s = softmax(x)", softmax_samples,
                        softmax_cases);

}  // namespace tg
