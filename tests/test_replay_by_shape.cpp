// ReplayByShape: a step recorded once per batch shape, trained as eager mode trains, bit for bit;
// its bound on the number of shapes, and what a failed recording leaves.
#include <doctest/doctest.h>

#include <cstdint>
#include <functional>
#include <random>
#include <utility>
#include <vector>

#include "check_error.hpp"
#include "same_bits.hpp"
#include "tapegrad/nn/module.hpp"
#include "tapegrad/nn/optim.hpp"
#include "tapegrad/ops.hpp"
#include "tapegrad/replay.hpp"

using tg::Shape;
using tg::TensorD;

namespace {

tg::nn::Sequential<double> classifier() {
  std::mt19937_64 rng(61);
  return tg::nn::mlp<double>({3, 5, 4}, tg::nn::Activation::tanh, tg::nn::Activation::identity,
                             tg::nn::Init::uniform(0.8), rng);
}

struct Batch {
  TensorD x;
  tg::Labels y;
};

Batch batch(std::size_t rows, std::mt19937_64& rng) {
  std::uniform_int_distribution<std::int64_t> label(0, 3);
  Batch b{TensorD::uniform(Shape{rows, 3}, -1.0, 1.0, rng), tg::Labels(rows)};
  for (std::int64_t& l : b.y) l = label(rng);
  return b;
}

tg::ReplayByShape<double> recorded_steps(tg::nn::Sequential<double>& net,
                                         std::size_t max_shapes = 16) {
  return tg::ReplayByShape<double>(
      [&net](const std::vector<TensorD>& x, std::vector<tg::Labels>& y) {
        return tg::softmax_ce(net.forward(x[0]), y[0]);
      },
      net.parameters(), {}, max_shapes);
}

}  // namespace

TEST_CASE("ReplayByShape records each batch shape once and trains as eager mode, bit for bit") {
  auto eager_net = classifier();
  auto replay_net = classifier();
  tg::nn::SGD<double> eager_opt(eager_net.parameters(), {.lr = 0.2, .momentum = 0.5});
  tg::nn::SGD<double> replay_opt(replay_net.parameters(), {.lr = 0.2, .momentum = 0.5});
  auto step = recorded_steps(replay_net);
  std::mt19937_64 rng(67);
  const std::vector<std::size_t> rows = {6, 6, 4, 6, 4, 1, 6, 1, 4};
  for (std::size_t t = 0; t < rows.size(); ++t) {
    CAPTURE(t);
    const Batch b = batch(rows[t], rng);
    const TensorD replayed = step.run({b.x}, {b.y}).clone();
    replay_opt.step();
    eager_opt.zero_grad();
    const TensorD loss = tg::softmax_ce(eager_net.forward(b.x), b.y);
    loss.backward();
    eager_opt.step();
    CHECK(same_bits(replayed, loss));
    CHECK(step.last().inputs()[0].shape() == b.x.shape());
    for (std::size_t i = 0; i < eager_net.parameters().size(); ++i)
      CHECK(same_bits(replay_net.parameters()[i], eager_net.parameters()[i]));
  }
  CHECK(step.recordings() == 3);
}

TEST_CASE("ReplayByShape with the SGD step in the tape updates the weights as nn::SGD does") {
  auto eager_net = classifier();
  auto replay_net = classifier();
  tg::nn::SGD<double> eager_opt(eager_net.parameters(), {.lr = 0.3});
  tg::ReplayByShape<double> step(
      [&](const std::vector<TensorD>& x, std::vector<tg::Labels>& y) {
        return tg::softmax_ce(replay_net.forward(x[0]), y[0]);
      },
      replay_net.parameters(), tg::sgd_update(0.3));
  std::mt19937_64 rng(71);
  for (std::size_t rows : {5, 2, 5, 2, 5}) {
    const Batch b = batch(rows, rng);
    const double replayed = step.run({b.x}, {b.y}).item();
    eager_opt.zero_grad();
    const TensorD loss = tg::softmax_ce(eager_net.forward(b.x), b.y);
    loss.backward();
    eager_opt.step();
    CHECK(replayed == doctest::Approx(loss.item()).epsilon(1e-12));
    for (std::size_t i = 0; i < eager_net.parameters().size(); ++i) {
      const std::vector<double> r = replay_net.parameters()[i].to_vector();
      const std::vector<double> e = eager_net.parameters()[i].to_vector();
      for (std::size_t j = 0; j < r.size(); ++j)
        CHECK(r[j] == doctest::Approx(e[j]).epsilon(1e-12));
    }
  }
  CHECK(step.recordings() == 2);
}

TEST_CASE("ReplayByShape refuses a shape beyond max_shapes, and keeps nothing of a failed one") {
  auto net = classifier();
  check_error<tg::ReplayError>(
      [&] { tg::ReplayByShape<double>(tg::ReplayByShape<double>::Step(), net.parameters()); },
      {"ReplayByShape", "f is empty"});
  check_error<tg::ReplayError>(
      [&] { tg::record_step(std::function<TensorD()>(), net.parameters()); },
      {"record_step", "f is empty"});
  auto step = recorded_steps(net, 2);
  check_error<tg::ReplayError>([&] { (void)step.last(); }, {"ReplayByShape", "nothing has run"});
  std::mt19937_64 rng(73);
  const Batch four = batch(4, rng), three = batch(3, rng), two = batch(2, rng);
  step.run({four.x}, {four.y});
  step.run({three.x}, {three.y});
  const TensorD grad_before = net.parameters()[0].grad().clone();
  const TensorD weight_before = net.parameters()[0].detach().clone();
  check_error<tg::ReplayError>([&] { step.run({two.x}, {two.y}); },
                               {"ReplayByShape", "[2,3]", "2 recorded", "max_shapes"});
  CHECK(step.recordings() == 2);
  CHECK(same_bits(net.parameters()[0].grad(), grad_before));
  CHECK(same_bits(net.parameters()[0], weight_before));

  // A label out of range fails the new shape's recording with the op's own error; nothing of it
  // is kept, and the shape records once the labels are right.
  auto open = recorded_steps(net);
  tg::Labels wrong = two.y;
  wrong[1] = 9;
  CHECK_THROWS_AS(open.run({two.x}, {wrong}), tg::IndexError);
  CHECK(open.recordings() == 0);
  const double loss = open.run({two.x}, {two.y}).item();
  CHECK(open.recordings() == 1);
  net.zero_grad();
  CHECK(loss == tg::softmax_ce(net.forward(two.x), two.y).item());
}
