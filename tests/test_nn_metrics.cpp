// tg::nn metrics: predicted classes (argmax_rows, predict without a graph), accuracy of labels and
// the confusion matrix. Every expected value is worked out by hand in the comments.
#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "check_error.hpp"
#include "tapegrad/nn/metrics.hpp"
#include "tapegrad/nn/module.hpp"
#include "tapegrad/nn/train.hpp"

using tg::Labels;
using tg::Shape;
using tg::TensorD;
using tg::TensorF;
using tg::nn::ConfusionMatrix;

#define CHECK_ERROR(expr, Type, ...)                         \
  do {                                                       \
    CHECK_THROWS_AS((void)(expr), Type);                     \
    check_error<Type>([&] { (void)(expr); }, {__VA_ARGS__}); \
  } while (0)

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A linear layer that keeps its last output and the grad mode it ran in, so that a test can see
// what predict's forward pass recorded.
template <class T> class Recording final : public tg::nn::Module<T> {
 public:
  Recording(const tg::Tensor<T>& weight, const tg::Tensor<T>& bias) : inner_(weight, bias) {}
  tg::Tensor<T> forward(const tg::Tensor<T>& x) override {
    ran_with_grad = tg::grad_enabled();
    last = inner_.forward(x);
    return last;
  }
  std::string describe() const override { return "Recording"; }

  tg::Tensor<T> last;
  bool ran_with_grad = true;

 private:
  tg::nn::Linear<T> inner_;
};

// A model whose output ignores its input.
class Fixed final : public tg::nn::Module<double> {
 public:
  explicit Fixed(TensorD out) : out_(std::move(out)) {}
  TensorD forward(const TensorD&) override { return out_; }
  std::string describe() const override { return "Fixed"; }

 private:
  TensorD out_;
};

}  // namespace

// ============================================================================================
// argmax_rows and predict
// ============================================================================================

TEST_CASE("nn metrics: argmax_rows picks the first largest score of each row") {
  // Row 1 ties columns 0 and 1 (the first wins); row 3 holds a NaN, which counts as the largest.
  const TensorD scores =
      TensorD::matrix({{0.1, 0.7, 0.2}, {3, 3, 1}, {-1, -2, -0.5}, {1, kNaN, 2}});
  CHECK(tg::nn::argmax_rows(scores) == Labels{1, 0, 2, 1});
  const TensorF f = TensorF::matrix({{0.5f, -1.f}, {-3.f, -2.f}});
  CHECK(tg::nn::argmax_rows(f) == Labels{0, 1});
  CHECK(tg::nn::argmax_rows(TensorD::zeros(Shape{0, 3})).empty());
  CHECK(tg::nn::argmax_rows(TensorD::zeros(Shape{0, 0})).empty());
}

TEST_CASE("nn metrics: argmax_rows wants [samples, classes] with at least one class") {
  CHECK_ERROR(tg::nn::argmax_rows(TensorD::vector({1, 2, 3})), tg::ShapeError, "argmax_rows",
              "scores[3]", "not 2-d");
  CHECK_ERROR(tg::nn::argmax_rows(TensorF::zeros(Shape{2, 2, 2})), tg::ShapeError, "argmax_rows",
              "scores[2,2,2]");
  CHECK_ERROR(tg::nn::argmax_rows(TensorD::scalar(1)), tg::ShapeError, "scores[]");
  CHECK_ERROR(tg::nn::argmax_rows(TensorD()), tg::ShapeError, "argmax_rows", "undefined");
  CHECK_ERROR(tg::nn::argmax_rows(TensorD::zeros(Shape{2, 0})), tg::IndexError, "argmax_rows",
              "scores[2,0]", "no columns");
}

TEST_CASE("nn metrics: predict takes each row's argmax of the model's output, recording nothing") {
  // x W + b with W = [[1, -1], [-2, 2]], b = [0, 0.5]:
  //   [1, 0] -> [1, -0.5] -> 0;  [0, 1] -> [-2, 2.5] -> 1;  [1, 1] -> [-1, 1.5] -> 1.
  const TensorD W = TensorD::matrix({{1, -1}, {-2, 2}});
  const TensorD b = TensorD::vector({0, 0.5});
  const TensorD X = TensorD::matrix({{1, 0}, {0, 1}, {1, 1}});
  Recording<double> model(W, b);

  // Called directly, the model records a graph: what predict must avoid.
  model(X);
  REQUIRE(model.ran_with_grad);
  REQUIRE_FALSE(model.last.is_leaf());

  CHECK(tg::nn::predict(model, X) == Labels{0, 1, 1});
  CHECK_FALSE(model.ran_with_grad);
  CHECK(model.last.is_leaf());
  CHECK_FALSE(model.last.requires_grad());
  CHECK(model.last.graph_stats().nodes == 0);
  CHECK(tg::grad_enabled());  // the guard is gone once predict returns

  Recording<float> model_f(TensorF::matrix({{1, -1}, {-2, 2}}), TensorF::vector({0, 0.5f}));
  CHECK(tg::nn::predict(model_f, TensorF::matrix({{1, 0}, {0, 1}, {1, 1}})) == Labels{0, 1, 1});
  CHECK(model_f.last.is_leaf());
}

TEST_CASE("nn metrics: predict names a model output that is not one row of scores per sample") {
  const TensorD X = TensorD::zeros(Shape{3, 2});
  Fixed vector_out(TensorD::vector({1, 2, 3}));
  CHECK_ERROR(tg::nn::predict(vector_out, X), tg::ShapeError, "predict", "the model's output[3]",
              "not 2-d");
  CHECK(tg::grad_enabled());  // restored on the way out of an error too
  Fixed two_rows(TensorD::zeros(Shape{2, 4}));
  CHECK_ERROR(tg::nn::predict(two_rows, X), tg::ShapeError, "predict", "X[3,2]", "[2,4]",
              "one row of scores per row of X");
  Fixed no_classes(TensorD::zeros(Shape{3, 0}));
  CHECK_ERROR(tg::nn::predict(no_classes, X), tg::IndexError, "predict", "[3,0]", "no columns");
}

// ============================================================================================
// accuracy
// ============================================================================================

TEST_CASE("nn metrics: accuracy of predicted against actual labels") {
  // Rows 0, 2 and 4 agree: 3 of 5.
  CHECK(tg::nn::accuracy(Labels{0, 1, 2, 2, 1}, Labels{0, 2, 2, 1, 1}) == 0.6);
  CHECK(tg::nn::accuracy(Labels{4, 4}, Labels{4, 4}) == 1.0);
  CHECK(tg::nn::accuracy(Labels{0}, Labels{1}) == 0.0);
  CHECK(tg::nn::accuracy(Labels{}, Labels{}) == 0.0);  // no samples: 0, as the scores overload
}

TEST_CASE("nn metrics: accuracy of labels and accuracy of scores are overloads that agree") {
  // The argmax of the rows is {1, 0, 2}; against {1, 0, 0} two of three agree.
  const TensorD scores = TensorD::matrix({{0.1, 0.7, 0.2}, {3, 3, 1}, {-1, -2, -0.5}});
  const Labels actual{1, 0, 0};
  CHECK(tg::nn::accuracy(scores, actual) == doctest::Approx(2.0 / 3).epsilon(1e-15));
  CHECK(tg::nn::accuracy(tg::nn::argmax_rows(scores), actual) ==
        doctest::Approx(2.0 / 3).epsilon(1e-15));
  // Braced lists pick the labels overload: the scores one cannot deduce its element type.
  CHECK(tg::nn::accuracy({1, 2}, {1, 0}) == 0.5);
}

TEST_CASE("nn metrics: accuracy refuses mismatched sizes and negative labels, naming the row") {
  CHECK_ERROR(tg::nn::accuracy(Labels{0, 1, 2}, Labels{0, 1}), tg::ShapeError, "accuracy",
              "3 predicted labels but 2 actual");
  CHECK_ERROR(tg::nn::accuracy(Labels{0, -1}, Labels{0, 1}), tg::IndexError, "accuracy",
              "predicted label -1 at row 1", "negative");
  // softmax_ce's ignore_index is no label here either.
  CHECK_ERROR(tg::nn::accuracy(Labels{0, 1, 2}, Labels{0, 1, -100}), tg::IndexError, "accuracy",
              "actual label -100 at row 2");
}

// ============================================================================================
// confusion matrix
// ============================================================================================

namespace {

// (actual, predicted) pairs: (0,0) (1,1) (1,2) (2,2) (0,0) (2,1) (2,2) (1,0); class 3 never occurs
// and is never predicted.
const Labels kPredicted{0, 1, 2, 2, 0, 1, 2, 0};
const Labels kActual{0, 1, 1, 2, 0, 2, 2, 1};

}  // namespace

TEST_CASE("nn metrics: the confusion matrix counts (actual, predicted) pairs, rows actual") {
  const ConfusionMatrix cm = tg::nn::confusion_matrix(kPredicted, kActual, 4);
  CHECK(cm.classes() == 4);
  const std::vector<std::vector<std::size_t>> expected = {
      {2, 0, 0, 0},  // actual 0: twice predicted 0
      {1, 1, 1, 0},  // actual 1: once each as 0, 1, 2
      {0, 1, 2, 0},  // actual 2: once as 1, twice as 2
      {0, 0, 0, 0}};
  for (std::size_t a = 0; a < 4; ++a)
    for (std::size_t p = 0; p < 4; ++p) {
      INFO("actual " << a << ", predicted " << p);
      CHECK(cm.counts(a, p) == expected[a][p]);
    }
  CHECK(cm.total() == 8);
  CHECK(cm.correct() == 5);  // 2 + 1 + 2 on the diagonal
  CHECK(cm.accuracy() == 0.625);
  CHECK(tg::nn::accuracy(kPredicted, kActual) == 0.625);

  // Row sums (support) 2, 3, 3, 0; column sums (predicted) 3, 2, 3, 0.
  CHECK(cm.support(0) == 2);
  CHECK(cm.support(1) == 3);
  CHECK(cm.support(3) == 0);
  CHECK(cm.predicted_count(0) == 3);
  CHECK(cm.predicted_count(1) == 2);
  // precision = diagonal / column sum: 2/3, 1/2, 2/3; recall = diagonal / row sum: 1, 1/3, 2/3.
  CHECK(cm.precision(0) == doctest::Approx(2.0 / 3).epsilon(1e-15));
  CHECK(cm.precision(1) == 0.5);
  CHECK(cm.precision(2) == doctest::Approx(2.0 / 3).epsilon(1e-15));
  CHECK(cm.recall(0) == 1.0);
  CHECK(cm.recall(1) == doctest::Approx(1.0 / 3).epsilon(1e-15));
  CHECK(cm.recall(2) == doctest::Approx(2.0 / 3).epsilon(1e-15));
  // Class 3: 0/0 for both, which is 0 (zero_division = 0).
  CHECK(cm.precision(3) == 0.0);
  CHECK(cm.recall(3) == 0.0);
}

TEST_CASE("nn metrics: the confusion matrix prints as an aligned table") {
  const ConfusionMatrix cm = tg::nn::confusion_matrix(kPredicted, kActual, 4);
  CHECK(cm.str() ==
        "actual\\predicted       0       1       2       3  recall\n"
        "               0       2       0       0       0  1.0000\n"
        "               1       1       1       1       0  0.3333\n"
        "               2       0       1       2       0  0.6667\n"
        "               3       0       0       0       0  0.0000\n"
        "       precision  0.6667  0.5000  0.6667  0.0000\n"
        "accuracy 0.6250 (5 of 8)\n");

  // A count wider than "0.0000" widens every column.
  ConfusionMatrix big(2);
  for (int i = 0; i < 1000000; ++i) big.add(0, 0);
  CHECK(big.str() ==
        "actual\\predicted        0        1   recall\n"
        "               0  1000000        0   1.0000\n"
        "               1        0        0   0.0000\n"
        "       precision   1.0000   0.0000\n"
        "accuracy 1.0000 (1000000 of 1000000)\n");

  const ConfusionMatrix none = tg::nn::confusion_matrix({}, {}, 0);
  CHECK(none.total() == 0);
  CHECK(none.accuracy() == 0.0);
  CHECK(none.str() ==
        "actual\\predicted  recall\n"
        "       precision\n"
        "accuracy 0.0000 (0 of 0)\n");
}

TEST_CASE("nn metrics: confusion_matrix refuses mismatched sizes and labels outside the classes") {
  CHECK_ERROR(tg::nn::confusion_matrix({0, 1}, {0}, 2), tg::ShapeError, "confusion_matrix",
              "2 predicted labels but 1 actual");
  CHECK_ERROR(tg::nn::confusion_matrix({0, 1, 2}, {0, 4, 1}, 4), tg::IndexError, "confusion_matrix",
              "actual label 4 at row 1", "4 classes", "0..3");
  CHECK_ERROR(tg::nn::confusion_matrix({0, -1}, {0, 1}, 2), tg::IndexError, "confusion_matrix",
              "predicted label -1 at row 1");
  CHECK_ERROR(tg::nn::confusion_matrix({0}, {0}, 0), tg::IndexError, "label 0 at row 0",
              "0 classes");
  CHECK_ERROR(tg::nn::confusion_matrix({}, {}, std::size_t(1) << 31), tg::ShapeError,
              "confusion_matrix", "[2147483648,2147483648]", "too large");
  CHECK_ERROR(ConfusionMatrix(std::size_t(1) << 31), tg::ShapeError, "ConfusionMatrix",
              "too large");

  ConfusionMatrix cm(3);
  CHECK_ERROR(cm.add(3, 0), tg::IndexError, "ConfusionMatrix::add", "class 3", "0..2");
  CHECK_ERROR(cm.counts(0, 5), tg::IndexError, "ConfusionMatrix::counts", "class 5");
  CHECK_ERROR(cm.precision(3), tg::IndexError, "ConfusionMatrix::precision", "class 3");
  CHECK_ERROR(cm.recall(9), tg::IndexError, "ConfusionMatrix::recall", "class 9");
  CHECK(cm.total() == 0);  // the refused add counted nothing
}
