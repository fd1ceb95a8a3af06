// What an op file needs: the node base with saved tensors, elementwise and broadcasting kernels,
// shape checks, and helpers to build gradient-check samples. Internal to the autodiff library.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "tapegrad/node.hpp"
#include "tapegrad/ops.hpp"
#include "tapegrad/registry.hpp"

namespace tg::detail {

// A node that keeps N tensors for its adjoint and frees them on release.
template <class T, std::size_t N>
class SavingNode : public Node<T> {
 public:
  std::array<SavedTensor<T>, N> saved;

  void release_saved() override {
    for (auto& s : saved) s.reset();
  }
  std::size_t saved_bytes() const override {
    std::size_t bytes = 0;
    for (const auto& s : saved) bytes += s.bytes();
    return bytes;
  }

 protected:
  Tensor<T> get(std::size_t i) { return saved[i].unpack(*this); }
};

// ---- shape checks -------------------------------------------------------------------------
template <class T>
void require_same_shape(const char* op, const Tensor<T>& a, const Tensor<T>& b) {
  if (a.shape() != b.shape())
    throw ShapeError(std::string(op) +
                     ": operands must have the same shape (no broadcasting), got " +
                     a.shape().str() + " and " + b.shape().str());
}

template <class T>
void require_rank(const char* op, const Tensor<T>& x, std::size_t rank, const char* what = "x") {
  if (x.ndim() != rank)
    throw ShapeError(std::string(op) + ": " + what + " must be " + std::to_string(rank) +
                     "-D, got " + x.shape().str());
}

inline void require_axis(const char* op, const Shape& shape, std::size_t axis) {
  if (axis >= shape.rank())
    throw AxisError(std::string(op) + ": axis " + std::to_string(axis) +
                    " out of range for shape " + shape.str() + " (valid: 0.." +
                    std::to_string(int(shape.rank()) - 1) + ")");
}

// ---- outputs ------------------------------------------------------------------------------
// Every op makes its result here, naming itself: a shape no buffer could hold (an output shape
// computed from inputs that are legal, such as a broadcast of [2^32,1,0] with [1,2^32,0], or a
// target shape given by the caller) is then a ShapeError that names the op and the shape, raised
// before anything is allocated, instead of one that names a factory the caller never called.
template <class T>
Tensor<T> new_output(const char* op, const Shape& shape) {
  return Tensor<T>(make_impl<T>(shape, op));
}

template <class T>
Tensor<T> zeros_output(const char* op, const Shape& shape) {
  Tensor<T> out = new_output<T>(op, shape);
  std::fill_n(out.data(), out.size(), T(0));
  return out;
}

template <class T>
Tensor<T> scalar_output(const char* op, T value) {
  Tensor<T> out = new_output<T>(op, Shape{});
  out.data()[0] = value;
  return out;
}

// ---- elementwise kernels ------------------------------------------------------------------
// x / y, but 0 for x = 0 (also over y = 0), unless y is NaN: a NaN is never hidden (PyTorch's
// xlogy(0, NaN) is NaN too). The kernel of xdivy and of bce's fused adjoint.
template <class T>
T xdivy_value(T x, T y) {
  return x == T(0) && y == y ? T(0) : x / y;
}

template <class T, class F>
Tensor<T> map_unary(const char* op, const Tensor<T>& x, F f) {
  Tensor<T> out = new_output<T>(op, x.shape());
  const T* in = x.data();
  T* o = out.data();
  const std::size_t n = x.size();
  for (std::size_t i = 0; i < n; ++i) o[i] = f(in[i]);
  return out;
}

using Strides = std::array<std::size_t, Shape::kMaxRank>;

// Element strides of `in` viewed with shape `out` (right-aligned); 0 along broadcast dimensions.
Strides broadcast_strides(const Shape& in, const Shape& out);

// Calls f(flat_out, offset_a, offset_b) for every element of `out` in row-major order.
template <class F>
void for_each_broadcast(const Shape& out, const Strides& sa, const Strides& sb, F f) {
  const std::size_t n = out.numel();
  if (n == 0) return;
  const std::size_t rank = out.rank();
  if (rank == 0) {
    f(std::size_t{0}, std::size_t{0}, std::size_t{0});
    return;
  }
  const std::size_t inner = out[rank - 1], ia = sa[rank - 1], ib = sb[rank - 1];
  std::array<std::size_t, Shape::kMaxRank> idx{};
  std::size_t oa = 0, ob = 0;
  for (std::size_t flat = 0; flat < n; flat += inner) {
    for (std::size_t j = 0; j < inner; ++j) f(flat + j, oa + j * ia, ob + j * ib);
    for (std::size_t d = rank - 1; d-- > 0;) {
      oa += sa[d];
      ob += sb[d];
      if (++idx[d] < out[d]) break;
      oa -= sa[d] * out[d];
      ob -= sb[d] * out[d];
      idx[d] = 0;
    }
  }
}

// out = f(a, b) elementwise with NumPy broadcasting; fast paths for equal shapes and scalars.
template <class T, class F>
Tensor<T> map_binary(const char* op, const Tensor<T>& a, const Tensor<T>& b, F f) {
  const Shape shape =
      a.shape() == b.shape() ? a.shape() : broadcast_shapes(a.shape(), b.shape(), op);
  Tensor<T> out = new_output<T>(op, shape);
  T* o = out.data();
  const T* pa = a.data();
  const T* pb = b.data();
  const std::size_t n = out.size();
  if (a.size() == n && b.size() == n) {
    for (std::size_t i = 0; i < n; ++i) o[i] = f(pa[i], pb[i]);
  } else if (b.size() == 1 && a.size() == n) {
    const T s = pb[0];
    for (std::size_t i = 0; i < n; ++i) o[i] = f(pa[i], s);
  } else if (a.size() == 1 && b.size() == n) {
    const T s = pa[0];
    for (std::size_t i = 0; i < n; ++i) o[i] = f(s, pb[i]);
  } else {
    for_each_broadcast(
        shape, broadcast_strides(a.shape(), shape), broadcast_strides(b.shape(), shape),
        [&](std::size_t i, std::size_t ia, std::size_t ib) { o[i] = f(pa[ia], pb[ib]); });
  }
  return out;
}

// Rows and row length when a tensor is viewed along its last axis ([n, C] -> n rows of C).
struct RowView {
  std::size_t rows = 0;
  std::size_t cols = 0;
};
template <class T>
RowView rows_of(const char* op, const Tensor<T>& x) {
  if (x.ndim() == 0)
    throw ShapeError(std::string(op) + ": needs at least 1 dimension, got a scalar " +
                     x.shape().str());
  const std::size_t cols = x.shape().back();
  return {cols ? x.size() / cols : 0, cols};
}

// Shape of x with `axis` kept as extent 1 (to broadcast a reduction back against x).
Shape keep_axis(const Shape& shape, std::size_t axis);

// ---- sample helpers -----------------------------------------------------------------------
// Shapes every elementwise op is checked on: 1x1, 1xn, nx1, non-square, 1-D and 0-d.
std::vector<Shape> elementwise_shapes();

// A leaf requiring grad, uniform in [low, high).
template <class T>
Tensor<T> sample_uniform(const Shape& shape, double low, double high, std::mt19937_64& rng) {
  return Tensor<T>::uniform(shape, T(low), T(high), rng, true);
}

// A leaf requiring grad with |x| in [low, high) and random signs (keeps inputs off kinks/poles).
template <class T>
Tensor<T> sample_away_from_zero(const Shape& shape, double low, double high, std::mt19937_64& rng) {
  Tensor<T> t = Tensor<T>::uniform(shape, T(low), T(high), rng, true);
  std::bernoulli_distribution sign(0.5);
  for (std::size_t i = 0; i < t.size(); ++i)
    if (sign(rng)) t.data()[i] = -t.data()[i];
  return t;
}

// Samples for a unary elementwise op over elementwise_shapes(), inputs uniform in [low, high).
template <class T, class F>
std::vector<GradSample<T>> unary_samples(std::uint64_t seed, double low, double high, F fn) {
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  for (const Shape& s : elementwise_shapes())
    out.push_back({s.str(),
                   {sample_uniform<T>(s, low, high, rng)},
                   [fn](const std::vector<Tensor<T>>& in) { return fn(in[0]); }});
  return out;
}

}  // namespace tg::detail

namespace tg::detail {

// Shape pairs every broadcasting binary op is checked on: equal shapes (1x1, 1xn, nx1,
// non-square), row and column broadcasting, both sides broadcasting, and scalars on either side.
std::vector<std::pair<Shape, Shape>> binary_shape_pairs();

// Samples for a binary op over binary_shape_pairs(); a uniform in [a_low, a_high), b with |b| in
// [b_low, b_high) and random sign when b_signed, else uniform in [b_low, b_high).
template <class T, class F>
std::vector<GradSample<T>> binary_samples(std::uint64_t seed, double a_low, double a_high,
                                          double b_low, double b_high, bool b_signed, F fn) {
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  for (const auto& [sa, sb] : binary_shape_pairs()) {
    Tensor<T> a = sample_uniform<T>(sa, a_low, a_high, rng);
    Tensor<T> b = b_signed ? sample_away_from_zero<T>(sb, b_low, b_high, rng)
                           : sample_uniform<T>(sb, b_low, b_high, rng);
    out.push_back({sa.str() + "," + sb.str(), {a, b}, [fn](const std::vector<Tensor<T>>& in) {
                     return fn(in[0], in[1]);
                   }});
  }
  return out;
}

}  // namespace tg::detail

namespace tg::detail {

// Sums x along `axis` (removing it), viewing x as [outer, length, inner]. Scales by `scale`.
template <class T>
Tensor<T> reduce_axis(const char* op, const Tensor<T>& x, std::size_t axis, T scale) {
  Shape out_shape;
  std::size_t outer = 1, inner = 1;
  for (std::size_t d = 0; d < x.ndim(); ++d) {
    if (d != axis) out_shape.push_back(x.dim(d));
    if (d < axis) outer *= x.dim(d);
    if (d > axis) inner *= x.dim(d);
  }
  const std::size_t length = x.dim(axis);
  Tensor<T> out = zeros_output<T>(op, out_shape);
  // An empty x has nothing to add, but its extents may not be small: [2^40, 0] along axis 0
  // would run 2^40 empty iterations.
  if (x.size() == 0) return out;
  const T* in = x.data();
  T* o = out.data();
  for (std::size_t a = 0; a < outer; ++a)
    for (std::size_t l = 0; l < length; ++l)
      for (std::size_t i = 0; i < inner; ++i) o[a * inner + i] += in[(a * length + l) * inner + i];
  if (scale != T(1))
    for (std::size_t i = 0; i < out.size(); ++i) o[i] *= scale;
  return out;
}

// Samples for a reduction: all elements, and each axis of 1x1, 1xn, nx1, non-square and 3-D.
template <class T, class All, class Axis>
std::vector<GradSample<T>> reduction_samples(std::uint64_t seed, All all, Axis along) {
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  for (const Shape& s :
       {Shape{1, 1}, Shape{1, 5}, Shape{4, 1}, Shape{3, 4}, Shape{6}, Shape{2, 3, 4}}) {
    out.push_back({s.str(),
                   {sample_uniform<T>(s, -1, 1, rng)},
                   [all](const std::vector<Tensor<T>>& in) { return all(in[0]); }});
    for (std::size_t axis = 0; axis < s.rank(); ++axis)
      out.push_back(
          {s.str() + " axis " + std::to_string(axis),
           {sample_uniform<T>(s, -1, 1, rng)},
           [along, axis](const std::vector<Tensor<T>>& in) { return along(in[0], axis); }});
  }
  return out;
}

}  // namespace tg::detail

namespace tg::detail {

// logsumexp(v) = max(v) + log(sum(exp(v - max(v)))), kept as its two parts: the max shift keeps
// logits of +-800 finite, and v[c] - logsumexp(v) computed as (v[c] - max) - log_sum loses no
// digits to cancellation when the logits are large (1000 in float has an ulp of 6e-5).
template <class T>
struct LogSumExp {
  T max;
  T log_sum;
  T value() const { return max + log_sum; }
  // v - logsumexp(v) for one element of the row.
  T log_softmax(T v) const { return std::isinf(max) ? v - max : (v - max) - log_sum; }
};

template <class T>
LogSumExp<T> logsumexp(const T* v, std::size_t n) {
  // The max is NaN once a NaN is seen (a NaN after a +inf would otherwise be skipped, and the
  // row would come out as 0 and -inf: a hidden NaN).
  T top = v[0];
  for (std::size_t i = 1; i < n; ++i) top = v[i] > top || v[i] != v[i] ? v[i] : top;
  if (std::isinf(top)) return {top, T(0)};  // all -inf (or a +inf): the shift would make NaN
  T s = 0;
  for (std::size_t i = 0; i < n; ++i) s += std::exp(v[i] - top);
  return {top, std::log(s)};
}

// Row-wise softmax (or log_softmax) along the last axis.
template <class T>
Tensor<T> softmax_rows(const Tensor<T>& x, bool log_space, const char* op) {
  const RowView rv = rows_of(op, x);
  Tensor<T> out = new_output<T>(op, x.shape());
  for (std::size_t r = 0; r < rv.rows; ++r) {
    const T* in = x.data() + r * rv.cols;
    T* o = out.data() + r * rv.cols;
    const LogSumExp<T> lse = logsumexp(in, rv.cols);
    for (std::size_t c = 0; c < rv.cols; ++c)
      o[c] = log_space ? lse.log_softmax(in[c]) : std::exp(lse.log_softmax(in[c]));
  }
  return out;
}

// sum over the last axis, kept as extent 1 so that it broadcasts against x: [n,C] -> [n,1].
template <class T>
Tensor<T> row_sum_keep(const Tensor<T>& x) {
  const std::size_t last = x.ndim() - 1;
  return reshape(sum(x, last), keep_axis(x.shape(), last));
}

// Samples for row-wise ops: [1,1], [1,n], [n,1], non-square and 1-D.
template <class T, class F>
std::vector<GradSample<T>> row_samples(std::uint64_t seed, F fn) {
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  for (const Shape& s : {Shape{1, 1}, Shape{1, 5}, Shape{4, 1}, Shape{3, 4}, Shape{6}})
    out.push_back({s.str(),
                   {sample_uniform<T>(s, -3, 3, rng)},
                   [fn](const std::vector<Tensor<T>>& in) { return fn(in[0]); }});
  return out;
}

}  // namespace tg::detail

namespace tg::detail {

// Shapes the losses are checked on (equal for both operands).
std::vector<Shape> loss_shapes();

// Hard targets: a leaf requiring grad whose entries are exactly 0 or 1 (both present when it has
// two entries or more). Losses are checked there too, with the targets differentiated as well:
// an adjoint can be right for soft targets and wrong at exactly 0 or 1 (a convention such as
// xdivy's 0/0 = 0 whose derivative is 0 there).
template <class T>
Tensor<T> sample_hard_targets(const Shape& shape, std::mt19937_64& rng) {
  Tensor<T> t = Tensor<T>::zeros(shape, true);
  std::bernoulli_distribution one(0.5);
  for (std::size_t i = 0; i < t.size(); ++i) t.data()[i] = one(rng) ? T(1) : T(0);
  if (t.size() >= 2) {
    t.data()[0] = T(0);
    t.data()[t.size() - 1] = T(1);
  }
  return t;
}

// bce_backward at order k: G*F_k/N with F_k = (k-1)! ((1-y)/(1-p)^k + (-1)^k y/p^k), the k-th
// derivative in p of bce's terms (k = 1 is bce_backward). The adjoint of order k uses order k+1.
template <class T>
Tensor<T> bce_derivative(const Tensor<T>& g, const Tensor<T>& p, const Tensor<T>& y,
                         unsigned order);

// Throws ShapeError when a loss is asked to average over nothing.
template <class T>
void require_nonempty(const char* op, const Tensor<T>& x) {
  if (x.size() == 0) throw ShapeError(std::string(op) + ": empty input " + x.shape().str());
}

}  // namespace tg::detail
