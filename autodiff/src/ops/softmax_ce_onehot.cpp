// softmax_ce with targets: -mean_i(sum_c T[i,c] * log_softmax(logits)[i,c]) for logits[n,C] and
// targets T[n,C], one-hot or any distribution (softmax_ce(logits, targets) in the API).
// Adjoint: dlogits = G*(softmax(logits)*rowsum(T) - T)/n, dT = -G*log_softmax(logits)/n.
#include "../kernels.hpp"

namespace tg {

namespace {

template <class T> class SoftmaxCeOnehotNode final : public SavingNode<T, 2> {
 public:
  const char* name() const override { return "softmax_ce_onehot"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    Tensor<T> logits = this->get(0), targets = this->get(1);
    Tensor<T> scale = g * (T(1) / T(logits.dim(0)));
    if (logits.size() == 0) {
      // Zero classes: empty gradients, without a [n,1] row sum of n, maybe 2^40, rows.
      for (std::size_t i = 0; i < 2; ++i)
        if (this->needs_grad(i)) grads[i] = mul(logits, scale);
      return;
    }
    if (this->needs_grad(0))
      grads[0] = mul(softmax(logits) * detail::row_sum_keep(targets) - targets, scale);
    if (this->needs_grad(1)) grads[1] = neg(mul(log_softmax(logits), scale));
  }
};

template <class T> std::vector<GradSample<T>> softmax_ce_onehot_samples(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  for (const auto& [n, c] :
       {std::pair<std::size_t, std::size_t>{1, 1}, {1, 5}, {4, 1}, {3, 4}, {6, 3}}) {
    const Shape s{n, c};
    // Soft targets (rows need not sum to 1) exercise the rowsum(T) term of the adjoint.
    out.push_back({s.str() + "," + s.str(),
                   {samples::uniform<T>(s, -3, 3, rng), samples::uniform<T>(s, 0, 1, rng)},
                   [](const std::vector<Tensor<T>>& in) { return softmax_ce(in[0], in[1]); }});
    // One-hot rows: targets exactly 0 and 1, differentiated as well.
    Tensor<T> onehot = Tensor<T>::zeros(s, true);
    std::uniform_int_distribution<std::size_t> pick(0, c - 1);
    for (std::size_t i = 0; i < n; ++i) onehot.data()[i * c + pick(rng)] = T(1);
    out.push_back({s.str() + "," + s.str() + " one-hot",
                   {samples::uniform<T>(s, -3, 3, rng), onehot},
                   [](const std::vector<Tensor<T>>& in) { return softmax_ce(in[0], in[1]); }});
  }
  return out;
}

}  // namespace

template <class T> Tensor<T> softmax_ce(const Tensor<T>& logits, const Tensor<T>& targets) {
  require_rank("softmax_ce_onehot", logits, 2, "logits");
  if (targets.shape() != logits.shape())
    throw ShapeError("softmax_ce_onehot: targets" + targets.shape().str() +
                     " must have the shape of logits" + logits.shape().str());
  const std::size_t n = logits.dim(0), classes = logits.dim(1);
  if (n == 0) throw ShapeError("softmax_ce_onehot: empty batch, logits" + logits.shape().str());
  T total = 0;
  // With no classes every row's sum is empty (0, as in PyTorch); the rows, maybe 2^40 of them,
  // are not visited.
  for (std::size_t i = 0; classes != 0 && i < n; ++i) {
    const T* row = logits.data() + i * classes;
    const T* t = targets.data() + i * classes;
    const detail::LogSumExp<T> lse = detail::logsumexp(row, classes);
    for (std::size_t c = 0; c < classes; ++c) {
      // 0 * (-inf) = 0, as xlogy; but 0 * NaN stays NaN (inf - inf in the row), as in PyTorch.
      const T log_p = lse.log_softmax(row[c]);
      if (t[c] != T(0) || log_p != log_p) total -= t[c] * log_p;
    }
  }
  Tensor<T> out = detail::scalar_output<T>("softmax_ce_onehot", total / T(n));
  if (auto* node = record<SoftmaxCeOnehotNode<T>>(out, {&logits, &targets})) {
    node->saved[0].save_input(logits);
    node->saved[1].save_input(targets);
  }
  return out;
}

template Tensor<float> softmax_ce(const Tensor<float>&, const Tensor<float>&);
template Tensor<double> softmax_ce(const Tensor<double>&, const Tensor<double>&);

TG_DEFINE_OP(softmax_ce_onehot,
             "dlogits = G*(softmax(logits)*rowsum(T) - T)/n, dT = -G*log_softmax(logits)/n",
             softmax_ce_onehot_samples);

}  // namespace tg
