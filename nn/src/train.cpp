#include "tapegrad/nn/train.hpp"

#include <cstdio>
#include <ostream>
#include <sstream>

#include "file_io.hpp"

namespace tg::nn {

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

template <class T> double accuracy(const Tensor<T>& scores, const Labels& labels) {
  if (scores.ndim() != 2 || scores.dim(0) != labels.size())
    throw ShapeError("accuracy: needs scores[n,C] and n labels, got scores" + scores.shape().str() +
                     " and " + std::to_string(labels.size()) + " labels");
  const std::size_t n = scores.dim(0), classes = scores.dim(1);
  for (std::size_t i = 0; i < n; ++i)
    if (labels[i] < 0 || static_cast<std::uint64_t>(labels[i]) >= classes)
      throw IndexError("accuracy: label " + std::to_string(labels[i]) + " at row " +
                       std::to_string(i) + " is out of range for " + std::to_string(classes) +
                       " classes" +
                       (classes ? " (valid 0.." + std::to_string(classes - 1) + ")" : ""));
  if (n == 0) return 0;
  std::size_t correct = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const T* row = scores.data() + i * classes;
    std::size_t best = 0;
    for (std::size_t c = 1; c < classes; ++c)
      if (row[c] > row[best]) best = c;
    correct += std::int64_t(best) == labels[i];
  }
  return double(correct) / double(n);
}

template double accuracy(const Tensor<float>&, const Labels&);
template double accuracy(const Tensor<double>&, const Labels&);

}  // namespace tg::nn
