// nll_loss: PyTorch's negative log-likelihood of log_probs[n,C] (log_softmax's output) against
// integer labels[n]: row i's term is -log_probs[i, labels[i]], reduced as asked (mean by default).
// Rows labelled ignore_index (-100 by default) add nothing and the mean divides by the rows left
// (all ignored: 0/0 = NaN). softmax_ce(logits, labels) = nll_loss(log_softmax(logits), labels),
// fused. Adjoint: dlog_probs = -G*onehot(labels)*w, w = 1/(rows left) for the mean, 1 for sum and
// none, 0 on ignored rows; a constant times G, so differentiable again.
#include <algorithm>
#include <limits>

#include "../loss_kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> class NllLossNode final : public SavingNode<T, 0> {
 public:
  Labels labels;
  // Under a recording: where its kernels read the labels (detail::label_source), for the
  // backward that recording runs.
  const Labels* recorded_labels = nullptr;
  std::uint64_t recording = 0;  // the recording's id (Capture::id), 0 for none
  NllLossOptions options;
  std::size_t classes = 0;
  const char* name() const override { return "nll_loss"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    const std::size_t n = labels.size();
    const Labels* source = detail::backward_label_source(labels, recording, recorded_labels);
    Tensor<T> picked = detail::zeros_output<T>("nll_loss", Shape{n, classes});
    detail::launch(
        [p = picked.data(), n, classes = classes, source, ignore = options.ignore_index] {
          for (std::size_t i = 0; i < n; ++i)
            if ((*source)[i] != ignore) p[i * classes + std::size_t((*source)[i])] = 1;
        });
    // -G at each row's label, selected (PyTorch scatters it): 0 elsewhere even for an infinite G,
    // where multiplying by a one-hot would give inf * 0 = NaN.
    const Tensor<T> up =
        detail::row_upstream("nll_loss", g, source, options.ignore_index, options.reduction);
    grads[0] = where(picked, neg(up), Tensor<T>::scalar(T(0)));
  }
  void release_saved() override { labels = Labels(); }
};

template <class T> std::vector<GradSample<T>> nll_loss_samples(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  for (const auto& [n, c] :
       {std::pair<std::size_t, std::size_t>{1, 1}, {1, 5}, {4, 1}, {3, 4}, {6, 3}}) {
    const Shape s{n, c};
    Labels labels(n);
    std::uniform_int_distribution<std::int64_t> pick(0, std::int64_t(c) - 1);
    for (auto& l : labels) l = pick(rng);
    for (const Reduction r : {Reduction::mean, Reduction::sum, Reduction::none}) {
      out.push_back(
          {s.str() + " labels " + detail::reduction_name(r),
           {samples::uniform<T>(s, -3, 0, rng)},
           [labels, r](const std::vector<Tensor<T>>& in) { return nll_loss(in[0], labels, r); }});
      if (n < 2) continue;
      Labels ignored = labels;
      ignored[n - 1] = -100;
      out.push_back(
          {s.str() + " labels, last row ignored " + detail::reduction_name(r),
           {samples::uniform<T>(s, -3, 0, rng)},
           [ignored, r](const std::vector<Tensor<T>>& in) { return nll_loss(in[0], ignored, r); }});
      // Needs a row with another label, or the mean is 0/0.
      if (std::count(labels.begin(), labels.end(), labels[0]) == std::ptrdiff_t(n)) continue;
      const NllLossOptions in_range{.ignore_index = labels[0], .reduction = r};
      out.push_back({s.str() + " labels, ignore_index " + std::to_string(labels[0]) + " " +
                         detail::reduction_name(r),
                     {samples::uniform<T>(s, -3, 0, rng)},
                     [labels, in_range](const std::vector<Tensor<T>>& in) {
                       return nll_loss(in[0], labels, in_range);
                     }});
    }
  }
  return out;
}

// By hand, with x = [[-1.5, -0.25, -2], [-0.5, -3, -1], [-2.5, -0.75, -0.125]]: labels
// [0, 2, 1] pick 1.5, 1, 0.75 (mean 3.25/3); labels [1, -100, 2] pick 0.25, -, 0.125 (sum 0.375,
// mean over the 2 rows left 0.1875, none [0.25, 0, 0.125]). The gradient of that mean is -1/2 at
// (0,1) and (2,2), 0 elsewhere. All rows ignored: 0/0.
OpCases nll_loss_cases() {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  static const auto x = [](bool requires_grad = false) {
    return TensorD::matrix({{-1.5, -0.25, -2}, {-0.5, -3, -1}, {-2.5, -0.75, -0.125}},
                           requires_grad);
  };
  OpCases cases = {
      .forward = {{"[3,3] mean",
                   [] {
                     return nll_loss(x(), Labels{0, 2, 1});
                   },
                   Shape{},
                   {1.0833333333333333}},
                  {"[3,3] one row ignored, mean",
                   [] {
                     return nll_loss(x(), Labels{1, -100, 2});
                   },
                   Shape{},
                   {0.1875}},
                  {"[3,3] one row ignored, sum",
                   [] {
                     return nll_loss(x(), Labels{1, -100, 2}, Reduction::sum);
                   },
                   Shape{},
                   {0.375}},
                  {"[3,3] one row ignored, none",
                   [] {
                     return nll_loss(x(), Labels{1, -100, 2}, Reduction::none);
                   },
                   Shape{3},
                   {0.25, 0, 0.125}},
                  {"[3,3] ignore_index 2, sum",
                   [] {
                     return nll_loss(x(), Labels{0, 2, 1},
                                     {.ignore_index = 2, .reduction = Reduction::sum});
                   },
                   Shape{},
                   {2.25}},
                  {"all ignored, mean is NaN",
                   [] {
                     return nll_loss(x(), Labels{-100, -100, -100});
                   },
                   Shape{},
                   {nan}},
                  {"gradient of the mean over the rows left",
                   [] {
                     TensorD lp = x(true);
                     return tg::grad(nll_loss(lp, Labels{1, -100, 2}), {lp})[0];
                   },
                   Shape{3, 3},
                   {0, -0.5, 0, 0, 0, 0, 0, 0, -0.5}},
                  {"gradient for an infinite upstream: -G at the label, 0 elsewhere",
                   [] {
                     TensorD lp = x(true);
                     const double inf = std::numeric_limits<double>::infinity();
                     return tg::grad(nll_loss(lp, Labels{1, 0, -100}, Reduction::none), {lp},
                                     TensorD::vector({inf, 2, inf}))[0];
                   },
                   Shape{3, 3},
                   {0, -std::numeric_limits<double>::infinity(), 0, -2, 0, 0, 0, 0, 0}}},
      .errors = {
          {"label out of range", ErrorKind::index, "label 3 at row 1",
           [] {
             nll_loss(x(), Labels{0, 3, 1});
           }},
          {"negative label", ErrorKind::index, "label -1 at row 0",
           [] {
             nll_loss(x(), Labels{-1, 0, 1});
           }},
          {"-100 is a label once ignore_index is another", ErrorKind::index, "label -100 at row 0",
           [] {
             nll_loss(x(), Labels{-100, 0, 1}, {.ignore_index = 1});
           }},
          {"label count", ErrorKind::shape, "2 labels for log_probs[3,3]",
           [] {
             nll_loss(x(), Labels{0, 1});
           }},
          {"not 2-D", ErrorKind::shape, "[3]",
           [] {
             nll_loss(TensorD::vector({-1, -2, -3}), Labels{0});
           }},
          {"unknown reduction", ErrorKind::domain, "unknown reduction 4", [] {
             nll_loss(x(), Labels{0, 1, 2}, static_cast<Reduction>(4));
           }}}};
  cases.gradient_constant_in_inputs = true;
  return cases;
}

}  // namespace

template <class T>
Tensor<T> nll_loss(const Tensor<T>& log_probs, const Labels& labels,
                   const NllLossOptions& options) {
  detail::require_reduction("nll_loss", options.reduction);
  detail::require_labels("nll_loss", log_probs, labels, options.ignore_index, "log_probs");
  const Labels* source =
      detail::label_source("nll_loss", log_probs, labels, options.ignore_index, "log_probs");
  const std::size_t n = log_probs.dim(0), classes = log_probs.dim(1);
  Tensor<T> out = detail::reduce_labelled_terms<T>(
      "nll_loss", n, options.reduction, source, options.ignore_index,
      [x = log_probs.data(), classes](std::size_t i, std::size_t label) {
        return -x[i * classes + label];
      },
      log_probs);
  if (auto* node = record<NllLossNode<T>>(out, {&log_probs})) {
    node->labels = labels;
    node->options = options;
    node->classes = classes;
    if (detail::active_capture()) {
      node->recorded_labels = source;
      node->recording = detail::active_capture()->id;
    }
  }
  return out;
}

template <class T>
Tensor<T> nll_loss(const Tensor<T>& log_probs, const Labels& labels, Reduction reduction) {
  return nll_loss(log_probs, labels, NllLossOptions{.reduction = reduction});
}

template Tensor<float> nll_loss(const Tensor<float>&, const Labels&, Reduction);
template Tensor<double> nll_loss(const Tensor<double>&, const Labels&, Reduction);
template Tensor<float> nll_loss(const Tensor<float>&, const Labels&, const NllLossOptions&);
template Tensor<double> nll_loss(const Tensor<double>&, const Labels&, const NllLossOptions&);

TG_DEFINE_REPLAYABLE_OP(
    nll_loss,
    "dlog_probs = -G*onehot(labels)*w, w = 1/(rows not ignored) for the mean, 1 for sum "
    "and none, 0 on ignored rows",
    nll_loss_samples, nll_loss_cases);

}  // namespace tg
