#include "tapegrad/tensor.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#include "kernels.hpp"
#include "tapegrad/node.hpp"

namespace tg {

namespace {

// Initial-exec TLS: a plain %fs-relative load instead of a __tls_get_addr call per op. Safe for
// a library linked at start-up (and for dlopen while static TLS space remains, a few bytes here).
#define TG_FAST_TLS __attribute__((tls_model("initial-exec")))

// Live-object counters, one block per thread. Every op bumps them, so they must cost no more
// than a plain add: only the owning thread writes its block (relaxed load + store, no locked
// read-modify-write), and memory_stats() sums all blocks. A buffer freed on another thread than
// the one that allocated it is counted down there; the sum is still right. A block outlives its
// thread: it goes back to a pool for the next thread, so counts are never lost.
struct Counters {
  std::atomic<std::int64_t> nodes{0}, buffers{0}, bytes{0}, cached{0};
};

struct CounterRegistry {
  std::mutex mutex;
  std::vector<Counters*> all;   // every block ever handed out (never freed)
  std::vector<Counters*> pool;  // blocks of threads that have exited
};

CounterRegistry& counter_registry() {
  static CounterRegistry* registry =
      new CounterRegistry;  // never destroyed: threads may outlive main
  return *registry;
}

TG_FAST_TLS thread_local Counters* t_counters = nullptr;

struct CounterRecycler {
  ~CounterRecycler() {
    if (!t_counters) return;
    CounterRegistry& r = counter_registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    r.pool.push_back(t_counters);
    t_counters = nullptr;
  }
};
thread_local CounterRecycler t_recycler;

[[gnu::noinline]] Counters& first_counters() {
  CounterRegistry& r = counter_registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  if (!r.pool.empty()) {
    t_counters = r.pool.back();
    r.pool.pop_back();
  } else {
    t_counters = new Counters;
    r.all.push_back(t_counters);
  }
  (void)&t_recycler;  // constructs this thread's recycler
  return *t_counters;
}

inline Counters& counters() {
  return t_counters ? *t_counters : first_counters();
}

void bump(std::atomic<std::int64_t>& counter, std::int64_t delta) {
  counter.store(counter.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
}

// Freed blocks are kept for reuse instead of going back to malloc, per thread.
//
// Large tensor buffers (64 KiB and up): malloc returns blocks of about 1 MB and up to the OS, so
// that the next training step faults every page in again (about 2.4 ms per MiB on this VM, more
// than the GEMM that fills it: docs/design-notes.md, "Memory"). A training loop allocates the
// same sizes every step, so exact-size free lists serve every step after the first.
//
// Small blocks (tensor buffers, handles and graph nodes below 64 KiB): malloc's own per-thread
// cache keeps 7 blocks per size, and a small graph's step frees dozens of one size, so most frees
// took malloc's slow path. Size classes of 64 bytes with intrusive free lists, each class capped
// at 256 KiB, make a step's allocations a pop and its frees a push.
constexpr std::size_t kCacheMinBytes = 64 * 1024;
constexpr std::size_t kClassBytes = 64;
constexpr std::size_t kSmallClasses = kCacheMinBytes / kClassBytes;
constexpr std::size_t kClassCapBytes = 256 * 1024;
std::atomic<std::size_t> g_cache_limit{std::size_t(1) << 30};  // per thread

// Class c holds blocks of (c + 1) * kClassBytes bytes.
std::size_t small_class(std::size_t bytes) {
  return bytes ? (bytes - 1) / kClassBytes : 0;
}
std::size_t class_bytes(std::size_t c) {
  return (c + 1) * kClassBytes;
}

struct BufferCache {
  // The cache's total is its thread's Counters::cached itself (only this thread writes it), so
  // that a take or a give updates one count, not the cache's and then the thread's.
  explicit BufferCache(std::atomic<std::int64_t>& total) : bytes(total) {}

  struct FreeBlock {
    FreeBlock* next;
  };
  struct SmallList {
    FreeBlock* head = nullptr;
    std::size_t bytes = 0;
  };
  SmallList small[kSmallClasses] = {};
  std::vector<std::pair<std::size_t, std::vector<void*>>> lists;  // few distinct sizes: linear
  std::atomic<std::int64_t>& bytes;

  std::size_t total() const { return std::size_t(bytes.load(std::memory_order_relaxed)); }
  void add(std::int64_t delta) { bump(bytes, delta); }

  void* take_small(std::size_t c) {
    SmallList& l = small[c];
    FreeBlock* b = l.head;
    if (!b) return nullptr;
    l.head = b->next;
    l.bytes -= class_bytes(c);
    add(-std::int64_t(class_bytes(c)));
    return b;
  }
  bool put_small(void* p, std::size_t c) {
    SmallList& l = small[c];
    const std::size_t size = class_bytes(c);
    if (l.bytes + size > kClassCapBytes ||
        total() + size > g_cache_limit.load(std::memory_order_relaxed))
      return false;
    l.head = ::new (p) FreeBlock{l.head};
    l.bytes += size;
    add(std::int64_t(size));
    return true;
  }
  std::vector<void*>* list(std::size_t n) {
    for (auto& [size, blocks] : lists)
      if (size == n) return &blocks;
    return nullptr;
  }
  void* take(std::size_t n) {
    std::vector<void*>* blocks = list(n);
    if (!blocks || blocks->empty()) return nullptr;
    void* p = blocks->back();
    blocks->pop_back();
    add(-std::int64_t(n));
    return p;
  }
  bool put(void* p, std::size_t n) {
    if (total() + n > g_cache_limit.load(std::memory_order_relaxed)) return false;
    std::vector<void*>* blocks = list(n);
    if (!blocks) blocks = &lists.emplace_back(n, std::vector<void*>()).second;
    blocks->push_back(p);
    add(std::int64_t(n));
    return true;
  }
  std::size_t clear() {
    const std::size_t freed = total();
    for (std::size_t c = 0; c < kSmallClasses; ++c) {
      for (FreeBlock* b = small[c].head; b;) {
        FreeBlock* next = b->next;
        ::operator delete(static_cast<void*>(b), class_bytes(c));
        b = next;
      }
      small[c] = {};
    }
    for (auto& [size, blocks] : lists)
      for (void* p : blocks) ::operator delete(p, size);
    lists.clear();
    add(-std::int64_t(freed));
    return freed;
  }
};

TG_FAST_TLS thread_local BufferCache* t_cache = nullptr;
TG_FAST_TLS thread_local bool t_cache_closed = false;  // this thread's cache is gone (exiting)

struct CacheRecycler {
  ~CacheRecycler() {
    if (!t_cache) return;
    BufferCache* cache = t_cache;
    t_cache = nullptr;
    t_cache_closed = true;  // a block freed later on this thread goes straight to the allocator
    cache->clear();
    delete cache;
  }
};
thread_local CacheRecycler t_cache_recycler;

[[gnu::noinline]] BufferCache* first_buffer_cache() {
  if (t_cache_closed) return nullptr;
  // The thread's counters first: their recycler, constructed first, runs after the cache's, so
  // that the cache (which counts into them) is emptied before they go back to the pool.
  Counters& counts = counters();
  t_cache = new BufferCache(counts.cached);
  (void)&t_cache_recycler;
  return t_cache;
}

inline BufferCache* buffer_cache() {
  return t_cache ? t_cache : first_buffer_cache();
}

// Both inlined into their callers (tensor buffers, and handles and nodes): a small graph's step
// makes about a hundred of these calls, and calling through cost about a sixth of each.
[[gnu::always_inline]] inline void* take_block(std::size_t bytes) {
  BufferCache* cache = buffer_cache();
  if (bytes < kCacheMinBytes) {
    const std::size_t c = small_class(bytes);
    if (cache)
      if (void* p = cache->take_small(c)) return p;
    return ::operator new(class_bytes(c));
  }
  if (cache)
    if (void* p = cache->take(bytes)) return p;
  return ::operator new(bytes);
}

[[gnu::always_inline]] inline void give_block(void* p, std::size_t bytes) noexcept {
  BufferCache* cache = buffer_cache();
  if (bytes < kCacheMinBytes) {
    const std::size_t c = small_class(bytes);
    if (!cache || !cache->put_small(p, c)) ::operator delete(p, class_bytes(c));
    return;
  }
  if (!cache || !cache->put(p, bytes)) ::operator delete(p, bytes);
}

void* allocate_buffer(std::size_t bytes) {
  Counters& c = counters();
  bump(c.buffers, 1);
  bump(c.bytes, std::int64_t(bytes));
  return take_block(bytes);
}

void deallocate_buffer(void* p, std::size_t bytes) {
  Counters& c = counters();
  bump(c.buffers, -1);
  bump(c.bytes, -std::int64_t(bytes));
  give_block(p, bytes);
}

// Every tensor buffer (with its shared control block) goes through here: counted, so that tests
// and benchmarks can show memory staying flat without reading the process's RSS, and cached.
template <class U> struct CountingAllocator {
  static_assert(alignof(U) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__);
  using value_type = U;
  CountingAllocator() = default;
  template <class V> CountingAllocator(const CountingAllocator<V>&) {}
  U* allocate(std::size_t n) { return static_cast<U*>(allocate_buffer(n * sizeof(U))); }
  void deallocate(U* p, std::size_t n) { deallocate_buffer(p, n * sizeof(U)); }
  template <class V> bool operator==(const CountingAllocator<V>&) const { return true; }
};

}  // namespace

namespace detail {
TG_FAST_TLS constinit thread_local bool t_grad_enabled = true;
}  // namespace detail

void set_grad_enabled(bool enabled) {
  detail::t_grad_enabled = enabled;
}

MemoryStats memory_stats() {
  MemoryStats stats;
  CounterRegistry& r = counter_registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  for (const Counters* c : r.all) {
    stats.live_nodes += c->nodes.load(std::memory_order_relaxed);
    stats.live_buffers += c->buffers.load(std::memory_order_relaxed);
    stats.live_buffer_bytes += c->bytes.load(std::memory_order_relaxed);
    stats.cached_buffer_bytes += c->cached.load(std::memory_order_relaxed);
  }
  return stats;
}

std::size_t release_buffer_cache() {
  if (!t_cache) return 0;
  return t_cache->clear();
}

void set_buffer_cache_limit(std::size_t bytes) {
  g_cache_limit.store(bytes, std::memory_order_relaxed);
}

namespace detail {

void* allocate_small(std::size_t bytes) {
  return take_block(bytes);
}
void deallocate_small(void* p, std::size_t bytes) noexcept {
  give_block(p, bytes);
}

void throw_undefined(const char* what) {
  throw GraphError(std::string(what) +
                   ": the tensor is undefined (it holds no data): a default-constructed or "
                   "moved-from handle that was never given a value; assign it a factory's result "
                   "(TensorD::zeros(shape), from_vector(...), ...) or an op's result first");
}

void throw_axis(const char* what, std::size_t axis, const Shape& shape) {
  throw AxisError(std::string(what) + ": axis " + std::to_string(axis) +
                  " out of range for shape " + shape.str() +
                  (shape.rank() ? " (valid: 0.." + std::to_string(shape.rank() - 1) + ")"
                                : " (a scalar has no axes)"));
}

void GradLock::wait() noexcept {
  while (busy_.load(std::memory_order_relaxed)) std::this_thread::yield();
}

}  // namespace detail

namespace {

// The storage's Version sits in a header in front of the data, in the same allocation (no
// allocation of its own); 16 bytes keep the data at the allocator's alignment.
constexpr std::size_t kHeaderBytes = 16;
static_assert(sizeof(Version) <= kHeaderBytes && alignof(Version) <= kHeaderBytes);

// A new impl on the same storage (and so the same version), outside any graph.
template <class T> std::shared_ptr<TensorImpl<T>> share_storage(const TensorImpl<T>& from) {
  auto impl = std::allocate_shared<TensorImpl<T>>(detail::SmallAllocator<TensorImpl<T>>());
  impl->storage = from.storage;
  impl->data = from.data;
  impl->version = from.version;
  impl->shape = from.shape;
  impl->numel = from.numel;
  return impl;
}

// Under a recording, the storage's memory comes from the recording (detail::capture_storage).
// Out of line and cold, so that eager mode's make_impl pays one load and a branch for it.
template <class T>
[[gnu::cold, gnu::noinline]] void capture_storage_into(TensorImpl<T>& impl,
                                                       detail::Capture* capture, const char* who) {
  // The header stays, unused, so that the block has eager mode's size (see capture_storage).
  constexpr std::size_t header = kHeaderBytes / sizeof(T);
  std::shared_ptr<T[]> block = detail::capture_storage<T>(
      capture, who, header + std::max<std::size_t>(impl.numel, 1), impl.version);
  impl.data = block.get() + header;
  impl.storage = std::shared_ptr<T[]>(std::move(block), impl.data);
}

// The element count of a buffer of `shape`, checked as Shape::checked_bytes checks it (a
// ShapeError naming `who`), with that loop of overflow checks taken only for a shape with
// extents so large that it could overflow: with every extent below 2^bits, the count (zeros
// counted as 1 as well) stays below 2^(bits * rank), which here is at most 2^56 elements.
inline std::size_t checked_numel(const Shape& shape, std::size_t element_size, const char* who) {
  std::size_t count = 1, all = 0;
  for (const std::size_t extent : shape) {
    count *= extent;
    all |= extent;
  }
  const std::size_t bits = 64 - std::size_t(__builtin_clzll(all | 1));
  if (bits * shape.rank() <= 56 && element_size <= 64) [[likely]]
    return count;
  return shape.checked_bytes(element_size, who) / element_size;
}

}  // namespace

template <class T> std::shared_ptr<TensorImpl<T>> make_impl(const Shape& shape, const char* who) {
  const std::size_t numel = checked_numel(shape, sizeof(T), who);
  auto impl =
      std::allocate_shared<TensorImpl<T>>(detail::SmallAllocator<TensorImpl<T>>(), shape, numel);
  if (detail::Capture* capture = detail::t_capture) [[unlikely]] {
    capture_storage_into(*impl, capture, who);
    return impl;
  }
  constexpr std::size_t header = kHeaderBytes / sizeof(T);
  std::shared_ptr<T[]> block = std::allocate_shared_for_overwrite<T[]>(
      CountingAllocator<T>(), header + std::max<std::size_t>(impl->numel, 1));
  impl->version = ::new (static_cast<void*>(block.get())) Version(0);
  impl->data = block.get() + header;
  impl->storage = std::shared_ptr<T[]>(std::move(block), impl->data);
  return impl;
}

// ---- Node ---------------------------------------------------------------------------------

template <class T> Node<T>::Node() {
  bump(counters().nodes, 1);
}

// Dropping the last reference to a long chain would otherwise destroy it recursively, one stack
// frame per node, and overflow the stack (micrograd PR #90, autodiff#314). Instead, the inputs
// this node owns alone are taken apart here, in a loop. (This node's own saved tensors are
// already gone: derived members are destroyed before the base.)
template <class T> Node<T>::~Node() {
  bump(counters().nodes, -1);
  // Most nodes of a graph being freed are taken apart by the loop below, run from the first of
  // them: their inputs are gone already, and they need no stack.
  bool owns_an_input = false;
  for (const auto& e : edges_) owns_an_input |= e.node && e.node.use_count() == 1;
  if (owns_an_input) [[unlikely]]
    free_owned_inputs();
}

template <class T> void Node<T>::free_owned_inputs() {
  // The nodes waiting to be taken apart: inline while few (a small graph's whole free), so that
  // freeing a graph allocates nothing itself.
  constexpr std::size_t kInline = 16;
  std::shared_ptr<Node<T>> inline_orphans[kInline];
  std::vector<std::shared_ptr<Node<T>>> heap_orphans;
  std::size_t count = 0;
  auto push = [&](std::shared_ptr<Node<T>>&& n) {
    if (count < kInline)
      inline_orphans[count] = std::move(n);
    else
      heap_orphans.push_back(std::move(n));
    ++count;
  };
  for (auto& e : edges_)
    if (e.node && e.node.use_count() == 1) push(std::move(e.node));
  while (count > 0) {
    --count;
    std::shared_ptr<Node<T>> n =
        std::move(count < kInline ? inline_orphans[count] : heap_orphans.back());
    if (count >= kInline) heap_orphans.pop_back();
    n->release_saved();  // a saved input holds its producer too; drop it before looking
    for (auto& e : n->edges_)
      if (e.node && e.node.use_count() == 1) push(std::move(e.node));
  }
}

template <class T> void SavedTensor<T>::save_input(const Tensor<T>& t) {
  const std::shared_ptr<TensorImpl<T>>& impl = t.impl();
  if (!impl) detail::throw_undefined("save_input");
  is_output_ = false;
  if (impl->requires_grad && !impl->grad_fn) {
    tensor_ = Tensor<T>();
    storage_ = impl->storage;
  } else {
    tensor_ = t;
    storage_.reset();
  }
  storage_version_ = impl->version;
  source_ = impl.get();
  numel_ = impl->numel;
  version_ = impl->version->load(std::memory_order_relaxed);
}

template <class T> void SavedTensor<T>::save_output(const Tensor<T>& t) {
  const std::shared_ptr<TensorImpl<T>>& impl = t.impl();
  if (!impl) detail::throw_undefined("save_output");
  tensor_ = Tensor<T>();
  storage_ = impl->storage;
  is_output_ = true;
  storage_version_ = impl->version;
  source_ = impl.get();
  numel_ = impl->numel;
  version_ = impl->version->load(std::memory_order_relaxed);
}

template <class T> const Edge<T>* SavedTensor<T>::edge_of(const Node<T>& owner) const {
  for (std::size_t i = 0; i < owner.num_inputs(); ++i)
    if (owner.edge(i).source == source_) return &owner.edge(i);
  return nullptr;
}

template <class T> void SavedTensor<T>::throw_released(const Node<T>& owner) {
  throw GraphError(std::string(owner.name()) +
                   ": its saved tensors were already released by an earlier backward; pass "
                   "retain_graph = true to the first backward to run backward twice");
}

template <class T> const T* SavedTensor<T>::data(const Node<T>& owner) const {
  check(owner);
  return storage_ ? storage_.get() : tensor_.impl()->data;
}

template <class T> Tensor<T> SavedTensor<T>::unpack(Node<T>& owner) const {
  check(owner);
  if (!storage_) return tensor_;
  const Edge<T>* edge = is_output_ ? nullptr : edge_of(owner);
  if (edge) {
    // The leaf itself: recording, the recorded gradient must depend on it.
    if (std::shared_ptr<TensorImpl<T>> leaf = edge->leaf.lock()) return Tensor<T>(std::move(leaf));
  }
  // The output's data, or a leaf's that nobody holds any more (so that nobody can ask for its
  // gradient: its data stands in as a constant).
  auto impl = std::allocate_shared<TensorImpl<T>>(detail::SmallAllocator<TensorImpl<T>>());
  impl->storage = storage_;
  impl->data = storage_.get();
  impl->version = storage_version_;
  impl->numel = numel_;
  if (is_output_) {
    impl->shape = owner.output_shape();
    // Recording the backward pass: the output must again be a function of this node's inputs.
    if (grad_enabled()) {
      impl->requires_grad = true;
      impl->grad_fn = detail::running_node(owner);
    }
  } else {
    impl->shape = edge ? edge->shape : Shape{numel_};
  }
  return Tensor<T>(std::move(impl));
}

template <class T>
void SavedTensor<T>::throw_modified(const Node<T>& owner, std::uint64_t now) const {
  std::string what = "its output";
  Shape shape = tensor_.defined() ? tensor_.shape()
                : is_output_      ? owner.output_shape()
                                  : Shape{numel_};
  if (!is_output_) {
    what = "a saved input";
    for (std::size_t i = 0; i < owner.num_inputs(); ++i)
      if (owner.edge(i).source == source_) {
        what = "input " + std::to_string(i);
        shape = owner.edge(i).shape;
        break;
      }
  }
  throw GraphError(std::string(owner.name()) + ": " + what + " " + shape.str() +
                   " saved for the gradient was modified in place after it was recorded (version " +
                   std::to_string(version_) + " when saved, now " + std::to_string(now) +
                   "); a write into it (through data(), or an optimizer step) between the forward "
                   "pass and backward changes what the gradient is computed from: write into a "
                   "clone() instead, or make the change after backward and build the graph again");
}

// ---- Tensor -------------------------------------------------------------------------------

// The factories fill their fresh buffers directly, not through data(): nobody else can see them
// yet, and a new tensor starts at version 0.
template <class T> Tensor<T> Tensor<T>::empty(const Shape& shape) {
  // Whoever asks for an uninitialized tensor fills it through data(), outside any kernel a
  // recording could capture: a replay would reuse the recorded values.
  if (detail::active_capture())
    throw ReplayError(
        "empty: an uninitialized tensor made while recording would be filled outside "
        "the library's kernels, which a replay does not repeat (a tensor filled through data())");
  return Tensor(make_impl<T>(shape, "empty"));
}

namespace {

// A fresh tensor of `value`s; a shape no buffer could hold is a ShapeError naming the factory.
template <class T>
Tensor<T> filled(const Shape& shape, T value, bool requires_grad, const char* who) {
  Tensor<T> t(make_impl<T>(shape, who));
  detail::launch_elementwise(
      t.impl()->numel,
      [o = t.impl()->data, value](std::size_t b, std::size_t e) { std::fill(o + b, o + e, value); },
      [&] {
        return detail::Access{{}, {detail::region(t.impl()->data, t.impl()->numel)}};
      });
  t.impl()->requires_grad = requires_grad;
  return t;
}

}  // namespace

template <class T> Tensor<T> Tensor<T>::full(const Shape& shape, T value, bool requires_grad) {
  return filled(shape, value, requires_grad, "full");
}

template <class T> Tensor<T> Tensor<T>::zeros(const Shape& shape, bool requires_grad) {
  return filled(shape, T(0), requires_grad, "zeros");
}

template <class T> Tensor<T> Tensor<T>::ones(const Shape& shape, bool requires_grad) {
  return filled(shape, T(1), requires_grad, "ones");
}

template <class T> Tensor<T> Tensor<T>::scalar(T value, bool requires_grad) {
  return filled(Shape{}, value, requires_grad, "scalar");
}

template <class T>
Tensor<T> Tensor<T>::from_vector(const Shape& shape, const std::vector<T>& values,
                                 bool requires_grad) {
  if (values.size() != shape.numel())
    throw ShapeError("from_vector: " + std::to_string(values.size()) + " values for shape " +
                     shape.str() + " (needs " + std::to_string(shape.numel()) + ")");
  Tensor t(make_impl<T>(shape, "from_vector"));
  if (detail::active_capture()) [[unlikely]]  // a recording rewrites these values every run
    detail::launch([o = t.impl_->data, values] { std::copy(values.begin(), values.end(), o); });
  else
    std::copy(values.begin(), values.end(), t.impl_->data);
  t.impl_->requires_grad = requires_grad;
  return t;
}

template <class T>
Tensor<T> Tensor<T>::vector(std::initializer_list<T> values, bool requires_grad) {
  return from_vector(Shape{values.size()}, std::vector<T>(values), requires_grad);
}

template <class T>
Tensor<T> Tensor<T>::matrix(std::initializer_list<std::initializer_list<T>> rows,
                            bool requires_grad) {
  const std::size_t n = rows.size();
  const std::size_t m = n ? rows.begin()->size() : 0;
  std::vector<T> values;
  values.reserve(n * m);
  std::size_t r = 0;
  for (const auto& row : rows) {
    if (row.size() != m)
      throw ShapeError("matrix: row " + std::to_string(r) + " has " + std::to_string(row.size()) +
                       " entries, row 0 has " + std::to_string(m));
    values.insert(values.end(), row.begin(), row.end());
    ++r;
  }
  return from_vector(Shape{n, m}, values, requires_grad);
}

namespace {

// A tensor of draws from `dist`, named `who` in a size error. Under a recording the kernel keeps
// a pointer to the caller's generator, so that every run draws anew from it, as eager mode would
// (the generator must outlive the recording), and starts from a copy of the pristine `dist`, since
// eager mode makes a fresh one per call (normal_distribution keeps the second of each pair drawn).
template <class T, class Distribution>
Tensor<T> random_tensor(const Shape& shape, const char* who, Distribution dist,
                        std::mt19937_64& rng, bool requires_grad) {
  if (detail::Capture* capture = detail::active_capture()) [[unlikely]]
    detail::capture_generator(capture, who, rng);
  Tensor<T> t(make_impl<T>(shape, who));
  detail::launch([o = t.impl()->data, n = t.impl()->numel, dist, generator = &rng] {
    Distribution draw = dist;
    for (std::size_t i = 0; i < n; ++i) o[i] = draw(*generator);
  });
  t.set_requires_grad(requires_grad);
  return t;
}

}  // namespace

template <class T>
Tensor<T> Tensor<T>::uniform(const Shape& shape, T low, T high, std::mt19937_64& rng,
                             bool requires_grad) {
  return random_tensor<T>(shape, "uniform", std::uniform_real_distribution<T>(low, high), rng,
                          requires_grad);
}

template <class T>
Tensor<T> Tensor<T>::normal(const Shape& shape, T mean, T stddev, std::mt19937_64& rng,
                            bool requires_grad) {
  return random_tensor<T>(shape, "normal", std::normal_distribution<T>(mean, stddev), rng,
                          requires_grad);
}

template <class T>
Tensor<T> Tensor<T>::dropout_mask(const Shape& shape, double p, std::mt19937_64& rng) {
  if (!(p >= 0 && p <= 1))
    throw DomainError("dropout_mask: probability p must be in [0, 1], got " + format_number(p));
  if (detail::Capture* capture = detail::active_capture()) [[unlikely]]
    detail::capture_generator(capture, "dropout_mask", rng);
  Tensor<T> mask(make_impl<T>(shape, "dropout_mask"));
  // torch gives zeros for p = 1 rather than 0 * inf.
  const T kept = p == 1 ? T(0) : T(1 / (1 - p));
  // Two decisions per 64-bit draw: an element is kept when its 32 bits are at least p * 2^32
  // (exact to 2^-32; p = 1 drops all). std::bernoulli_distribution's draw per element made the
  // mask cost a third of a training epoch (a [128,512] mask: 856 us, now 262 us).
  const std::uint64_t threshold = std::uint64_t(std::ldexp(p, 32));
  detail::launch(
      [m = mask.impl()->data, n = mask.impl()->numel, kept, threshold, generator = &rng] {
        for (std::size_t i = 0; i < n; i += 2) {
          const std::uint64_t bits = (*generator)();
          m[i] = (bits & 0xffffffffu) >= threshold ? kept : T(0);
          if (i + 1 < n) m[i + 1] = (bits >> 32) >= threshold ? kept : T(0);
        }
      });
  return mask;
}

template <class T> T Tensor<T>::item() const {
  if (size() != 1)
    throw ShapeError("item: needs a tensor with one element, got shape " + shape().str());
  return data()[0];
}

template <class T> T Tensor<T>::at(std::initializer_list<std::size_t> index) const {
  if (index.size() != ndim())
    throw IndexError("at: " + std::to_string(index.size()) + " indices for shape " + shape().str());
  std::size_t flat = 0, axis = 0;
  for (std::size_t i : index) {
    if (i >= shape()[axis])
      throw IndexError("at: index " + std::to_string(i) + " out of range for axis " +
                       std::to_string(axis) + " of shape " + shape().str());
    flat = flat * shape()[axis] + i;
    ++axis;
  }
  return data()[flat];
}

template <class T> Tensor<T>& Tensor<T>::set_requires_grad(bool enabled) {
  TensorImpl<T>& impl = checked("set_requires_grad");
  if (impl.grad_fn)
    throw GraphError("set_requires_grad: only leaves can be marked; this tensor " + shape().str() +
                     " was produced by " + op_name() + " (use detach())");
  impl.requires_grad = enabled;
  return *this;
}

template <class T> const char* Tensor<T>::op_name() const {
  const TensorImpl<T>& impl = checked("op_name");
  return impl.grad_fn ? impl.grad_fn->name() : "leaf";
}

template <class T> Tensor<T> Tensor<T>::grad() const {
  TensorImpl<T>& impl = checked("grad");
  {
    std::lock_guard<detail::GradLock> lock(impl.grad_lock);
    if (impl.grad) return Tensor(impl.grad);
  }
  if (!impl.requires_grad)
    throw GraphError("grad: this tensor " + impl.shape.str() +
                     " does not require a gradient, so backward gives it none; create it with "
                     "requires_grad = true (TensorD::vector({...}, true), zeros(shape, true), ...) "
                     "or call set_requires_grad() on it before building the graph");
  return zeros(impl.shape);
}

template <class T> bool Tensor<T>::has_grad() const {
  TensorImpl<T>& impl = checked("has_grad");
  std::lock_guard<detail::GradLock> lock(impl.grad_lock);
  return impl.grad != nullptr;
}

template <class T> void Tensor<T>::zero_grad() {
  TensorImpl<T>& impl = checked("zero_grad");
  std::shared_ptr<TensorImpl<T>> old;  // freed after unlocking (it may hold a recorded graph)
  std::lock_guard<detail::GradLock> lock(impl.grad_lock);
  old.swap(impl.grad);
}

template <class T> Tensor<T> Tensor<T>::take_grad() {
  TensorImpl<T>& impl = checked("take_grad");
  std::lock_guard<detail::GradLock> lock(impl.grad_lock);
  return Tensor(std::move(impl.grad));
}

template <class T> void Tensor<T>::set_grad(const Tensor& gradient) {
  TensorImpl<T>& impl = checked("set_grad");
  if (gradient.defined() && gradient.shape() != impl.shape)
    throw ShapeError("set_grad: gradient " + gradient.shape().str() +
                     " does not match the tensor " + impl.shape.str());
  std::shared_ptr<TensorImpl<T>> old;  // the replaced one is freed after unlocking
  std::lock_guard<detail::GradLock> lock(impl.grad_lock);
  // A replay sets its own buffer again on every run: no reference counting then, whose atomic
  // operations are most of the cost once the process has a second thread (a BLAS pool).
  if (impl.grad == gradient.impl_) return;
  old = gradient.impl_;
  old.swap(impl.grad);
}

template <class T> Tensor<T> Tensor<T>::detach() const {
  return Tensor(share_storage(checked("detach")));
}

template <class T> Tensor<T> Tensor<T>::clone() const {
  const TensorImpl<T>& impl = checked("clone");
  Tensor t(make_impl<T>(impl.shape, "clone"));
  detail::launch_elementwise(
      impl.numel,
      [from = impl.data, to = t.impl_->data](std::size_t b, std::size_t e) {
        std::copy(from + b, from + e, to + b);
      },
      [&] {
        return detail::Access{{detail::region(impl.data, impl.numel)},
                              {detail::region(t.impl_->data, impl.numel)}};
      });
  return t;
}

template <class T> GraphStats Tensor<T>::graph_stats() const {
  GraphStats stats;
  const TensorImpl<T>& impl = checked("graph_stats");
  if (!impl.grad_fn) return stats;
  detail::GraphWalk<const Node<T>> walk;
  detail::walk_graph<const Node<T>>(
      impl.grad_fn.get(), walk, [&](const Node<T>& n) { stats.saved_bytes += n.saved_bytes(); });
  stats.nodes = walk.nodes.size();
  return stats;
}

template class Tensor<float>;
template class Tensor<double>;
template class Node<float>;
template class Node<double>;
template class SavedTensor<float>;
template class SavedTensor<double>;
template std::shared_ptr<TensorImpl<float>> make_impl<float>(const Shape&, const char*);
template std::shared_ptr<TensorImpl<double>> make_impl<double>(const Shape&, const char*);

}  // namespace tg
