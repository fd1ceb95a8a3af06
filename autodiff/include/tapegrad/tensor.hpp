// The tensor handle: a shared reference to a dense row-major buffer of float or double with a
// shape, whether it requires a gradient, its gradient, and the graph node that produced it.
//
// The data lives in a plain buffer rather than an xt::xarray: a dynamic-rank xarray costs 2-3x on
// tiny tensors and 240 bytes per handle (see shared/xtensor-notes.md). `tapegrad/xtensor.hpp`
// converts to and from xtensor and adapts the buffer as an xtensor expression without a copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "tapegrad/errors.hpp"
#include "tapegrad/shape.hpp"

namespace tg {

template <class T>
class Node;
template <class T>
class Tensor;

template <class T>
struct TensorImpl {
  TensorImpl() = default;
  // Constructing from a shape skips zeroing the whole object (a measurable cost per op).
  explicit TensorImpl(const Shape& s) : shape(s), numel(s.numel()) {}

  std::shared_ptr<T[]> storage;  // shared by detach() and saved outputs
  T* data = nullptr;
  Shape shape;
  std::size_t numel = 0;
  bool requires_grad = false;
  std::shared_ptr<Node<T>> grad_fn;     // null for leaves and constants
  std::shared_ptr<TensorImpl<T>> grad;  // accumulated by backward (leaves only)
};

// Whether ops record onto the graph on this thread. Off inside a NoGradGuard and during a
// plain backward pass; on during backward with create_graph.
bool grad_enabled();
void set_grad_enabled(bool enabled);

// Records nothing while alive (per thread), like torch.no_grad().
class NoGradGuard {
 public:
  NoGradGuard() : previous_(grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

struct BackwardOptions {
  bool retain_graph = false;  // keep saved tensors so that backward can run again
  bool create_graph = false;  // record the backward pass itself (gradients become differentiable)
};

// Live engine objects in this process, for tests and benchmarks that show memory stays flat.
struct MemoryStats {
  std::int64_t live_nodes = 0;
  std::int64_t live_buffers = 0;
  std::int64_t live_buffer_bytes = 0;
  // Freed buffers of 64 KiB and up kept for reuse (exact-size free lists, per thread), so that a
  // training loop's big buffers are not returned to the OS and faulted in again every step.
  std::int64_t cached_buffer_bytes = 0;
};
MemoryStats memory_stats();
// Frees this thread's cached buffers; returns the bytes freed.
std::size_t release_buffer_cache();
// The most each thread keeps cached (default 1 GiB); 0 disables the cache.
void set_buffer_cache_limit(std::size_t bytes);

// The size of the graph that produced a tensor: the nodes reachable from it and the bytes of the
// tensors those nodes keep for their adjoints.
struct GraphStats {
  std::size_t nodes = 0;
  std::size_t saved_bytes = 0;
};

template <class T>
class Tensor {
 public:
  using value_type = T;

  Tensor() = default;  // undefined handle; defined() is false
  explicit Tensor(std::shared_ptr<TensorImpl<T>> impl) : impl_(std::move(impl)) {}

  // Factories. Values are copied; `requires_grad` marks a leaf whose gradient backward fills.
  static Tensor empty(const Shape& shape);  // uninitialized
  static Tensor zeros(const Shape& shape, bool requires_grad = false);
  static Tensor ones(const Shape& shape, bool requires_grad = false);
  static Tensor full(const Shape& shape, T value, bool requires_grad = false);
  static Tensor scalar(T value, bool requires_grad = false);  // 0-d
  static Tensor from_vector(const Shape& shape, const std::vector<T>& values,
                            bool requires_grad = false);
  static Tensor vector(std::initializer_list<T> values, bool requires_grad = false);  // [n]
  static Tensor matrix(std::initializer_list<std::initializer_list<T>> rows,
                       bool requires_grad = false);  // [n, m]; ragged rows throw ShapeError
  // Uniform in [low, high) / normal(mean, stddev), drawn from the caller's generator.
  static Tensor uniform(const Shape& shape, T low, T high, std::mt19937_64& rng,
                        bool requires_grad = false);
  static Tensor normal(const Shape& shape, T mean, T stddev, std::mt19937_64& rng,
                       bool requires_grad = false);

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl_->shape; }
  std::size_t ndim() const { return impl_->shape.rank(); }
  std::size_t size() const { return impl_->numel; }
  std::size_t dim(std::size_t axis) const { return impl_->shape[axis]; }

  T* data() { return impl_->data; }
  const T* data() const { return impl_->data; }
  std::vector<T> to_vector() const { return std::vector<T>(data(), data() + size()); }
  // The single value of a tensor with one element (a 0-d loss, a [1,1] matrix).
  T item() const;
  // Element by multi-index, bounds-checked (throws IndexError).
  T at(std::initializer_list<std::size_t> index) const;

  bool requires_grad() const { return impl_->requires_grad; }
  // Marks a leaf as requiring a gradient. Throws GraphError on a non-leaf.
  Tensor& set_requires_grad(bool enabled = true);
  bool is_leaf() const { return impl_->grad_fn == nullptr; }
  // The name of the op that produced this tensor, or "leaf".
  const char* op_name() const;

  // The accumulated gradient. For a tensor that requires a gradient but got none (no path from
  // the output), all zeros of its shape. Undefined for a tensor that does not require one.
  Tensor grad() const;
  // Whether backward has accumulated a gradient since the last zero_grad (grad() cannot tell an
  // absent gradient from a zero one).
  bool has_grad() const { return impl_->grad != nullptr; }
  void zero_grad() { impl_->grad.reset(); }

  // Reverse-mode pass from this tensor. Without an upstream gradient the tensor must have one
  // element (seeded with 1); otherwise `upstream` must have this tensor's shape. Gradients
  // accumulate into every leaf that requires one. The graph is released afterwards unless
  // options.retain_graph (or create_graph) is set.
  void backward(BackwardOptions options = {}) const;
  void backward(const Tensor& upstream, BackwardOptions options = {}) const;

  // A new handle on the same data, outside any graph (shares the buffer, no copy).
  Tensor detach() const;
  // A deep copy of the data, outside any graph.
  Tensor clone() const;

  GraphStats graph_stats() const;

  const std::shared_ptr<TensorImpl<T>>& impl() const { return impl_; }

 private:
  std::shared_ptr<TensorImpl<T>> impl_;
};

using TensorF = Tensor<float>;
using TensorD = Tensor<double>;

// Allocates the impl and an uninitialized buffer of shape.numel() elements. Throws ShapeError
// naming `who` (the op or factory) when the shape is too large for any buffer
// (Shape::checked_bytes), before anything is allocated.
template <class T>
std::shared_ptr<TensorImpl<T>> make_impl(const Shape& shape, const char* who = "tensor");

// "[2,3]" style description used by error messages: "A[2,3]".
template <class T>
std::string describe(const char* name, const Tensor<T>& t) {
  return std::string(name) + t.shape().str();
}

}  // namespace tg
