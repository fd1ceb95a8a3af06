// What the losses share: checking a Reduction, reducing per-element terms into the loss's output,
// the factor an adjoint scales the upstream gradient by, and the per-row checks of the
// cross-entropies with integer labels. Internal to the autodiff library, like kernels.hpp.
#pragma once

#include <memory>
#include <string>

#include "kernels.hpp"

namespace tg::detail {

inline const char* reduction_name(Reduction reduction) {
  switch (reduction) {
    case Reduction::mean:
      return "mean";
    case Reduction::sum:
      return "sum";
    case Reduction::none:
      return "none";
  }
  return "?";
}

// A Reduction cast from a number that names none of the three is refused before anything else.
inline void require_reduction(const char* op, Reduction reduction) {
  if (reduction != Reduction::mean && reduction != Reduction::sum && reduction != Reduction::none)
    throw DomainError(std::string(op) + ": unknown reduction " +
                      std::to_string(static_cast<int>(reduction)) + " (mean, sum or none)");
}

// The checks every elementwise loss of a and b makes: a known reduction, equal shapes, and
// something to average for the mean (a sum of nothing is 0, and none of nothing is empty, as in
// PyTorch).
template <class T>
void require_loss_inputs(const char* op, const Tensor<T>& a, const Tensor<T>& b,
                         Reduction reduction) {
  require_reduction(op, reduction);
  require_same_shape(op, a, b);
  if (reduction == Reduction::mean) require_nonempty(op, a);
}

// The loss's output from its `count` terms term(i): the terms themselves with shape `shape`
// (none), their sum, or their sum divided by `divisor` (mean). `term` is kept by a recording
// (launch): it captures by value; it reads the tensors `inputs` (what a recording's passes are
// told the kernel reads).
template <class T, class Term, class... Inputs>
Tensor<T> reduce_terms(const char* op, const Shape& shape, std::size_t count, Reduction reduction,
                       T divisor, Term term, const Inputs&... inputs) {
  if (reduction == Reduction::none) {
    Tensor<T> out = new_output<T>(op, shape);
    launch(
        [o = out.data(), count, term] {
          for (std::size_t i = 0; i < count; ++i) o[i] = term(i);
        },
        [&] { return writes_from(out, inputs...); });
    return out;
  }
  Tensor<T> out = new_output<T>(op, Shape{});
  launch(
      [o = out.data(), count, mean = reduction == Reduction::mean, divisor, term] {
        T total = 0;
        for (std::size_t i = 0; i < count; ++i) total += term(i);
        o[0] = mean ? total / divisor : total;
      },
      [&] { return writes_from(out, inputs...); });
  return out;
}

// The upstream gradient as each term receives it: G/N for the mean (G is 0-d), G itself for the
// sum (0-d) and for none (the terms' shape).
template <class T> Tensor<T> term_upstream(const Tensor<T>& g, Reduction reduction, std::size_t n) {
  return reduction == Reduction::mean ? g * (T(1) / T(n)) : g;
}

// The range check of labels for a [n,C] input: each in 0..C-1 or ignore_index. The error names
// the input (`what`, a string literal) with its shape ("logits[4,3]"), a message built only when
// thrown. Eager mode checks at each call; a recording's declared label inputs are checked with it
// at every run (label_source).
inline void require_label_range(const char* op, const Labels& labels, std::size_t classes,
                                std::int64_t ignore_index, const char* what, const Shape& shape) {
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (labels[i] != ignore_index && (labels[i] < 0 || std::size_t(labels[i]) >= classes))
      throw IndexError(std::string(op) + ": label " + std::to_string(labels[i]) + " at row " +
                       std::to_string(i) + " is out of range for " + std::to_string(classes) +
                       " classes (valid 0.." + std::to_string(std::int64_t(classes) - 1) + "), " +
                       what + shape.str());
}

// Labels for the rows of a [n,C] input: one per row, each in 0..C-1 or ignore_index. Shared by
// softmax_ce and nll_loss so that both raise the same errors.
template <class T>
void require_labels(const char* op, const Tensor<T>& x, const Labels& labels,
                    std::int64_t ignore_index, const char* what) {
  require_rank(op, x, 2, what);
  const std::size_t n = x.dim(0), classes = x.dim(1);
  if (labels.size() != n)
    throw ShapeError(std::string(op) + ": " + std::to_string(labels.size()) + " labels for " +
                     what + x.shape().str() + " (needs one label per row, " + std::to_string(n) +
                     ")");
  if (n == 0) throw ShapeError(std::string(op) + ": empty batch, " + what + x.shape().str());
  require_label_range(op, labels, classes, ignore_index, what, x.shape());
}

// Where the kernels of a labelled loss read its (already checked) labels, for the lifetime of
// what they run in. Eager: the argument itself (the kernels run before the op returns). Under a
// recording: the argument when it is one of the recording's declared label inputs (the caller's
// vector, read at every run, whose range check every run then repeats before anything is
// written), else a copy kept by the recording (constant labels, like an index list).
template <class T>
const Labels* label_source(const char* op, const Tensor<T>& x, const Labels& labels,
                           std::int64_t ignore_index, const char* what) {
  Capture* capture = active_capture();
  if (!capture) return &labels;
  LabelInputs& recorded = capture->labels;
  for (std::size_t i = 0; i < recorded.inputs.size(); ++i) {
    if (recorded.inputs[i] != &labels) continue;
    recorded.read[i] = true;
    recorded.checks.push_back(
        {i, [op, classes = x.dim(1), ignore_index, what, shape = x.shape()](const Labels& run) {
           require_label_range(op, run, classes, ignore_index, what, shape);
         }});
    return &labels;
  }
  recorded.constants.push_back(std::make_unique<const Labels>(labels));
  return recorded.constants.back().get();
}

// The same for the backward of a node that keeps its own copy `labels`: eager, that copy; in the
// recording that made the node, where its forward read them (`recorded`); in another recording
// (a graph made outside it), a copy that recording keeps, as the node's copy dies with the node.
inline const Labels* backward_label_source(const Labels& labels, std::uint64_t made_in,
                                           const Labels* recorded) {
  Capture* capture = active_capture();
  if (!capture) return &labels;
  if (capture->id == made_in) return recorded;
  capture->labels.constants.push_back(std::make_unique<const Labels>(labels));
  return capture->labels.constants.back().get();
}

// The rows of a labelled loss kept by ignore_index, counted in the kernel (the labels may change
// between runs of a recording).
inline std::size_t kept_rows(const Labels& labels, std::int64_t ignore_index) {
  std::size_t kept = 0;
  for (const auto l : labels) kept += l != ignore_index;
  return kept;
}

// reduce_terms for a labelled loss over n rows: term(i, label) for each row not ignored, 0 for an
// ignored one; the mean divides by the rows kept. The labels are read in the kernel through
// `labels` (label_source). `term` is kept by a recording (launch): it captures by value; it reads
// the tensor `input`.
template <class T, class Term>
Tensor<T> reduce_labelled_terms(const char* op, std::size_t n, Reduction reduction,
                                const Labels* labels, std::int64_t ignore_index, Term term,
                                const Tensor<T>& input) {
  auto row = [labels, ignore_index, term](std::size_t i) {
    const std::int64_t l = (*labels)[i];
    return l == ignore_index ? T(0) : term(i, std::size_t(l));
  };
  if (reduction == Reduction::none) {
    Tensor<T> out = new_output<T>(op, Shape{n});
    launch(
        [o = out.data(), n, row] {
          for (std::size_t i = 0; i < n; ++i) o[i] = row(i);
        },
        [&] { return writes_from(out, input); });
    return out;
  }
  Tensor<T> out = new_output<T>(op, Shape{});
  launch(
      [o = out.data(), n, mean = reduction == Reduction::mean, labels, ignore_index, row] {
        T total = 0;
        for (std::size_t i = 0; i < n; ++i) total += row(i);
        o[0] = mean ? total / T(kept_rows(*labels, ignore_index)) : total;
      },
      [&] { return writes_from(out, input); });
  return out;
}

// Per-row weights of the labelled cross-entropies' adjoint, as a constant [n,1]: 0 for an ignored
// row, else 1/(rows kept) for the mean and 1 otherwise; times G ([n] for none, reshaped to [n,1]).
// The labels are read in the kernel through `labels` (label_source).
template <class T>
Tensor<T> row_upstream(const char* op, const Tensor<T>& g, const Labels* labels,
                       std::int64_t ignore_index, Reduction reduction) {
  const std::size_t n = labels->size();
  Tensor<T> weights = new_output<T>(op, Shape{n, 1});
  launch(
      [w = weights.data(), n, labels, ignore_index, mean = reduction == Reduction::mean] {
        const T kept = mean ? T(1) / T(kept_rows(*labels, ignore_index)) : T(1);
        for (std::size_t i = 0; i < n; ++i) w[i] = (*labels)[i] == ignore_index ? T(0) : kept;
      },
      [&] { return writes_from(weights); });
  return mul(reduction == Reduction::none ? reshape(g, Shape{n, 1}) : g, weights);
}

}  // namespace tg::detail

namespace tg::detail {

// bce_derivative (kernels.hpp) for bce with that reduction: no division by N for sum and none.
template <class T>
Tensor<T> bce_derivative(const Tensor<T>& g, const Tensor<T>& p, const Tensor<T>& y, unsigned order,
                         Reduction reduction);

}  // namespace tg::detail

namespace tg::detail {

// The losses of d = a - b that are quadratic near 0 and linear outside (l1_loss, huber_loss,
// smooth_l1_loss): f(d) = d^2/(2 divisor) for |d| < width, else height*(|d| - width/2), so
// f'(d) = d/divisor inside and height*sign(d) outside (0 at d = 0, NaN at NaN, as PyTorch's sign).
// width 0 is height*|d|.
template <class T> struct KinkedLoss {
  T width;
  T divisor;
  T height;
  T term(T d) const {
    const T m = std::abs(d);
    return m < width ? T(0.5) * d * d / divisor : height * (m - T(0.5) * width);
  }
  T outside_slope(T d) const {
    if (d != d) return d;
    if (std::abs(d) < width) return T(0);
    return d > T(0) ? height : d < T(0) ? -height : T(0);
  }
};

// f'(a - b) as ops of a and b: (a - b)/divisor selected by a constant mask where |a - b| < width,
// plus the constant outside slopes; differentiable again (the second derivative is the mask).
// Selected, not multiplied by a 0/1 mask: outside, a - b may be infinite, and inf * 0 would make
// the slope there NaN instead of +-height.
template <class T>
Tensor<T> kinked_slope(const char* op, const Tensor<T>& a, const Tensor<T>& b,
                       const KinkedLoss<T>& f) {
  const Tensor<T> outside = map_binary(op, a, b, [f](T x, T y) { return f.outside_slope(x - y); });
  if (f.width == T(0)) return outside;
  const Tensor<T> inside =
      map_binary(op, a, b, [f](T x, T y) { return T(std::abs(x - y) < f.width); });
  return where(inside, scale(a - b, T(1) / f.divisor), Tensor<T>::scalar(T(0))) + outside;
}

template <class T> class KinkedLossNode final : public SavingNode<T, 2> {
 public:
  const char* op = "";
  KinkedLoss<T> f{};
  Reduction reduction = Reduction::mean;
  const char* name() const override { return op; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    Tensor<T> da = mul(kinked_slope(op, this->get(0), this->get(1), f),
                       term_upstream(g, reduction, this->input_shape(0).numel()));
    if (this->needs_grad(1)) grads[1] = neg(da);
    grads[0] = std::move(da);
  }
};

// The forward of those losses, after the op's own checks of its parameter.
template <class T>
Tensor<T> kinked_loss(const char* op, const Tensor<T>& a, const Tensor<T>& b, Reduction reduction,
                      const KinkedLoss<T>& f) {
  require_loss_inputs(op, a, b, reduction);
  const T* pa = a.data();
  const T* pb = b.data();
  Tensor<T> out = reduce_terms<T>(
      op, a.shape(), a.size(), reduction, T(a.size()),
      [f, pa, pb](std::size_t i) { return f.term(pa[i] - pb[i]); }, a, b);
  if (auto* node = record<KinkedLossNode<T>>(out, {&a, &b})) {
    node->op = op;
    node->f = f;
    node->reduction = reduction;
    node->saved[0].save_input(a);
    node->saved[1].save_input(b);
  }
  return out;
}

// Gradient-check samples of such a loss on samples::loss_shapes(), soft and hard (exactly 0 and
// 1) targets b, each reduction: a = b + d with |d| kept off the kinks at 0 and at `width`.
template <class T, class F>
std::vector<GradSample<T>> kinked_loss_samples(std::uint64_t seed, double width, F loss) {
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  std::bernoulli_distribution outside(0.5);
  for (const Shape& s : samples::loss_shapes())
    for (const Reduction r : {Reduction::mean, Reduction::sum, Reduction::none})
      for (const bool hard : {false, true}) {
        Tensor<T> b = hard ? samples::hard_targets<T>(s, rng) : samples::uniform<T>(s, -1, 1, rng);
        const Tensor<T> d = samples::away_from_zero<T>(s, 0.1, 0.8, rng);
        Tensor<T> a = Tensor<T>::zeros(s, true);
        for (std::size_t i = 0; i < a.size(); ++i) {
          const T di = d.data()[i], w = T(width);
          // Inside: |offset| in [0.1, 0.8]*width; outside: 1.25*width + [0.2, 1.6].
          const T offset = w == T(0) || outside(rng)
                               ? (di < 0 ? -1 : 1) * (T(1.25) * w + 2 * std::abs(di))
                               : w * di;
          a.data()[i] = b.data()[i] + offset;
        }
        out.push_back(
            {s.str() + "," + s.str() + (hard ? " hard targets " : " ") + reduction_name(r),
             {a, b},
             [loss, r](const std::vector<Tensor<T>>& in) { return loss(in[0], in[1], r); }});
      }
  return out;
}

}  // namespace tg::detail
