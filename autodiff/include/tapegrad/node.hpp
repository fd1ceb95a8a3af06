// A recorded op: one node per tensor op, holding only what its adjoint needs.
//
// An op's backward is written with the engine's own ops (matmul with transpose flags, mul, ...):
// during a plain backward pass grad mode is off, so they run as raw kernels and record nothing;
// with BackwardOptions::create_graph they record, and gradients become differentiable.
//
// Ordering: every node takes a sequence number one above the largest of its inputs' nodes (its
// depth in the graph; leaves count 0). A node's number is thus greater than every node it
// depends on, so descending order is a valid reverse topological order (the "tape"), and backward
// needs no recursion. Unlike a global counter it needs no atomic and stays right for graphs
// built across threads.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <utility>
#include <vector>

#include "tapegrad/tensor.hpp"

namespace tg {

inline constexpr std::size_t kMaxOpInputs = 3;

template <class T> using Grads = std::array<Tensor<T>, kMaxOpInputs>;

// Where an input's gradient goes: the node that produced it, or the leaf itself.
//
// A leaf is held weakly: a gradient recorded into a leaf (create_graph) holds its graph, so a
// graph holding the leaf would make a cycle (leaf -> grad -> graph -> leaf) that nothing frees. A
// leaf nobody holds any more gets no gradient: nobody could read it.
template <class T> struct Edge {
  std::shared_ptr<Node<T>> node;
  std::weak_ptr<TensorImpl<T>> leaf;
  // The input's identity when recorded, never dereferenced: names the input of a saved tensor in
  // errors (SavedTensor::unpack).
  const void* source = nullptr;
  Shape shape;
  bool needs_grad = false;
};

// Nodes are shared (tensors and consumers' edges hold them) but never weakly: a node nobody else
// holds is then freed by the shared pointer's plain load-and-check path, where each weak
// reference would add atomic decrements (locked instructions once the process has a second
// thread, an OpenBLAS pool) to every node of every step. (SavedTensor::unpack gets a node's
// handle from the backward pass instead of shared_from_this().)
template <class T> class Node {
 public:
  Node();
  virtual ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  virtual const char* name() const = 0;
  // Fills grads[i] with the gradient for input i, for each i with needs_grad(i). A gradient may
  // have a broadcast shape (larger than the input's): the engine sums it back to the input's
  // shape in one place (sum_to), so ops never reduce for themselves.
  virtual void backward(const Tensor<T>& upstream, Grads<T>& grads) = 0;
  // Frees what the node saved for its adjoint (called after backward unless retain_graph).
  virtual void release_saved() {}
  virtual std::size_t saved_bytes() const { return 0; }

  std::size_t num_inputs() const { return num_inputs_; }
  bool needs_grad(std::size_t i) const { return edges_[i].needs_grad; }
  const Shape& input_shape(std::size_t i) const { return edges_[i].shape; }
  const Shape& output_shape() const { return output_shape_; }
  std::uint64_t sequence() const { return sequence_; }
  bool released() const { return released_; }
  const Edge<T>& edge(std::size_t i) const { return edges_[i]; }
  // Frees the saved tensors for good: a later backward through this node is a GraphError.
  void release() {
    release_saved();
    released_ = true;
  }

 private:
  // Takes apart, in a loop, the inputs only this node holds (see ~Node).
  [[gnu::noinline]] void free_owned_inputs();

  template <class NodeT, class U>
  friend NodeT* record(Tensor<U>& output, std::initializer_list<const Tensor<U>*> inputs);

  std::array<Edge<T>, kMaxOpInputs> edges_;
  std::size_t num_inputs_ = 0;
  Shape output_shape_;
  std::uint64_t sequence_ = 1;  // leaves count as 0
  bool released_ = false;
};

namespace detail {

// Node -> index, open addressing: marking a node seen allocates nothing of its own (a small
// graph, as a training step's, fits the inline table), and nothing is written into the nodes, so
// walks on several threads may share them.
class NodeIndex {
 public:
  static constexpr std::uint32_t npos = ~std::uint32_t(0);
  NodeIndex() = default;
  NodeIndex(const NodeIndex&) = delete;
  NodeIndex& operator=(const NodeIndex&) = delete;
  // The value of `key`, inserting `value` first when absent; .second says whether it was absent.
  std::pair<std::uint32_t*, bool> insert(const void* key, std::uint32_t value) {
    if ((size_ + 1) * 2 > capacity_) grow();
    Slot* s = probe(key);
    if (s->key) return {&s->value, false};
    s->key = key;
    s->value = value;
    ++size_;
    return {&s->value, true};
  }
  std::uint32_t find(const void* key) const {
    const Slot* s = probe(key);
    return s->key ? s->value : npos;
  }
  std::size_t size() const { return size_; }

 private:
  struct Slot {
    const void* key = nullptr;
    std::uint32_t value = 0;
  };
  static constexpr std::size_t kInline = 32;
  Slot* probe(const void* key) const {
    const std::size_t mask = capacity_ - 1;
    std::size_t i = (reinterpret_cast<std::uintptr_t>(key) >> 4) * 0x9E3779B97F4A7C15ull >> 32;
    for (;; ++i)
      if (Slot& s = table_[i & mask]; !s.key || s.key == key) return &s;
  }
  void grow() {
    std::vector<Slot> bigger(capacity_ * 2);
    Slot* old = table_;
    const std::size_t old_capacity = capacity_;
    table_ = bigger.data();
    capacity_ = bigger.size();
    for (std::size_t i = 0; i < old_capacity; ++i)
      if (old[i].key) *probe(old[i].key) = old[i];
    heap_.swap(bigger);
  }
  Slot inline_[kInline];
  Slot* table_ = inline_;
  std::size_t capacity_ = kInline;
  std::size_t size_ = 0;
  std::vector<Slot> heap_;
};

// The nodes reachable from a tensor's node: the one graph walk (backward, graph_stats, grad(),
// the tape dump). Iterative, so deep chains cannot overflow the stack. `nodes` is in post-order,
// every node after all the nodes it depends on (a topological order; reversed, the order backward
// runs in), ties in the order a depth-first walk finishes them, inputs left to right; `index`
// maps a node to its position in `nodes`. `on_node` sees each node once as it is finished, before
// any later node is; it may throw to stop the walk.
template <class NodeT> struct GraphWalk {
  std::vector<NodeT*> nodes;
  NodeIndex index;
};

template <class NodeT, class OnNode>
void walk_graph(NodeT* head, GraphWalk<NodeT>& walk, OnNode&& on_node) {
  struct Frame {
    NodeT* node;
    std::size_t next;
  };
  // The depth-first stack, inline while the graph is shallow (a training step's): no allocation.
  Frame inline_frames[16];
  std::vector<Frame> heap_frames;
  Frame* stack = inline_frames;
  std::size_t capacity = 16, top = 0;
  walk.nodes.reserve(16);
  stack[top++] = {head, 0};
  walk.index.insert(head, NodeIndex::npos);
  while (top > 0) {
    Frame& f = stack[top - 1];
    if (f.next < f.node->num_inputs()) {
      NodeT* in = f.node->edge(f.next++).node.get();
      if (in && walk.index.insert(in, NodeIndex::npos).second) {
        if (top == capacity) {
          std::vector<Frame> bigger(capacity * 2);
          std::copy(stack, stack + top, bigger.begin());
          heap_frames.swap(bigger);
          stack = heap_frames.data();
          capacity = heap_frames.size();
        }
        stack[top++] = {in, 0};
      }
      continue;
    }
    NodeT* node = f.node;
    --top;
    on_node(*node);
    *walk.index.insert(node, 0).first = std::uint32_t(walk.nodes.size());
    walk.nodes.push_back(node);
  }
}

template <class NodeT> void walk_graph(NodeT* head, GraphWalk<NodeT>& walk) {
  walk_graph(head, walk, [](NodeT&) {});
}

// The leaves (still alive) that the walked nodes send gradients to, each once, in order of first
// use along `nodes`.
template <class T, class NodeT>
std::vector<std::shared_ptr<TensorImpl<T>>> walked_leaves(const std::vector<NodeT*>& nodes) {
  std::vector<std::shared_ptr<TensorImpl<T>>> leaves;
  NodeIndex seen;
  for (const NodeT* node : nodes)
    for (std::size_t k = 0; k < node->num_inputs(); ++k) {
      const Edge<T>& e = node->edge(k);
      if (e.node) continue;
      if (std::shared_ptr<TensorImpl<T>> leaf = e.leaf.lock())
        if (seen.insert(leaf.get(), 0).second) leaves.push_back(std::move(leaf));
    }
  return leaves;
}

}  // namespace detail

// A tensor kept for the adjoint. Saving an op's own output would make a reference cycle
// (output -> node -> output), so an output is kept as data only (its storage: no handle of its
// own, which would cost an allocation per recorded op) and re-attached to its node when unpacked
// while recording (create_graph), as PyTorch's SavedVariable does. A leaf that requires a
// gradient is kept the same way, for the reason Edge holds leaves weakly: its data, re-attached
// when recording through the weak reference its edge holds already (one of its own would cost
// two more atomic operations per saved leaf and step).
//
// The storage's version is recorded when saved and checked when unpacked: data changed in place
// in between (through data(), an optimizer step) would silently give a wrong gradient, so it is a
// GraphError naming the op, the input and both versions.
template <class T> class SavedTensor {
 public:
  void save_input(const Tensor<T>& t);
  void save_output(const Tensor<T>& t);
  Tensor<T> unpack(Node<T>& owner) const;
  // The saved values for a plain backward (grad mode off), checked as unpack checks them, with no
  // handle made (no reference counted, no weak reference locked): valid while `owner` keeps what
  // it saved. The shape is the input's (Node::input_shape) or the output's.
  const T* data(const Node<T>& owner) const;
  void reset() {
    tensor_ = Tensor<T>();
    storage_.reset();
  }
  std::size_t bytes() const { return defined() ? numel_ * sizeof(T) : 0; }
  bool defined() const { return tensor_.defined() || storage_ != nullptr; }

 private:
  [[noreturn]] void throw_modified(const Node<T>& owner, std::uint64_t now) const;
  [[noreturn]] static void throw_released(const Node<T>& owner);
  void check(const Node<T>& owner) const {
    if (!defined()) [[unlikely]]
      throw_released(owner);
    const std::uint64_t now = storage_version_->load(std::memory_order_relaxed);
    if (now != version_) [[unlikely]]
      throw_modified(owner, now);
  }
  const Edge<T>* edge_of(const Node<T>& owner) const;

  // An input that is not a leaf requiring a gradient.
  Tensor<T> tensor_;
  // An output, or a leaf that requires a gradient: its data (which stands in for the leaf once
  // nobody holds it any more). Unpacking a live leaf allocates nothing; unpacking an output makes
  // a handle on its data.
  std::shared_ptr<T[]> storage_;
  Version* storage_version_ = nullptr;
  const void* source_ = nullptr;  // compared with Edge::source to name the input
  std::size_t numel_ = 0;
  std::uint64_t version_ = 0;  // the storage's version when saved
  bool is_output_ = false;
};

// Anomaly mode (off by default; per thread): every recorded op checks its forward output, and
// backward checks every gradient it computes, for NaN and inf. The first op that produces one
// raises AnomalyError naming the op, its inputs' and output's shapes, and where the node sits in
// the graph. When off it costs one thread-local flag test per recorded op and per backward node.
bool anomaly_mode();
void set_anomaly_mode(bool enabled);

class AnomalyGuard {
 public:
  explicit AnomalyGuard(bool enabled = true) : previous_(anomaly_mode()) {
    set_anomaly_mode(enabled);
  }
  ~AnomalyGuard() { set_anomaly_mode(previous_); }
  AnomalyGuard(const AnomalyGuard&) = delete;
  AnomalyGuard& operator=(const AnomalyGuard&) = delete;

 private:
  bool previous_;
};

// Throws AnomalyError when `output` (just computed by `node`'s op) holds a NaN or inf.
template <class T> void check_forward_finite(const Node<T>& node, const Tensor<T>& output);

// Records `output` as produced by a new NodeT from `inputs` (null pointers are skipped) when grad
// mode is on and any input requires a gradient; returns the node for the op to save what its
// adjoint needs, or nullptr when nothing is recorded.
template <class NodeT, class T>
NodeT* record(Tensor<T>& output, std::initializer_list<const Tensor<T>*> inputs) {
  if (!grad_enabled()) return nullptr;
  bool any = false;
  for (const Tensor<T>* in : inputs) any = any || (in && in->requires_grad());
  if (!any) return nullptr;
  auto node = std::allocate_shared<NodeT>(detail::SmallAllocator<NodeT>());
  std::size_t i = 0;
  for (const Tensor<T>* in : inputs) {
    Edge<T>& e = node->edges_[i++];
    if (!in) continue;
    e.source = in->impl().get();
    e.shape = in->shape();
    e.needs_grad = in->requires_grad();
    if (!e.needs_grad) continue;
    if (in->impl()->grad_fn)
      e.node = in->impl()->grad_fn;
    else
      e.leaf = in->impl();
  }
  node->num_inputs_ = i;
  for (std::size_t k = 0; k < i; ++k)
    if (node->edges_[k].node && node->edges_[k].node->sequence_ >= node->sequence_)
      node->sequence_ = node->edges_[k].node->sequence_ + 1;
  node->output_shape_ = output.shape();
  if (anomaly_mode()) check_forward_finite(*node, output);
  NodeT* raw = node.get();
  output.impl()->requires_grad = true;
  output.impl()->grad_fn = std::move(node);
  return raw;
}

}  // namespace tg
