// Opening user paths safely, shared by every nn function that reads or writes a file (internal to
// nn: not installed).
//
// Reading: only a regular file is read. A FIFO would block the open (or the read) forever, a
// device could stream without end; both are refused before any byte is read. The open itself
// cannot block (O_NONBLOCK, cleared afterwards) and the check is made on the opened descriptor,
// so nothing can be swapped in between a check and the open.
//
// Writing: AtomicFile writes a new file and renames it over the target, so that a failed save
// leaves the previous file as it was. The target is the file a path names: a symlink is followed
// to its target (as np.save and every editor do), a path that exists but is not a regular file
// (a directory, a FIFO, a device) is refused, and an existing file keeps its permission bits (and,
// where the process may set it, its owner). The temporary file is created exclusively (O_EXCL,
// never following a symlink) with a random name in the target's directory, flushed and synced
// before the rename.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

namespace tg::nn::detail {

// Called with a problem description ("cannot open: ..."); must throw the caller's error type.
using Fail = std::function<void(const std::string& problem)>;

// Opens `path` for binary reading when it is a regular file; otherwise calls fail.
std::FILE* open_regular_file(const std::string& path, const Fail& fail);

class AtomicFile {
 public:
  AtomicFile(const std::string& path, Fail fail);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* p, std::size_t n);
  void write(const std::string& s) { write(s.data(), s.size()); }
  std::uint64_t offset() const { return offset_; }
  // Flushes, syncs and renames the temporary file over the target.
  void commit();
  // The file that commit() replaces: the path, or the final target of a symlink.
  const std::string& target() const { return target_; }

 private:
  [[noreturn]] void fail(const std::string& problem) const;
  [[noreturn]] void fail_io(const char* what) const;

  Fail fail_;
  std::string target_, tmp_;
  std::FILE* f_ = nullptr;
  std::uint64_t offset_ = 0;
  bool committed_ = false;
};

}  // namespace tg::nn::detail
