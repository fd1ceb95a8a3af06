// softmax_ce: cross-entropy of logits[n,C] against integer labels[n] in 0..C-1 (no ignore index):
// mean_i(logsumexp(logits[i,:]) - logits[i, labels[i]]).
// Adjoint: dlogits = G*(softmax(logits) - onehot(labels))/n.
#include "../kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> class SoftmaxCeNode final : public SavingNode<T, 1> {
 public:
  Labels labels;
  const char* name() const override { return "softmax_ce"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    Tensor<T> logits = this->get(0);
    const std::size_t n = logits.dim(0), classes = logits.dim(1);
    Tensor<T> onehot = detail::zeros_output<T>("softmax_ce", logits.shape());
    for (std::size_t i = 0; i < n; ++i) onehot.data()[i * classes + std::size_t(labels[i])] = T(1);
    grads[0] = mul(softmax(logits) - onehot, g * (T(1) / T(n)));
  }
  void release_saved() override {
    SavingNode<T, 1>::release_saved();
    labels = Labels();
  }
};

template <class T> std::vector<GradSample<T>> softmax_ce_samples(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  for (const auto& [n, c] :
       {std::pair<std::size_t, std::size_t>{1, 1}, {1, 5}, {4, 1}, {3, 4}, {6, 3}}) {
    Labels labels(n);
    std::uniform_int_distribution<std::int64_t> pick(0, std::int64_t(c) - 1);
    for (auto& l : labels) l = pick(rng);
    out.push_back(
        {Shape{n, c}.str() + " labels[" + std::to_string(n) + "]",
         {samples::uniform<T>(Shape{n, c}, -3, 3, rng)},
         [labels](const std::vector<Tensor<T>>& in) { return softmax_ce(in[0], labels); }});
  }
  return out;
}

// NumPy (float64), with
//   def sm(x): m = x.max(-1, keepdims=True); e = np.exp(x - m); return e / e.sum(-1, keepdims=True)
//   def lsm(x): m = x.max(-1, keepdims=True); return (x - m) - np.log(np.exp(x - m).sum(-1,
//   keepdims=True))
// L = np.array([[1.,2,3],[1,-1,.5]]); -np.mean([lsm(L)[0,2], lsm(L)[1,0]]) and the gradient
// ((sm(L) - np.array([[0,0,1],[1,0,0]]))/2).ravel(). A third row of equal logits adds log 3:
// (2*0.48128144204318546 + log 3)/3. Logits of +-800 by hand: row [800, -800, 0] has
// logsumexp 800, so label 1 costs 800 - (-800) = 1600; row [-800, 800, 0] with label 1 costs 0:
// mean 800, gradient (softmax - onehot)/2 = ([1,0,0] - [0,1,0])/2 and 0.
OpCases softmax_ce_cases() {
  return {
      .forward =
          {{"[2,3], labels [2, 0]",
            [] {
              return softmax_ce(TensorD::matrix({{1, 2, 3}, {1, -1, 0.5}}), Labels{2, 0});
            },
            Shape{},
            {0.48128144204318546}},
           {"gradient (softmax - onehot)/n",
            [] {
              TensorD logits = TensorD::matrix({{1, 2, 3}, {1, -1, 0.5}}, true);
              return grad(softmax_ce(logits, Labels{2, 0}), {logits})[0];
            },
            Shape{2, 3},
            {0.04501528658519022, 0.12236423552739883, -0.1673795221125891, -0.21295150351615272,
             0.038847789574285294, 0.17410371394186744}},
           {"a row of equal logits adds log 3",
            [] {
              return softmax_ce(TensorD::matrix({{1, 2, 3}, {1, -1, 0.5}, {0, 0, 0}}),
                                Labels{2, 0, 1});
            },
            Shape{},
            {(2 * 0.48128144204318546 + std::log(3.0)) / 3}},
           {"logits of +-800",
            [] {
              return softmax_ce(TensorD::matrix({{800, -800, 0}, {-800, 800, 0}}), Labels{1, 1});
            },
            Shape{},
            {800}},
           {"gradient at logits of +-800",
            [] {
              TensorD logits = TensorD::matrix({{800, -800, 0}, {-800, 800, 0}}, true);
              return grad(softmax_ce(logits, Labels{1, 1}), {logits})[0];
            },
            Shape{2, 3},
            {0.5, -0.5, 0, 0, 0, 0}}},
      .errors = {{"label C", ErrorKind::index, "label 3 at row 1 is out of range for 3 classes",
                  [] {
                    softmax_ce(TensorD::zeros(Shape{2, 3}, true), Labels{0, 3});
                  }},
                 {"a label far out of range", ErrorKind::index,
                  "label 7 at row 0 is out of range for 3 classes",
                  [] {
                    softmax_ce(TensorD::zeros(Shape{2, 3}, true), Labels{7, 0});
                  }},
                 {"label -1, no ignore index", ErrorKind::index, "label -1 at row 0",
                  [] {
                    softmax_ce(TensorD::zeros(Shape{2, 3}, true), Labels{-1, 0});
                  }},
                 {"3 labels for 4 rows", ErrorKind::shape, "3 labels for logits[4,3]",
                  [] {
                    softmax_ce(TensorD::zeros(Shape{4, 3}, true), Labels{0, 1, 2});
                  }},
                 {"1-D logits", ErrorKind::shape, "logits must be 2-D, got [3]",
                  [] { softmax_ce(TensorD::zeros(Shape{3}), Labels{0}); }},
                 {"empty batch", ErrorKind::shape, "empty batch, logits[0,3]", [] {
                    softmax_ce(TensorD::zeros(Shape{0, 3}), Labels{});
                  }}}};
}

}  // namespace

template <class T> Tensor<T> softmax_ce(const Tensor<T>& logits, const Labels& labels) {
  require_rank("softmax_ce", logits, 2, "logits");
  const std::size_t n = logits.dim(0), classes = logits.dim(1);
  if (labels.size() != n)
    throw ShapeError("softmax_ce: " + std::to_string(labels.size()) + " labels for logits" +
                     logits.shape().str() + " (needs one label per row, " + std::to_string(n) +
                     ")");
  if (n == 0) throw ShapeError("softmax_ce: empty batch, logits" + logits.shape().str());
  for (std::size_t i = 0; i < n; ++i)
    if (labels[i] < 0 || std::size_t(labels[i]) >= classes)
      throw IndexError("softmax_ce: label " + std::to_string(labels[i]) + " at row " +
                       std::to_string(i) + " is out of range for " + std::to_string(classes) +
                       " classes (valid 0.." + std::to_string(std::int64_t(classes) - 1) +
                       "), logits" + logits.shape().str());
  T total = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const T* row = logits.data() + i * classes;
    total -= detail::logsumexp(row, classes).log_softmax(row[labels[i]]);
  }
  Tensor<T> out = detail::scalar_output<T>("softmax_ce", total / T(n));
  if (auto* node = record<SoftmaxCeNode<T>>(out, {&logits})) {
    node->saved[0].save_input(logits);
    node->labels = labels;
  }
  return out;
}

template Tensor<float> softmax_ce(const Tensor<float>&, const Labels&);
template Tensor<double> softmax_ce(const Tensor<double>&, const Labels&);

TG_DEFINE_OP(softmax_ce, "dlogits = G*(softmax(logits) - onehot(labels))/n", softmax_ce_samples,
             softmax_ce_cases);

}  // namespace tg
