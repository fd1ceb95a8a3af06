// Every differentiable op, declared. Each op lives in one file, autodiff/src/ops/<op>.cpp, with its
// forward, adjoint, shape rules, gradient-check samples, forward values and error inputs; the build
// lists the op files, so adding an op is its file plus its declaration here. Exact semantics (what
// raises, what returns NaN/inf: PyTorch's numbers, float64) are in the README's op table. All ops
// are instantiated for float and double.
#pragma once

#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "tapegrad/tensor.hpp"

namespace tg {

// ---- linear algebra and layout ------------------------------------------------------------
// op(A) @ op(B) with PyTorch's matmul rules: 2-D @ 2-D; a 1-D A is a row, a 1-D B a column, and
// that 1 is removed ([k] @ [k] -> []); N-D operands are batches of matrices in the last two
// dimensions, batch dimensions broadcasting. op transposes the last two dimensions when the flag
// is set (BLAS transpose flags: no transposed copy is ever made; a flag on a 1-D operand is a
// ShapeError). Inner dimensions must agree. More under "products" below.
template <class T>
Tensor<T> matmul(const Tensor<T>& a, const Tensor<T>& b, bool transpose_a = false,
                 bool transpose_b = false);
// Y[i,j] = X[i,j] + b[j] for X[n,m], b[m].
template <class T> Tensor<T> add_bias(const Tensor<T>& x, const Tensor<T>& bias);
// Y = X W + b for X[n,k], W[k,m], b[m]: a dense layer, one GEMM onto the broadcast bias (what
// nn::Linear records).
template <class T>
Tensor<T> linear(const Tensor<T>& x, const Tensor<T>& weight, const Tensor<T>& bias);
// The activations linear_act applies: those whose adjoint needs only their output.
enum class FusedActivation { sigmoid, tanh, relu };
// act(X W + b) for X[n,k], W[k,m], b[m]: linear then sigmoid, tanh or relu as one op, with their
// values bit for bit (the activation applied while Y is in cache; one node and one tensor fewer).
// What nn::Sequential records for a Linear followed by one of these when another layer follows.
// DomainError for an activation outside the enum.
template <class T>
Tensor<T> linear_act(const Tensor<T>& x, const Tensor<T>& weight, const Tensor<T>& bias,
                     FusedActivation activation);
// Matrix transpose (2-D only).
template <class T> Tensor<T> transpose(const Tensor<T>& x);
// Same elements, new shape with the same element count.
template <class T> Tensor<T> reshape(const Tensor<T>& x, const Shape& shape);

// ---- broadcasting (the engine reduces broadcast gradients with sum_to, in one place) --------
template <class T> Tensor<T> broadcast_to(const Tensor<T>& x, const Shape& shape);
// Sums x down to `shape`, which x's shape must broadcast from (inverse of broadcast_to).
template <class T> Tensor<T> sum_to(const Tensor<T>& x, const Shape& shape);

// ---- elementwise, NumPy broadcasting --------------------------------------------------------
template <class T> Tensor<T> add(const Tensor<T>& a, const Tensor<T>& b);
template <class T> Tensor<T> sub(const Tensor<T>& a, const Tensor<T>& b);
template <class T> Tensor<T> mul(const Tensor<T>& a, const Tensor<T>& b);
template <class T> Tensor<T> div(const Tensor<T>& a, const Tensor<T>& b);
// x / y, but 0 wherever x == 0 (even where y == 0; not where y is NaN): the derivative companion
// of xlogy.
template <class T> Tensor<T> xdivy(const Tensor<T>& x, const Tensor<T>& y);

// ---- elementwise unary ---------------------------------------------------------------------
template <class T> Tensor<T> neg(const Tensor<T>& x);
template <class T> Tensor<T> exp(const Tensor<T>& x);
template <class T> Tensor<T> log(const Tensor<T>& x);
// 1/(1+e^-x), evaluated as e^x/(1+e^x) for x < 0 so that neither branch overflows.
template <class T> Tensor<T> sigmoid(const Tensor<T>& x);
template <class T> Tensor<T> tanh(const Tensor<T>& x);
// max(x, 0); relu'(0) = 0 (PyTorch/JAX/TF convention).
template <class T> Tensor<T> relu(const Tensor<T>& x);
// x^p elementwise for a constant exponent p.
template <class T> Tensor<T> pow(const Tensor<T>& x, T exponent);
// x * factor for a constant factor: what x * c and c * x record (gradient to x only).
template <class T> Tensor<T> scale(const Tensor<T>& x, std::type_identity_t<T> factor);

// ---- fused adjoints: the backward kernels of sigmoid, tanh and relu as ops of their own, so
// that first-order backward runs one kernel and recorded backward (create_graph) stays
// differentiable.
// G*s*(1-s) for s = sigmoid(x).
template <class T> Tensor<T> sigmoid_backward(const Tensor<T>& g, const Tensor<T>& s);
// G*(1-t^2) for t = tanh(x).
template <class T> Tensor<T> tanh_backward(const Tensor<T>& g, const Tensor<T>& t);
// G where y > 0 or y is NaN, else 0 (selected: an infinite G gives 0 there), for y = relu(x).
template <class T> Tensor<T> relu_backward(const Tensor<T>& g, const Tensor<T>& y);
// bce's adjoint: G*((1-y)/(1-p) - y/p)/N for N = p.size(), each term 0 where its numerator is 0
// (even over p = 0 or 1); p and y of equal shape, G broadcasting against them (bce's is 0-d).
// Its own adjoint is exact in y at hard targets (0 and 1), so second derivatives through bce are.
template <class T>
Tensor<T> bce_backward(const Tensor<T>& g, const Tensor<T>& p, const Tensor<T>& y);

// ---- reductions -----------------------------------------------------------------------------
// Each over all elements (-> 0-d), one axis or a list of axes; negative axes count from the end,
// an empty list reduces every axis, keepdim keeps the reduced axes as extent 1. An axis out of
// range (any axis of a 0-d tensor) or given twice: AxisError naming it and the shape. The
// one-axis forms take any integer type (sum(x, 1), sum(x, std::size_t(1))).
template <class I>
concept AxisIndex = std::integral<I> && !std::same_as<I, bool>;
namespace detail {
template <class I> int axis_as_int(const char* op, const Shape& shape, I axis) {
  if (!std::in_range<int>(axis))
    throw AxisError(std::string(op) + ": axis " + std::to_string(axis) +
                    " out of range for shape " + shape.str());
  return int(axis);
}
template <class I> std::vector<int> one_axis(const char* op, const Shape& shape, I axis) {
  return {axis_as_int(op, shape, axis)};
}
// sum along one axis without building a list of axes: every dense layer's bias gradient is one.
template <class T> Tensor<T> sum_axis(const Tensor<T>& x, int axis, bool keepdim);
}  // namespace detail

// An empty reduction sums to 0.
template <class T> Tensor<T> sum(const Tensor<T>& x);
template <class T>
Tensor<T> sum(const Tensor<T>& x, const std::vector<int>& axes, bool keepdim = false);
template <class T, AxisIndex I> Tensor<T> sum(const Tensor<T>& x, I axis, bool keepdim = false) {
  return detail::sum_axis(x, detail::axis_as_int("sum", x.shape(), axis), keepdim);
}
// An empty reduction has no mean: ShapeError.
template <class T> Tensor<T> mean(const Tensor<T>& x);
template <class T>
Tensor<T> mean(const Tensor<T>& x, const std::vector<int>& axes, bool keepdim = false);
template <class T, AxisIndex I> Tensor<T> mean(const Tensor<T>& x, I axis, bool keepdim = false) {
  return mean(x, detail::one_axis("mean", x.shape(), axis), keepdim);
}
// The largest value (PyTorch's amax), NaN if the slice holds one; G is split equally among tied
// maxima. An empty reduction: IndexError.
template <class T> Tensor<T> max(const Tensor<T>& x);
template <class T>
Tensor<T> max(const Tensor<T>& x, const std::vector<int>& axes, bool keepdim = false);
template <class T, AxisIndex I> Tensor<T> max(const Tensor<T>& x, I axis, bool keepdim = false) {
  return max(x, detail::one_axis("max", x.shape(), axis), keepdim);
}
// The smallest value (amin); as max.
template <class T> Tensor<T> min(const Tensor<T>& x);
template <class T>
Tensor<T> min(const Tensor<T>& x, const std::vector<int>& axes, bool keepdim = false);
template <class T, AxisIndex I> Tensor<T> min(const Tensor<T>& x, I axis, bool keepdim = false) {
  return min(x, detail::one_axis("min", x.shape(), axis), keepdim);
}
// log(sum(exp(x))) shifted by the max (finite for +-800); -inf for all -inf or an empty slice.
template <class T> Tensor<T> logsumexp(const Tensor<T>& x);
template <class T>
Tensor<T> logsumexp(const Tensor<T>& x, const std::vector<int>& axes, bool keepdim = false);
template <class T, AxisIndex I>
Tensor<T> logsumexp(const Tensor<T>& x, I axis, bool keepdim = false) {
  return logsumexp(x, detail::one_axis("logsumexp", x.shape(), axis), keepdim);
}
// sum((x - mean)^2) / (N - correction), correction 1 (Bessel's) unless given; keepdim before
// correction, so var(x, {0, 1}, true) keeps dims. N - correction <= 0 gives inf or NaN, no error;
// over all elements with another correction: var(x, {}, false, 0) (an empty list is all axes).
template <class T> Tensor<T> var(const Tensor<T>& x);
template <class T>
Tensor<T> var(const Tensor<T>& x, const std::vector<int>& axes, bool keepdim = false,
              double correction = 1);
template <class T, AxisIndex I>
Tensor<T> var(const Tensor<T>& x, I axis, bool keepdim = false, double correction = 1) {
  return var(x, detail::one_axis("var", x.shape(), axis), keepdim, correction);
}
// sqrt(var), the same arguments; its gradient is 0 where std = 0 (PyTorch's).
template <class T> Tensor<T> std(const Tensor<T>& x);
template <class T>
Tensor<T> std(const Tensor<T>& x, const std::vector<int>& axes, bool keepdim = false,
              double correction = 1);
template <class T, AxisIndex I>
Tensor<T> std(const Tensor<T>& x, I axis, bool keepdim = false, double correction = 1) {
  return std(x, detail::one_axis("std", x.shape(), axis), keepdim, correction);
}
// The product (1 for an empty slice); exact gradient at zeros: the product of the others at a
// single zero, 0 everywhere in a slice with two zeros or more.
template <class T> Tensor<T> prod(const Tensor<T>& x);
template <class T>
Tensor<T> prod(const Tensor<T>& x, const std::vector<int>& axes, bool keepdim = false);
template <class T, AxisIndex I> Tensor<T> prod(const Tensor<T>& x, I axis, bool keepdim = false) {
  return prod(x, detail::one_axis("prod", x.shape(), axis), keepdim);
}
// The p-norm for p = 1, 2 or inf (other p: DomainError); gradient 0 where the norm is 0, sign(x)
// for p = 1 (0 at 0), split among the tied largest |x| for p = inf.
template <class T> Tensor<T> norm(const Tensor<T>& x, double p = 2);
template <class T>
Tensor<T> norm(const Tensor<T>& x, double p, const std::vector<int>& axes, bool keepdim = false);
template <class T, AxisIndex I>
Tensor<T> norm(const Tensor<T>& x, double p, I axis, bool keepdim = false) {
  return norm(x, p, detail::one_axis("norm", x.shape(), axis), keepdim);
}

// Indices of the largest (argmax) or smallest (argmin) element: the first on ties, a NaN counts as
// the largest (and the smallest); over all elements as a flat row-major index. Not differentiable.
// An empty axis: IndexError. Converts to Labels (e.g. predicted classes of logits[n, C]).
// Indices is an integer index tensor (its shape and its values, row-major): what argmax gives and
// gather and scatter_add take.
struct Indices {
  Shape shape;
  std::vector<std::int64_t> values;
  operator std::vector<std::int64_t>() const { return values; }
};
template <class T> Indices argmax(const Tensor<T>& x);
template <class T> Indices argmax(const Tensor<T>& x, int axis, bool keepdim = false);
template <class T> Indices argmin(const Tensor<T>& x);
template <class T> Indices argmin(const Tensor<T>& x, int axis, bool keepdim = false);

// ---- along the last axis -------------------------------------------------------------------
template <class T> Tensor<T> softmax(const Tensor<T>& x);
template <class T> Tensor<T> log_softmax(const Tensor<T>& x);

// ---- losses: inputs of equal shape (never broadcast) --------------------------------------------
// How a loss combines its per-element (per-row for the cross-entropies) terms, as PyTorch's
// reduction: mean (the default; an empty input raises ShapeError), sum (0 for an empty input), or
// none (the terms with the input's shape; [n] for the cross-entropies).
enum class Reduction { mean, sum, none };

// (a-b)^2.
template <class T>
Tensor<T> mse(const Tensor<T>& a, const Tensor<T>& b, Reduction reduction = Reduction::mean);
// |a-b|; gradient sign(a-b), 0 at a == b (PyTorch).
template <class T>
Tensor<T> l1_loss(const Tensor<T>& a, const Tensor<T>& b, Reduction reduction = Reduction::mean);
// d = a-b: d^2/2 where |d| < delta, else delta*(|d| - delta/2); delta > 0 (DomainError).
template <class T>
Tensor<T> huber_loss(const Tensor<T>& a, const Tensor<T>& b, std::type_identity_t<T> delta = 1,
                     Reduction reduction = Reduction::mean);
// d = a-b: d^2/(2 beta) where |d| < beta, else |d| - beta/2; beta = 0 is l1_loss, beta < 0 raises
// DomainError.
template <class T>
Tensor<T> smooth_l1_loss(const Tensor<T>& a, const Tensor<T>& b, std::type_identity_t<T> beta = 1,
                         Reduction reduction = Reduction::mean);
// -(y log p + (1-y) log(1-p)) with 0 log 0 = 0; p must lie in [0,1] (DomainError).
template <class T>
Tensor<T> bce(const Tensor<T>& p, const Tensor<T>& y, Reduction reduction = Reduction::mean);
// bce(sigmoid(z), y), evaluated stably as max(z,0) - z*y + log1p(e^-|z|).
template <class T>
Tensor<T> bce_with_logits(const Tensor<T>& z, const Tensor<T>& y,
                          Reduction reduction = Reduction::mean);
// With PyTorch's pos_weight (broadcast against z, typically [C] along the last axis):
// (1-y)*z + (1+(pw-1)*y)*softplus(-z).
template <class T>
Tensor<T> bce_with_logits(const Tensor<T>& z, const Tensor<T>& y, const Tensor<T>& pos_weight,
                          Reduction reduction = Reduction::mean);

// bce_backward for bce with that reduction: N = 1 for sum and none (G then has p's shape).
template <class T>
Tensor<T> bce_backward(const Tensor<T>& g, const Tensor<T>& p, const Tensor<T>& y,
                       Reduction reduction);

using Labels = std::vector<std::int64_t>;
// Options of the cross-entropies with integer labels, PyTorch's: rows whose label is ignore_index
// contribute nothing and the mean divides by the rows left (all ignored: NaN); label_smoothing eps
// in [0,1] gives (1-eps)*CE + eps*mean_c(-log_softmax) per row.
struct CrossEntropyOptions {
  std::int64_t ignore_index = -100;
  double label_smoothing = 0;
  Reduction reduction = Reduction::mean;
};
// logsumexp(logits[i,:]) - logits[i, labels[i]] for logits[n,C], labels in 0..C-1 or -100
// (ignored); IndexError for any other label.
template <class T>
Tensor<T> softmax_ce(const Tensor<T>& logits, const Labels& labels,
                     Reduction reduction = Reduction::mean);
template <class T>
Tensor<T> softmax_ce(const Tensor<T>& logits, const Labels& labels,
                     const CrossEntropyOptions& options);
// -sum_c targets[i,c] * log_softmax(logits)[i,c]; targets one-hot or any distribution.
template <class T>
Tensor<T> softmax_ce(const Tensor<T>& logits, const Tensor<T>& targets,
                     Reduction reduction = Reduction::mean);
// nll_loss's options, PyTorch's: rows whose label is ignore_index contribute nothing and the mean
// divides by the rows left (all ignored: NaN).
struct NllLossOptions {
  std::int64_t ignore_index = -100;
  Reduction reduction = Reduction::mean;
};
// -log_probs[i, labels[i]] for log_probs[n,C] (log_softmax's output), labels as softmax_ce's.
template <class T>
Tensor<T> nll_loss(const Tensor<T>& log_probs, const Labels& labels,
                   Reduction reduction = Reduction::mean);
template <class T>
Tensor<T> nll_loss(const Tensor<T>& log_probs, const Labels& labels, const NllLossOptions& options);
// a.b / (max(||a||, eps) * max(||b||, eps)) along `axis` (removed), each norm clamped on its own
// (current PyTorch); a and b of equal shape. No reduction: a similarity, not a loss.
template <class T>
Tensor<T> cosine_similarity(const Tensor<T>& a, const Tensor<T>& b, int axis = 1,
                            std::type_identity_t<T> eps = T(1e-8));

// ---- elementwise, one input: abs, sqrt, square, trigonometry, activations, clamp, sign --------
// |x|; gradient sign(x), 0 at 0 (PyTorch).
template <class T> Tensor<T> abs(const Tensor<T>& x);
// IEEE-754: NaN below 0; gradient G/(2 sqrt x), inf at 0.
template <class T> Tensor<T> sqrt(const Tensor<T>& x);
template <class T> Tensor<T> square(const Tensor<T>& x);
template <class T> Tensor<T> sin(const Tensor<T>& x);
template <class T> Tensor<T> cos(const Tensor<T>& x);
// log(1+x) and e^x - 1, exact for tiny x.
template <class T> Tensor<T> log1p(const Tensor<T>& x);
template <class T> Tensor<T> expm1(const Tensor<T>& x);
// log(1 + e^(beta x))/beta, or x where beta*x > threshold (PyTorch's linear regime).
template <class T>
Tensor<T> softplus(const Tensor<T>& x, std::type_identity_t<T> beta = 1,
                   std::type_identity_t<T> threshold = 20);
// x where x > 0, else slope*x; gradient slope at 0 (PyTorch).
template <class T> Tensor<T> leaky_relu(const Tensor<T>& x, std::type_identity_t<T> slope = 0.01);
// x where x > 0, else alpha*(e^x - 1); gradient alpha at 0 (PyTorch).
template <class T> Tensor<T> elu(const Tensor<T>& x, std::type_identity_t<T> alpha = 1);
// x*Phi(x) exactly (none), or PyTorch's approximate='tanh' form.
enum class GeluApproximation { none, tanh };
template <class T>
Tensor<T> gelu(const Tensor<T>& x, GeluApproximation approximate = GeluApproximation::none);
// The exact gelu's adjoint G*(Phi(x) + x*phi(x)) as a fused op (G broadcasts against x).
template <class T> Tensor<T> gelu_backward(const Tensor<T>& g, const Tensor<T>& x);
// min(max(x, lo), hi), either bound optional (DomainError if neither); gradient G where
// lo <= x <= hi, bounds inclusive (PyTorch). clamp(x, 0.0, 1.0), clamp(x, std::nullopt, 1.0).
template <class T>
Tensor<T> clamp(const Tensor<T>& x, std::optional<std::type_identity_t<T>> lo,
                std::optional<std::type_identity_t<T>> hi);
// -1, 0 or 1 (NaN for NaN); gradient 0.
template <class T> Tensor<T> sign(const Tensor<T>& x);

// ---- elementwise, two inputs: maximum, minimum, pow with a tensor exponent, comparisons, where --
// The larger / smaller of a and b; NaN where either is NaN. At a tie each gets G/2 (PyTorch).
template <class T> Tensor<T> maximum(const Tensor<T>& a, const Tensor<T>& b);
template <class T> Tensor<T> minimum(const Tensor<T>& a, const Tensor<T>& b);
// a^b with a tensor exponent (op pow_tensor). db is 0 where a == 0 and b >= 0, da 0 where b == 0.
template <class T> Tensor<T> pow(const Tensor<T>& a, const Tensor<T>& b);
// Masks: 1 where a > b (a < b, a >= b, a <= b, a == b), else 0 (also at a NaN). Never recorded:
// the result does not require a gradient.
template <class T> Tensor<T> gt(const Tensor<T>& a, const Tensor<T>& b);
template <class T> Tensor<T> lt(const Tensor<T>& a, const Tensor<T>& b);
template <class T> Tensor<T> ge(const Tensor<T>& a, const Tensor<T>& b);
template <class T> Tensor<T> le(const Tensor<T>& a, const Tensor<T>& b);
template <class T> Tensor<T> eq(const Tensor<T>& a, const Tensor<T>& b);
// a where mask != 0, else b, all three broadcasting. No gradient to the mask; the branch not
// taken gets exactly 0 (selected, even for an infinite or NaN G).
template <class T> Tensor<T> where(const Tensor<T>& mask, const Tensor<T>& a, const Tensor<T>& b);

// ---- shape and indexing ----------------------------------------------------------------------
// Each copies its input (tensors are contiguous buffers); axes count from the end when
// negative, out of range is AxisError. The ops taking a list also take a braced list:
// concat({a, b}, 0).
// x as 1-D (a 0-d x gives [1]).
template <class T> Tensor<T> flatten(const Tensor<T>& x);
// Removes `axis` when its extent is 1, else returns x's values unchanged (PyTorch's squeeze).
template <class T> Tensor<T> squeeze(const Tensor<T>& x, int axis);
// Inserts an axis of extent 1 at `axis` in [-ndim-1, ndim].
template <class T> Tensor<T> unsqueeze(const Tensor<T>& x, int axis);
// out.shape[i] = x.shape[dims[i]]; dims must be a permutation of x's axes.
template <class T> Tensor<T> permute(const Tensor<T>& x, const std::vector<int>& dims);
// Swaps two axes of an N-d x (permute); transpose(x) above is the 2-D matrix transpose.
template <class T> Tensor<T> transpose(const Tensor<T>& x, int d0, int d1);
// x[start:stop:step] along `axis`, Python's rules: negative bounds count from the end, bounds out
// of range are clamped, an empty result is allowed; step >= 1 (else DomainError).
template <class T>
Tensor<T> slice(const Tensor<T>& x, int axis, std::int64_t start, std::int64_t stop,
                std::int64_t step = 1);
// slice's adjoint: zeros of `shape` with g written where slice(zeros, axis, start, stop, step)
// reads (same bounds rules); g must have that slice's shape.
template <class T>
Tensor<T> slice_backward(const Tensor<T>& g, const Shape& shape, int axis, std::int64_t start,
                         std::int64_t stop, std::int64_t step);
// Pieces of the given extents along `axis` (they must add up to its extent); each is a slice.
template <class T>
std::vector<Tensor<T>> split(const Tensor<T>& x, const std::vector<std::size_t>& sizes,
                             int axis = 0);
// n pieces of ceil(extent/n) along `axis` (the last smaller, fewer when they run out), PyTorch's
// torch.chunk; n >= 1 (else DomainError).
template <class T> std::vector<Tensor<T>> chunk(const Tensor<T>& x, int n, int axis = 0);
// x's entries at `indices` along `axis` (repeats allowed; 0 <= index < extent, no negative ones,
// else IndexError); x at least 1-D.
template <class T>
Tensor<T> index_select(const Tensor<T>& x, int axis, const std::vector<std::int64_t>& indices);
// x with source's slices added at `indices` along `axis` (repeats accumulate); source has x's
// shape with indices.size() along `axis`.
template <class T>
Tensor<T> index_add(const Tensor<T>& x, int axis, const std::vector<std::int64_t>& indices,
                    const Tensor<T>& source);
// out[p] = x[p with its `axis` coordinate replaced by index[p]], out of index's shape (PyTorch's
// torch.gather): index of x's rank, no larger than x off `axis`; x at least 1-D.
template <class T> Tensor<T> gather(const Tensor<T>& x, int axis, const Indices& index);
// x with src[p] added at x[p with its `axis` coordinate replaced by index[p]] (repeats
// accumulate); src of index's shape.
template <class T>
Tensor<T> scatter_add(const Tensor<T>& x, int axis, const Indices& index, const Tensor<T>& src);
// Joins tensors of equal shape off `axis` along it; at least one tensor, none 0-d.
template <class T> Tensor<T> concat(const std::vector<Tensor<T>>& tensors, int axis = 0);
template <class T> Tensor<T> concat(std::initializer_list<Tensor<T>> tensors, int axis = 0) {
  return concat(std::vector<Tensor<T>>(tensors), axis);
}
// Joins tensors of equal shape along a new axis at `axis` in [-ndim-1, ndim] (concat of
// unsqueezed copies).
template <class T> Tensor<T> stack(const std::vector<Tensor<T>>& tensors, int axis = 0);
template <class T> Tensor<T> stack(std::initializer_list<Tensor<T>> tensors, int axis = 0) {
  return stack(std::vector<Tensor<T>>(tensors), axis);
}

// ---- products: batched matmul, dot, outer ----------------------------------------------------
// Batched and 1-D matmul: see matmul above. dot(a, b) = matmul(a, b) for 1-D a, b of equal length
// (it records a matmul node): a 0-d result; ShapeError for other ranks or lengths.
template <class T> Tensor<T> dot(const Tensor<T>& a, const Tensor<T>& b);
// out[i,j] = a[i] * b[j] for 1-D a[n], b[m] -> [n,m]; ShapeError for other ranks.
template <class T> Tensor<T> outer(const Tensor<T>& a, const Tensor<T>& b);

// ---- operators -----------------------------------------------------------------------------
template <class T> Tensor<T> operator+(const Tensor<T>& a, const Tensor<T>& b) {
  return add(a, b);
}
template <class T> Tensor<T> operator-(const Tensor<T>& a, const Tensor<T>& b) {
  return sub(a, b);
}
template <class T> Tensor<T> operator*(const Tensor<T>& a, const Tensor<T>& b) {
  return mul(a, b);
}
template <class T> Tensor<T> operator/(const Tensor<T>& a, const Tensor<T>& b) {
  return div(a, b);
}
template <class T> Tensor<T> operator-(const Tensor<T>& x) {
  return neg(x);
}

// With a plain number, which acts as a 0-d constant: x * 2.0, 1.0 - s (any arithmetic type
// converts to the tensor's element type).
template <class T> Tensor<T> operator+(const Tensor<T>& a, std::type_identity_t<T> b) {
  return add(a, Tensor<T>::scalar(b));
}
template <class T> Tensor<T> operator+(std::type_identity_t<T> a, const Tensor<T>& b) {
  return add(Tensor<T>::scalar(a), b);
}
template <class T> Tensor<T> operator-(const Tensor<T>& a, std::type_identity_t<T> b) {
  return sub(a, Tensor<T>::scalar(b));
}
template <class T> Tensor<T> operator-(std::type_identity_t<T> a, const Tensor<T>& b) {
  return sub(Tensor<T>::scalar(a), b);
}
template <class T> Tensor<T> operator*(const Tensor<T>& a, std::type_identity_t<T> b) {
  return scale(a, b);
}
template <class T> Tensor<T> operator*(std::type_identity_t<T> a, const Tensor<T>& b) {
  return scale(b, a);
}
template <class T> Tensor<T> operator/(const Tensor<T>& a, std::type_identity_t<T> b) {
  return div(a, Tensor<T>::scalar(b));
}
template <class T> Tensor<T> operator/(std::type_identity_t<T> a, const Tensor<T>& b) {
  return div(Tensor<T>::scalar(a), b);
}

}  // namespace tg
