// Kernel capture for replayable tapes (tapegrad/replay.hpp): every write of tensor data the
// library makes runs through launch(), which runs the kernel now and, while a recording is active
// on this thread, also appends it to the recording, so that a replay is the recorded kernels
// called in order. Internal to the autodiff library.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

namespace tg::detail {

class BufferPool;

// What a recording collects: the kernels, in the order they ran, and the memory of every buffer
// created while recording (see BufferPool in replay.cpp), which stays the recording's so that the
// raw pointers the kernels captured stay valid between runs. Closing the recording (its
// destructor) gives the pool's free blocks back; buffers still held elsewhere keep theirs.
struct Capture {
  Capture();
  ~Capture();
  Capture(const Capture&) = delete;
  Capture& operator=(const Capture&) = delete;

  std::vector<std::function<void()>> kernels;
  std::shared_ptr<BufferPool> pool;
};

// The recording active on this thread, or null (the eager path pays one load and a branch).
extern thread_local constinit Capture* t_capture __attribute__((tls_model("initial-exec")));

inline Capture* active_capture() {
  return t_capture;
}

// Recording is out of line and cold: with the std::function's construction inline, GCC stopped
// inlining the kernel into the op (sigmoid's forward cost 40 instructions more per call).
template <class Kernel>
[[gnu::noinline, gnu::cold]] void append_kernel(Capture* c, const Kernel& k) {
  c->kernels.emplace_back(k);
}

// Runs `kernel` (a closure over raw pointers, sizes and scalars: it must not reference anything
// that dies with the op's stack frame) and, under capture, records it.
template <class Kernel> [[gnu::always_inline]] inline void launch(const Kernel& kernel) {
  kernel();
  if (Capture* c = t_capture) [[unlikely]]
    append_kernel(c, kernel);
}

// launch for a kernel body(data) that reads host data (an index list): the recording keeps its
// own copy of `data`, made only while recording.
template <class Data, class Body>
[[gnu::noinline, gnu::cold]] void append_kernel_with(Capture* c, const Data& data,
                                                     const Body& body) {
  c->kernels.emplace_back([body, data] { body(data); });
}

template <class Data, class Body> void launch_with(const Data& data, const Body& body) {
  body(data);
  if (Capture* c = t_capture) [[unlikely]]
    append_kernel_with(c, data, body);
}

// Under capture, make_impl asks here for every storage (`elements` values of T, its header
// included), with the name of who made it (the op, or a factory): it throws ReplayError for an op
// not marked replayable (OpCases::replayable), whose writes may not go through launch(), before
// the op computes anything; otherwise the storage's memory comes from the recording's pool. Every
// op makes its outputs through make_impl (new_output), so this is the one check; it costs eager
// mode the load and branch in make_impl.
template <class T>
[[gnu::cold]] std::shared_ptr<T[]> capture_storage(Capture* capture, const char* who,
                                                   std::size_t elements);

}  // namespace tg::detail
