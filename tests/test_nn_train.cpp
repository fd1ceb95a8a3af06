// Progress reporting, loss history CSV, accuracy.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tapegrad/nn/train.hpp"

using tg::TensorD;

TEST_CASE("accuracy counts rows whose largest score is at the label") {
  TensorD scores = TensorD::matrix({{0.1, 0.7, 0.2}, {0.5, 0.4, 0.1}, {0.2, 0.2, 0.6}, {1, 0, 0}});
  CHECK(tg::nn::accuracy(scores, {1, 0, 2, 1}) == doctest::Approx(0.75));
  CHECK_THROWS_AS(tg::nn::accuracy(scores, {1, 0}), tg::ShapeError);
}

TEST_CASE("the progress log prints one line per epoch and writes the history as CSV") {
  std::ostringstream out;
  tg::nn::ProgressLog log(3, &out);
  log.begin_epoch();
  log.end_epoch(0.5, 1000, 0.8);
  log.begin_epoch();
  const auto& r = log.end_epoch(0.25, 1000, 0.9, 0.85);
  CHECK(r.epoch == 2);
  CHECK(r.samples_per_second > 0);
  const std::string text = out.str();
  CHECK(text.find("epoch 1/3  loss 0.500000  acc 0.8000") != std::string::npos);
  CHECK(text.find("epoch 2/3  loss 0.250000  acc 0.9000  test 0.8500") != std::string::npos);
  CHECK(text.find("samples/s") != std::string::npos);
  CHECK(text.find("left") != std::string::npos);

  const auto dir = std::filesystem::temp_directory_path() / "tapegrad_train_test";
  std::filesystem::create_directories(dir);
  const auto path = (dir / "history.csv").string();
  log.write_csv(path);
  std::ifstream f(path);
  std::string header, first, second;
  std::getline(f, header);
  std::getline(f, first);
  std::getline(f, second);
  CHECK(header == "epoch,loss,accuracy,test_accuracy,samples_per_second,seconds");
  CHECK(first.rfind("1,0.5,0.8,-1,", 0) == 0);
  CHECK(second.rfind("2,0.25,0.9,0.85,", 0) == 0);
  // A write that cannot happen leaves no file behind and says where.
  CHECK_THROWS_AS(log.write_csv((dir / "no-such-dir" / "h.csv").string()), tg::Error);
  CHECK_FALSE(std::filesystem::exists(dir / "no-such-dir"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("nn accuracy: a label out of range is an IndexError, as in softmax_ce and one_hot") {
  const TensorD scores = TensorD::matrix({{0.1, 0.7, 0.2}, {0.5, 0.4, 0.1}});
  CHECK_THROWS_WITH_AS(
      tg::nn::accuracy(scores, {1, 7}),
      doctest::Contains("accuracy: label 7 at row 1 is out of range for 3 classes"),
      tg::IndexError);
  CHECK_THROWS_WITH_AS(
      tg::nn::accuracy(scores, {-1, 0}),
      doctest::Contains("accuracy: label -1 at row 0 is out of range for 3 classes"),
      tg::IndexError);
  CHECK_THROWS_WITH_AS(tg::nn::accuracy(tg::TensorF::zeros({1, 3}), {3}),
                       doctest::Contains("label 3"), tg::IndexError);
  CHECK(tg::nn::accuracy(scores, {1, 0}) == 1.0);
}
