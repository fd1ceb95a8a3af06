// The comparisons gt, lt, ge, le and eq: masks of 0 and 1 with broadcasting, never recorded. They
// are not registered ops (a registered op's samples must produce its own node, and a mask
// produces none), so their values and errors are checked here, with expectations worked out by
// hand from the definitions (IEEE-754: every comparison with a NaN is false).
#include <doctest/doctest.h>

#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "check_error.hpp"
#include "tapegrad/tapegrad.hpp"

using tg::Shape;
using tg::TensorD;
using tg::TensorF;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

template <class T> using Compare = tg::Tensor<T> (*)(const tg::Tensor<T>&, const tg::Tensor<T>&);

template <class T>
void check_mask(const tg::Tensor<T>& m, const Shape& shape, const std::vector<double>& expected) {
  CHECK(m.shape().str() == shape.str());
  REQUIRE(m.size() == expected.size());
  const std::vector<T> got = m.to_vector();
  for (std::size_t i = 0; i < expected.size(); ++i) {
    INFO("element " << i);
    CHECK(double(got[i]) == expected[i]);
  }
}

// a = [1, 2, 3, NaN, -inf, 0, NaN], b = [2, 2, 1, 1, -inf, -0, NaN]: less, equal, greater, a NaN
// on one side, equal infinities, signed zeros (equal), NaN against NaN.
struct Row {
  const char* name;
  Compare<double> f;
  std::vector<double> expected;
};

const std::vector<double> kA = {1, 2, 3, kNaN, -kInf, 0.0, kNaN};
const std::vector<double> kB = {2, 2, 1, 1, -kInf, -0.0, kNaN};

std::vector<Row> rows() {
  return {{"gt", &tg::gt<double>, {0, 0, 1, 0, 0, 0, 0}},
          {"lt", &tg::lt<double>, {1, 0, 0, 0, 0, 0, 0}},
          {"ge", &tg::ge<double>, {0, 1, 1, 0, 1, 1, 0}},
          {"le", &tg::le<double>, {1, 1, 0, 0, 1, 1, 0}},
          {"eq", &tg::eq<double>, {0, 1, 0, 0, 1, 1, 0}}};
}

}  // namespace

TEST_CASE("masks: each comparison gives 1 where it holds and 0 elsewhere and at every NaN") {
  const TensorD a = TensorD::from_vector({7}, kA);
  const TensorD b = TensorD::from_vector({7}, kB);
  for (const Row& r : rows()) {
    CAPTURE(std::string(r.name));
    check_mask(r.f(a, b), Shape{7}, r.expected);
  }
}

TEST_CASE("masks: float gives the same masks as double") {
  const TensorF a = TensorF::from_vector({7}, std::vector<float>(kA.begin(), kA.end()));
  const TensorF b = TensorF::from_vector({7}, std::vector<float>(kB.begin(), kB.end()));
  const Compare<float> fs[] = {&tg::gt<float>, &tg::lt<float>, &tg::ge<float>, &tg::le<float>,
                               &tg::eq<float>};
  const std::vector<Row> rs = rows();
  for (std::size_t i = 0; i < rs.size(); ++i) {
    CAPTURE(std::string(rs[i].name));
    check_mask(fs[i](a, b), Shape{7}, rs[i].expected);
  }
}

TEST_CASE("masks: broadcasting [2 1] against [3] and a 0-d operand") {
  // a = [[1], [2]] against b = [0, 1, 2]: a > b is [[1, 0, 0], [1, 1, 0]].
  const TensorD a = TensorD::from_vector({2, 1}, {1, 2});
  const TensorD b = TensorD::vector({0, 1, 2});
  check_mask(tg::gt(a, b), Shape{2, 3}, {1, 0, 0, 1, 1, 0});
  check_mask(tg::le(a, b), Shape{2, 3}, {0, 1, 1, 0, 0, 1});
  check_mask(tg::eq(a, b), Shape{2, 3}, {0, 1, 0, 0, 0, 1});
  // b < 1 against a 0-d 1: [1, 0, 0]; the 0-d on the left, 1 >= b: [1, 1, 0].
  check_mask(tg::lt(b, TensorD::scalar(1)), Shape{3}, {1, 0, 0});
  check_mask(tg::ge(TensorD::scalar(1), b), Shape{3}, {1, 1, 0});
  check_mask(tg::gt(TensorD::scalar(2), TensorD::scalar(1)), Shape{}, {1});
}

TEST_CASE("masks: the result is not recorded even when both operands require a gradient") {
  const TensorD a = TensorD::vector({1, 2}, true);
  const TensorD b = TensorD::vector({2, 1}, true);
  const std::int64_t nodes_before = tg::memory_stats().live_nodes;
  for (const Row& r : rows()) {
    CAPTURE(std::string(r.name));
    const TensorD m = r.f(a, b);
    CHECK_FALSE(m.requires_grad());
    CHECK(m.is_leaf());
    CHECK(tg::memory_stats().live_nodes == nodes_before);
  }
}

TEST_CASE("masks: a mask as where's condition passes the gradient of the side it selects") {
  // where(gt(a, b), a, b) is maximum(a, b) away from ties: the gradient of its sum is 1 where a
  // is larger and 0 elsewhere for a, the opposite for b; the mask itself takes no part.
  TensorD a = TensorD::vector({3, -1, 0.5}, true);
  TensorD b = TensorD::vector({1, 2, 0.25}, true);
  const auto g = tg::grad(tg::sum(tg::where(tg::gt(a, b), a, b)), {a, b});
  check_mask(g[0], Shape{3}, {1, 0, 1});
  check_mask(g[1], Shape{3}, {0, 1, 0});
}

TEST_CASE("masks: shapes that do not broadcast raise ShapeError naming the comparison") {
  const TensorD a = TensorD::zeros({2, 3});
  const TensorD b = TensorD::zeros({4});
  for (const Row& r : rows()) {
    CAPTURE(std::string(r.name));
    check_error<tg::ShapeError>([&] { (void)r.f(a, b); },
                                {std::string(r.name) + ": ", "[2,3] and [4]"});
  }
}
