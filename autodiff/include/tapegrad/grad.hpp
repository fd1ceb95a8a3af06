// Gradients as return values: grad(), Hessian-vector products and small dense Hessians.
//
//   auto g = tg::grad(loss, {W, b});           // g[0] = dloss/dW, g[1] = dloss/db (autograd.grad)
//   auto d = tg::grad(loss, {W}, {.create_graph = true});      // differentiable gradients
//   auto penalty = tg::sum(d[0] * d[0]);                       // ... a gradient-norm penalty
//   auto Hv = tg::hvp([&](const auto& in) { return f(in[0]); }, {x}, {v});
//   auto H = tg::hessian([&](const tg::TensorD& x) { return f(x); }, x);   // [n, n]
//
// grad() runs the engine's ordinary backward pass and reads the gradients off the leaves, but it
// puts aside the accumulated .grad of every leaf the pass reaches and restores it afterwards: the
// caller's gradients (a model's, an optimizer's) are never touched. With create_graph the backward
// pass is recorded (every op's adjoint is written with the engine's own ops), so the returned
// gradients are functions of the inputs and can be differentiated again; without it backward runs
// the raw kernels, as a plain backward() does.
//
// grad() is compiled into the library; hvp() and hessian() take the caller's function, so they are
// templates here (the library's rule: only what is instantiated with a user's callable lives in a
// header).
#pragma once

#include <algorithm>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <string>
#include <type_traits>
#include <unordered_set>
#include <utility>
#include <vector>

#include "tapegrad/errors.hpp"
#include "tapegrad/node.hpp"
#include "tapegrad/ops.hpp"
#include "tapegrad/tensor.hpp"

namespace tg {

struct GradOptions {
  // Record the backward pass, so that the returned gradients are differentiable (double backward).
  bool create_graph = false;
  // Keep the graph's saved tensors for another backward through it. Implied by create_graph;
  // without either, the graph is released as by a plain backward().
  bool retain_graph = false;
};

namespace detail {

// grad()'s pass, compiled into the library for float and double. `who` names the caller in errors.
template <class T>
std::vector<Tensor<T>> grad_impl(const char* who, const Tensor<T>& output,
                                 const std::vector<Tensor<T>>& inputs, const Tensor<T>* upstream,
                                 const GradOptions& options);

// The leaves that require a gradient and are reachable from `output` (the output itself when it
// is such a leaf), each once.
template <class T>
std::vector<std::shared_ptr<TensorImpl<T>>> reachable_leaves(const Tensor<T>& output);

}  // namespace detail

// d output / d input for each input, which must be a leaf that requires a gradient: zeros of the
// input's shape where the output does not depend on it (also when nothing in the output requires
// a gradient). `output` must have one element (seeded with 1). The inputs' accumulated .grad, and
// that of every other leaf the pass reaches, are left exactly as they were.
//
// With create_graph the results are recorded functions of the inputs (differentiate them again);
// treat them as read-only, since one result may share its buffer with another or with `upstream`.
template <class T>
std::vector<Tensor<T>> grad(const Tensor<T>& output, const std::vector<Tensor<T>>& inputs,
                            GradOptions options = {}) {
  return detail::grad_impl<T>("grad", output, inputs, nullptr, options);
}

// The same with an explicit upstream gradient of output's shape: the vector-Jacobian products
// upstream^T (d output / d input). `upstream` may itself require a gradient (with create_graph
// the results are then differentiable with respect to it too).
template <class T>
std::vector<Tensor<T>> grad(const Tensor<T>& output, const std::vector<Tensor<T>>& inputs,
                            const Tensor<T>& upstream, GradOptions options = {}) {
  return detail::grad_impl<T>("grad", output, inputs, &upstream, options);
}

namespace detail {

template <class T, class F>
std::vector<Tensor<T>> hvp_impl(F& f, const std::vector<Tensor<T>>& inputs,
                                const std::vector<Tensor<T>>& vectors) {
  if (inputs.size() != vectors.size())
    throw ShapeError("hvp: " + std::to_string(inputs.size()) + " inputs but " +
                     std::to_string(vectors.size()) + " vectors (one per input)");
  std::vector<Tensor<T>> x;
  x.reserve(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined() || !vectors[i].defined())
      throw GraphError("hvp: input or vector " + std::to_string(i) + " is undefined");
    if (vectors[i].shape() != inputs[i].shape())
      throw ShapeError("hvp: vector " + std::to_string(i) + " " + vectors[i].shape().str() +
                       " does not match input " + std::to_string(i) + " " +
                       inputs[i].shape().str());
    x.push_back(inputs[i].clone());
    x.back().set_requires_grad(true);
  }
  EnableGradGuard recording;
  const Tensor<T> y = f(x);
  if (!y.defined() || y.size() != 1)
    throw ShapeError("hvp: the function must return a one-element tensor, got " +
                     (y.defined() ? y.shape().str() : std::string("an undefined tensor")));
  const std::vector<Tensor<T>> g = grad_impl<T>("hvp", y, x, nullptr, {.create_graph = true});
  // g . v, a function of x through the recorded backward pass; its gradient is H v.
  Tensor<T> dot;
  for (std::size_t i = 0; i < x.size(); ++i) {
    Tensor<T> term = sum(mul(g[i], vectors[i].detach()));
    dot = dot.defined() ? add(dot, term) : term;
  }
  if (!dot.defined()) return {};
  // Retained: f may read tensors of a graph of the caller's, which must not be released here.
  return grad_impl<T>("hvp", dot, x, nullptr, {.retain_graph = true});
}

}  // namespace detail

// Hessian-vector products by double backward: for f, any callable taking
// `const std::vector<Tensor<T>>&` and returning a one-element tensor, returns
// H v = d/dx (grad f(x) . v), one tensor per input (the blocks sum_j H_ij v_j). f is evaluated
// once, at fresh copies of the inputs (they need not require a gradient; theirs and any other
// leaf's .grad are left untouched). Costs about one forward and two backward passes. The results
// are values (no graph). Zero where the gradient does not depend on the inputs.
template <class F, class T>
std::vector<Tensor<T>> hvp(F&& f, const std::vector<Tensor<T>>& inputs,
                           const std::vector<Tensor<T>>& vectors) {
  return detail::hvp_impl<T>(f, inputs, vectors);
}
template <class F, class T>
std::vector<Tensor<T>> hvp(F&& f, std::initializer_list<Tensor<T>> inputs,
                           std::initializer_list<Tensor<T>> vectors) {
  return detail::hvp_impl<T>(f, std::vector<Tensor<T>>(inputs), std::vector<Tensor<T>>(vectors));
}

// The full Hessian of f, a callable taking `const Tensor<T>&` and returning a one-element tensor,
// at x: an [n, n] tensor, n = x.size(), indexed by x's flat (row-major) element indices,
// H[i, j] = d^2 f / dx_i dx_j. For small inputs: one forward pass, one recorded backward pass,
// then n backward passes through that recorded pass (row i is the gradient of df/dx_i), so about
// n times the cost of a gradient. x is copied (its .grad is untouched).
template <class F, class T> Tensor<T> hessian(F&& f, const Tensor<T>& x) {
  if (!x.defined()) throw GraphError("hessian: the input is undefined");
  const std::size_t n = x.size();
  Tensor<T> xc = x.clone();
  xc.set_requires_grad(true);
  Tensor<T> H = Tensor<T>::zeros(Shape{n, n});
  EnableGradGuard recording;
  const Tensor<T> y = f(std::as_const(xc));
  if (!y.defined() || y.size() != 1)
    throw ShapeError("hessian: the function must return a one-element tensor, got " +
                     (y.defined() ? y.shape().str() : std::string("an undefined tensor")));
  const Tensor<T> g = detail::grad_impl<T>("hessian", y, {xc}, nullptr, {.create_graph = true})[0];
  if (!g.requires_grad()) return H;  // the gradient is constant: f is affine in x
  for (std::size_t i = 0; i < n; ++i) {
    Tensor<T> e = Tensor<T>::zeros(x.shape());  // fresh: the pass may keep a handle on it
    e.data()[i] = T(1);
    const Tensor<T> row = detail::grad_impl<T>("hessian", g, {xc}, &e, {.retain_graph = true})[0];
    std::copy(row.data(), row.data() + n, H.data() + i * n);
  }
  return H;
}

}  // namespace tg
