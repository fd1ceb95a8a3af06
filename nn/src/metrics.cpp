// Predicted classes, accuracy and the confusion matrix (see metrics.hpp).
#include "tapegrad/nn/metrics.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>

#include "label_checks.hpp"
#include "tapegrad/errors.hpp"

namespace tg::nn {

namespace detail {

void check_labels(const char* fn, const char* what, const Labels& labels,
                  std::optional<std::size_t> classes) {
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const std::int64_t l = labels[i];
    const bool negative = l < 0;
    if (!negative && (!classes || static_cast<std::uint64_t>(l) < *classes)) continue;
    std::string msg = std::string(fn) + ": " + what + " " + std::to_string(l) + " at row " +
                      std::to_string(i) + " is ";
    if (!classes) {
      msg += "negative (a class label is 0 or more)";
    } else {
      msg += "out of range for " + std::to_string(*classes) + " classes";
      if (*classes) msg += " (valid 0.." + std::to_string(*classes - 1) + ")";
    }
    throw IndexError(msg);
  }
}

}  // namespace detail

namespace {

template <class T> Labels rows_argmax(const char* fn, const char* name, const Tensor<T>& scores) {
  if (!scores.defined()) throw ShapeError(std::string(fn) + ": " + name + " is undefined");
  if (scores.ndim() != 2)
    throw ShapeError(std::string(fn) + ": " + describe(name, scores) +
                     " is not 2-d; expected [samples, classes]");
  // Checked here rather than left to argmax so that the message names this function.
  if (scores.dim(1) == 0 && scores.dim(0) > 0)
    throw IndexError(std::string(fn) + ": " + describe(name, scores) +
                     " has no columns, so no class to pick");
  if (scores.dim(0) == 0) return {};
  return tg::argmax(scores, 1).values;
}

void check_same_size(const char* fn, const Labels& predicted, const Labels& actual) {
  if (predicted.size() != actual.size())
    throw ShapeError(std::string(fn) + ": " + std::to_string(predicted.size()) +
                     " predicted labels but " + std::to_string(actual.size()) + " actual ones");
}

double ratio(std::size_t num, std::size_t den) {
  return den == 0 ? 0.0 : double(num) / double(den);
}

}  // namespace

template <class T> Labels argmax_rows(const Tensor<T>& scores) {
  return rows_argmax("argmax_rows", "scores", scores);
}

template <class T> Labels predict(Module<T>& model, const Tensor<T>& X) {
  Tensor<T> out;
  {
    NoGradGuard no_grad;
    out = model(X);
  }
  Labels labels = rows_argmax("predict", "the model's output", out);
  if (X.defined() && X.ndim() > 0 && X.dim(0) != labels.size())
    throw ShapeError("predict: the model maps " + describe("X", X) + " to " + out.shape().str() +
                     "; expected one row of scores per row of X");
  return labels;
}

double accuracy(const Labels& predicted, const Labels& actual) {
  check_same_size("accuracy", predicted, actual);
  detail::check_labels("accuracy", "predicted label", predicted, std::nullopt);
  detail::check_labels("accuracy", "actual label", actual, std::nullopt);
  std::size_t correct = 0;
  for (std::size_t i = 0; i < predicted.size(); ++i) correct += predicted[i] == actual[i];
  return ratio(correct, predicted.size());
}

// ---- ConfusionMatrix ------------------------------------------------------------------------

ConfusionMatrix::ConfusionMatrix(std::size_t classes) : classes_(classes) {
  Shape{classes, classes}.checked_bytes(sizeof(std::size_t), "ConfusionMatrix");
  counts_.assign(classes * classes, 0);
}

void ConfusionMatrix::check_class(const char* fn, std::size_t c) const {
  if (c >= classes_)
    throw IndexError(std::string("ConfusionMatrix::") + fn + ": class " + std::to_string(c) +
                     " is out of range for " + std::to_string(classes_) + " classes" +
                     (classes_ ? " (valid 0.." + std::to_string(classes_ - 1) + ")" : ""));
}

void ConfusionMatrix::add(std::size_t actual, std::size_t predicted) {
  check_class("add", actual);
  check_class("add", predicted);
  ++counts_[actual * classes_ + predicted];
  ++total_;
}

std::size_t ConfusionMatrix::counts(std::size_t actual, std::size_t predicted) const {
  check_class("counts", actual);
  check_class("counts", predicted);
  return counts_[actual * classes_ + predicted];
}

std::size_t ConfusionMatrix::correct() const {
  std::size_t n = 0;
  for (std::size_t c = 0; c < classes_; ++c) n += counts_[c * classes_ + c];
  return n;
}

std::size_t ConfusionMatrix::support(std::size_t c) const {
  check_class("support", c);
  std::size_t n = 0;
  for (std::size_t p = 0; p < classes_; ++p) n += counts_[c * classes_ + p];
  return n;
}

std::size_t ConfusionMatrix::predicted_count(std::size_t c) const {
  check_class("predicted_count", c);
  std::size_t n = 0;
  for (std::size_t a = 0; a < classes_; ++a) n += counts_[a * classes_ + c];
  return n;
}

double ConfusionMatrix::accuracy() const {
  return ratio(correct(), total_);
}

double ConfusionMatrix::precision(std::size_t c) const {
  check_class("precision", c);
  return ratio(counts_[c * classes_ + c], predicted_count(c));
}

double ConfusionMatrix::recall(std::size_t c) const {
  check_class("recall", c);
  return ratio(counts_[c * classes_ + c], support(c));
}

std::string ConfusionMatrix::str() const {
  static const std::string corner = "actual\\predicted", precision_label = "precision";
  auto fixed4 = [](double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4f", v);
    return std::string(buf);
  };
  auto pad = [](const std::string& s, std::size_t width) {
    return std::string(width > s.size() ? width - s.size() : 0, ' ') + s;
  };
  // Every cell column is as wide as its widest entry could be: a count, a class number or a
  // ratio "0.0000"; the first column as its header.
  std::size_t width = 6;
  for (std::size_t v : counts_) width = std::max(width, std::to_string(v).size());
  if (classes_) width = std::max(width, std::to_string(classes_ - 1).size());
  const std::size_t first = std::max(corner.size(), std::to_string(classes_).size());

  std::string out = pad(corner, first);
  for (std::size_t p = 0; p < classes_; ++p) out += "  " + pad(std::to_string(p), width);
  out += "  " + pad("recall", width) + "\n";
  for (std::size_t a = 0; a < classes_; ++a) {
    out += pad(std::to_string(a), first);
    for (std::size_t p = 0; p < classes_; ++p)
      out += "  " + pad(std::to_string(counts_[a * classes_ + p]), width);
    out += "  " + pad(fixed4(recall(a)), width) + "\n";
  }
  out += pad(precision_label, first);
  for (std::size_t p = 0; p < classes_; ++p) out += "  " + pad(fixed4(precision(p)), width);
  out += "\naccuracy " + fixed4(accuracy()) + " (" + std::to_string(correct()) + " of " +
         std::to_string(total_) + ")\n";
  return out;
}

ConfusionMatrix confusion_matrix(const Labels& predicted, const Labels& actual,
                                 std::size_t classes) {
  check_same_size("confusion_matrix", predicted, actual);
  // Checked under this function's name before the constructor would under its own.
  Shape{classes, classes}.checked_bytes(sizeof(std::size_t), "confusion_matrix");
  detail::check_labels("confusion_matrix", "predicted label", predicted, classes);
  detail::check_labels("confusion_matrix", "actual label", actual, classes);
  ConfusionMatrix cm(classes);
  for (std::size_t i = 0; i < predicted.size(); ++i)
    cm.add(static_cast<std::size_t>(actual[i]), static_cast<std::size_t>(predicted[i]));
  return cm;
}

template Labels argmax_rows(const Tensor<float>&);
template Labels argmax_rows(const Tensor<double>&);
template Labels predict(Module<float>&, const Tensor<float>&);
template Labels predict(Module<double>&, const Tensor<double>&);

}  // namespace tg::nn
