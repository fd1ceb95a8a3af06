// Training progress: one line per epoch (loss, accuracy where it applies, samples per second,
// time left), and the history as CSV or as a PNG drawn by gnuplot.
#pragma once

#include <chrono>
#include <cstddef>
#include <iosfwd>
#include <string>
#include <vector>

#include "tapegrad/ops.hpp"

namespace tg::nn {

struct EpochRecord {
  std::size_t epoch = 0;
  double loss = 0;
  double accuracy = -1;       // < 0: not applicable
  double test_accuracy = -1;  // < 0: not measured
  double samples_per_second = 0;
  double seconds = 0;  // this epoch's wall time
};

class ProgressLog {
 public:
  // `out` may be null to record silently.
  ProgressLog(std::size_t total_epochs, std::ostream* out);
  // Call at the start of each epoch (starts its clock).
  void begin_epoch();
  // Records and prints "epoch 3/10  loss 0.421300  acc 0.8512  test 0.8400  52100 samples/s
  // 1.2 s  left 8.4 s".
  const EpochRecord& end_epoch(double loss, std::size_t samples, double accuracy = -1,
                               double test_accuracy = -1);
  const std::vector<EpochRecord>& history() const { return history_; }
  // epoch,loss,accuracy,test_accuracy,samples_per_second,seconds. Written like save_npy
  // (serialize.hpp): atomically through a uniquely named temporary file, through a symlink to its
  // target, keeping an existing file's permission bits, refusing a path that is not a regular
  // file. Failures throw tg::Error naming the path.
  void write_csv(const std::string& path) const;
  // A gnuplot script that draws the history: the loss against the epoch on the left axis, the
  // accuracy and test accuracy (those recorded in some epoch) on the right. The data are inline,
  // so the script stands alone. Strings are single-quoted, where gnuplot neither expands
  // backquotes nor reads backslashes; control characters are spliced in as double-quoted escapes.
  // With an empty output_path the PNG goes to standard output. Error when nothing was recorded.
  std::string gnuplot_script(const std::string& title, const std::string& output_path = "") const;
  // The history drawn by gnuplot (found on PATH, run directly: no shell) into a 960x600 PNG,
  // written like write_csv. gnuplot writes to a pipe, so the path never enters its script. Errors
  // (tg::Error naming the path): gnuplot missing ("gnuplot not found: install gnuplot-nox"),
  // failing (its exit status and standard error), or writing no PNG.
  void write_png(const std::string& path, const std::string& title) const;

 private:
  std::size_t total_;
  std::ostream* out_;
  std::chrono::steady_clock::time_point epoch_start_;
  std::vector<EpochRecord> history_;
};

// Fraction of rows whose largest score is at the label's column (ties: first maximum; a NaN is the
// largest, as in torch.argmax: the same classes as argmax_rows and predict in metrics.hpp).
// ShapeError unless scores is [n, C] with n labels; IndexError for a label outside 0..C-1 (as
// one_hot; -100, which softmax_ce ignores by default, is an error here too), naming the label and
// its row.
template <class T> double accuracy(const Tensor<T>& scores, const Labels& labels);

}  // namespace tg::nn
