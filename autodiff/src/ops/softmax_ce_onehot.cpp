// softmax_ce with targets: row i's term -sum_c T[i,c] * log_softmax(logits)[i,c] for logits[n,C]
// and targets T[n,C], one-hot or any distribution (softmax_ce(logits, targets) in the API), reduced
// as asked (mean over the n rows by default; n = 1 below for sum and none, where G is [n] and
// multiplies its row).
// Adjoint: dlogits = G*(softmax(logits)*rowsum(T) - T)/n, dT = -G*log_softmax(logits)/n.
#include "../loss_kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> class SoftmaxCeOnehotNode final : public SavingNode<T, 2> {
 public:
  Reduction reduction = Reduction::mean;
  const char* name() const override { return "softmax_ce_onehot"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    Tensor<T> logits = this->get(0), targets = this->get(1);
    Tensor<T> scale = reduction == Reduction::none
                          ? reshape(g, Shape{logits.dim(0), 1})
                          : detail::term_upstream(g, reduction, logits.dim(0));
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
    for (const Reduction r : {Reduction::sum, Reduction::none})
      out.push_back(
          {s.str() + "," + s.str() + " " + detail::reduction_name(r),
           {samples::uniform<T>(s, -3, 3, rng), samples::uniform<T>(s, 0, 1, rng)},
           [r](const std::vector<Tensor<T>>& in) { return softmax_ce(in[0], in[1], r); }});
  }
  return out;
}

// NumPy (float64), with
//   def sm(x): m = x.max(-1, keepdims=True); e = np.exp(x - m); return e / e.sum(-1, keepdims=True)
//   def lsm(x): m = x.max(-1, keepdims=True); return (x - m) - np.log(np.exp(x - m).sum(-1,
//   keepdims=True))
// L = np.array([[1.,2,3],[1,-1,.5]]); T = np.array([[.2,.3,.5],[.6,.1,.3]]);
// -np.mean((T*lsm(L)).sum(1)) and the gradient ((sm(L)*T.sum(1,keepdims=True)-T)/2).ravel().
// One-hot rows as labels [2, 0] cost 0.48128144204318546 (-np.mean([lsm(L)[0,2], lsm(L)[1,0]])),
// and a third row of equal logits adds log 3. By hand: targets [2, 0] that do not sum to 1 on
// logits [0, 0] cost -2 log(1/2) = 2 log 2, gradient (0.5*2 - [2, 0])/1 = [-1, 1]; logits of +-800
// with one-hot [0,1,0] cost (1600 + 0)/2, gradient ([1,0,0] - [0,1,0])/2 and 0.
OpCases softmax_ce_onehot_cases() {
  return {
      .forward =
          {{"soft targets",
            [] {
              return softmax_ce(TensorD::matrix({{1, 2, 3}, {1, -1, 0.5}}),
                                TensorD::matrix({{0.2, 0.3, 0.5}, {0.6, 0.1, 0.3}}));
            },
            Shape{},
            {1.0062814420431854}},
           {"gradient (softmax*rowsum(T) - T)/n",
            [] {
              TensorD logits = TensorD::matrix({{1, 2, 3}, {1, -1, 0.5}}, true);
              return grad(softmax_ce(logits, TensorD::matrix({{0.2, 0.3, 0.5}, {0.6, 0.1, 0.3}})),
                          {logits})[0];
            },
            Shape{2, 3},
            {-0.05498471341480979, -0.02763576447260116, 0.08262047788741089, -0.012951503516152707,
             -0.01115221042571471, 0.024103713941867444}},
           {"one-hot targets, a row of equal logits",
            [] {
              return softmax_ce(TensorD::matrix({{1, 2, 3}, {1, -1, 0.5}, {0, 0, 0}}),
                                TensorD::matrix({{0, 0, 1}, {1, 0, 0}, {0, 1, 0}}));
            },
            Shape{},
            {(2 * 0.48128144204318546 + std::log(3.0)) / 3}},
           {"targets whose row does not sum to 1",
            [] {
              return softmax_ce(TensorD::matrix({{0, 0}}), TensorD::matrix({{2, 0}}));
            },
            Shape{},
            {2 * std::log(2.0)}},
           {"gradient uses rowsum(T)",
            [] {
              TensorD logits = TensorD::matrix({{0, 0}}, true);
              return grad(softmax_ce(logits, TensorD::matrix({{2, 0}})), {logits})[0];
            },
            Shape{1, 2},
            {-1, 1}},
           {"logits of +-800",
            [] {
              return softmax_ce(TensorD::matrix({{800, -800, 0}, {-800, 800, 0}}),
                                TensorD::matrix({{0, 1, 0}, {0, 1, 0}}));
            },
            Shape{},
            {800}},
           {"gradient at logits of +-800",
            [] {
              TensorD logits = TensorD::matrix({{800, -800, 0}, {-800, 800, 0}}, true);
              return grad(softmax_ce(logits, TensorD::matrix({{0, 1, 0}, {0, 1, 0}})), {logits})[0];
            },
            Shape{2, 3},
            {0.5, -0.5, 0, 0, 0, 0}}},
      .errors = {{"targets [4,2] for logits [4,3]", ErrorKind::shape,
                  "targets[4,2] must have the shape of logits[4,3]",
                  [] {
                    softmax_ce(TensorD::zeros(Shape{4, 3}, true), TensorD::zeros(Shape{4, 2}));
                  }},
                 {"1-D logits", ErrorKind::shape, "logits must be 2-D, got [3]",
                  [] { softmax_ce(TensorD::zeros(Shape{3}), TensorD::zeros(Shape{3})); }},
                 {"empty batch", ErrorKind::shape, "empty batch, logits[0,3]", [] {
                    softmax_ce(TensorD::zeros(Shape{0, 3}), TensorD::zeros(Shape{0, 3}));
                  }}}};
}

}  // namespace

template <class T>
Tensor<T> softmax_ce(const Tensor<T>& logits, const Tensor<T>& targets, Reduction reduction) {
  detail::require_reduction("softmax_ce_onehot", reduction);
  require_rank("softmax_ce_onehot", logits, 2, "logits");
  if (targets.shape() != logits.shape())
    throw ShapeError("softmax_ce_onehot: targets" + targets.shape().str() +
                     " must have the shape of logits" + logits.shape().str());
  const std::size_t n = logits.dim(0), classes = logits.dim(1);
  if (n == 0) throw ShapeError("softmax_ce_onehot: empty batch, logits" + logits.shape().str());
  // With no classes every row's sum is empty (0, as in PyTorch); the rows, maybe 2^40 of them,
  // are not visited unless their terms are asked for.
  auto row_term = [classes, pl = logits.data(), pt = targets.data()](std::size_t i) {
    T total = 0;
    if (classes == 0) return total;
    const T* row = pl + i * classes;
    const T* t = pt + i * classes;
    const detail::LogSumExp<T> lse = detail::logsumexp(row, classes);
    for (std::size_t c = 0; c < classes; ++c) {
      // 0 * (-inf) = 0, as xlogy; but 0 * NaN stays NaN (inf - inf in the row), as in PyTorch.
      const T log_p = lse.log_softmax(row[c]);
      if (t[c] != T(0) || log_p != log_p) total -= t[c] * log_p;
    }
    return total;
  };
  const std::size_t visited = classes == 0 && reduction != Reduction::none ? 0 : n;
  Tensor<T> out = detail::reduce_terms<T>("softmax_ce_onehot", Shape{n}, visited, reduction, T(n),
                                          row_term, logits, targets);
  if (auto* node = record<SoftmaxCeOnehotNode<T>>(out, {&logits, &targets})) {
    node->reduction = reduction;
    node->saved[0].save_input(logits);
    node->saved[1].save_input(targets);
  }
  return out;
}

template Tensor<float> softmax_ce(const Tensor<float>&, const Tensor<float>&, Reduction);
template Tensor<double> softmax_ce(const Tensor<double>&, const Tensor<double>&, Reduction);

TG_DEFINE_REPLAYABLE_OP(
    softmax_ce_onehot,
    "dlogits = G*(softmax(logits)*rowsum(T) - T)/n, dT = -G*log_softmax(logits)/n "
    "(n = 1 for sum and none)",
    softmax_ce_onehot_samples, softmax_ce_onehot_cases);

}  // namespace tg
