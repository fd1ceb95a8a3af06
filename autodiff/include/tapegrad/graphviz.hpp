// Seeing the graph: Graphviz DOT export and a one-line-per-op text dump of the tape.
//
//   std::cout << tg::tape_dump(loss, {{"W1", W1}, {"b1", b1}});
//     #0 matmul(const[4,2], W1[2,2]) -> [4,2]
//     #1 add_bias(#0, b1[2]) -> [4,2]
//     ...
//   std::ofstream("graph.dot") << tg::to_dot(loss, {.names = {{"W1", W1}, {"b1", b1}}});
//   // dot -Tpng graph.dot -o graph.png   (Debian: apt-get install graphviz)
//
// Both read the graph behind a tensor through the public accessors of tg::Node (name, inputs,
// output shape, sequence number) and number the ops #0, #1, ... in tape order: ascending
// sequence number (every node's is above its inputs'), ties in the order a depth-first walk from
// the output finishes them, inputs left to right. Leaves that require a gradient are shown by
// their given name (or leaf0, leaf1, ... in order of first use). Constants (inputs that require
// no gradient) are not kept by the graph, only their shape, so they appear as const[shape].
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tapegrad/node.hpp"
#include "tapegrad/tensor.hpp"

namespace tg {

// User names for tensors of a graph: leaves (parameters, inputs that require a gradient) and, if
// wanted, intermediate results ("h1", "logits"), which label their op.
template <class T> using TensorNames = std::vector<std::pair<std::string, Tensor<T>>>;

template <class T> struct DotOptions {
  TensorNames<T> names = {};
  // Print the values of the leaves, of the named tensors and of the output.
  bool values = false;
  // Print the accumulated gradient of the leaves that have one.
  bool gradients = false;
  // Elements printed per tensor before "...".
  std::size_t max_elements = 6;
  // Graphviz rank direction: "TB" (inputs at the top, the output at the bottom), "LR", ...
  std::string rankdir = "TB";
  // A title drawn above the graph (none when empty).
  std::string title = "";
};

namespace detail {

// The graph behind a tensor, in tape order.
template <class T> struct TapeView {
  std::vector<const Node<T>*> nodes;                        // tape order; nodes[i] is #i
  std::unordered_map<const Node<T>*, std::size_t> node_id;  // node -> i
  std::vector<std::shared_ptr<TensorImpl<T>>> leaves;       // in order of first use
  std::unordered_map<const TensorImpl<T>*, std::size_t> leaf_id;
};

template <class T> TapeView<T> tape_view(const Tensor<T>& output) {
  TapeView<T> view;
  if (!output.defined()) return view;
  const auto& root = output.impl();
  if (!root->grad_fn) {
    if (root->requires_grad) {
      view.leaf_id[root.get()] = 0;
      view.leaves.push_back(root);
    }
    return view;
  }
  detail::GraphWalk<const Node<T>> walk;
  detail::walk_graph<const Node<T>>(root->grad_fn.get(), walk);
  view.nodes = std::move(walk.nodes);
  std::stable_sort(view.nodes.begin(), view.nodes.end(), [](const Node<T>* a, const Node<T>* b) {
    return a->sequence() < b->sequence();
  });
  for (std::size_t i = 0; i < view.nodes.size(); ++i) view.node_id[view.nodes[i]] = i;
  view.leaves = walked_leaves<T>(view.nodes);
  for (std::size_t i = 0; i < view.leaves.size(); ++i) view.leaf_id[view.leaves[i].get()] = i;
  return view;
}

// Names by leaf (TensorImpl) and by producing node (for named intermediate results).
template <class T> struct NameIndex {
  std::unordered_map<const TensorImpl<T>*, std::string> leaf;
  std::unordered_map<const Node<T>*, std::string> node;
  std::unordered_map<const Node<T>*, Tensor<T>> node_tensor;  // for printing named values

  explicit NameIndex(const TensorNames<T>& names) {
    for (const auto& [name, t] : names) {
      if (!t.defined()) continue;
      if (t.impl()->grad_fn) {
        node.emplace(t.impl()->grad_fn.get(), name);
        node_tensor.emplace(t.impl()->grad_fn.get(), t);
      } else {
        leaf.emplace(t.impl().get(), name);
      }
    }
  }
  std::string leaf_name(const TapeView<T>& view, const TensorImpl<T>* impl) const {
    auto it = leaf.find(impl);
    if (it != leaf.end()) return it->second;
    auto id = view.leaf_id.find(impl);
    return "leaf" + std::to_string(id == view.leaf_id.end() ? 0 : id->second);
  }
};

inline std::string dot_escape(const std::string& s) {
  std::string out;
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// "[0.1, -2, 3.5, ...]" (at most max_elements values, %.4g).
template <class T> std::string format_values(const Tensor<T>& t, std::size_t max_elements) {
  std::string s = "[";
  const std::size_t n = std::min(t.size(), max_elements);
  for (std::size_t i = 0; i < n; ++i) {
    if (i) s += ", ";
    s += format_number(double(t.data()[i]), 4);
  }
  if (t.size() > n) s += n ? ", ..." : "...";
  return s + "]";
}

}  // namespace detail

// The tape behind `output`, one line per op in tape order:
//   #3 sigmoid(#2) -> [4,2]
// An op's inputs are other ops (#k), leaves by name with their shape (W1[2,2], or leaf0[2,2]
// unnamed) and constants as const[shape]. A named intermediate result is shown after its op's
// line; an op whose saved tensors were released by a backward pass is marked "(released)".
// Empty when the output was not produced by a recorded op.
template <class T>
std::string tape_dump(const Tensor<T>& output, const TensorNames<T>& names = {}) {
  const detail::TapeView<T> view = detail::tape_view(output);
  const detail::NameIndex<T> index(names);
  std::string s;
  for (std::size_t i = 0; i < view.nodes.size(); ++i) {
    const Node<T>* node = view.nodes[i];
    s += '#';
    s += std::to_string(i);
    s += ' ';
    s += node->name();
    s += '(';
    for (std::size_t k = 0; k < node->num_inputs(); ++k) {
      const Edge<T>& e = node->edge(k);
      if (k) s += ", ";
      if (e.node) {
        s += '#';
        s += std::to_string(view.node_id.at(e.node.get()));
      } else if (const std::shared_ptr<TensorImpl<T>> leaf = e.leaf.lock()) {
        s += index.leaf_name(view, leaf.get()) + e.shape.str();
      } else {
        s += "const" + e.shape.str();
      }
    }
    s += ") -> " + node->output_shape().str();
    auto named = index.node.find(node);
    if (named != index.node.end()) s += "  " + named->second;
    if (node->released()) s += "  (released)";
    s += "\n";
  }
  return s;
}

// The graph behind `output` in Graphviz DOT. Ops are rounded boxes "#i op" with their output
// shape (the output's op drawn with a double border), leaves that require a gradient green
// ellipses with name and shape (green boxes with values and gradients), constants dashed grey boxes
// "const" with their shape; edges run from each input to the op that reads it, labelled with the
// input's position for ops of several inputs. Render with `dot -Tsvg graph.dot -o graph.svg` (or
// -Tpng).
template <class T> std::string to_dot(const Tensor<T>& output, const DotOptions<T>& options = {}) {
  const detail::TapeView<T> view = detail::tape_view(output);
  const detail::NameIndex<T> index(options.names);
  std::string s = "digraph tapegrad {\n";
  s +=
      "  graph [rankdir=" + options.rankdir + ", fontname=\"Helvetica\", nodesep=0.3, ranksep=0.35";
  if (!options.title.empty())
    s += ", label=\"" + detail::dot_escape(options.title) + "\", labelloc=t, fontsize=14";
  s += "];\n";
  s += "  node [fontname=\"Helvetica\", fontsize=11];\n";
  s += "  edge [fontname=\"Helvetica\", fontsize=9, color=\"#555555\", arrowsize=0.7];\n";

  auto leaf_label = [&](const TensorImpl<T>* impl) {
    const Tensor<T> t(view.leaves[view.leaf_id.at(impl)]);
    std::string label = index.leaf_name(view, impl) + "\n" + t.shape().str();
    if (options.values) label += "\nvalue " + detail::format_values(t, options.max_elements);
    if (options.gradients && t.has_grad())
      label += "\ngrad " + detail::format_values(t.grad(), options.max_elements);
    return label;
  };

  // A lone leaf (or an undefined / constant tensor): one node.
  if (view.nodes.empty()) {
    if (!view.leaves.empty())
      s += "  leaf0 [label=\"" + detail::dot_escape(leaf_label(view.leaves[0].get())) +
           "\", shape=ellipse, style=filled, fillcolor=\"#c7e9c0\", peripheries=2];\n";
    return s + "}\n";
  }

  // Ellipses, or boxes when they carry values (an ellipse around a row of numbers grows wide).
  const std::string leaf_shape = options.values || options.gradients ? "box" : "ellipse";
  // Inputs are declared just before the first op that reads them, in input order, so that dot
  // draws an op's inputs left to right (leaves once, constants once per use).
  std::vector<bool> declared(view.leaves.size(), false);
  std::size_t constants = 0;
  const Node<T>* root = output.impl()->grad_fn.get();
  for (std::size_t i = 0; i < view.nodes.size(); ++i) {
    const Node<T>* node = view.nodes[i];
    std::vector<std::string> from(node->num_inputs());
    for (std::size_t k = 0; k < node->num_inputs(); ++k) {
      const Edge<T>& e = node->edge(k);
      if (e.node) {
        from[k] = "op" + std::to_string(view.node_id.at(e.node.get()));
      } else if (const std::shared_ptr<TensorImpl<T>> leaf = e.leaf.lock()) {
        const std::size_t l = view.leaf_id.at(leaf.get());
        from[k] = "leaf" + std::to_string(l);
        if (!declared[l]) {
          declared[l] = true;
          s += "  " + from[k] + " [label=\"" + detail::dot_escape(leaf_label(leaf.get())) +
               "\", shape=" + leaf_shape +
               ", style=filled, fillcolor=\"#c7e9c0\", color=\"#31a354\"];\n";
        }
      } else {
        from[k] = "const" + std::to_string(constants++);
        s += "  " + from[k] + " [label=\"const\\n" + e.shape.str() +
             "\", shape=box, style=dashed, color=\"#969696\", fontcolor=\"#636363\"];\n";
      }
    }
    // Appended piece by piece: GCC 12 warns (-Wrestrict, a false positive) on "x" + string&&.
    std::string id = "op";
    id += std::to_string(i);
    std::string label = "#";
    label += std::to_string(i);
    label += ' ';
    label += node->name();
    auto named = index.node.find(node);
    if (named != index.node.end()) {
      label += '\n';
      label += named->second;
    }
    label += '\n';
    label += node->output_shape().str();
    if (options.values) {
      if (node == root) {
        label += "\nvalue ";
        label += detail::format_values(output, options.max_elements);
      } else if (named != index.node.end()) {
        label += "\nvalue ";
        label += detail::format_values(index.node_tensor.at(node), options.max_elements);
      }
    }
    if (node->released()) label += "\n(released)";
    s += "  " + id + " [label=\"" + detail::dot_escape(label) +
         "\", shape=box, style=\"rounded,filled\", fillcolor=\"" +
         (node == root ? "#fdd0a2\", peripheries=2" : "#deebf7\"") + "];\n";
    for (std::size_t k = 0; k < node->num_inputs(); ++k) {
      s += "  " + from[k] + " -> " + id;
      if (node->num_inputs() > 1) s += " [label=\"" + std::to_string(k) + "\"]";
      s += ";\n";
    }
  }
  return s + "}\n";
}

}  // namespace tg
