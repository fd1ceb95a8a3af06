// The tensor handle: a shared reference to a dense row-major buffer of float or double with a
// shape, whether it requires a gradient, its gradient, and the graph node that produced it.
//
// The data lives in a plain buffer rather than an xt::xarray: a dynamic-rank xarray costs 2-3x on
// tiny tensors and 240 bytes per handle (docs/design-notes.md). `tapegrad/xtensor.hpp`
// converts to and from xtensor and adapts the buffer as an xtensor expression without a copy.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <random>
#include <string>
#include <vector>
#if __has_include(<sys/single_threaded.h>)
#include <sys/single_threaded.h>
#endif

#include "tapegrad/errors.hpp"
#include "tapegrad/shape.hpp"

namespace tg {

template <class T> class Node;
template <class T> class Tensor;

namespace detail {

// Throws GraphError: `what` (an accessor) was called on an undefined handle. Out of line and
// cold, so that the check costs an accessor one predictable branch.
[[noreturn]] void throw_undefined(const char* what);
// Throws AxisError: `axis` is past the last axis of `shape`.
[[noreturn]] void throw_axis(const char* what, std::size_t axis, const Shape& shape);

// Whether this process is known to run one thread (glibc's __libc_single_threaded; false where
// the C library does not say).
inline bool process_single_threaded() noexcept {
#if __has_include(<sys/single_threaded.h>)
  return __libc_single_threaded != 0;
#else
  return false;
#endif
}

// Guards one leaf's gradient: taken only where the gradient handle is read or replaced (leaf
// accumulation in backward, grad(), has_grad(), zero_grad()), never on the forward path. Threads
// that run backward at once on their own graphs over the same parameters meet here. One byte;
// contention is short (an add of two gradients), so it spins and then yields.
//
// In a process with one thread (process_single_threaded(), the test libstdc++ makes before each
// reference count's atomic operation) a plain store takes it: nobody can hold it or watch,
// and a thread started later sees the store (thread creation orders it). A training step takes
// three of these locks per parameter.
class GradLock {
 public:
  void lock() noexcept {
    if (process_single_threaded() && !busy_.load(std::memory_order_relaxed)) {
      busy_.store(true, std::memory_order_relaxed);
      return;
    }
    while (busy_.exchange(true, std::memory_order_acquire)) wait();
  }
  void unlock() noexcept { busy_.store(false, std::memory_order_release); }

 private:
  void wait() noexcept;
  std::atomic<bool> busy_{false};
};

// Small blocks (tensor handles, graph nodes) from the per-thread cache that also keeps freed
// tensor buffers: a training step allocates the same few sizes every step, more of each than
// malloc's own per-thread cache holds (7 per size), and its overflow path costs several times a
// free-list pop.
void* allocate_small(std::size_t bytes);
void deallocate_small(void* p, std::size_t bytes) noexcept;

template <class U> struct SmallAllocator {
  using value_type = U;
  SmallAllocator() = default;
  template <class V> SmallAllocator(const SmallAllocator<V>&) {}
  U* allocate(std::size_t n) { return static_cast<U*>(allocate_small(n * sizeof(U))); }
  void deallocate(U* p, std::size_t n) noexcept { deallocate_small(p, n * sizeof(U)); }
  template <class V> bool operator==(const SmallAllocator<V>&) const { return true; }
};

}  // namespace detail

// How many times the data of a storage was (possibly) written: advanced by every mutable access
// (the non-const data()) and every in-place update the library makes, and checked by the graph
// when a tensor saved for an adjoint is unpacked. It lives in the storage's own allocation, just
// before the data, so that every handle on the storage (detach(), saved tensors) shares it at no
// extra allocation; clone() makes a new storage, with a version of its own.
using Version = std::atomic<std::uint64_t>;

template <class T> struct TensorImpl {
  TensorImpl() = default;
  // Constructing from a shape skips zeroing the whole object (a measurable cost per op).
  explicit TensorImpl(const Shape& s) : shape(s), numel(s.numel()) {}
  // make_impl has counted the elements already (checking the shape's size).
  TensorImpl(const Shape& s, std::size_t n) : shape(s), numel(n) {}

  std::shared_ptr<T[]> storage;  // shared by detach() and saved tensors
  T* data = nullptr;
  Version* version = nullptr;  // in storage's allocation
  Shape shape;
  std::size_t numel = 0;
  bool requires_grad = false;
  detail::GradLock grad_lock;           // guards `grad`
  std::shared_ptr<Node<T>> grad_fn;     // null for leaves and constants
  std::shared_ptr<TensorImpl<T>> grad;  // accumulated by backward (leaves only)
};

// Whether ops record onto the graph on this thread. Off inside a NoGradGuard and during a
// plain backward pass; on during backward with create_graph.
namespace detail {
// The flag itself, so that every op reads it inline: a thread-local of the autodiff library with
// the initial-exec model (a plain %fs-relative load, no call; the library is linked at start-up).
__attribute__((tls_model("initial-exec"))) extern thread_local constinit bool t_grad_enabled;
}  // namespace detail
inline bool grad_enabled() {
  return detail::t_grad_enabled;
}
void set_grad_enabled(bool enabled);

// Sets grad mode for this thread while alive and restores the previous mode (also on an
// exception): the one scope guard behind NoGradGuard, EnableGradGuard and backward's own mode.
class GradModeGuard {
 public:
  explicit GradModeGuard(bool enabled) : previous_(grad_enabled()) { set_grad_enabled(enabled); }
  ~GradModeGuard() { set_grad_enabled(previous_); }
  GradModeGuard(const GradModeGuard&) = delete;
  GradModeGuard& operator=(const GradModeGuard&) = delete;

 private:
  bool previous_;
};

// Records nothing while alive (per thread), like torch.no_grad().
class NoGradGuard : public GradModeGuard {
 public:
  NoGradGuard() : GradModeGuard(false) {}
};

// Records while alive, even inside a NoGradGuard (per thread), like torch.enable_grad(): for a
// function that takes gradients itself (a gradient penalty) and is evaluated by gradcheck, whose
// differences run under NoGradGuard.
class EnableGradGuard : public GradModeGuard {
 public:
  EnableGradGuard() : GradModeGuard(true) {}
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
  // Freed blocks kept for reuse, per thread: buffers of 64 KiB and up in exact-size lists, so that
  // a training loop's big buffers are not returned to the OS and faulted in again every step, and
  // smaller buffers, tensor handles and graph nodes in size classes of 64 bytes (at most 256 KiB
  // per class), so that a small graph's step rarely reaches malloc.
  std::int64_t cached_buffer_bytes = 0;
};
MemoryStats memory_stats();
// Frees this thread's cached blocks; returns the bytes freed.
std::size_t release_buffer_cache();
// The most each thread keeps cached (default 1 GiB); 0 disables the cache.
void set_buffer_cache_limit(std::size_t bytes);

// How a large product with a narrow result (C[m,n] of at most 64 columns, m at least 4n, 4M
// multiply-adds or more: a layer of few units over many rows, or such a layer's weight gradient)
// is asked of BLAS. `tune` (the default) times, once per shape, BLAS thread count and process, the
// direct call against the transposed one (C^T = op(B)^T op(A)^T through a scratch buffer, then
// transposed), and keeps the transposed call where it is clearly faster and gives the direct
// call's bits (the results are the same either way; only the time differs). At more than one BLAS
// thread (OpenBLAS's OpenMP build), it splits the product itself, one block of C's rows per thread
// and one BLAS thread per block, where the blocks give one thread's bits: faster than OpenBLAS's
// own split of a narrow product, and the values of one thread. `direct` always asks as given: no
// timing on first use. `transposed` always takes the transposed call, and `split_transposed` the
// split with transposed blocks at more than one thread (at one, the transposed call; values then
// equal to rounding: for tests and measurements).
enum class NarrowGemm { tune, direct, transposed, split_transposed };
void set_narrow_gemm(NarrowGemm mode);

// The size of the graph that produced a tensor: the nodes reachable from it and the bytes of the
// tensors those nodes keep for their adjoints.
struct GraphStats {
  std::size_t nodes = 0;
  std::size_t saved_bytes = 0;
};

template <class T> class Tensor {
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
  // Inverted dropout's mask: each element 0 with probability p, else 1/(1-p) (all 0 for p = 1),
  // two elements per draw of rng (each from 32 of its bits). DomainError for p outside [0, 1].
  static Tensor dropout_mask(const Shape& shape, double p, std::mt19937_64& rng);

  // Every accessor below but defined() throws GraphError on an undefined handle.
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return checked("shape").shape; }
  std::size_t ndim() const { return checked("ndim").shape.rank(); }
  std::size_t size() const { return checked("size").numel; }
  // The extent of `axis`; AxisError when axis >= ndim().
  std::size_t dim(std::size_t axis) const {
    const Shape& s = checked("dim").shape;
    if (axis >= s.rank()) [[unlikely]]
      detail::throw_axis("dim", axis, s);
    return s[axis];
  }

  // Mutable access: advances the version of the storage, so that a graph that saved this tensor
  // (or another handle on its storage) for its adjoint refuses to run backward on changed data.
  // Read through a const handle (std::as_const(t).data(), item(), at(), to_vector()) when only
  // reading: that never invalidates a graph.
  T* data() {
    TensorImpl<T>& impl = checked("data");
    Version& v = *impl.version;
    // Not a locked read-modify-write: writers of one tensor on several threads at once race on
    // its data anyway, and this runs for every op's fresh output.
    v.store(v.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    return impl.data;
  }
  const T* data() const { return checked("data").data; }
  std::vector<T> to_vector() const {
    const T* p = data();
    return std::vector<T>(p, p + impl_->numel);
  }
  // The version of this tensor's storage (see Version).
  std::uint64_t version() const {
    return checked("version").version->load(std::memory_order_relaxed);
  }
  // The single value of a tensor with one element (a 0-d loss, a [1,1] matrix).
  T item() const;
  // Element by multi-index, bounds-checked (throws IndexError).
  T at(std::initializer_list<std::size_t> index) const;

  bool requires_grad() const { return checked("requires_grad").requires_grad; }
  // Marks a leaf as requiring a gradient. Throws GraphError on a non-leaf.
  Tensor& set_requires_grad(bool enabled = true);
  bool is_leaf() const { return checked("is_leaf").grad_fn == nullptr; }
  // The name of the op that produced this tensor, or "leaf".
  const char* op_name() const;

  // The accumulated gradient. For a tensor that requires a gradient but got none (no path from
  // the output), all zeros of its shape. GraphError for a tensor that does not require one (it
  // must be created with requires_grad = true, or marked with set_requires_grad(), before the
  // graph is built).
  Tensor grad() const;
  // Whether backward has accumulated a gradient since the last zero_grad (grad() cannot tell an
  // absent gradient from a zero one).
  bool has_grad() const;
  void zero_grad();
  // Removes the accumulated gradient and returns it (undefined when there is none), and puts one
  // back (an undefined one clears it; ShapeError for another shape): how tg::grad and the
  // gradient checker set a leaf's gradient aside and restore it. Safe against a concurrent
  // backward accumulating into the same leaf.
  Tensor take_grad();
  void set_grad(const Tensor& gradient);

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

  const std::shared_ptr<TensorImpl<T>>& impl() const& { return impl_; }
  // From a handle about to go: its impl moves out, with no reference count taken and dropped.
  std::shared_ptr<TensorImpl<T>> impl() && { return std::move(impl_); }

 private:
  TensorImpl<T>& checked(const char* what) const {
    if (!impl_) [[unlikely]]
      detail::throw_undefined(what);
    return *impl_;
  }

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
template <class T> std::string describe(const char* name, const Tensor<T>& t) {
  return std::string(name) + t.shape().str();
}

}  // namespace tg
