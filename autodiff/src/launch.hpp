// Kernel capture for replayable tapes (tapegrad/replay.hpp): every write of tensor data the
// library makes runs through launch(), which runs the kernel now and, while a recording is active
// on this thread, also appends it to the recording, so that a replay is the recorded kernels
// called in order. Internal to the autodiff library.
#pragma once

#include <functional>
#include <memory>
#include <vector>

namespace tg::detail {

// What a recording collects: the kernels, in the order they ran, and every storage created while
// recording, held so that the raw pointers the kernels captured stay valid and no buffer is freed
// or reused between runs.
struct Capture {
  std::vector<std::function<void()>> kernels;
  std::vector<std::shared_ptr<void>> storages;
};

// The recording active on this thread, or null (the eager path pays one load and a branch).
extern thread_local constinit Capture* t_capture __attribute__((tls_model("initial-exec")));

inline Capture* active_capture() {
  return t_capture;
}

// Runs `kernel` (a closure over raw pointers, sizes and scalars: it must not reference anything
// that dies with the op's stack frame) and, under capture, records it.
template <class Kernel> void launch(Kernel&& kernel) {
  kernel();
  if (Capture* c = t_capture) [[unlikely]]
    c->kernels.emplace_back(std::forward<Kernel>(kernel));
}

// launch for a kernel body(data) that reads host data (an index list): the recording keeps its
// own copy of `data`, made only while recording.
template <class Data, class Body> void launch_with(const Data& data, Body body) {
  body(data);
  if (Capture* c = t_capture) [[unlikely]]
    c->kernels.emplace_back([body = std::move(body), data] { body(data); });
}

// Throws ReplayError when `op` runs under capture and is not marked replayable
// (OpCases::replayable): its writes may not go through launch(), and a replay would silently reuse
// stale values.
void require_replayable(const char* op);

inline void check_replayable(const char* op) {
  if (t_capture) [[unlikely]]
    require_replayable(op);
}

// Keeps a storage created under capture alive for the recording's lifetime.
template <class T> void keep_storage(const std::shared_ptr<T[]>& storage) {
  if (Capture* c = t_capture) [[unlikely]]
    c->storages.push_back(storage);
}

}  // namespace tg::detail
