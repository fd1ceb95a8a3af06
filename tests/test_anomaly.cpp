// Anomaly mode: the first op whose forward or backward produces a NaN or inf is named.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "tapegrad/node.hpp"
#include "tapegrad/replay.hpp"
#include "tapegrad/tapegrad.hpp"

using tg::TensorD;

namespace {
std::string anomaly_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const tg::AnomalyError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("off by default: NaN flows through as IEEE-754 says") {
  CHECK_FALSE(tg::anomaly_mode());
  TensorD x = TensorD::vector({-1.0, 2.0}, true);
  TensorD y = tg::sum(tg::log(x));
  CHECK(std::isnan(y.item()));
  y.backward();
  CHECK(x.grad().to_vector() == std::vector<double>{-1.0, 0.5});
}

TEST_CASE("the first forward op producing NaN is named with its shapes and place in the graph") {
  tg::AnomalyGuard anomaly;
  TensorD x = TensorD::vector({3.0, 1.0, 2.0}, true);
  TensorD shifted = x - 2.0;  // [1, -1, 0]: fine
  const std::string msg = anomaly_message([&] { tg::sum(tg::log(tg::pow(shifted, 0.5))); });
  // pow(-1, 0.5) is the first NaN, before log and sum ever see it.
  CHECK(msg.find("forward of pow") != std::string::npos);
  CHECK(msg.find("[3] from sub") != std::string::npos);
  CHECK(msg.find("NaN at flat index 1") != std::string::npos);
  CHECK(msg.find("depth 2") != std::string::npos);
}

TEST_CASE("inf counts as an anomaly too") {
  tg::AnomalyGuard anomaly;
  TensorD x = TensorD::vector({0.0, 1.0}, true);
  const std::string msg = anomaly_message([&] { tg::log(x); });
  CHECK(msg.find("forward of log") != std::string::npos);
  CHECK(msg.find("-inf at flat index 0") != std::string::npos);
  CHECK(msg.find("leaf") != std::string::npos);
}

TEST_CASE("a backward op producing NaN is named, with the input whose gradient it was") {
  TensorD x = TensorD::vector({0.0, 4.0}, true);
  TensorD y = tg::sum(tg::pow(x, 0.5));  // finite forward: sqrt(0) = 0
  tg::AnomalyGuard anomaly;
  const std::string msg = anomaly_message([&] { y.backward(); });
  // d/dx x^0.5 = 0.5 x^-0.5 = inf at 0.
  CHECK(msg.find("backward of pow") != std::string::npos);
  CHECK(msg.find("gradient for input 0 [2]") != std::string::npos);
  CHECK(msg.find("inf at flat index 0") != std::string::npos);
}

TEST_CASE("a recording in anomaly mode checks its backward's values as eager mode does") {
  // A recording runs its backward's kernels only after recording it, unless anomaly mode is on:
  // its checks read the values as they are computed.
  TensorD x = TensorD::vector({4.0, 9.0, 0.0}, true);
  tg::AnomalyGuard anomaly;
  const std::string msg =
      anomaly_message([&] { tg::record_step([&] { return tg::sum(tg::pow(x, 0.5)); }, {x}, {}); });
  CHECK(msg.find("backward of pow") != std::string::npos);
  CHECK(msg.find("inf at flat index 2") != std::string::npos);
  CHECK_FALSE(x.has_grad());
}

TEST_CASE("the guard restores the previous mode") {
  {
    tg::AnomalyGuard anomaly;
    CHECK(tg::anomaly_mode());
    {
      tg::AnomalyGuard off(false);
      CHECK_FALSE(tg::anomaly_mode());
    }
    CHECK(tg::anomaly_mode());
  }
  CHECK_FALSE(tg::anomaly_mode());
}
