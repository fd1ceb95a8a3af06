#include "file_io.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <random>
#include <system_error>

namespace tg::nn::detail {
namespace {

std::string errno_text(int err) {
  return std::error_code(err, std::generic_category()).message();
}

[[noreturn]] void fail_with(const Fail& fail, const std::string& problem) {
  fail(problem);
  std::abort();  // a Fail that returns is a bug in the caller
}

const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

std::string directory_of(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) return "";
  return path.substr(0, slash + 1);
}

}  // namespace

std::FILE* open_regular_file(const std::string& path, const Fail& fail) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) fail_with(fail, "cannot open: " + errno_text(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    fail_with(fail, "cannot open: " + errno_text(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail_with(fail,
              std::string("cannot open: it is ") + kind_of(st.st_mode) + ", not a regular file");
  }
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
    const int err = errno;
    ::close(fd);
    fail_with(fail, "cannot open: " + errno_text(err));
  }
  std::FILE* f = ::fdopen(fd, "rb");
  if (!f) {
    const int err = errno;
    ::close(fd);
    fail_with(fail, "cannot open: " + errno_text(err));
  }
  return f;
}

AtomicFile::AtomicFile(const std::string& path, Fail fail) : fail_(std::move(fail)) {
  // The target: follow symlinks (each relative one from its own directory) to the file they name.
  std::string target = path;
  struct stat st {};
  bool exists = false;
  for (int hops = 0;; ++hops) {
    if (::lstat(target.c_str(), &st) != 0) {
      if (errno != ENOENT) this->fail("cannot examine " + target + ": " + errno_text(errno));
      break;  // a new file (or a dangling symlink's target, created as np.save would)
    }
    if (!S_ISLNK(st.st_mode)) {
      exists = true;
      break;
    }
    if (hops == 40) this->fail("too many levels of symbolic links");
    std::string link(static_cast<std::size_t>(st.st_size > 0 ? st.st_size : 255) + 1, '\0');
    const ssize_t n = ::readlink(target.c_str(), link.data(), link.size());
    if (n < 0) this->fail("cannot read the symbolic link " + target + ": " + errno_text(errno));
    if (static_cast<std::size_t>(n) >= link.size())
      this->fail("the symbolic link " + target + " changed while it was read");
    link.resize(static_cast<std::size_t>(n));
    target = link.starts_with('/') ? link : directory_of(target) + link;
  }
  if (exists && !S_ISREG(st.st_mode))
    this->fail(target == path ? std::string("it exists and is ") + kind_of(st.st_mode) +
                                    ", not a regular file: refusing to replace it"
                              : "its target " + target + " exists and is " + kind_of(st.st_mode) +
                                    ", not a regular file: refusing to replace it");
  target_ = std::move(target);

  thread_local std::mt19937_64 rng{std::random_device{}() ^ reinterpret_cast<std::uintptr_t>(&rng)};
  static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  // An existing file's bits are applied once the temporary is ours; until then nobody else may
  // read it (the old file may have been private).
  const mode_t create_mode = exists ? 0600 : 0666;
  int err = 0, fd = -1;
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::string tmp = target_ + ".tmp-";
    for (int i = 0; i < 6; ++i) tmp += alphabet[rng() % (sizeof alphabet - 1)];
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, create_mode);
    if (fd >= 0) {
      tmp_ = std::move(tmp);
      break;
    }
    err = errno;
    if (err != EEXIST) break;
  }
  if (fd < 0)
    this->fail("cannot create a temporary file next to " +
               (target_ == path ? std::string("it") : target_) + " (" + target_ +
               ".tmp-XXXXXX): " + errno_text(err));
  f_ = ::fdopen(fd, "wb");
  if (!f_) {
    err = errno;
    ::close(fd);
    ::unlink(tmp_.c_str());
    tmp_.clear();
    this->fail("cannot open the temporary file: " + errno_text(err));
  }
  if (exists) {
    // The owner first: changing it may clear the set-id bits that fchmod then restores.
    if (st.st_uid != ::geteuid() || st.st_gid != ::getegid())
      (void)::fchown(fd, st.st_uid, st.st_gid);  // best effort: only root may give a file away
    if (::fchmod(fd, st.st_mode & 07777) != 0) {
      err = errno;
      std::fclose(f_);  // the destructor does not run when the constructor throws
      f_ = nullptr;
      ::unlink(tmp_.c_str());
      this->fail("cannot set the permissions of the temporary file " + tmp_ + ": " +
                 errno_text(err));
    }
  }
}

AtomicFile::~AtomicFile() {
  if (f_) std::fclose(f_);
  if (!committed_ && !tmp_.empty()) ::unlink(tmp_.c_str());
}

void AtomicFile::write(const void* p, std::size_t n) {
  if (n && std::fwrite(p, 1, n, f_) != n) fail_io("write to");
  offset_ += n;
}

void AtomicFile::commit() {
  if (std::fflush(f_) != 0 || std::ferror(f_)) fail_io("write to");
  if (::fsync(fileno(f_)) != 0 && errno != EINVAL && errno != ENOTSUP) fail_io("sync");
  std::FILE* f = f_;
  f_ = nullptr;
  if (std::fclose(f) != 0) fail_io("close");
  if (::rename(tmp_.c_str(), target_.c_str()) != 0)
    fail("cannot rename the temporary file " + tmp_ + " over " + target_ + ": " +
         errno_text(errno) + " (the previous file, if any, is unchanged)");
  committed_ = true;
}

void AtomicFile::fail(const std::string& problem) const {
  fail_with(fail_, problem);
}

void AtomicFile::fail_io(const char* what) const {
  fail(std::string("cannot ") + what + " the temporary file " + tmp_ + ": " + errno_text(errno) +
       " (the previous file, if any, is unchanged)");
}

}  // namespace tg::nn::detail
