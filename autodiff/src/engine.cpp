// The one generic backward traversal.
//
// 1. Walk the nodes reachable from the output (detail::walk_graph: iterative, so deep chains
//    cannot overflow the stack) and check that none was released, before anything is computed.
// 2. Visit them in reverse post-order: every node is finished after the nodes it depends on, so
//    this is a reverse topological order, and a node runs only once all its consumers have added
//    their contributions to its upstream gradient. That gradient lives in the call's GraphTask,
//    not in the node.
// 3. Each contribution whose shape differs from its input's (a broadcast op) is summed back with
//    sum_to: the one place where broadcast gradients are reduced.
// 4. An adjoint may take its upstream gradient's buffer for its result (detail::last_use), and
//    one whose input's producer it alone feeds may send the producer's input its gradient
//    directly (detail::sole_producer, pass_through): bce after sigmoid; or send the producer the
//    gradient of its pre-activation (pass_as_preactivation): bce after linear_act's sigmoid.
#include <algorithm>
#include <cmath>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "kernels.hpp"
#include "launch.hpp"
#include "tapegrad/node.hpp"
#include "tapegrad/ops.hpp"

namespace tg {

namespace {

__attribute__((tls_model("initial-exec"))) thread_local bool t_anomaly_mode = false;

template <class T> std::ptrdiff_t first_non_finite(const Tensor<T>& t) {
  for (std::size_t i = 0; i < t.size(); ++i)
    if (!std::isfinite(t.data()[i])) return std::ptrdiff_t(i);
  return -1;
}

// "sigmoid (depth 3; inputs: [4,2] from add_bias, leaf [2])"
template <class T> std::string where(const Node<T>& node) {
  std::string s = std::string(node.name()) + " (depth " + std::to_string(node.sequence()) +
                  " in the graph; inputs:";
  for (std::size_t i = 0; i < node.num_inputs(); ++i) {
    const Edge<T>& e = node.edge(i);
    s += i ? ", " : " ";
    s += e.shape.str() +
         (e.node ? std::string(" from ") + e.node->name() : (e.needs_grad ? " leaf" : " constant"));
  }
  return s + "; output " + node.output_shape().str() + ")";
}

template <class T> std::string describe_value(const Tensor<T>& t, std::ptrdiff_t i) {
  const T v = t.data()[i];
  return std::string(std::isnan(v) ? "NaN" : (v > 0 ? "inf" : "-inf")) + " at flat index " +
         std::to_string(i);
}

// A gradient buffer nobody else references, so adding into it in place is safe.
template <class T> bool exclusively_owned(const Tensor<T>& g) {
  return g.impl().use_count() == 1 && g.impl()->storage.use_count() == 1 && !g.impl()->grad_fn;
}

// The nodes of the backward pass running on this thread (for detail::sole_producer), and the
// input whose gradient the running adjoint sends past its producer (detail::pass_through).
__attribute__((tls_model("initial-exec"))) thread_local const void* t_running_nodes = nullptr;
constexpr std::size_t kNoPassThrough = std::size_t(-1);
__attribute__((tls_model("initial-exec"))) thread_local std::size_t t_pass_through = kNoPassThrough;
// Whether that gradient goes to the producer itself, as its pre-activation's
// (pass_as_preactivation), rather than past it; and whether the running adjoint was sent one
// (upstream_is_preactivation).
__attribute__((tls_model("initial-exec"))) thread_local bool t_pass_into_producer = false;
__attribute__((tls_model("initial-exec"))) thread_local bool t_preactivation_upstream = false;
// The handle on the node whose adjoint is running on this thread (detail::running_node): a
// const std::shared_ptr<Node<T>>*, the consumer's edge or the output's own.
__attribute__((tls_model("initial-exec"))) thread_local const void* t_running_node = nullptr;
// Whether the backward pass running on this thread frees each node's saved tensors after its
// adjoint (no retain_graph, no create_graph): detail::saved_released_after.
__attribute__((tls_model("initial-exec"))) thread_local bool t_releasing = false;

// A node's mark on its upstream gradient (detail::last_use) lasts for its backward call only,
// thrown out of or not: a later tensor at the same address must never be taken for it. So do the
// pass-through notes, both ways.
struct ForgetSpareUpstream {
  ~ForgetSpareUpstream() {
    detail::t_spare_upstream = nullptr;
    t_pass_through = kNoPassThrough;
    t_pass_into_producer = false;
    t_preactivation_upstream = false;
  }
};

template <class T> void add_in_place(Tensor<T>& into, const Tensor<T>& g) {
  detail::launch_elementwise(
      into.size(),
      [dst = into.data(), src = g.data()](std::size_t begin, std::size_t end) {
        for (std::size_t i = begin; i < end; ++i) dst[i] += src[i];
      },
      [&] { return detail::writes_from(into, into, g); });
}

// Under the leaf's lock: graphs on several threads may share leaves (data-parallel training) and
// accumulate into them at once.
template <class T> void accumulate_leaf(TensorImpl<T>& leaf, Tensor<T> g) {
  std::lock_guard<detail::GradLock> lock(leaf.grad_lock);
  if (grad_enabled()) {  // create_graph: the gradient keeps its own graph
    leaf.grad = leaf.grad ? add(Tensor<T>(leaf.grad), g).impl() : std::move(g).impl();
    return;
  }
  if (!leaf.grad) {
    leaf.grad = exclusively_owned(g) ? std::move(g).impl() : g.clone().impl();
  } else if (leaf.grad.use_count() == 1 && leaf.grad->storage.use_count() == 1 &&
             !leaf.grad->grad_fn) {
    Tensor<T> into(leaf.grad);
    add_in_place(into, g);
  } else {
    // Shared (a recorded gradient, a caller's upstream, a handle someone kept): never write
    // into it.
    leaf.grad = add(Tensor<T>(leaf.grad), g).impl();
  }
}

}  // namespace

bool anomaly_mode() {
  return t_anomaly_mode;
}
void set_anomaly_mode(bool enabled) {
  t_anomaly_mode = enabled;
}

template <class T> void check_forward_finite(const Node<T>& node, const Tensor<T>& output) {
  const std::ptrdiff_t bad = first_non_finite(output);
  if (bad >= 0)
    throw AnomalyError("anomaly: the forward of " + where(node) + " produced " +
                       describe_value(output, bad));
}

template void check_forward_finite(const Node<float>&, const Tensor<float>&);
template void check_forward_finite(const Node<double>&, const Tensor<double>&);

namespace {

template <class T>
void check_backward_finite(const Node<T>& node, std::size_t input, const Tensor<T>& g) {
  const std::ptrdiff_t bad = first_non_finite(g);
  if (bad >= 0)
    throw AnomalyError("anomaly: the backward of " + where(node) +
                       " produced, in the gradient for input " + std::to_string(input) + " " +
                       g.shape().str() + ", " + describe_value(g, bad));
}

}  // namespace

template <class T> class Engine {
 public:
  static void run(const Tensor<T>& root, Tensor<T> upstream, const BackwardOptions& options) {
    const auto& impl = root.impl();
    if (!root.defined()) detail::throw_undefined("backward");
    if (!impl->requires_grad)
      throw GraphError("backward: the tensor " + root.shape().str() +
                       " does not require a gradient (no input requires one, or it was computed "
                       "under NoGradGuard)");
    if (!upstream.defined()) {
      if (root.size() != 1)
        throw GraphError(std::string("backward: output of ") + root.op_name() + " has shape " +
                         root.shape().str() +
                         "; only a one-element output can be seeded with 1, pass an upstream "
                         "gradient of shape " +
                         root.shape().str());
      upstream = Tensor<T>::ones(root.shape());
    } else if (upstream.shape() != root.shape()) {
      throw ShapeError(std::string("backward: upstream gradient ") + upstream.shape().str() +
                       " does not match the output of " + root.op_name() + " " +
                       root.shape().str());
    }

    GradModeGuard mode(options.create_graph);
    if (!impl->grad_fn) {
      accumulate_leaf(*impl, upstream);
      return;
    }
    GraphTask task(impl->grad_fn, std::move(upstream));
    task.run(!(options.retain_graph || options.create_graph));
  }

 private:
  // One backward call's state: the nodes in the order they run and, per node, the gradient
  // accumulated for its output and whether that buffer is our own (safe to add into in place).
  // Nothing is written into the nodes but their release, so backward calls on several threads
  // may share nodes as long as neither releases them (retain_graph).
  class GraphTask {
    struct Slot {
      Tensor<T> grad;
      bool owned = false;
      bool preactivation = false;  // grad is the node's pre-activation's (pass_as_preactivation)
      // A handle on the node (an edge that sent it its gradient, or the output's), for
      // detail::running_node; stable while the pass runs, as the graph is.
      const std::shared_ptr<Node<T>>* handle = nullptr;
    };

   public:
    GraphTask(const std::shared_ptr<Node<T>>& head, Tensor<T> upstream) {
      walk_.nodes = std::move(spare_order());
      walk_.nodes.clear();
      detail::walk_graph(head.get(), walk_, [](const Node<T>& n) {
        if (n.released())
          throw GraphError(std::string("backward: ") + n.name() + " (output " +
                           n.output_shape().str() +
                           ") belongs to a graph already released by an earlier backward; pass "
                           "retain_graph = true to the first backward to run backward twice");
      });
      // A training step's graph fits the inline slots: no allocation per call for them.
      if (walk_.nodes.size() > kInline) {
        heap_.resize(walk_.nodes.size());
        slots_ = heap_.data();
      }
      Slot& head_slot = slots_[walk_.nodes.size() - 1];  // the head is finished last
      head_slot.grad = std::move(upstream);
      head_slot.handle = &head;
    }

    ~GraphTask() {
      if (walk_.nodes.capacity() <= kSpareCapacity) spare_order() = std::move(walk_.nodes);
    }
    GraphTask(const GraphTask&) = delete;
    GraphTask& operator=(const GraphTask&) = delete;

    void run(bool release) {
      // A backward run from inside an adjoint has its own nodes, then gives the outer pass back.
      struct Running {
        const void* outer;
        bool outer_releasing;
        ~Running() {
          t_running_nodes = outer;
          t_releasing = outer_releasing;
        }
      } running{std::exchange(t_running_nodes, &walk_.nodes), std::exchange(t_releasing, release)};
      for (std::size_t k = walk_.nodes.size(); k-- > 0;) step(*walk_.nodes[k], slots_[k], release);
    }

   private:
    void step(Node<T>& node, Slot& slot, bool release) {
      if (slot.grad.defined()) {
        Grads<T> grads;
        std::size_t through = kNoPassThrough;
        bool into_producer = false;
        {
          // Dropped after the call: a gradient written into the upstream's buffer (see
          // detail::last_use) then goes on unshared, for the next node or a leaf to take over.
          const Tensor<T> g = std::move(slot.grad);
          ForgetSpareUpstream forget;
          t_preactivation_upstream = slot.preactivation;
          // An adjoint may run a backward of its own: the outer node's handle comes back after.
          struct RunningNode {
            const void* outer;
            ~RunningNode() { t_running_node = outer; }
          } running{std::exchange(t_running_node, slot.handle)};
          node.backward(g, grads);
          through = t_pass_through;
          into_producer = t_pass_into_producer;
        }
        for (std::size_t i = 0; i < node.num_inputs(); ++i) {
          // A gradient sent past its producer goes where the producer's own would have gone; one
          // sent as the producer's pre-activation's goes to the producer, marked so.
          const bool past = i == through && !into_producer;
          const Edge<T>& edge = past ? node.edge(i).node->edge(0) : node.edge(i);
          if (!edge.needs_grad || !grads[i].defined()) continue;
          Tensor<T> gi = std::move(grads[i]);
          if (t_anomaly_mode) check_backward_finite(node, i, gi);
          if (gi.shape() != edge.shape) gi = sum_to(gi, edge.shape);
          if (edge.node) {
            Slot& into = slots_[walk_.index.find(edge.node.get())];
            accumulate_node(into, std::move(gi));
            into.handle = &edge.node;
            // The producer's sole consumer: no other gradient joins this one.
            if (i == through && into_producer) into.preactivation = true;
          } else if (const std::shared_ptr<TensorImpl<T>> leaf = edge.leaf.lock())
            accumulate_leaf(*leaf, std::move(gi));
        }
      }
      if (release) node.release();
    }

    static void accumulate_node(Slot& into, Tensor<T> g) {
      if (!into.grad.defined()) {
        into.grad = std::move(g);
        into.owned = false;
      } else if (into.owned && !grad_enabled()) {
        add_in_place(into.grad, g);
      } else {
        into.grad = add(into.grad, g);
        into.owned = !grad_enabled();
      }
    }

    // The order vector of this thread's last backward, kept for its next one, so that a training
    // loop's backward allocates nothing for it. A backward run from inside another (an adjoint
    // that calls backward) finds it taken and makes its own.
    static std::vector<Node<T>*>& spare_order() {
      // Initial-exec (as the thread-locals above): no __tls_get_addr call per backward.
      __attribute__((tls_model("initial-exec"))) static thread_local std::vector<Node<T>*> spare;
      return spare;
    }
    static constexpr std::size_t kSpareCapacity = 4096;
    static constexpr std::size_t kInline = 16;
    detail::GraphWalk<Node<T>> walk_;
    Slot inline_[kInline];
    std::vector<Slot> heap_;
    Slot* slots_ = inline_;
  };
};

namespace detail {

template <class T> const Node<T>* sole_producer(const Node<T>& consumer, std::size_t input) {
  const Node<T>* producer = consumer.edge(input).node.get();
  if (!producer || grad_enabled() || !t_running_nodes) return nullptr;
  std::size_t edges_in = 0;
  for (const Node<T>* n : *static_cast<const std::vector<Node<T>*>*>(t_running_nodes))
    for (std::size_t i = 0; i < n->num_inputs(); ++i) edges_in += n->edge(i).node.get() == producer;
  return edges_in == 1 ? producer : nullptr;
}

void pass_through(std::size_t input) {
  t_pass_through = input;
  t_pass_into_producer = false;
}

void pass_as_preactivation(std::size_t input) {
  t_pass_through = input;
  t_pass_into_producer = true;
}

bool upstream_is_preactivation() {
  return t_preactivation_upstream;
}

template <class T> std::shared_ptr<Node<T>> running_node(const Node<T>& node) {
  const auto* handle = static_cast<const std::shared_ptr<Node<T>>*>(t_running_node);
  if (!handle || handle->get() != &node)
    throw GraphError(std::string(node.name()) +
                     ": a saved output was unpacked outside its node's adjoint");
  return *handle;
}

template std::shared_ptr<Node<float>> running_node(const Node<float>&);
template std::shared_ptr<Node<double>> running_node(const Node<double>&);

bool saved_released_after() {
  return t_releasing && t_running_nodes;
}

template const Node<float>* sole_producer(const Node<float>&, std::size_t);
template const Node<double>* sole_producer(const Node<double>&, std::size_t);

}  // namespace detail

template <class T> void Tensor<T>::backward(BackwardOptions options) const {
  Engine<T>::run(*this, Tensor<T>(), options);
}

template <class T>
void Tensor<T>::backward(const Tensor<T>& upstream, BackwardOptions options) const {
  if (!upstream.defined()) throw GraphError("backward: the upstream gradient is undefined");
  Engine<T>::run(*this, upstream, options);
}

template void Tensor<float>::backward(BackwardOptions) const;
template void Tensor<double>::backward(BackwardOptions) const;
template void Tensor<float>::backward(const Tensor<float>&, BackwardOptions) const;
template void Tensor<double>::backward(const Tensor<double>&, BackwardOptions) const;

}  // namespace tg
