// Kernel capture for replayable tapes (tapegrad/replay.hpp): every write of tensor data the
// library makes runs through launch(), which runs the kernel now and, while a recording is active
// on this thread, also appends it to the recording, so that a replay is the recorded kernels
// called in order. Internal to the autodiff library.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <utility>
#include <vector>

#include "tapegrad/replay.hpp"

namespace tg::detail {

// Class labels (host vectors, tg::Labels) a recording's kernels read at run time. `inputs` are the
// caller's vectors declared to record_step: an op given one of them reads it through its address
// at every run and adds a check (the op's own range check, with the op's message) that a run
// applies to the labels before anything is written. Any other labels are copied into `constants`,
// fixed at recording like an index list.
struct LabelInputs {
  using Labels = std::vector<std::int64_t>;
  struct Check {
    std::size_t input;
    std::function<void(const Labels&)> check;
  };
  std::vector<Labels*> inputs;
  std::vector<bool> read;  // whether an op read input i while recording
  std::vector<std::unique_ptr<const Labels>> constants;
  std::vector<Check> checks;
};

class BufferPool;
struct Lease;

// ---- what the passes over a tape know of a kernel (tape_passes.cpp) ------------------------
// A span of memory a kernel reads or writes, [begin, end) in bytes.
struct Region {
  std::uintptr_t begin = 0, end = 0;
};
template <class T> Region region(const T* data, std::size_t count) {
  const auto begin = reinterpret_cast<std::uintptr_t>(data);
  return {begin, begin + count * sizeof(T)};
}

// What a kernel does to memory: the memory it `reads`, and the memory it `writes` whole (every
// byte, whatever the values: a kernel that writes some elements of a buffer, or adds into it,
// reads it too). `elements` > 0 marks an elementwise kernel: element i of each region of that
// many values depends only on element i of the others and on regions of one value, so the kernel
// may run on any range of elements (KernelNote::range). A kernel launched without an
// Access is opaque to the passes: it may read or write anything.
struct Access {
  Access(std::vector<Region> read = {}, std::vector<Region> written = {})
      : reads(std::move(read)), writes(std::move(written)) {}
  std::vector<Region> reads, writes;
  std::size_t elements = 0;
  // A GEMM C = op(A) op(B) (C its one write, beta 0) gives the same product added into another
  // buffer of C's shape, times `scale`, as a kernel (the same call with beta 1): what a pass needs
  // to compute a weight's update in the GEMM that computes its gradient.
  std::function<std::function<void()>(void* into, double scale)> add_into;
  // A plain SGD update: reads[0] -= lr * reads[1], elementwise (record_step's SgdUpdate).
  double sgd_lr = 0;
  bool sgd_update = false;
};

// An elementwise kernel's body over the elements [begin, end).
using RangeKernel = std::function<void(std::size_t, std::size_t)>;

// What the recording notes of each kernel beside it, for the passes, which drop it after.
struct KernelNote {
  bool described = false;
  Access access;
  RangeKernel range;  // for an elementwise kernel
};

// What a recording collects: the kernels, in the order they ran, and the memory of every buffer
// created while recording (a lease on a BufferPool, see replay.cpp), which stays the recording's
// so that the raw pointers the kernels captured stay valid between runs. Closing the recording
// (its destructor) ends the lease; blocks that buffers still use elsewhere stay theirs.
struct Capture {
  // A recording of its own pool, or of the pool of a recording it shares memory with.
  explicit Capture(std::shared_ptr<BufferPool> shared_pool = nullptr);
  ~Capture();
  Capture(const Capture&) = delete;
  Capture& operator=(const Capture&) = delete;

  std::vector<std::function<void()>> kernels;
  std::vector<KernelNote> notes;  // one per kernel while recording, empty after the passes
  TapeSummary summary;
  std::shared_ptr<BufferPool> pool;
  std::unique_ptr<Lease> lease;
  // The generators the random factories' kernels draw from, once each: run_checked rewinds them
  // so that its eager pass draws what the run drew.
  std::vector<std::mt19937_64*> generators;
  // An address in the frame that calls the recorded function: the recorded function's locals lie
  // between it and the current stack position, while it runs.
  std::uintptr_t recorded_frame = 0;
  LabelInputs labels;
  // While set, kernels are recorded without running (record_step's backward, see replay.cpp):
  // their buffers stay untouched until the tape, after its passes, runs once.
  bool deferred = false;
  // Each generator's state when the recording first drew from it, in the order of `generators`.
  std::vector<std::mt19937_64> generator_starts;
  // Unique over the process's life (an address may be reused by a later recording): what a node
  // made while recording remembers, to know its own recording again.
  std::uint64_t id;
};

// The recording active on this thread, or null (the eager path pays one load and a branch).
extern thread_local constinit Capture* t_capture __attribute__((tls_model("initial-exec")));

inline Capture* active_capture() {
  return t_capture;
}

// Under capture, every random factory (who) hands over the generator its kernel keeps a pointer
// to: ReplayError when it is a local variable of the recorded function, gone after recording;
// otherwise the recording notes it.
[[gnu::cold]] void capture_generator(Capture* capture, const char* who, std::mt19937_64& rng);

// Recording is out of line and cold: with the std::function's construction inline, GCC stopped
// inlining the kernel into the op (sigmoid's forward cost 40 instructions more per call). The
// kernel runs first (unless deferred): one that throws is not recorded.
template <class Kernel>
[[gnu::noinline, gnu::cold]] void append_kernel(Capture* c, const Kernel& k) {
  if (!c->deferred) k();
  c->kernels.emplace_back(k);
  c->notes.emplace_back();
}

template <class Kernel, class Describe>
[[gnu::noinline, gnu::cold]] void append_kernel(Capture* c, const Kernel& k,
                                                const Describe& describe) {
  if (!c->deferred) k();
  c->kernels.emplace_back(k);
  c->notes.push_back({true, describe(), nullptr});
}

template <class Body, class Describe>
[[gnu::noinline, gnu::cold]] void append_elementwise(Capture* c, std::size_t n, const Body& body,
                                                     const Describe& describe) {
  if (!c->deferred) body(std::size_t{0}, n);
  c->kernels.emplace_back([body, n] { body(std::size_t{0}, n); });
  KernelNote note{true, describe(), body};
  note.access.elements = n;
  c->notes.push_back(std::move(note));
}

// Runs `kernel` (a closure over raw pointers, sizes and scalars: it must not reference anything
// that dies with the op's stack frame) and, under capture, records it, opaque to the passes.
template <class Kernel> [[gnu::always_inline]] inline void launch(const Kernel& kernel) {
  if (Capture* c = t_capture) [[unlikely]]
    return append_kernel(c, kernel);
  kernel();
}

// launch for a kernel the passes may see through: describe() returns its Access, and is called
// only while recording (eager mode builds nothing).
template <class Kernel, class Describe>
[[gnu::always_inline]] inline void launch(const Kernel& kernel, const Describe& describe) {
  if (Capture* c = t_capture) [[unlikely]]
    return append_kernel(c, kernel, describe);
  kernel();
}

// launch for an elementwise kernel body(begin, end) over n elements (see Access): describe()
// names its reads and writes; a recording may run it in blocks together with its neighbours.
template <class Body, class Describe>
[[gnu::always_inline]] inline void launch_elementwise(std::size_t n, const Body& body,
                                                      const Describe& describe) {
  if (Capture* c = t_capture) [[unlikely]]
    return append_elementwise(c, n, body, describe);
  body(std::size_t{0}, n);
}

// launch for a kernel body(data) that reads host data (an index list): the recording keeps its
// own copy of `data`, made only while recording.
template <class Data, class Body>
[[gnu::noinline, gnu::cold]] void append_kernel_with(Capture* c, const Data& data,
                                                     const Body& body) {
  if (!c->deferred) body(data);
  c->kernels.emplace_back([body, data] { body(data); });
  c->notes.emplace_back();
}

template <class Data, class Body> void launch_with(const Data& data, const Body& body) {
  if (Capture* c = t_capture) [[unlikely]]
    return append_kernel_with(c, data, body);
  body(data);
}

// The memory of the pool blocks a recording holds, and whether a buffer lives on a block now
// (after recording: what the caller may read after a run).
struct HeldSpan {
  Region memory;
  bool in_use = false;
};
std::vector<HeldSpan> held_spans(const Capture& capture);
// Gives back the blocks of the recording that no buffer lives on and no region of `touched`
// (every region the tape's kernels read or write) meets.
void release_untouched(Capture& capture, const std::vector<Region>& touched);

// The passes over a finished recording's tape (tape_passes.cpp): dead kernels removed, SGD
// updates folded into the GEMMs of their gradients, runs of elementwise kernels over the same
// elements fused into blocked loops; then the blocks no kernel touches any more are given back.
// The notes are dropped.
void optimize_tape(Capture& capture);

// Under capture, make_impl asks here for every storage (`elements` values of T, its header
// included), with the name of who made it (the op, or a factory): it throws ReplayError for an op
// not marked replayable (OpCases::replayable), whose writes may not go through launch(), before
// the op computes anything; otherwise the storage's memory comes from the recording's pool, and
// its version counter too (`version`: not in the block's header, which a buffer of a recording
// sharing the block may use while this one lives). Every op makes its outputs through make_impl
// (new_output), so this is the one check; it costs eager mode the load and branch in make_impl.
template <class T>
[[gnu::cold]] std::shared_ptr<T[]> capture_storage(Capture* capture, const char* who,
                                                   std::size_t elements,
                                                   std::atomic<std::uint64_t>*& version);

}  // namespace tg::detail
