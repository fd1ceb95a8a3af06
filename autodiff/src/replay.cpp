#include "tapegrad/replay.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

#include "launch.hpp"
#include "tapegrad/node.hpp"
#include "tapegrad/registry.hpp"

namespace tg {

namespace detail {

thread_local constinit Capture* t_capture = nullptr;

namespace {

// Sets this thread's recording while alive and restores the previous one, also on an exception.
class CaptureScope {
 public:
  explicit CaptureScope(Capture* capture) : previous_(std::exchange(t_capture, capture)) {}
  ~CaptureScope() { t_capture = previous_; }
  CaptureScope(const CaptureScope&) = delete;
  CaptureScope& operator=(const CaptureScope&) = delete;

 private:
  Capture* previous_;
};

// The names TG_DEFINE_REPLAYABLE_OP noted at load time (constant-initialized, so static
// initializers may run in any order); beyond kNotedNames, the registry answers.
constexpr std::size_t kNotedNames = 256;
constinit std::atomic<const char*> g_noted[kNotedNames] = {};
constinit std::atomic<std::size_t> g_noted_count{0};

bool noted_replayable(const char* name) {
  const std::size_t n = std::min(g_noted_count.load(std::memory_order_acquire), kNotedNames);
  for (std::size_t i = 0; i < n; ++i)
    if (const char* noted = g_noted[i].load(std::memory_order_acquire))
      if (std::strcmp(noted, name) == 0) return true;
  return false;
}

// Whether op `name` is marked replayable, asked of the registry once per op and thread-safely
// (recordings may run on several threads), for an op defined outside the library or not
// replayable. Cases may build tensors, which must not land in the recording that asked.
bool replayable_op(const char* name) {
  static std::mutex mutex;
  static std::unordered_map<std::string, bool> known;
  std::lock_guard<std::mutex> lock(mutex);
  if (const auto it = known.find(name); it != known.end()) return it->second;
  CaptureScope none(nullptr);
  bool replayable = false;
  for (const OpInfo& info : registered_ops())
    if (info.name == name) {
      replayable = info.cases && info.cases().replayable;
      break;
    }
  known.emplace(name, replayable);
  return replayable;
}

}  // namespace

namespace {

// Where `p` lies on the thread's stack: `p` itself, or, under AddressSanitizer's detection of use
// after return (which moves locals to a "fake stack" on the heap), the real frame that its fake
// frame stands for. Frame addresses (__builtin_frame_address) are always real ones.
std::uintptr_t stack_address(const void* p) {
#if defined(__SANITIZE_ADDRESS__)
  if (void* fake = __asan_get_current_fake_stack())
    if (void* real = __asan_addr_is_in_fake_stack(fake, const_cast<void*>(p), nullptr, nullptr))
      return reinterpret_cast<std::uintptr_t>(real);
#endif
  return reinterpret_cast<std::uintptr_t>(p);
}

}  // namespace

// Stacks grow downward on the targets the library builds for: the recorded function's locals lie
// above this frame and below the recorded frame.
void capture_generator(Capture* capture, const char* who, std::mt19937_64& rng) {
  const auto here = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
  const std::uintptr_t address = stack_address(&rng);
  if (capture->recorded_frame && address > here && address < capture->recorded_frame)
    throw ReplayError(std::string(who) +
                      ": the generator is a local variable of the recorded function, which "
                      "replays would draw from after it is gone; declare it outside, so that it "
                      "outlives the recording");
  if (std::find(capture->generators.begin(), capture->generators.end(), &rng) ==
      capture->generators.end()) {
    capture->generators.push_back(&rng);
    capture->generator_starts.push_back(rng);
  }
}

bool note_replayable(const char* name) noexcept {
  const std::size_t i = g_noted_count.fetch_add(1, std::memory_order_acq_rel);
  if (i < kNotedNames) g_noted[i].store(name, std::memory_order_release);
  return true;
}

// The memory of the buffers made while recording. The tape's kernels hold their raw pointers, so
// a block never goes to anyone outside the recording while the recording lives. But kernels run in
// eager order, so a buffer freed while recording (its last handle dropped, where eager mode gives
// its memory back) is read by no later kernel: a later buffer of the same recording may take its
// block, as eager mode's allocator hands it out again, and every run repeats that sharing. The
// recording thus holds about what eager mode holds at its peak, not the sum of the step's
// buffers.
//
// A run repeats every kernel, so the earlier buffers' kernels write into a block again while a
// later buffer on it is alive (the loss, a gradient): nothing of a live buffer but its values may
// lie where an earlier buffer's values were. Its version counter is the pool's (one per buffer),
// and its reference counts are not in the block (the storage's control block is allocated apart).
//
// Recordings that share memory (record_step's ShareBuffers) hold leases on one pool. For a new
// recording, the blocks of the one it shares with are scratch: the recordings of such a family
// never run at once (they share the running flag, held while recording too), and every run writes
// a buffer before it reads it, so what a run of one leaves in a block matters to nobody once
// another runs; except the buffers of tensors f made that the caller keeps (logits for an
// accuracy): a block with a live buffer other than a recording's loss or gradients is not lent.
//
// A block is given back to the thread's cache when no open recording holds it and no buffer lives
// on it: buffers that outlive their recording (the loss, the gradients a parameter holds) keep
// the pool alive through their deleter.
struct PoolBlock {
  void* memory;
  std::size_t bytes;
  std::size_t leases = 0;    // open recordings that hold it
  std::size_t storages = 0;  // live buffers on it
  std::size_t results = 0;   // of those, a recording's loss or gradients (see mark_result)
  PoolBlock* next_free = nullptr;
};

// The blocks one recording holds in its pool (own and lent), in the order it came to hold them.
struct Lease {
  std::uint64_t id;
  std::vector<PoolBlock*> held;
};

class BufferPool {
 public:
  using Block = PoolBlock;

  BufferPool() = default;
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  // `lease` starts recording, with the blocks of `lender` (a recording of the same pool) that no
  // kept tensor uses as its free blocks. Only one recording of a pool records at a time.
  void begin_recording(Lease& lease, const Lease* lender) {
    std::lock_guard<std::mutex> lock(mutex_);
    recording_ = &lease;
    free_.clear();
    if (!lender) return;
    for (Block* b : lender->held)
      if (b->storages == b->results) {
        lease.held.push_back(b);
        ++b->leases;
        Block*& head = free_[b->bytes];
        b->next_free = std::exchange(head, b);
      }
  }

  void end_recording(Lease& lease) noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    if (recording_ == &lease) {
      recording_ = nullptr;
      free_.clear();
    }
  }

  // A free block of the recording for a buffer of `bytes`: of the size eager mode's cache would
  // give, else the smallest free one up to twice that (a shorter batch on a sharing recording's
  // blocks), else a new one.
  Block* take(Lease& lease, std::size_t bytes) {
    // Sizes as eager mode's cache rounds them (64-byte classes below 64 KiB, exact above).
    const std::size_t size =
        bytes >= kExactFromBytes ? bytes : (bytes + kClassBytes - 1) / kClassBytes * kClassBytes;
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = free_.lower_bound(size); it != free_.end() && it->first <= 2 * size; ++it)
      if (Block* b = it->second) {
        it->second = b->next_free;
        ++b->storages;
        return b;
      }
    // The list exists before any block of its size can be given back, so give() never allocates.
    free_.try_emplace(size, nullptr);
    lease.held.reserve(lease.held.size() + 1);
    auto block = std::make_unique<Block>(Block{allocate_small(size), size});
    Block* b = block.release();
    lease.held.push_back(b);
    b->leases = 1;
    b->storages = 1;
    return b;
  }

  // A buffer on `block`, made by recording `lease_id`, died: on a thread other than the
  // recording's too (a gradient handed to another thread), hence the lock. While its recording
  // records, the block is free for the recording's next buffer.
  void give(Block* block, std::uint64_t lease_id, bool result) noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    --block->storages;
    if (result) --block->results;
    if (recording_ && recording_->id == lease_id) {
      Block*& head = free_.find(block->bytes)->second;
      block->next_free = std::exchange(head, block);
    }
    if (block->leases == 0 && block->storages == 0) deallocate(block);
  }

  // A buffer on `block` is a recording's loss or gradient, which a run rewrites anyway: a
  // recording that shares the pool may take the block.
  void mark_result(Block* block) {
    std::lock_guard<std::mutex> lock(mutex_);
    ++block->results;
  }

  // The recording is gone: no kernel of it will write into its blocks again.
  void release(Lease& lease) noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    if (recording_ == &lease) {
      recording_ = nullptr;
      free_.clear();
    }
    for (Block* b : lease.held)
      if (--b->leases == 0 && b->storages == 0) deallocate(b);
    lease.held.clear();
  }

  // A version counter for a new buffer, alive as long as the pool (and so as any buffer on it).
  Version* new_version() {
    std::lock_guard<std::mutex> lock(mutex_);
    return &versions_.emplace_back(0);
  }

  // What a recording holds, its own blocks and those lent to it.
  std::size_t held_blocks(const Lease& lease) const;
  std::size_t held_bytes(const Lease& lease) const;
  std::vector<HeldSpan> held_spans(const Lease& lease) const;
  void release_untouched(Lease& lease, const std::vector<Region>& touched);

 private:
  static void deallocate(Block* b) noexcept {
    deallocate_small(b->memory, b->bytes);
    delete b;
  }

  static constexpr std::size_t kExactFromBytes = 64 * 1024, kClassBytes = 64;

  mutable std::mutex mutex_;
  Lease* recording_ = nullptr;          // the recording that takes blocks now, if any
  std::map<std::size_t, Block*> free_;  // its free blocks by size (linked through next_free)
  std::deque<Version> versions_;
};

std::vector<HeldSpan> held_spans(const Capture& capture) {
  return capture.pool->held_spans(*capture.lease);
}

void release_untouched(Capture& capture, const std::vector<Region>& touched) {
  capture.pool->release_untouched(*capture.lease, touched);
}

void BufferPool::release_untouched(Lease& lease, const std::vector<Region>& touched) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<Block*> kept;
  for (Block* b : lease.held) {
    const auto begin = reinterpret_cast<std::uintptr_t>(b->memory), end = begin + b->bytes;
    const bool used = b->storages > 0 || std::any_of(touched.begin(), touched.end(), [&](Region r) {
                        return r.begin < end && begin < r.end && r.begin < r.end;
                      });
    if (used) {
      kept.push_back(b);
      continue;
    }
    // No later recording of this one's takes it from the free lists: they are rebuilt from
    // `held` when one begins.
    if (--b->leases == 0) deallocate(b);
  }
  lease.held = std::move(kept);
}

std::vector<HeldSpan> BufferPool::held_spans(const Lease& lease) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<HeldSpan> spans;
  for (const Block* b : lease.held) {
    const auto begin = reinterpret_cast<std::uintptr_t>(b->memory);
    spans.push_back({{begin, begin + b->bytes}, b->storages > 0});
  }
  return spans;
}

std::size_t BufferPool::held_blocks(const Lease& lease) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return lease.held.size();
}

std::size_t BufferPool::held_bytes(const Lease& lease) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::size_t bytes = 0;
  for (const Block* b : lease.held) bytes += b->bytes;
  return bytes;
}

namespace {

// Holds the pool, so that a buffer that outlives its recording can still give its block back.
struct GiveToPool {
  std::shared_ptr<BufferPool> pool;
  BufferPool::Block* block;
  std::uint64_t lease_id;
  bool result = false;
  template <class T> void operator()(T*) const noexcept { pool->give(block, lease_id, result); }
};

thread_local std::size_t t_measured_bytes = 0;

// Empty, as eager mode's allocator is, so that the control block it is asked for has the same size.
template <class U> struct MeasuringAllocator {
  using value_type = U;
  MeasuringAllocator() = default;
  template <class V> MeasuringAllocator(const MeasuringAllocator<V>&) {}
  U* allocate(std::size_t n) {
    t_measured_bytes = n * sizeof(U);
    return static_cast<U*>(::operator new(n * sizeof(U)));
  }
  void deallocate(U* p, std::size_t n) noexcept { ::operator delete(p, n * sizeof(U)); }
  template <class V> bool operator==(const MeasuringAllocator<V>&) const { return true; }
};

// The bytes eager mode's allocator asks for a storage of `elements` values (values and the
// storage's control block in one allocation), learnt once from the standard library with an
// empty allocator like eager mode's. A pool block of that size can take a block eager mode left
// in the thread's cache, and gives it back the same size: without it, the parameters' gradients
// would miss the blocks of the parameters' own size that building a model leaves cached.
template <class T> std::size_t eager_block_bytes(std::size_t elements) {
  static const std::size_t overhead = [] {
    (void)std::allocate_shared_for_overwrite<T[]>(MeasuringAllocator<T>(), 1);
    return t_measured_bytes - sizeof(T);
  }();
  return elements * sizeof(T) + overhead;
}

// Marks the buffer of `x` (a recording's loss or gradient) as a result (BufferPool::mark_result).
template <class T> void mark_result(const Tensor<T>& x) {
  if (!x.defined()) return;
  if (GiveToPool* d = std::get_deleter<GiveToPool>(x.impl()->storage); d && !d->result) {
    d->pool->mark_result(d->block);
    d->result = true;
  }
}

}  // namespace

namespace {
std::atomic<std::uint64_t> g_next_capture_id{1};
}  // namespace

Capture::Capture(std::shared_ptr<BufferPool> shared_pool)
    : pool(shared_pool ? std::move(shared_pool) : std::make_shared<BufferPool>()),
      lease(std::make_unique<Lease>()),
      id(g_next_capture_id.fetch_add(1, std::memory_order_relaxed)) {
  lease->id = id;
}

Capture::~Capture() {
  pool->release(*lease);
}

template <class T>
std::shared_ptr<T[]> capture_storage(Capture* capture, const char* who, std::size_t elements,
                                     Version*& version) {
  // The factories that write through launch; any other name is an op, or a caller of make_impl
  // outside the library (named "tensor" by default) whose writes a recording cannot see.
  static const std::unordered_set<std::string> factories = {
      "zeros", "ones",    "full",   "scalar",      "from_vector",
      "clone", "uniform", "normal", "dropout_mask"};
  if (!factories.contains(who) && !noted_replayable(who) && !replayable_op(who))
    throw ReplayError(std::string(who) +
                      ": this op cannot be recorded for replay yet (its kernels are not captured); "
                      "run it in eager mode");
  static_assert(alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__);
  version = capture->pool->new_version();
  BufferPool::Block* block = capture->pool->take(*capture->lease, eager_block_bytes<T>(elements));
  // The control block apart, from the small-block cache (see BufferPool); should its allocation
  // throw, the deleter gives the block back.
  return std::shared_ptr<T[]>(static_cast<T*>(block->memory),
                              GiveToPool{capture->pool, block, capture->id}, SmallAllocator<T>());
}

template std::shared_ptr<float[]> capture_storage(Capture*, const char*, std::size_t, Version*&);
template std::shared_ptr<double[]> capture_storage(Capture*, const char*, std::size_t, Version*&);

}  // namespace detail

bool recording() {
  return detail::t_capture != nullptr;
}

namespace {

template <class T> bool same_bits(const Tensor<T>& a, const Tensor<T>& b) {
  return a.shape() == b.shape() &&
         std::memcmp(std::as_const(a).data(), std::as_const(b).data(), a.size() * sizeof(T)) == 0;
}

template <class T> std::string first_difference(const Tensor<T>& replayed, const Tensor<T>& eager) {
  if (replayed.shape() != eager.shape())
    return "shape " + replayed.shape().str() + " replayed, " + eager.shape().str() + " eager";
  for (std::size_t i = 0; i < replayed.size(); ++i) {
    const T r = std::as_const(replayed).data()[i], e = std::as_const(eager).data()[i];
    if (std::memcmp(&r, &e, sizeof(T)) != 0)
      return "at flat index " + std::to_string(i) + ": " + format_number(double(r), 17) +
             " replayed, " + format_number(double(e), 17) + " eager";
  }
  return "nowhere";
}

// Calls f, telling the recording where f's frames begin: what f declares lies below this frame.
template <class T>
[[gnu::noinline]] Tensor<T> call_recorded(const std::function<Tensor<T>()>& f,
                                          detail::Capture& capture) {
  capture.recorded_frame = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
  Tensor<T> loss = f();
  capture.recorded_frame = 0;  // backward declares nothing of f's
  return loss;
}

// Every label input declared to record_step must reach an op that reads labels (softmax_ce,
// nll_loss) by reference: one that does not was copied on the way, and a run would not see it.
void require_labels_read(const detail::LabelInputs& labels) {
  for (std::size_t i = 0; i < labels.inputs.size(); ++i)
    if (!labels.read[i])
      throw ReplayError("record_step: label input " + std::to_string(i) + " (" +
                        std::to_string(labels.inputs[i]->size()) +
                        " labels) was not passed to softmax_ce or nll_loss while recording; pass "
                        "the declared vector itself, not a copy");
}

// The declared labels a run is about to read, at(i) for input i: each vector's length as
// recorded (ShapeError), then each op's range check (the op's IndexError), before anything runs.
template <class At>
void check_labels(const detail::LabelInputs& labels, const std::vector<std::size_t>& sizes, At at) {
  for (std::size_t i = 0; i < sizes.size(); ++i)
    if (at(i).size() != sizes[i])
      throw ShapeError("replay: label input " + std::to_string(i) + " has " +
                       std::to_string(at(i).size()) + " labels, recorded with " +
                       std::to_string(sizes[i]));
  for (const detail::LabelInputs::Check& c : labels.checks) c.check(at(c.input));
}

// p -= lr * g, as nn::SGD's plain step computes it (in T), as a kernel a pass may fold into the
// GEMM that computes g (Access::sgd_update).
template <class T> void sgd_kernel(Tensor<T>& p, const Tensor<T>& g, double lr) {
  const T rate = static_cast<T>(lr);
  detail::launch_elementwise(
      p.size(),
      [x = p.data(), gd = g.data(), rate](std::size_t begin, std::size_t end) {
        for (std::size_t j = begin; j < end; ++j) x[j] -= rate * gd[j];
      },
      [&] {
        const detail::Region param = detail::region(std::as_const(p).data(), p.size());
        detail::Access access{{param, detail::region(g.data(), g.size())}, {param}};
        access.sgd_update = true;
        access.sgd_lr = lr;
        return access;
      });
}

// Held by a run, and by the recording of a step that shares buffers with others: one flag for
// recordings that share buffers.
class RunningFlag {
 public:
  explicit RunningFlag(std::atomic<bool>& flag,
                       const char* refusal =
                           "replay: run() called while another run of this recording is in "
                           "progress, or of one sharing its buffers (a recording is run from one "
                           "thread at a time)")
      : flag_(flag) {
    if (flag_.exchange(true, std::memory_order_acquire)) throw ReplayError(refusal);
  }
  ~RunningFlag() { flag_.store(false, std::memory_order_release); }
  RunningFlag(const RunningFlag&) = delete;
  RunningFlag& operator=(const RunningFlag&) = delete;

 private:
  std::atomic<bool>& flag_;
};

}  // namespace

template <class T> Replay<T>::Replay() : running_(std::make_shared<std::atomic<bool>>(false)) {}
template <class T> Replay<T>::Replay(Replay&&) noexcept = default;
template <class T> Replay<T>& Replay<T>::operator=(Replay&&) noexcept = default;
template <class T> Replay<T>::~Replay() = default;

template <class T>
Replay<T> Replay<T>::record(std::function<Tensor<T>()> f, const std::vector<Tensor<T>>& params,
                            const std::vector<Tensor<T>>& inputs,
                            const std::vector<std::reference_wrapper<Labels>>& labels,
                            ShareBuffers<T> share, SgdUpdate update) {
  if (!f) throw ReplayError("record_step: f is empty (a std::function that holds no function)");
  if (detail::t_capture)
    throw ReplayError(
        "record_step: called while recording on this thread (a recording cannot "
        "contain another)");
  for (std::size_t i = 0; i < params.size(); ++i)
    if (!params[i].requires_grad() || !params[i].is_leaf())
      throw GraphError("record_step: parameter " + std::to_string(i) + " " +
                       params[i].shape().str() + " is not a leaf that requires a gradient");
  for (const Tensor<T>& x : inputs) (void)x.shape();  // an undefined input throws here
  if (update.enabled) {
    if (!(update.lr >= 0 && std::isfinite(update.lr)))
      throw DomainError("record_step: invalid learning rate " + format_number(update.lr) +
                        " for sgd_update (must be finite and >= 0)");
    for (std::size_t i = 0; i < params.size(); ++i)
      for (std::size_t j = 0; j < i; ++j)
        if (params[i].impl() == params[j].impl())
          throw GraphError("record_step: parameter " + std::to_string(i) + " " +
                           params[i].shape().str() + " is parameter " + std::to_string(j) +
                           " again (sgd_update would update it twice per run)");
  }
  const Replay* lender = share.with;
  if (lender && !lender->tape_)
    throw ReplayError("record_step: the recording to share buffers with is empty (moved from)");
  Replay r;
  if (lender) r.running_ = lender->running_;
  // The lender's blocks are this recording's scratch from now on: it must not run meanwhile.
  RunningFlag lender_idle(*r.running_,
                          "record_step: the recording to share buffers with, or one sharing its "
                          "buffers, is running (a run would write into the buffers being "
                          "recorded)");
  r.f_ = std::move(f);
  r.params_ = params;
  r.inputs_ = inputs;
  for (const Tensor<T>& x : inputs) r.input_data_.push_back(x.impl()->data);
  // A run replaces the gradients: so does the recording, which is the first run.
  for (Tensor<T>& p : r.params_) p.zero_grad();
  r.tape_ = std::make_unique<detail::Capture>(lender ? lender->tape_->pool : nullptr);
  r.tape_->pool->begin_recording(*r.tape_->lease, lender ? lender->tape_->lease.get() : nullptr);
  for (Labels& l : labels) r.tape_->labels.inputs.push_back(&l);
  r.tape_->labels.read.assign(labels.size(), false);
  try {
    detail::CaptureScope scope(r.tape_.get());
    Tensor<T> loss = call_recorded(r.f_, *r.tape_);
    if (!loss.defined() || loss.size() != 1)
      throw ReplayError("record_step: f must return a one-element loss, got " +
                        (loss.defined() ? loss.shape().str() : std::string("an undefined tensor")));
    // The backward and the updates are recorded without running (no code of the caller's runs
    // meanwhile to read their values, but anomaly mode's checks): the tape runs once after its
    // passes, so that the buffers the passes drop (a gradient folded into its weight's update)
    // are never written, and the recording's memory peaks no higher than a run's.
    r.tape_->deferred = !anomaly_mode();
    loss.backward();
    r.loss_ = loss.detach();
    require_labels_read(r.tape_->labels);
    if (update.enabled) {
      r.update_ = update;
      for (Tensor<T>& p : r.params_)
        if (p.has_grad()) sgd_kernel(p, p.grad(), update.lr);
    }
  } catch (...) {
    for (Tensor<T>& p : r.params_) p.zero_grad();
    throw;
  }
  for (Tensor<T>& p : r.params_) {
    r.grads_.push_back(p.has_grad() && !update.enabled ? p.grad() : Tensor<T>());
    if (update.enabled) p.zero_grad();  // a run leaves none: its buffer is scratch
  }
  for (const Labels* l : r.tape_->labels.inputs) r.label_sizes_.push_back(l->size());
  detail::mark_result(r.loss_);
  for (const Tensor<T>& g : r.grads_) detail::mark_result(g);
  r.tape_->pool->end_recording(*r.tape_->lease);
  detail::optimize_tape(*r.tape_);
  if (r.tape_->deferred) {
    // The recording's step is a run: forward again, after the generators go back to where the
    // recorded forward found them, so that it draws what that forward drew.
    for (std::size_t i = 0; i < r.tape_->generators.size(); ++i)
      *r.tape_->generators[i] = r.tape_->generator_starts[i];
    r.tape_->deferred = false;
    try {
      for (const std::function<void()>& kernel : r.tape_->kernels) kernel();
    } catch (...) {
      for (Tensor<T>& p : r.params_) p.zero_grad();
      throw;
    }
  }
  return r;
}

template <class T> void Replay<T>::require_tape() const {
  if (!tape_) throw ReplayError("replay: this recording was moved from: it holds no tape");
}

template <class T> const Tensor<T>& Replay<T>::run() {
  require_tape();
  RunningFlag running(*running_);
  check_labels(tape_->labels, label_sizes_,
               [&](std::size_t i) -> const Labels& { return *tape_->labels.inputs[i]; });
  for (const std::function<void()>& kernel : tape_->kernels) kernel();
  if (!update_.enabled)
    for (std::size_t i = 0; i < params_.size(); ++i) params_[i].set_grad(grads_[i]);
  return loss_;
}

template <class T> void Replay<T>::copy_inputs(RunValues<T> values) {
  require_tape();
  if (values.size() != inputs_.size())
    throw ShapeError("replay: " + std::to_string(values.size()) + " input values for " +
                     std::to_string(inputs_.size()) + " recorded inputs");
  for (std::size_t i = 0; i < values.size(); ++i)
    if (values[i].shape() != inputs_[i].shape())
      throw ShapeError("replay: input " + std::to_string(i) + " has shape " +
                       values[i].shape().str() + ", recorded with shape " +
                       inputs_[i].shape().str());
  for (std::size_t i = 0; i < values.size(); ++i) {
    const T* from = std::as_const(values[i]).data();
    if (from != input_data_[i]) std::memmove(inputs_[i].data(), from, values[i].size() * sizeof(T));
  }
}

template <class T> const Tensor<T>& Replay<T>::run(RunValues<T> values) {
  copy_inputs(values);
  return run();
}

// The labels are checked first, then the values' shapes (copy_inputs): nothing is written unless
// both pass.
template <class T> void Replay<T>::refill(RunValues<T> values, const std::vector<Labels>& labels) {
  require_tape();
  if (labels.size() != label_sizes_.size())
    throw ShapeError("replay: " + std::to_string(labels.size()) + " label vectors for " +
                     std::to_string(label_sizes_.size()) + " recorded label inputs");
  check_labels(tape_->labels, label_sizes_,
               [&](std::size_t i) -> const Labels& { return labels[i]; });
  copy_inputs(values);
  for (std::size_t i = 0; i < labels.size(); ++i) *tape_->labels.inputs[i] = labels[i];
}

template <class T>
const Tensor<T>& Replay<T>::run(RunValues<T> values, const std::vector<Labels>& labels) {
  refill(values, labels);
  return run();
}

template <class T>
const Tensor<T>& Replay<T>::run_checked(RunValues<T> values, const std::vector<Labels>& labels) {
  require_checkable();
  refill(values, labels);
  return run_checked();
}

template <class T> const Tensor<T>& Replay<T>::run_checked(RunValues<T> values) {
  require_checkable();
  copy_inputs(values);
  return run_checked();
}

template <class T> void Replay<T>::require_checkable() const {
  require_tape();
  if (update_.enabled)
    throw ReplayError(
        "replay check: not available for a recording that updates its parameters "
        "(sgd_update): a run moves them, and the eager pass would see other values");
}

template <class T> const Tensor<T>& Replay<T>::run_checked() {
  require_checkable();
  // The eager pass must draw what the run drew: the generators go back to their state before it,
  // and the eager pass leaves them where the run did.
  std::vector<std::mt19937_64> before_run;
  for (const std::mt19937_64* generator : tape_->generators) before_run.push_back(*generator);
  run();
  for (std::size_t i = 0; i < before_run.size(); ++i) *tape_->generators[i] = before_run[i];
  RunningFlag running(*running_);
  for (Tensor<T>& p : params_) p.zero_grad();
  auto restore = [&] {
    for (std::size_t i = 0; i < params_.size(); ++i) params_[i].set_grad(grads_[i]);
  };
  try {
    const Tensor<T> eager = f_();
    if (!same_bits(loss_, eager))
      throw ReplayError("replay check: the loss differs from eager mode's, " +
                        first_difference(loss_, eager) +
                        "; f's control flow or a value it computes depends on the values, which a "
                        "recording fixes");
    eager.backward();
    for (std::size_t i = 0; i < params_.size(); ++i) {
      const bool eager_has = params_[i].has_grad();
      if (eager_has != grads_[i].defined())
        throw ReplayError("replay check: parameter " + std::to_string(i) + " " +
                          params_[i].shape().str() + (eager_has ? " gets" : " gets no") +
                          " gradient in eager mode but" + (eager_has ? " none" : " one") +
                          " in the replay");
      if (eager_has && !same_bits(grads_[i], params_[i].grad()))
        throw ReplayError("replay check: the gradient of parameter " + std::to_string(i) + " " +
                          params_[i].shape().str() + " differs from eager mode's " +
                          first_difference(grads_[i], params_[i].grad()) +
                          "; f's control flow or a value it computes depends on the values, "
                          "which a recording fixes");
    }
  } catch (...) {
    restore();
    throw;
  }
  restore();
  return loss_;
}

template <class T> std::size_t Replay<T>::kernels() const {
  require_tape();
  return tape_->kernels.size();
}
template <class T> const TapeSummary& Replay<T>::summary() const {
  require_tape();
  return tape_->summary;
}
template <class T> std::size_t Replay<T>::buffers() const {
  require_tape();
  return tape_->pool->held_blocks(*tape_->lease);
}
template <class T> std::size_t Replay<T>::bytes() const {
  require_tape();
  return tape_->pool->held_bytes(*tape_->lease);
}

template class Replay<float>;
template class Replay<double>;

}  // namespace tg
