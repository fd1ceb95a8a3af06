#include "tapegrad/tensor.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <unordered_set>
#include <vector>

#include "tapegrad/node.hpp"

namespace tg {

namespace {

// Initial-exec TLS: a plain %fs-relative load instead of a __tls_get_addr call per op. Safe for
// a library linked at start-up (and for dlopen while static TLS space remains, a few bytes here).
#define TG_FAST_TLS __attribute__((tls_model("initial-exec")))

TG_FAST_TLS thread_local bool t_grad_enabled = true;

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

Counters& counters() {
  if (!t_counters) {
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
  }
  return *t_counters;
}

void bump(std::atomic<std::int64_t>& counter, std::int64_t delta) {
  counter.store(counter.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
}

// Large tensor buffers are kept for reuse instead of going back to malloc, which returns blocks
// of about 1 MB and up to the OS, so that the next training step faults every page in again
// (about 2.4 ms per MiB on this VM, more than the GEMM that fills it: shared/xtensor-notes.md). A
// training loop allocates the same sizes every step, so exact-size free lists per thread serve
// every step after the first. Small buffers stay with malloc, whose own per-thread cache is fast.
constexpr std::size_t kCacheMinBytes = 64 * 1024;
std::atomic<std::size_t> g_cache_limit{std::size_t(1) << 30};  // per thread

struct BufferCache {
  std::vector<std::pair<std::size_t, std::vector<void*>>> lists;  // few distinct sizes: linear
  std::size_t bytes = 0;

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
    bytes -= n;
    return p;
  }
  bool put(void* p, std::size_t n) {
    if (bytes + n > g_cache_limit.load(std::memory_order_relaxed)) return false;
    std::vector<void*>* blocks = list(n);
    if (!blocks) blocks = &lists.emplace_back(n, std::vector<void*>()).second;
    blocks->push_back(p);
    bytes += n;
    return true;
  }
  std::size_t clear() {
    const std::size_t freed = bytes;
    for (auto& [size, blocks] : lists)
      for (void* p : blocks) ::operator delete(p, size);
    lists.clear();
    bytes = 0;
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
    t_cache_closed = true;  // a buffer freed later on this thread goes straight to the allocator
    bump(counters().cached, -std::int64_t(cache->clear()));
    delete cache;
  }
};
thread_local CacheRecycler t_cache_recycler;

BufferCache* buffer_cache() {
  if (!t_cache && !t_cache_closed) {
    t_cache = new BufferCache;
    (void)&t_cache_recycler;
  }
  return t_cache;
}

void* allocate_buffer(std::size_t bytes) {
  Counters& c = counters();
  bump(c.buffers, 1);
  bump(c.bytes, std::int64_t(bytes));
  if (BufferCache* cache = bytes >= kCacheMinBytes ? buffer_cache() : nullptr)
    if (void* p = cache->take(bytes)) {
      bump(c.cached, -std::int64_t(bytes));
      return p;
    }
  return ::operator new(bytes);
}

void deallocate_buffer(void* p, std::size_t bytes) {
  Counters& c = counters();
  bump(c.buffers, -1);
  bump(c.bytes, -std::int64_t(bytes));
  BufferCache* cache = bytes >= kCacheMinBytes ? buffer_cache() : nullptr;
  if (cache && cache->put(p, bytes)) {
    bump(c.cached, std::int64_t(bytes));
    return;
  }
  ::operator delete(p, bytes);
}

// Every tensor buffer (with its shared control block) goes through here: counted, so that tests
// and benchmarks can show memory staying flat without reading the process's RSS, and cached.
template <class U>
struct CountingAllocator {
  static_assert(alignof(U) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__);
  using value_type = U;
  CountingAllocator() = default;
  template <class V>
  CountingAllocator(const CountingAllocator<V>&) {}
  U* allocate(std::size_t n) { return static_cast<U*>(allocate_buffer(n * sizeof(U))); }
  void deallocate(U* p, std::size_t n) { deallocate_buffer(p, n * sizeof(U)); }
  template <class V>
  bool operator==(const CountingAllocator<V>&) const {
    return true;
  }
};

}  // namespace

bool grad_enabled() {
  return t_grad_enabled;
}
void set_grad_enabled(bool enabled) {
  t_grad_enabled = enabled;
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
  const std::size_t freed = t_cache->clear();
  bump(counters().cached, -std::int64_t(freed));
  return freed;
}

void set_buffer_cache_limit(std::size_t bytes) {
  g_cache_limit.store(bytes, std::memory_order_relaxed);
}

template <class T>
std::shared_ptr<TensorImpl<T>> make_impl(const Shape& shape, const char* who) {
  shape.checked_bytes(sizeof(T), who);
  auto impl = std::make_shared<TensorImpl<T>>(shape);
  impl->storage = std::allocate_shared_for_overwrite<T[]>(CountingAllocator<T>(),
                                                          std::max<std::size_t>(impl->numel, 1));
  impl->data = impl->storage.get();
  return impl;
}

// ---- Node ---------------------------------------------------------------------------------

template <class T>
Node<T>::Node() {
  bump(counters().nodes, 1);
}

// Dropping the last reference to a long chain would otherwise destroy it recursively, one stack
// frame per node, and overflow the stack (micrograd PR #90, autodiff#314). Instead, the inputs
// this node owns alone are taken apart here, in a loop. (This node's own saved tensors are
// already gone: derived members are destroyed before the base.)
template <class T>
Node<T>::~Node() {
  bump(counters().nodes, -1);
  std::vector<std::shared_ptr<Node<T>>> orphans;
  for (auto& e : edges_)
    if (e.node && e.node.use_count() == 1) orphans.push_back(std::move(e.node));
  while (!orphans.empty()) {
    std::shared_ptr<Node<T>> n = std::move(orphans.back());
    orphans.pop_back();
    n->release_saved();  // a saved input holds its producer too; drop it before looking
    for (auto& e : n->edges_)
      if (e.node && e.node.use_count() == 1) orphans.push_back(std::move(e.node));
  }
}

template <class T>
Tensor<T> SavedTensor<T>::unpack(Node<T>& owner) const {
  if (!tensor_.defined())
    throw GraphError(std::string(owner.name()) +
                     ": its saved tensors were already released by an earlier backward; pass "
                     "retain_graph = true to the first backward to run backward twice");
  if (!is_output_ || !grad_enabled()) return tensor_;
  // Recording the backward pass: the output must again be a function of this node's inputs.
  auto impl = std::make_shared<TensorImpl<T>>(*tensor_.impl());
  impl->requires_grad = true;
  impl->grad_fn = owner.shared_from_this();
  return Tensor<T>(std::move(impl));
}

// ---- Tensor -------------------------------------------------------------------------------

template <class T>
Tensor<T> Tensor<T>::empty(const Shape& shape) {
  return Tensor(make_impl<T>(shape, "empty"));
}

template <class T>
Tensor<T> Tensor<T>::full(const Shape& shape, T value, bool requires_grad) {
  Tensor t = empty(shape);
  std::fill(t.data(), t.data() + t.size(), value);
  t.impl_->requires_grad = requires_grad;
  return t;
}

template <class T>
Tensor<T> Tensor<T>::zeros(const Shape& shape, bool requires_grad) {
  return full(shape, T(0), requires_grad);
}

template <class T>
Tensor<T> Tensor<T>::ones(const Shape& shape, bool requires_grad) {
  return full(shape, T(1), requires_grad);
}

template <class T>
Tensor<T> Tensor<T>::scalar(T value, bool requires_grad) {
  return full(Shape{}, value, requires_grad);
}

template <class T>
Tensor<T> Tensor<T>::from_vector(const Shape& shape, const std::vector<T>& values,
                                 bool requires_grad) {
  if (values.size() != shape.numel())
    throw ShapeError("from_vector: " + std::to_string(values.size()) + " values for shape " +
                     shape.str() + " (needs " + std::to_string(shape.numel()) + ")");
  Tensor t = empty(shape);
  std::copy(values.begin(), values.end(), t.data());
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

template <class T>
Tensor<T> Tensor<T>::uniform(const Shape& shape, T low, T high, std::mt19937_64& rng,
                             bool requires_grad) {
  Tensor t = empty(shape);
  std::uniform_real_distribution<T> dist(low, high);
  for (std::size_t i = 0; i < t.size(); ++i) t.data()[i] = dist(rng);
  t.impl_->requires_grad = requires_grad;
  return t;
}

template <class T>
Tensor<T> Tensor<T>::normal(const Shape& shape, T mean, T stddev, std::mt19937_64& rng,
                            bool requires_grad) {
  Tensor t = empty(shape);
  std::normal_distribution<T> dist(mean, stddev);
  for (std::size_t i = 0; i < t.size(); ++i) t.data()[i] = dist(rng);
  t.impl_->requires_grad = requires_grad;
  return t;
}

template <class T>
T Tensor<T>::item() const {
  if (size() != 1)
    throw ShapeError("item: needs a tensor with one element, got shape " + shape().str());
  return data()[0];
}

template <class T>
T Tensor<T>::at(std::initializer_list<std::size_t> index) const {
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

template <class T>
Tensor<T>& Tensor<T>::set_requires_grad(bool enabled) {
  if (!is_leaf())
    throw GraphError("set_requires_grad: only leaves can be marked; this tensor " + shape().str() +
                     " was produced by " + op_name() + " (use detach())");
  impl_->requires_grad = enabled;
  return *this;
}

template <class T>
const char* Tensor<T>::op_name() const {
  return impl_->grad_fn ? impl_->grad_fn->name() : "leaf";
}

template <class T>
Tensor<T> Tensor<T>::grad() const {
  if (impl_->grad) return Tensor(impl_->grad);
  if (impl_->requires_grad) return zeros(shape());
  return Tensor();
}

template <class T>
Tensor<T> Tensor<T>::detach() const {
  auto impl = std::make_shared<TensorImpl<T>>();
  impl->storage = impl_->storage;
  impl->data = impl_->data;
  impl->shape = impl_->shape;
  impl->numel = impl_->numel;
  return Tensor(std::move(impl));
}

template <class T>
Tensor<T> Tensor<T>::clone() const {
  Tensor t = empty(shape());
  std::copy(data(), data() + size(), t.data());
  return t;
}

template <class T>
GraphStats Tensor<T>::graph_stats() const {
  GraphStats stats;
  if (!impl_->grad_fn) return stats;
  std::vector<const Node<T>*> stack{impl_->grad_fn.get()};
  std::unordered_set<const Node<T>*> seen;
  while (!stack.empty()) {
    const Node<T>* n = stack.back();
    stack.pop_back();
    if (!seen.insert(n).second) continue;
    stats.saved_bytes += n->saved_bytes();
    for (std::size_t i = 0; i < n->num_inputs(); ++i)
      if (n->edge(i).node) stack.push_back(n->edge(i).node.get());
  }
  stats.nodes = seen.size();
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
