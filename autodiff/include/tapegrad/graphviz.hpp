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

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

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

// The tape behind `output`, one line per op in tape order:
//   #3 sigmoid(#2) -> [4,2]
// An op's inputs are other ops (#k), leaves by name with their shape (W1[2,2], or leaf0[2,2]
// unnamed) and constants as const[shape]. A named intermediate result is shown after its op's
// line; an op whose saved tensors were released by a backward pass is marked "(released)".
// Empty when the output was not produced by a recorded op.
template <class T> std::string tape_dump(const Tensor<T>& output, const TensorNames<T>& names = {});

// The graph behind `output` in Graphviz DOT. Ops are rounded boxes "#i op" with their output
// shape (the output's op drawn with a double border), leaves that require a gradient green
// ellipses with name and shape (green boxes with values and gradients), constants dashed grey boxes
// "const" with their shape; edges run from each input to the op that reads it, labelled with the
// input's position for ops of several inputs. Render with `dot -Tsvg graph.dot -o graph.svg` (or
// -Tpng).
template <class T> std::string to_dot(const Tensor<T>& output, const DotOptions<T>& options = {});

}  // namespace tg
