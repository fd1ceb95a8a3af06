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

// The leaves that require a gradient and are reachable from `output` (the output itself when it
// is such a leaf), each once. Iterative: deep graphs cannot overflow the stack.
template <class T>
std::vector<std::shared_ptr<TensorImpl<T>>> reachable_leaves(const Tensor<T>& output) {
  std::vector<std::shared_ptr<TensorImpl<T>>> leaves;
  const auto& root = output.impl();
  if (!root->grad_fn) {
    if (root->requires_grad) leaves.push_back(root);
    return leaves;
  }
  detail::GraphWalk<const Node<T>> walk;
  detail::walk_graph<const Node<T>>(root->grad_fn.get(), walk);
  return walked_leaves<T>(walk.nodes);
}

// Puts the leaves' accumulated gradients aside and restores them when it goes out of scope (also
// on an exception), like gradcheck_leaves does.
template <class T> class LeafGradsAside {
 public:
  explicit LeafGradsAside(std::vector<std::shared_ptr<TensorImpl<T>>> leaves)
      : leaves_(std::move(leaves)) {
    saved_.reserve(leaves_.size());
    for (const auto& leaf : leaves_) {
      saved_.push_back(std::move(leaf->grad));
      leaf->grad.reset();
    }
  }
  ~LeafGradsAside() {
    for (std::size_t i = 0; i < leaves_.size(); ++i) leaves_[i]->grad = std::move(saved_[i]);
  }
  LeafGradsAside(const LeafGradsAside&) = delete;
  LeafGradsAside& operator=(const LeafGradsAside&) = delete;

 private:
  std::vector<std::shared_ptr<TensorImpl<T>>> leaves_;
  std::vector<std::shared_ptr<TensorImpl<T>>> saved_;
};

template <class T>
std::vector<Tensor<T>> grad_impl(const char* who, const Tensor<T>& output,
                                 const std::vector<Tensor<T>>& inputs, const Tensor<T>* upstream,
                                 const GradOptions& options) {
  const std::string op(who);
  if (!output.defined()) throw GraphError(op + ": the output is an undefined tensor");
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Tensor<T>& x = inputs[i];
    const std::string name = "input " + std::to_string(i);
    if (!x.defined()) throw GraphError(op + ": " + name + " is an undefined tensor");
    if (!x.requires_grad())
      throw GraphError(op + ": " + name + " " + x.shape().str() +
                       " does not require a gradient (mark it with set_requires_grad(), or leave "
                       "it out of the inputs)");
    if (!x.is_leaf())
      throw GraphError(op + ": " + name + " " + x.shape().str() + " is the output of " +
                       x.op_name() +
                       ", not a leaf; gradients are taken with respect to leaves (to start a new "
                       "graph at an intermediate value, use x.detach().clone() marked as "
                       "requiring a gradient)");
  }
  if (upstream) {
    if (!upstream->defined()) throw GraphError(op + ": the upstream gradient is undefined");
    if (upstream->shape() != output.shape())
      throw ShapeError(op + ": upstream gradient " + upstream->shape().str() +
                       " does not match the output " + output.shape().str());
  } else if (output.size() != 1) {
    throw GraphError(op + ": the output " + output.shape().str() +
                     " has more than one element; pass an upstream gradient of that shape");
  }

  // Every leaf the pass can write to, and every input (an unreachable input must read as zeros,
  // not as whatever it had accumulated before).
  std::vector<std::shared_ptr<TensorImpl<T>>> leaves = reachable_leaves(output);
  {
    std::unordered_set<const void*> seen;
    for (const auto& leaf : leaves) seen.insert(leaf.get());
    for (const auto& x : inputs)
      if (seen.insert(x.impl().get()).second) leaves.push_back(x.impl());
  }

  std::vector<Tensor<T>> result;
  result.reserve(inputs.size());
  {
    LeafGradsAside<T> aside(std::move(leaves));
    if (output.requires_grad()) {
      const BackwardOptions backward_options{
          .retain_graph = options.retain_graph || options.create_graph,
          .create_graph = options.create_graph};
      if (upstream)
        output.backward(*upstream, backward_options);
      else
        output.backward(backward_options);
    }
    for (const auto& x : inputs)
      result.push_back(x.impl()->grad ? Tensor<T>(x.impl()->grad) : Tensor<T>::zeros(x.shape()));
  }
  return result;
}

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
