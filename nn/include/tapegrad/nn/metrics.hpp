// Classification metrics: a model's predicted classes, accuracy and the confusion matrix with
// per-class precision and recall.
//
//   tg::Labels predicted = tg::nn::predict(net, X_test);   // argmax of each row, no graph
//   double acc = tg::nn::accuracy(predicted, y_test);
//   auto cm = tg::nn::confusion_matrix(predicted, y_test, 10);
//   std::cout << cm.str();                                   // counts, recall, precision
//
// A class label is an integer in 0..classes-1; every function here refuses any other with an
// IndexError naming the label and its row, as one_hot and accuracy(scores, labels) do.
//
// A ratio whose denominator is 0 (the accuracy of no samples, the precision of a class never
// predicted, the recall of a class that never occurs) is 0, as scikit-learn's zero_division=0:
// a table of metrics then holds numbers only, and such a class shows as the failure it is.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "tapegrad/nn/module.hpp"
#include "tapegrad/ops.hpp"
#include "tapegrad/tensor.hpp"

namespace tg::nn {

// The column of the largest score in each row of scores[n, C] (tg::argmax along axis 1: the
// first maximum on ties, a NaN counts as the largest). ShapeError unless scores is 2-d,
// IndexError when it has no columns (C = 0: no class to pick) and n > 0.
template <class T> Labels argmax_rows(const Tensor<T>& scores);

// The model's predicted class for each row of X: argmax_rows(model(X)), with the forward pass
// run under a NoGradGuard so that it records no graph (and keeps no activations alive).
// ShapeError when the model's output is not [n, C] with one row per row of X.
template <class T> Labels predict(Module<T>& model, const Tensor<T>& X);

// The fraction of rows where predicted equals actual (0 for no rows). ShapeError when the sizes
// differ; IndexError for a negative label in either, naming it and its row. (Overloads
// accuracy(scores, labels) of train.hpp, which takes the scores themselves.)
double accuracy(const Labels& predicted, const Labels& actual);

// Counts of (actual class, predicted class) pairs: rows are the actual class, columns the
// predicted one, as scikit-learn's confusion_matrix.
class ConfusionMatrix {
 public:
  // `classes` x `classes` counts, all 0. ShapeError when no buffer could hold them.
  explicit ConfusionMatrix(std::size_t classes);

  // Counts one sample; IndexError for a class outside 0..classes-1.
  void add(std::size_t actual, std::size_t predicted);

  std::size_t classes() const { return classes_; }
  // Samples of class `actual` predicted as `predicted`; IndexError outside 0..classes-1.
  std::size_t counts(std::size_t actual, std::size_t predicted) const;
  // Every sample counted, and those on the diagonal.
  std::size_t total() const { return total_; }
  std::size_t correct() const;
  // Samples whose actual class is c (row sum) and those predicted as c (column sum).
  std::size_t support(std::size_t c) const;
  std::size_t predicted_count(std::size_t c) const;

  // correct / total. Of class c: precision = counts(c, c) / predicted_count(c), recall =
  // counts(c, c) / support(c). Each is 0 when its denominator is 0 (see the top of this file);
  // IndexError for c outside 0..classes-1.
  double accuracy() const;
  double precision(std::size_t c) const;
  double recall(std::size_t c) const;

  // The counts as a right-aligned table, a recall column, a precision row and the accuracy:
  //
  //   actual\predicted       0       1  recall
  //                  0       2       1  0.6667
  //                  1       0       1  1.0000
  //          precision  1.0000  0.5000
  //   accuracy 0.7500 (3 of 4)
  std::string str() const;

 private:
  void check_class(const char* fn, std::size_t c) const;

  std::size_t classes_;
  std::size_t total_ = 0;
  std::vector<std::size_t> counts_;  // row-major [actual, predicted]
};

// The confusion matrix of predicted against actual labels. ShapeError when the sizes differ;
// IndexError for a label outside 0..classes-1, naming it and its row.
ConfusionMatrix confusion_matrix(const Labels& predicted, const Labels& actual,
                                 std::size_t classes);

}  // namespace tg::nn
