// softmax_ce: cross-entropy of logits[n,C] against integer labels[n] in 0..C-1 (no ignore index):
// mean_i(logsumexp(logits[i,:]) - logits[i, labels[i]]).
// Adjoint: dlogits = G*(softmax(logits) - onehot(labels))/n.
#include "../kernels.hpp"

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

TG_DEFINE_OP(softmax_ce, "dlogits = G*(softmax(logits) - onehot(labels))/n", softmax_ce_samples);

}  // namespace tg
