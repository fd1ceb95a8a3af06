// Every differentiable op, declared. Each op lives in one file, autodiff/src/ops/<op>.cpp, with its
// forward, adjoint, shape rules, gradient-check samples, forward values and error inputs; the build
// lists the op files, so adding an op is its file plus its declaration here. Exact semantics (what
// raises, what returns NaN/inf: PyTorch's numbers, float64) are in the README's op table. All ops
// are instantiated for float and double.
#pragma once

#include <cstdint>
#include <type_traits>
#include <vector>

#include "tapegrad/tensor.hpp"

namespace tg {

// ---- linear algebra and layout ------------------------------------------------------------
// op(A) @ op(B) for 2-D A, B, where op transposes when the flag is set (BLAS transpose flags:
// no transposed copy is ever made). Inner dimensions must agree.
template <class T>
Tensor<T> matmul(const Tensor<T>& a, const Tensor<T>& b, bool transpose_a = false,
                 bool transpose_b = false);
// Y[i,j] = X[i,j] + b[j] for X[n,m], b[m].
template <class T> Tensor<T> add_bias(const Tensor<T>& x, const Tensor<T>& bias);
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

// ---- reductions (the reduced axis is removed) ----------------------------------------------
template <class T> Tensor<T> sum(const Tensor<T>& x);  // -> []
template <class T> Tensor<T> sum(const Tensor<T>& x, std::size_t axis);
template <class T> Tensor<T> mean(const Tensor<T>& x);  // -> []; empty x throws ShapeError
template <class T> Tensor<T> mean(const Tensor<T>& x, std::size_t axis);

// ---- along the last axis -------------------------------------------------------------------
template <class T> Tensor<T> softmax(const Tensor<T>& x);
template <class T> Tensor<T> log_softmax(const Tensor<T>& x);

// ---- losses: inputs of equal shape (never broadcast), result a 0-d scalar --------------------
// mean((a-b)^2) over all elements.
template <class T> Tensor<T> mse(const Tensor<T>& a, const Tensor<T>& b);
// -mean(y log p + (1-y) log(1-p)) with 0 log 0 = 0; p must lie in [0,1] (DomainError).
template <class T> Tensor<T> bce(const Tensor<T>& p, const Tensor<T>& y);
// bce(sigmoid(z), y), evaluated stably as mean(max(z,0) - z*y + log1p(e^-|z|)).
template <class T> Tensor<T> bce_with_logits(const Tensor<T>& z, const Tensor<T>& y);

using Labels = std::vector<std::int64_t>;
// mean_i(logsumexp(logits[i,:]) - logits[i, labels[i]]) for logits[n,C], labels in 0..C-1.
template <class T> Tensor<T> softmax_ce(const Tensor<T>& logits, const Labels& labels);
// -mean_i(sum_c targets[i,c] * log_softmax(logits)[i,c]); targets one-hot or any distribution.
template <class T> Tensor<T> softmax_ce(const Tensor<T>& logits, const Tensor<T>& targets);

// ---- elementwise, one input: abs, sqrt, square, trigonometry, activations, clamp, sign --------

// ---- elementwise, two inputs: maximum, minimum, pow with a tensor exponent, comparisons, where --

// ---- shape and indexing ----------------------------------------------------------------------

// ---- products: batched matmul, dot, outer ----------------------------------------------------

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
  return mul(a, Tensor<T>::scalar(b));
}
template <class T> Tensor<T> operator*(std::type_identity_t<T> a, const Tensor<T>& b) {
  return mul(Tensor<T>::scalar(a), b);
}
template <class T> Tensor<T> operator/(const Tensor<T>& a, std::type_identity_t<T> b) {
  return div(a, Tensor<T>::scalar(b));
}
template <class T> Tensor<T> operator/(std::type_identity_t<T> a, const Tensor<T>& b) {
  return div(Tensor<T>::scalar(a), b);
}

}  // namespace tg
