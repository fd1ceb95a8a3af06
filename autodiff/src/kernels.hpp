// The library's kernels: outputs that name their op, elementwise and broadcasting maps, axis and
// row reductions, logsumexp. Internal to the autodiff library; an op file includes this, and
// through it the public op-definition API (<tapegrad/op.hpp>).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <utility>

#include "launch.hpp"
#include "tapegrad/op.hpp"

namespace tg::detail {

// ---- outputs ------------------------------------------------------------------------------
// Every op makes its result here, naming itself: a shape no buffer could hold (an output shape
// computed from inputs that are legal, such as a broadcast of [2^32,1,0] with [1,2^32,0], or a
// target shape given by the caller) is then a ShapeError that names the op and the shape, raised
// before anything is allocated, instead of one that names a factory the caller never called.
// Under a recording, an op not marked replayable is refused by make_impl, which the output names
// (detail::capture_storage).
template <class T> Tensor<T> new_output(const char* op, const Shape& shape) {
  return Tensor<T>(make_impl<T>(shape, op));
}

// The Access of a kernel that writes the whole of `output` from the whole of `inputs`.
template <class T, class... Inputs>
Access writes_from(const Tensor<T>& output, const Inputs&... inputs) {
  return Access{{region(inputs.data(), inputs.size())...}, {region(output.data(), output.size())}};
}

template <class T> Tensor<T> zeros_output(const char* op, const Shape& shape) {
  Tensor<T> out = new_output<T>(op, shape);
  launch_elementwise(
      out.size(), [o = out.data()](std::size_t b, std::size_t e) { std::fill(o + b, o + e, T(0)); },
      [&] { return writes_from(out); });
  return out;
}

// sum(g, 0) of a matrix g[n, m], as an adjoint takes it for a bias: on a plain backward (nothing
// recorded) one pass over the rows, summed in sum's own order (0 + g[0][j] + g[1][j] + ...), so the
// bits are sum's, without planning a general reduction (most of that sum's cost on a small
// layer). Recording (create_graph) it is sum itself.
template <class T> Tensor<T> sum_rows(const Tensor<T>& g) {
  if (grad_enabled() || g.ndim() != 2 || g.size() == 0) return sum(g, 0);
  const std::size_t n = g.dim(0), m = g.dim(1);
  // A few columns (a layer of 1 to 7 outputs) are summed one column at a time in a register: the
  // row loop would run a loop of m over memory for each row. The same sums in the same order.
  if (m < 8) {
    Tensor<T> out = new_output<T>("sum", Shape{m});
    launch(
        [in = g.data(), o = out.data(), n, m] {
          for (std::size_t j = 0; j < m; ++j) {
            T column = T(0);
            for (std::size_t i = 0; i < n; ++i) column += in[i * m + j];
            o[j] = column;
          }
        },
        [&] { return writes_from(out, g); });
    return out;
  }
  Tensor<T> out = zeros_output<T>("sum", Shape{m});
  launch(
      [in = g.data(), o = out.data(), n, m] {
        for (std::size_t i = 0; i < n; ++i)
          for (std::size_t j = 0; j < m; ++j) o[j] += in[i * m + j];
      },
      [&] {
        return writes_from(out, g, out);  // adds into out's zeros
      });
  return out;
}

// out's values := x's (a reshape's, a squeeze's: the same values under another shape).
template <class T> void copy_values(const Tensor<T>& x, Tensor<T>& out) {
  launch_elementwise(
      x.size(),
      [from = x.data(), to = out.data()](std::size_t b, std::size_t e) {
        std::copy(from + b, from + e, to + b);
      },
      [&] { return writes_from(out, x); });
}

// ---- the upstream gradient's buffer --------------------------------------------------------
// Inside Node::backward the engine holds the only handle on the upstream gradient G (when nobody
// else kept it) and drops it after the call. An adjoint that reads G once, in one elementwise
// kernel of G's shape, may then write its result into G's buffer instead of a fresh one, as
// hand-written backprop updates delta in place: one buffer less in a wide layer's backward, and
// one that is already in cache. A node says that its next kernel is G's last use by passing
// last_use(g) as that kernel's first operand; map_unary and map_binary take the buffer (take_spare)
// only if it is still unshared and of the output's shape, and nothing records the backward
// (create_graph keeps every gradient as the graph's). The engine clears the mark after each node,
// so that it never outlives the call that set it.
// Initial-exec, as launch.hpp's t_capture: a %fs-relative access, where the default model for a
// shared library calls __tls_get_addr at every node's backward.
extern thread_local constinit const void* t_spare_upstream
    __attribute__((tls_model("initial-exec")));

template <class T> const Tensor<T>& last_use(const Tensor<T>& g) {
  const auto& impl = g.impl();
  if (!grad_enabled() && impl.use_count() == 1 && impl->storage.use_count() == 1 &&
      !impl->grad_fn && !impl->requires_grad)
    t_spare_upstream = impl.get();
  return g;
}

template <class T> bool take_spare(const Tensor<T>& a, const Shape& shape) {
  if (t_spare_upstream != a.impl().get()) [[likely]]
    return false;
  t_spare_upstream = nullptr;
  return a.impl().use_count() == 1 && a.impl()->storage.use_count() == 1 && a.shape() == shape;
}

// ---- an adjoint through its input's producer -------------------------------------------------
// A loss whose adjoint with respect to an activation's output simplifies with the activation's own
// (bce after sigmoid: dL/dz = G (p - y) / N, where dL/dp divides by p(1-p) and sigmoid's adjoint
// multiplies it back) may compute the gradient of the activation's input in one pass and send it
// there, past the activation's node, when nothing else in the running backward pass sends a
// gradient to that output and nothing records the backward. sole_producer(node, i) is input i's
// producer when so (else null); the adjoint then calls pass_through(i) after writing grads[i],
// and the engine delivers grads[i] to the producer's input 0, the producer's own adjoint skipped.
template <class T> const Node<T>* sole_producer(const Node<T>& consumer, std::size_t input);
void pass_through(std::size_t input);
// The same simplification when the activation is part of its producer's own op (linear_act's
// sigmoid): pass_as_preactivation(i) delivers grads[i] to the producer itself, as the gradient of
// its pre-activation z, and the producer's adjoint, seeing upstream_is_preactivation(), skips the
// activation's adjoint.
void pass_as_preactivation(std::size_t input);
bool upstream_is_preactivation();
// Whether the running backward pass frees each node's saved tensors after its adjoint (no
// retain_graph, no create_graph): an adjoint may then free one that it has read before it is done
// (linear_act's output Y, read by the activation's adjoint, before its GEMMs), as two nodes would
// have released it between them.
bool saved_released_after();
// The handle on `node`, whose adjoint is running on this thread: a saved output unpacked while
// recording (create_graph) is attached to its node again. GraphError outside that adjoint.
template <class T> std::shared_ptr<Node<T>> running_node(const Node<T>& node);
// Whether `node` is sigmoid's own (by its type: a node defined elsewhere may be named "sigmoid").
template <class T> bool is_sigmoid(const Node<T>& node);
// Whether `node` is linear_act's with the sigmoid activation.
template <class T> bool is_linear_sigmoid(const Node<T>& node);

// ---- elementwise kernels ------------------------------------------------------------------
// e^x for each of in[0, n) into out[0, n) (distinct buffers), as std::exp gives it to within one
// ulp: libm's exp is a call per element, which no loop around it can vectorize, and it dominated
// the sigmoid and softmax of small networks. Compiled in kernels.cpp.
void exp_values(const double* in, double* out, std::size_t n);
void exp_values(const float* in, float* out, std::size_t n);

// Blocks of this many elements on the stack, for the kernels that compute an exponent, then its
// exp (exp_values), then their result.
inline constexpr std::size_t kExpBlock = 256;

// The sum of e^(v(i) - shift) over i < n, added in order: logsumexp's, over a row or a strided
// slice (`v` reads element i).
template <class T, class Value> T sum_exp_shifted(Value v, std::size_t n, T shift) {
  T sum = 0;
  T shifted[kExpBlock], e[kExpBlock];
  for (std::size_t b = 0; b < n; b += kExpBlock) {
    const std::size_t m = std::min(kExpBlock, n - b);
    for (std::size_t i = 0; i < m; ++i) shifted[i] = v(b + i) - shift;
    exp_values(shifted, e, m);
    for (std::size_t i = 0; i < m; ++i) sum += e[i];
  }
  return sum;
}

// The activations that linear_act applies to its output, written once for it and their own ops,
// so that both give the same bits.
// sigmoid over in[begin, end) into out: e = e^-|x|, then (x >= 0 ? 1 : e) / (1 + e), one
// expression for both halves (the sign of random inputs defeats branch prediction: as a branch the
// kernel ran 2.2x slower). In blocks on the stack, so that `in` may be `out` (linear_act's output
// holds X W + b until then).
template <class T> void sigmoid_values(const T* in, T* out, std::size_t begin, std::size_t end) {
  T minus_abs[kExpBlock], e[kExpBlock];
  for (std::size_t b = begin; b < end; b += kExpBlock) {
    const std::size_t n = std::min(kExpBlock, end - b);
    for (std::size_t i = 0; i < n; ++i) minus_abs[i] = -std::abs(in[b + i]);
    exp_values(minus_abs, e, n);
    for (std::size_t i = 0; i < n; ++i)
      out[b + i] = (in[b + i] >= T(0) ? T(1) : e[i]) / (T(1) + e[i]);
  }
}
template <class T> T relu_value(T v) {
  return v <= T(0) ? T(0) : v;  // NaN passes through
}
// Their adjoints from the output y and the upstream g, per element: the ops sigmoid_backward,
// tanh_backward and relu_backward, and linear_act's plain backward. relu selects, never
// multiplies: an infinite g where y = 0 gives 0, not NaN.
template <class T> T sigmoid_adjoint(T g, T y) {
  return g * (y * (T(1) - y));
}
template <class T> T tanh_adjoint(T g, T y) {
  return g * (T(1) - y * y);
}
template <class T> T relu_adjoint(T g, T y) {
  return y <= T(0) ? T(0) : g;
}

// x / y, but 0 for x = 0 (also over y = 0), unless y is NaN: a NaN is never hidden (PyTorch's
// xlogy(0, NaN) is NaN too). The kernel of xdivy and of bce's fused adjoint.
template <class T> T xdivy_value(T x, T y) {
  return x == T(0) && y == y ? T(0) : x / y;
}

// A loop, not xtensor: xt::vectorize(f) over adapted buffers runs the same instructions (0.99-1.01x
// the loop's time from [4,2] to [5000,25]) but would put xtensor's headers in every op file
// (+0.3 s of compile time each); a written-out expression such as 1 / (1 + xt::exp(-x)) is
// 1.75x the loop at [4,2] (docs/design-notes.md "xtensor expressions").
template <class T, class F> Tensor<T> map_unary(const char* op, const Tensor<T>& x, F f) {
  Tensor<T> out = take_spare(x, x.shape()) ? x : new_output<T>(op, x.shape());
  launch_elementwise(
      x.size(),
      [in = x.data(), o = out.data(), f](std::size_t b, std::size_t e) {
        for (std::size_t i = b; i < e; ++i) o[i] = f(in[i]);
      },
      [&] { return writes_from(out, x); });
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
// Loops, not xtensor: measured against xt::noalias(out) = a op b on adapted buffers, same shapes
// 1.00-1.12x the loop's time with 14% more instructions, a scalar operand 0.93-1.01x with 17%
// more, and broadcasting through xtensor's stepper 3.6x the loop at [4,2] and 9.7x at [256,512]
// (docs/design-notes.md "xtensor expressions").
template <class T, class F>
Tensor<T> map_binary(const char* op, const Tensor<T>& a, const Tensor<T>& b, F f) {
  const Shape shape =
      a.shape() == b.shape() ? a.shape() : broadcast_shapes(a.shape(), b.shape(), op);
  Tensor<T> out = take_spare(a, shape) ? a : new_output<T>(op, shape);
  T* o = out.data();
  const T* pa = a.data();
  const T* pb = b.data();
  const std::size_t n = out.size();
  auto access = [&] { return writes_from(out, a, b); };
  if (a.size() == n && b.size() == n) {
    launch_elementwise(
        n,
        [=](std::size_t begin, std::size_t end) {
          for (std::size_t i = begin; i < end; ++i) o[i] = f(pa[i], pb[i]);
        },
        access);
  } else if (b.size() == 1 && a.size() == n) {
    launch_elementwise(
        n,
        [=](std::size_t begin, std::size_t end) {
          const T s = pb[0];
          for (std::size_t i = begin; i < end; ++i) o[i] = f(pa[i], s);
        },
        access);
  } else if (a.size() == 1 && b.size() == n) {
    launch_elementwise(
        n,
        [=](std::size_t begin, std::size_t end) {
          const T s = pa[0];
          for (std::size_t i = begin; i < end; ++i) o[i] = f(s, pb[i]);
        },
        access);
  } else {
    launch(
        [=, sa = broadcast_strides(a.shape(), shape), sb = broadcast_strides(b.shape(), shape)] {
          for_each_broadcast(shape, sa, sb, [&](std::size_t i, std::size_t ia, std::size_t ib) {
            o[i] = f(pa[ia], pb[ib]);
          });
        },
        access);
  }
  return out;
}

// Rows and row length when a tensor is viewed along its last axis ([n, C] -> n rows of C).
struct RowView {
  std::size_t rows = 0;
  std::size_t cols = 0;
};
template <class T> RowView rows_of(const char* op, const Tensor<T>& x) {
  if (x.ndim() == 0)
    throw ShapeError(std::string(op) + ": needs at least 1 dimension, got a scalar " +
                     x.shape().str());
  const std::size_t cols = x.shape().back();
  return {cols ? x.size() / cols : 0, cols};
}

// Shape of x with `axis` kept as extent 1 (to broadcast a reduction back against x).
Shape keep_axis(const Shape& shape, std::size_t axis);

// Sums x along `axis` (removing it), viewing x as [outer, length, inner]. Scales by `scale`.
// Compiled in kernels.cpp for float and double: part of it is an xtensor reduction, and an op file
// that includes this header should not pay for xtensor's headers.
template <class T>
Tensor<T> reduce_axis(const char* op, const Tensor<T>& x, std::size_t axis, T scale);

// logsumexp(v) = max(v) + log(sum(exp(v - max(v)))), kept as its two parts: the max shift keeps
// logits of +-800 finite, and v[c] - logsumexp(v) computed as (v[c] - max) - log_sum loses no
// digits to cancellation when the logits are large (1000 in float has an ulp of 6e-5).
template <class T> struct LogSumExp {
  T max;
  T log_sum;
  T value() const { return max + log_sum; }
  // v - logsumexp(v) for one element of the row.
  T log_softmax(T v) const { return std::isinf(max) ? v - max : (v - max) - log_sum; }
};

template <class T> LogSumExp<T> logsumexp(const T* v, std::size_t n) {
  // The max is NaN once a NaN is seen (a NaN after a +inf would otherwise be skipped, and the
  // row would come out as 0 and -inf: a hidden NaN).
  T top = v[0];
  for (std::size_t i = 1; i < n; ++i) top = v[i] > top || v[i] != v[i] ? v[i] : top;
  if (std::isinf(top)) return {top, T(0)};  // all -inf (or a +inf): the shift would make NaN
  return {top, std::log(sum_exp_shifted([v](std::size_t i) { return v[i]; }, n, top))};
}

// Row-wise softmax (or log_softmax) along the last axis.
template <class T> Tensor<T> softmax_rows(const Tensor<T>& x, bool log_space, const char* op) {
  const RowView rv = rows_of(op, x);
  Tensor<T> out = new_output<T>(op, x.shape());
  launch(
      [rv, log_space, x_data = x.data(), out_data = out.data()] {
        for (std::size_t r = 0; r < rv.rows; ++r) {
          const T* in = x_data + r * rv.cols;
          T* o = out_data + r * rv.cols;
          const LogSumExp<T> lse = logsumexp(in, rv.cols);
          if (log_space) {
            for (std::size_t c = 0; c < rv.cols; ++c) o[c] = lse.log_softmax(in[c]);
            continue;
          }
          T log_p[kExpBlock];
          for (std::size_t b = 0; b < rv.cols; b += kExpBlock) {
            const std::size_t m = std::min(kExpBlock, rv.cols - b);
            for (std::size_t c = 0; c < m; ++c) log_p[c] = lse.log_softmax(in[b + c]);
            exp_values(log_p, o + b, m);
          }
        }
      },
      [&] { return writes_from(out, x); });
  return out;
}

// sum over the last axis, kept as extent 1 so that it broadcasts against x: [n,C] -> [n,1].
template <class T> Tensor<T> row_sum_keep(const Tensor<T>& x) {
  const std::size_t last = x.ndim() - 1;
  return reshape(sum(x, last), keep_axis(x.shape(), last));
}

// bce_backward at order k: G*F_k/N with F_k = (k-1)! ((1-y)/(1-p)^k + (-1)^k y/p^k), the k-th
// derivative in p of bce's terms (k = 1 is bce_backward). The adjoint of order k uses order k+1.
template <class T>
Tensor<T> bce_derivative(const Tensor<T>& g, const Tensor<T>& p, const Tensor<T>& y,
                         unsigned order);

}  // namespace tg::detail
