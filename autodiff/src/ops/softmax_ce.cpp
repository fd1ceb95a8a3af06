// softmax_ce: cross-entropy of logits[n,C] against integer labels[n] in 0..C-1, PyTorch's
// cross_entropy: row i's term is logsumexp(logits[i,:]) - logits[i, labels[i]], reduced as asked
// (mean by default). Rows labelled ignore_index (-100 by default) add nothing and the mean divides
// by the rows left (all ignored: 0/0 = NaN). With label_smoothing eps the term is
// (1-eps)*CE + eps*mean_c(-log_softmax(logits)[i,c]), over the rows left as well.
// Adjoint: dlogits = G*(softmax(logits) - (1-eps)*onehot(labels) - eps/C)*w, w = 1/(rows left) for
// the mean, 1 for sum and none, and 0 on ignored rows.
#include "../loss_kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> class SoftmaxCeNode final : public SavingNode<T, 1> {
 public:
  Labels labels;
  // Under a recording: where its kernels read the labels (detail::label_source), for the
  // backward that recording runs.
  const Labels* recorded_labels = nullptr;
  std::uint64_t recording = 0;  // the recording's id (Capture::id), 0 for none
  CrossEntropyOptions options;
  const char* name() const override { return "softmax_ce"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    Tensor<T> logits = this->get(0);
    const std::size_t n = logits.dim(0), classes = logits.dim(1);
    const Labels* source = detail::backward_label_source(labels, recording, recorded_labels);
    Tensor<T> target = detail::new_output<T>("softmax_ce", logits.shape());
    detail::launch(
        [t = target.data(), n, classes, source, ignore = options.ignore_index,
         eps = T(options.label_smoothing)] {
          std::fill_n(t, n * classes, eps / T(classes));
          for (std::size_t i = 0; i < n; ++i)
            if ((*source)[i] != ignore) t[i * classes + std::size_t((*source)[i])] += T(1) - eps;
        },
        [&] { return detail::writes_from(target); });
    grads[0] =
        mul(softmax(logits) - target,
            detail::row_upstream("softmax_ce", g, source, options.ignore_index, options.reduction));
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
    // Every reduction with label smoothing; and, from two rows on, the first row ignored (by
    // the default -100 and by a label in range) so that the mean divides by the rows left.
    for (const Reduction r : {Reduction::mean, Reduction::sum, Reduction::none}) {
      const CrossEntropyOptions smoothed{.label_smoothing = 0.2, .reduction = r};
      out.push_back({Shape{n, c}.str() + " labels, smoothing 0.2 " + detail::reduction_name(r),
                     {samples::uniform<T>(Shape{n, c}, -3, 3, rng)},
                     [labels, smoothed](const std::vector<Tensor<T>>& in) {
                       return softmax_ce(in[0], labels, smoothed);
                     }});
      if (n < 2) continue;
      Labels ignored = labels;
      ignored[0] = -100;
      out.push_back({Shape{n, c}.str() + " labels, row 0 ignored " + detail::reduction_name(r),
                     {samples::uniform<T>(Shape{n, c}, -3, 3, rng)},
                     [ignored, r](const std::vector<Tensor<T>>& in) {
                       return softmax_ce(in[0], ignored, r);
                     }});
      // Needs a row with another label, or the mean is 0/0.
      if (std::count(labels.begin(), labels.end(), labels[0]) == std::ptrdiff_t(n)) continue;
      const CrossEntropyOptions both{
          .ignore_index = labels[0], .label_smoothing = 0.1, .reduction = r};
      out.push_back({Shape{n, c}.str() + " labels, ignore_index " + std::to_string(labels[0]) +
                         ", smoothing 0.1 " + detail::reduction_name(r),
                     {samples::uniform<T>(Shape{n, c}, -3, 3, rng)},
                     [labels, both](const std::vector<Tensor<T>>& in) {
                       return softmax_ce(in[0], labels, both);
                     }});
    }
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

template <class T>
Tensor<T> softmax_ce(const Tensor<T>& logits, const Labels& labels,
                     const CrossEntropyOptions& options) {
  detail::require_reduction("softmax_ce", options.reduction);
  const double eps = options.label_smoothing;
  if (!(eps >= 0 && eps <= 1))
    throw DomainError("softmax_ce: label_smoothing must lie in [0,1], got " + format_number(eps));
  detail::require_labels("softmax_ce", logits, labels, options.ignore_index, "logits");
  const Labels* source =
      detail::label_source("softmax_ce", logits, labels, options.ignore_index, "logits");
  const std::size_t n = logits.dim(0), classes = logits.dim(1);
  const T smooth = T(eps), keep = T(1) - smooth;
  Tensor<T> out = detail::reduce_labelled_terms<T>(
      "softmax_ce", n, options.reduction, source, options.ignore_index,
      [x = logits.data(), classes, smooth, keep](std::size_t i, std::size_t label) {
        const T* row = x + i * classes;
        const detail::LogSumExp<T> lse = detail::logsumexp(row, classes);
        const T ce = -lse.log_softmax(row[label]);
        if (smooth == T(0)) return ce;
        T uniform = 0;
        for (std::size_t c = 0; c < classes; ++c) uniform -= lse.log_softmax(row[c]);
        return keep * ce + smooth * uniform / T(classes);
      },
      logits);
  if (auto* node = record<SoftmaxCeNode<T>>(out, {&logits})) {
    node->saved[0].save_input(logits);
    node->labels = labels;
    node->options = options;
    if (detail::active_capture()) {
      node->recorded_labels = source;
      node->recording = detail::active_capture()->id;
    }
  }
  return out;
}

template <class T>
Tensor<T> softmax_ce(const Tensor<T>& logits, const Labels& labels, Reduction reduction) {
  return softmax_ce(logits, labels, CrossEntropyOptions{.reduction = reduction});
}

template Tensor<float> softmax_ce(const Tensor<float>&, const Labels&, Reduction);
template Tensor<double> softmax_ce(const Tensor<double>&, const Labels&, Reduction);
template Tensor<float> softmax_ce(const Tensor<float>&, const Labels&, const CrossEntropyOptions&);
template Tensor<double> softmax_ce(const Tensor<double>&, const Labels&,
                                   const CrossEntropyOptions&);

TG_DEFINE_REPLAYABLE_OP(
    softmax_ce,
    "dlogits = G*(softmax(logits) - (1-eps)*onehot(labels) - eps/C)*w, w = 1/(rows not "
    "ignored) for the mean, 1 for sum and none, 0 on ignored rows",
    softmax_ce_samples, softmax_ce_cases);

}  // namespace tg
