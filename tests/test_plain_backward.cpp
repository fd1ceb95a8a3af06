// On a plain backward (nothing recorded) the adjoints of mse and linear run their kernels without
// the ops around them; recording (create_graph) still composes the ops. Both must give the same
// bits, and the values worked out by hand.
#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include "same_bits.hpp"
#include "tapegrad/tapegrad.hpp"

using tg::TensorD;
using tg::TensorF;

namespace {}  // namespace

TEST_CASE("mse: a plain backward gives the recorded backward's gradients, bit for bit") {
  // By hand for a = [3,-1,2], b = [1,1,2] (a - b = [2,-2,0]), upstream G:
  //   mean, G = 0.5: da = G * 2(a-b)/3 = [2/3, -2/3, 0]; sum, G = 0.5: da = G * 2(a-b) = [2,-2,0];
  //   none, G = [1,2,3]: da = 2(a-b)G = [4,-8,0]; db = -da in every case.
  struct Case {
    tg::Reduction reduction;
    TensorD upstream;
    std::vector<double> da;
  };
  const std::vector<Case> cases = {
      {tg::Reduction::mean, TensorD::scalar(0.5), {2.0 / 3, -2.0 / 3, 0}},
      {tg::Reduction::sum, TensorD::scalar(0.5), {2, -2, 0}},
      {tg::Reduction::none, TensorD::vector({1, 2, 3}), {4, -8, 0}}};
  for (const Case& c : cases) {
    CAPTURE(static_cast<int>(c.reduction));
    std::vector<TensorD> grads[2];
    for (const bool create_graph : {false, true}) {
      TensorD a = TensorD::vector({3, -1, 2}, true), b = TensorD::vector({1, 1, 2}, true);
      tg::mse(a, b, c.reduction).backward(c.upstream, {.create_graph = create_graph});
      grads[create_graph] = {a.grad().detach(), b.grad().detach()};
    }
    CHECK(same_bits(grads[0][0], grads[1][0]));
    CHECK(same_bits(grads[0][1], grads[1][1]));
    const std::vector<double> da = grads[0][0].to_vector(), db = grads[0][1].to_vector();
    for (std::size_t i = 0; i < 3; ++i) {
      CHECK(da[i] == doctest::Approx(c.da[i]).epsilon(1e-15));
      CHECK(db[i] == doctest::Approx(-c.da[i]).epsilon(1e-15));
    }
  }
}

TEST_CASE("mse: a plain backward into the prediction only matches the recorded one (float)") {
  // Targets that need no gradient: only da is computed. 2(a-b)/N for a - b = [0.5, -1.5], N = 2.
  TensorF grads[2];
  for (const bool create_graph : {false, true}) {
    TensorF a = TensorF::vector({1.0f, -0.5f}, true);
    const TensorF b = TensorF::vector({0.5f, 1.0f});
    tg::mse(a, b).backward({.create_graph = create_graph});
    grads[create_graph] = a.grad().detach();
  }
  CHECK(same_bits(grads[0], grads[1]));
  CHECK(grads[0].to_vector() == std::vector<float>{0.5f, -1.5f});
}

TEST_CASE("linear: a plain backward gives the recorded backward's gradients, bit for bit") {
  // By hand for X = [[1,2],[3,4]], W = [[1,0,2],[0,1,-1]], b = [10,20,30], G = [[1,2,3],[4,5,6]]:
  //   dX = G W^T = [[7,-1],[16,-1]], dW = X^T G = [[13,17,21],[18,24,30]], db = [5,7,9].
  std::vector<TensorD> grads[2];
  for (const bool create_graph : {false, true}) {
    TensorD x = TensorD::matrix({{1, 2}, {3, 4}}, true);
    TensorD w = TensorD::matrix({{1, 0, 2}, {0, 1, -1}}, true);
    TensorD b = TensorD::vector({10, 20, 30}, true);
    tg::linear(x, w, b).backward(TensorD::matrix({{1, 2, 3}, {4, 5, 6}}),
                                 {.create_graph = create_graph});
    grads[create_graph] = {x.grad().detach(), w.grad().detach(), b.grad().detach()};
  }
  for (std::size_t i = 0; i < 3; ++i) CHECK(same_bits(grads[0][i], grads[1][i]));
  CHECK(grads[0][0].shape() == tg::Shape{2, 2});
  CHECK(grads[0][0].to_vector() == std::vector<double>{7, -1, 16, -1});
  CHECK(grads[0][1].shape() == tg::Shape{2, 3});
  CHECK(grads[0][1].to_vector() == std::vector<double>{13, 17, 21, 18, 24, 30});
  CHECK(grads[0][2].to_vector() == std::vector<double>{5, 7, 9});
}

TEST_CASE("linear: a plain backward of a layer whose input needs no gradient (float, 3 rows)") {
  // X [3,1] = [1,2,3] constant, W [1,2] = [[0.5,-1]], G = ones: dW = X^T G = [[6,6]], db = [3,3].
  TensorF grads[2][2];
  for (const bool create_graph : {false, true}) {
    const TensorF x = TensorF::matrix({{1}, {2}, {3}});
    TensorF w = TensorF::matrix({{0.5f, -1}}, true);
    TensorF b = TensorF::vector({0, 0}, true);
    tg::sum(tg::linear(x, w, b)).backward({.create_graph = create_graph});
    grads[create_graph][0] = w.grad().detach();
    grads[create_graph][1] = b.grad().detach();
  }
  CHECK(same_bits(grads[0][0], grads[1][0]));
  CHECK(same_bits(grads[0][1], grads[1][1]));
  CHECK(grads[0][0].to_vector() == std::vector<float>{6, 6});
  CHECK(grads[0][1].to_vector() == std::vector<float>{3, 3});
}
