// What defining an op takes, for the library's own ops and for a user's: the node base that keeps
// tensors for the adjoint, record() (node.hpp), the typed shape checks, the registry's sample type
// and register_op (registry.hpp), and the gradient-check sample helpers. README "Adding an op"
// shows an op written with nothing else (examples/custom_op.cpp).
#pragma once

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "tapegrad/node.hpp"
#include "tapegrad/ops.hpp"
#include "tapegrad/registry.hpp"

namespace tg {

// A node that keeps N tensors for its adjoint (saved[i].save_input(x) or save_output(out) when
// recording) and frees them when the graph is released.
template <class T, std::size_t N> class SavingNode : public Node<T> {
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
  // The i-th saved tensor; GraphError if it was changed in place since it was saved.
  Tensor<T> get(std::size_t i) { return saved[i].unpack(*this); }
  // Its values alone, for a plain backward's raw kernels (SavedTensor::data).
  const T* get_data(std::size_t i) const { return saved[i].data(*this); }
};

// ---- errors: a typed error whose message names the op and the shapes -------------------------
namespace detail {
inline void append_error_part(std::string& s, const char* part) {
  s += part;
}
inline void append_error_part(std::string& s, const std::string& part) {
  s += part;
}
inline void append_error_part(std::string& s, const Shape& shape) {
  s += shape.str();
}
template <class T> void append_error_part(std::string& s, const Tensor<T>& t) {
  s += t.shape().str();
}
template <class N>
requires std::is_arithmetic_v<N>
void append_error_part(std::string& s, N number) {
  if constexpr (std::is_integral_v<N>)
    s += std::to_string(number);
  else
    s += format_number(double(number));
}
}  // namespace detail

// An error of type E whose message is "<op>: " and the parts in order: text as it is, a shape or
// a tensor as its shape ("[2,3]"), an integer in full, any other number as format_number writes
// it. throw op_error<ShapeError>("linear", "needs X[n,k], got X", x);
template <class E, class... Parts> E op_error(const char* op, const Parts&... parts) {
  std::string message = std::string(op) + ": ";
  (detail::append_error_part(message, parts), ...);
  return E(message);
}

template <class T> void require_same_shape(const char* op, const Tensor<T>& a, const Tensor<T>& b) {
  if (a.shape() != b.shape())
    throw op_error<ShapeError>(op, "operands must have the same shape (no broadcasting), got ", a,
                               " and ", b);
}

template <class T>
void require_rank(const char* op, const Tensor<T>& x, std::size_t rank, const char* what = "x") {
  if (x.ndim() != rank) throw op_error<ShapeError>(op, what, " must be ", rank, "-D, got ", x);
}

inline void require_axis(const char* op, const Shape& shape, std::size_t axis) {
  if (axis >= shape.rank())
    throw op_error<AxisError>(op, "axis ", axis, " out of range for shape ", shape, " (valid: 0..",
                              int(shape.rank()) - 1, ")");
}

// Throws ShapeError when an op that averages is given nothing to average.
template <class T> void require_nonempty(const char* op, const Tensor<T>& x) {
  if (x.size() == 0) throw op_error<ShapeError>(op, "empty input ", x);
}

}  // namespace tg

// ---- gradient-check samples ---------------------------------------------------------------------
// A sample factory returns GradSample<T>s: the shapes tried (1x1, 1xn, nx1, non-square, 1-D, 0-d,
// broadcasting pairs), inputs that require grad, kept off kinks and poles, and the function.
namespace tg::samples {

// Shapes an elementwise op is checked on: 1x1, 1xn, nx1, non-square, 1-D and 0-d.
std::vector<Shape> elementwise_shapes();
// Shape pairs a broadcasting binary op is checked on: equal shapes (1x1, 1xn, nx1, non-square),
// row and column broadcasting, both sides broadcasting, and scalars on either side.
std::vector<std::pair<Shape, Shape>> binary_shape_pairs();
// Shapes a loss is checked on (equal for both operands).
std::vector<Shape> loss_shapes();
// Shapes a reduction is checked on, over all elements and along each axis.
std::vector<Shape> reduction_shapes();
// Shapes a row-wise op (along the last axis) is checked on.
std::vector<Shape> row_shapes();

// A leaf requiring grad, uniform in [low, high).
template <class T>
Tensor<T> uniform(const Shape& shape, double low, double high, std::mt19937_64& rng) {
  return Tensor<T>::uniform(shape, T(low), T(high), rng, true);
}

// A leaf requiring grad with |x| in [low, high) and random signs (keeps inputs off kinks/poles).
template <class T>
Tensor<T> away_from_zero(const Shape& shape, double low, double high, std::mt19937_64& rng) {
  Tensor<T> t = Tensor<T>::uniform(shape, T(low), T(high), rng, true);
  std::bernoulli_distribution sign(0.5);
  for (std::size_t i = 0; i < t.size(); ++i)
    if (sign(rng)) t.data()[i] = -t.data()[i];
  return t;
}

// Hard targets: a leaf requiring grad whose entries are exactly 0 or 1 (both present when it has
// two entries or more). Losses are checked there too, with the targets differentiated as well:
// an adjoint can be right for soft targets and wrong at exactly 0 or 1 (a convention such as
// xdivy's 0/0 = 0 whose derivative is 0 there).
template <class T> Tensor<T> hard_targets(const Shape& shape, std::mt19937_64& rng) {
  Tensor<T> t = Tensor<T>::zeros(shape, true);
  std::bernoulli_distribution one(0.5);
  for (std::size_t i = 0; i < t.size(); ++i) t.data()[i] = one(rng) ? T(1) : T(0);
  if (t.size() >= 2) {
    t.data()[0] = T(0);
    t.data()[t.size() - 1] = T(1);
  }
  return t;
}

// Samples of a one-input op on each shape in `shapes`, inputs uniform in [low, high).
template <class T, class F>
std::vector<GradSample<T>> unary_on(const std::vector<Shape>& shapes, std::uint64_t seed,
                                    double low, double high, F fn) {
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  for (const Shape& s : shapes)
    out.push_back({s.str(),
                   {uniform<T>(s, low, high, rng)},
                   [fn](const std::vector<Tensor<T>>& in) { return fn(in[0]); }});
  return out;
}

// Samples of an elementwise op over elementwise_shapes(), inputs uniform in [low, high).
template <class T, class F>
std::vector<GradSample<T>> unary(std::uint64_t seed, double low, double high, F fn) {
  return unary_on<T>(elementwise_shapes(), seed, low, high, fn);
}

// Samples of a row-wise op over row_shapes(), inputs uniform in [-3, 3).
template <class T, class F> std::vector<GradSample<T>> rows(std::uint64_t seed, F fn) {
  return unary_on<T>(row_shapes(), seed, -3, 3, fn);
}

// Samples of a broadcasting binary op over binary_shape_pairs(); a uniform in [a_low, a_high), b
// with |b| in [b_low, b_high) and a random sign when b_signed, else uniform in [b_low, b_high).
template <class T, class F>
std::vector<GradSample<T>> binary(std::uint64_t seed, double a_low, double a_high, double b_low,
                                  double b_high, bool b_signed, F fn) {
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  for (const auto& [sa, sb] : binary_shape_pairs()) {
    Tensor<T> a = uniform<T>(sa, a_low, a_high, rng);
    Tensor<T> b =
        b_signed ? away_from_zero<T>(sb, b_low, b_high, rng) : uniform<T>(sb, b_low, b_high, rng);
    out.push_back({sa.str() + "," + sb.str(), {a, b}, [fn](const std::vector<Tensor<T>>& in) {
                     return fn(in[0], in[1]);
                   }});
  }
  return out;
}

// Samples of a reduction over reduction_shapes(): all(x), and along(x, axis) for each axis.
template <class T, class All, class Axis>
std::vector<GradSample<T>> reduction(std::uint64_t seed, All all, Axis along) {
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  for (const Shape& s : reduction_shapes()) {
    out.push_back({s.str(), {uniform<T>(s, -1, 1, rng)}, [all](const std::vector<Tensor<T>>& in) {
                     return all(in[0]);
                   }});
    for (std::size_t axis = 0; axis < s.rank(); ++axis)
      out.push_back(
          {s.str() + " axis " + std::to_string(axis),
           {uniform<T>(s, -1, 1, rng)},
           [along, axis](const std::vector<Tensor<T>>& in) { return along(in[0], axis); }});
  }
  return out;
}

}  // namespace tg::samples
