#include "tapegrad/grad.hpp"

#include <unordered_set>

#include "leaf_grads_aside.hpp"

namespace tg::detail {

// Iterative: deep graphs cannot overflow the stack.
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
  std::vector<Tensor<T>> leaves;
  {
    std::unordered_set<const void*> seen;
    for (auto& leaf : reachable_leaves(output))
      if (seen.insert(leaf.get()).second) leaves.emplace_back(std::move(leaf));
    for (const auto& x : inputs)
      if (seen.insert(x.impl().get()).second) leaves.push_back(x);
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
      result.push_back(x.grad());  // zeros of x's shape where the pass gave x nothing
  }
  return result;
}

template std::vector<std::shared_ptr<TensorImpl<float>>> reachable_leaves(const Tensor<float>&);
template std::vector<std::shared_ptr<TensorImpl<double>>> reachable_leaves(const Tensor<double>&);
template std::vector<Tensor<float>> grad_impl(const char*, const Tensor<float>&,
                                              const std::vector<Tensor<float>>&,
                                              const Tensor<float>*, const GradOptions&);
template std::vector<Tensor<double>> grad_impl(const char*, const Tensor<double>&,
                                               const std::vector<Tensor<double>>&,
                                               const Tensor<double>*, const GradOptions&);

}  // namespace tg::detail
