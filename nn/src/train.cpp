#include "tapegrad/nn/train.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <functional>
#include <ostream>
#include <sstream>
#include <system_error>
#include <vector>

#include "file_io.hpp"
#include "label_checks.hpp"
#include "tapegrad/nn/metrics.hpp"

extern char** environ;

namespace tg::nn {
namespace {

// A gnuplot string literal holding `text` exactly. Single quotes keep backquotes (which gnuplot
// runs as shell commands inside double quotes) and backslashes literal; a single quote doubles.
// A control character cannot appear inside them, so it is joined on as a double-quoted octal
// escape: 'a'."\012".'b'.
std::string gnuplot_string(const std::string& text) {
  std::string out;
  bool open = false;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) {
      if (open) out += '\'';
      open = false;
      char escape[8];
      std::snprintf(escape, sizeof escape, "\"\\%03o\"", c);
      if (!out.empty()) out += '.';
      out += escape;
      continue;
    }
    if (!open) {
      if (!out.empty()) out += '.';
      out += '\'';
      open = true;
    }
    out += ch;
    if (ch == '\'') out += '\'';
  }
  if (open) out += '\'';
  return out.empty() ? "''" : out;
}

// Shortest round-trip text, independent of the locale; gnuplot skips NaN points.
std::string data_value(double v) {
  if (!std::isfinite(v)) return "NaN";
  char buf[32];
  return std::string(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

std::string errno_text(int err) {
  return std::error_code(err, std::generic_category()).message();
}

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

struct Finished {
  int status = 0;  // as waitpid's
  std::string out, err;
};

// Runs `program` (searched on PATH, no shell) with `arguments` and `input` on its standard input,
// collecting its standard output and error. The three streams are served together (poll), so a
// child that writes a lot before reading everything cannot deadlock with us. Standard input is a
// socket so that a child that stops reading gives EPIPE (MSG_NOSIGNAL) rather than a SIGPIPE that
// would kill this process. `fail` is called (and must throw) when the program cannot be started.
Finished run_program(const std::string& program, const std::vector<std::string>& arguments,
                     const std::string& input,
                     const std::function<void(const std::string&, int)>& fail) {
  const auto fail_errno = [&](const std::string& what) {
    const int err = errno;
    fail(what + ": " + errno_text(err), err);
  };
  int in_pair[2], out_pair[2], err_pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in_pair) != 0)
    fail_errno("cannot create a socket pair");
  Fd in_parent(in_pair[0]), in_child(in_pair[1]);
  if (::pipe2(out_pair, O_CLOEXEC) != 0) fail_errno("cannot create a pipe");
  Fd out_parent(out_pair[0]), out_child(out_pair[1]);
  if (::pipe2(err_pair, O_CLOEXEC) != 0) fail_errno("cannot create a pipe");
  Fd err_parent(err_pair[0]), err_child(err_pair[1]);

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attributes;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attributes);
  // dup2 clears close-on-exec on the copies; every other descriptor of ours stays closed.
  posix_spawn_file_actions_adddup2(&actions, in_child.get(), 0);
  posix_spawn_file_actions_adddup2(&actions, out_child.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, err_child.get(), 2);
  // The child starts with default signal handling and nothing blocked, whatever this process
  // (a test runner, a server ignoring SIGPIPE) has set.
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setsigdefault(&attributes, &defaults);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<std::string> strings = arguments;
  strings.insert(strings.begin(), program);
  std::vector<char*> argv;
  for (auto& a : strings) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int spawned =
      ::posix_spawnp(&pid, program.c_str(), &actions, &attributes, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (spawned != 0) fail("cannot run " + program + ": " + errno_text(spawned), spawned);
  in_child.reset();
  out_child.reset();
  err_child.reset();

  Finished result;
  std::size_t written = 0;
  int problem = 0;
  if (input.empty()) in_parent.reset();
  while (in_parent.get() >= 0 || out_parent.get() >= 0 || err_parent.get() >= 0) {
    pollfd fds[3] = {{in_parent.get(), POLLOUT, 0},
                     {out_parent.get(), POLLIN, 0},
                     {err_parent.get(), POLLIN, 0}};
    if (::poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      problem = errno;
      break;
    }
    if (fds[0].revents) {
      const ssize_t n = ::send(in_parent.get(), input.data() + written, input.size() - written,
                               MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) written += std::size_t(n);
      // A child that exits before reading everything reports that through its status.
      if ((n < 0 && errno != EINTR && errno != EAGAIN) || written == input.size())
        in_parent.reset();
    }
    for (int k = 1; k < 3; ++k) {
      if (!fds[k].revents) continue;
      Fd& fd = k == 1 ? out_parent : err_parent;
      std::string& sink = k == 1 ? result.out : result.err;
      char buf[65536];
      const ssize_t n = ::read(fd.get(), buf, sizeof buf);
      if (n > 0)
        sink.append(buf, std::size_t(n));
      else if (n == 0 || errno != EINTR)
        fd.reset();
    }
  }
  // Closing our ends first lets a child still writing or reading see the end and exit.
  in_parent.reset();
  out_parent.reset();
  err_parent.reset();
  while (::waitpid(pid, &result.status, 0) < 0 && errno == EINTR) {
  }
  if (problem) fail("cannot read from " + program + ": " + errno_text(problem), problem);
  return result;
}

// The end of a program's standard error (at most its last 2000 characters, trimmed), for an
// error message.
std::string tail_of(const std::string& text) {
  const std::size_t end = text.find_last_not_of(" \t\r\n");
  if (end == std::string::npos) return "(nothing on standard error)";
  const std::size_t limit = 2000;
  const std::size_t begin =
      text.find_first_not_of(" \t\r\n", end + 1 > limit ? end + 1 - limit : 0);
  return text.substr(begin, end + 1 - begin);
}

}  // namespace

ProgressLog::ProgressLog(std::size_t total_epochs, std::ostream* out)
    : total_(total_epochs), out_(out), epoch_start_(std::chrono::steady_clock::now()) {}

void ProgressLog::begin_epoch() {
  epoch_start_ = std::chrono::steady_clock::now();
}

const EpochRecord& ProgressLog::end_epoch(double loss, std::size_t samples, double accuracy,
                                          double test_accuracy) {
  EpochRecord r;
  r.epoch = history_.size() + 1;
  r.loss = loss;
  r.accuracy = accuracy;
  r.test_accuracy = test_accuracy;
  r.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start_).count();
  r.samples_per_second = r.seconds > 0 ? double(samples) / r.seconds : 0;
  history_.push_back(r);
  if (out_) {
    double total_seconds = 0;
    for (const auto& h : history_) total_seconds += h.seconds;
    const double left =
        total_ > r.epoch ? total_seconds / double(r.epoch) * double(total_ - r.epoch) : 0;
    char line[256];
    int n = std::snprintf(line, sizeof line, "epoch %zu/%zu  loss %.6f", r.epoch, total_, loss);
    if (accuracy >= 0) n += std::snprintf(line + n, sizeof line - n, "  acc %.4f", accuracy);
    if (test_accuracy >= 0)
      n += std::snprintf(line + n, sizeof line - n, "  test %.4f", test_accuracy);
    std::snprintf(line + n, sizeof line - n, "  %.0f samples/s  %.2f s  left %.1f s",
                  r.samples_per_second, r.seconds, left);
    *out_ << line << std::endl;
  }
  return history_.back();
}

void ProgressLog::write_csv(const std::string& path) const {
  std::ostringstream text;
  text << "epoch,loss,accuracy,test_accuracy,samples_per_second,seconds\n";
  for (const auto& r : history_)
    text << r.epoch << ',' << r.loss << ',' << r.accuracy << ',' << r.test_accuracy << ','
         << r.samples_per_second << ',' << r.seconds << '\n';
  detail::AtomicFile out(path, [&](const std::string& problem) {
    throw Error("write_csv: " + path + ": " + problem);
  });
  out.write(text.str());
  out.commit();
}

std::string ProgressLog::gnuplot_script(const std::string& title,
                                        const std::string& output_path) const {
  if (history_.empty()) throw Error("gnuplot_script: no epochs recorded: nothing to plot");
  bool has_accuracy = false, has_test = false;
  for (const auto& r : history_) {
    has_accuracy = has_accuracy || r.accuracy >= 0;
    has_test = has_test || r.test_accuracy >= 0;
  }
  std::ostringstream s;
  s << "# A training history (loss; accuracy and test accuracy where recorded) from tapegrad.\n"
    // noenhanced: a title's ^ _ @ & { } are text, not markup.
    << "set terminal pngcairo size 960,600 noenhanced\n";
  if (!output_path.empty()) s << "set output " << gnuplot_string(output_path) << "\n";
  s << "set title " << gnuplot_string(title) << "\n"
    << "set xlabel 'epoch'\n"
    << "set ylabel 'loss'\n"
    << "set grid\n"
    << "set key outside bottom center horizontal\n";
  if (has_accuracy || has_test)
    s << "set ytics nomirror\n"
      << "set y2label 'accuracy'\n"
      << "set y2tics\n";
  s << "$history << EOD\n"
    << "# epoch loss accuracy test_accuracy\n";
  for (const auto& r : history_)
    s << r.epoch << ' ' << data_value(r.loss) << ' '
      << data_value(r.accuracy >= 0 ? r.accuracy : NAN) << ' '
      << data_value(r.test_accuracy >= 0 ? r.test_accuracy : NAN) << '\n';
  s << "EOD\n"
    << "plot $history using 1:2 axes x1y1 with linespoints title 'loss'";
  if (has_accuracy)
    s << ", \\\n     $history using 1:3 axes x1y2 with linespoints title 'accuracy'";
  if (has_test)
    s << ", \\\n     $history using 1:4 axes x1y2 with linespoints title 'test accuracy'";
  s << "\n";
  return s.str();
}

void ProgressLog::write_png(const std::string& path, const std::string& title) const {
  const auto fail = [&](const std::string& problem) {
    throw Error("write_png: " + path + ": " + problem);
  };
  if (history_.empty()) fail("no epochs recorded: nothing to plot");
  const std::string script = gnuplot_script(title);
  // Opened first: an unwritable path fails before gnuplot runs, and the old file stays until
  // the new one is complete.
  detail::AtomicFile out(path, fail);
  // --default-settings: a user's ~/.gnuplot cannot change the terminal or the output.
  const Finished run = run_program(
      "gnuplot", {"--default-settings"}, script, [&](const std::string& problem, int err) {
        fail(err == ENOENT ? "gnuplot not found: install gnuplot-nox (or put gnuplot on PATH)"
                           : problem);
      });
  if (WIFSIGNALED(run.status))
    fail("gnuplot was killed by signal " + std::to_string(WTERMSIG(run.status)) + ": " +
         tail_of(run.err));
  if (!WIFEXITED(run.status) || WEXITSTATUS(run.status) != 0)
    fail("gnuplot failed (exit status " + std::to_string(WEXITSTATUS(run.status)) +
         "): " + tail_of(run.err));
  static const char signature[] = "\x89PNG\r\n\x1a\n";
  if (run.out.compare(0, 8, signature, 8) != 0)
    fail("gnuplot wrote no PNG (" + std::to_string(run.out.size()) +
         " bytes on standard output): " + tail_of(run.err));
  out.write(run.out);
  out.commit();
}

template <class T> double accuracy(const Tensor<T>& scores, const Labels& labels) {
  if (scores.ndim() != 2 || scores.dim(0) != labels.size())
    throw ShapeError("accuracy: needs scores[n,C] and n labels, got scores" + scores.shape().str() +
                     " and " + std::to_string(labels.size()) + " labels");
  detail::check_labels("accuracy", "label", labels, scores.dim(1));
  if (scores.dim(0) == 0) return 0;
  // One argmax for every function that turns scores into classes (a NaN is the largest score,
  // as in torch.argmax), so that accuracy(scores, y) == accuracy(argmax_rows(scores), y).
  return accuracy(argmax_rows(scores), labels);
}

template double accuracy(const Tensor<float>&, const Labels&);
template double accuracy(const Tensor<double>&, const Labels&);

}  // namespace tg::nn
