// Replayable tapes: every op marked replayable, driven by the registry, replays on new values
// bit for bit as eager mode computes them; every other op refuses to be recorded; an MLP trained
// by replays equals one trained eagerly; the guards (shapes, buffers, data-dependent control flow).
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "check_error.hpp"
#include "library_ops.hpp"
#include "same_bits.hpp"
#include "tapegrad/gradcheck.hpp"
#include "tapegrad/nn/data.hpp"
#include "tapegrad/nn/layers.hpp"
#include "tapegrad/nn/module.hpp"
#include "tapegrad/nn/optim.hpp"
#include "tapegrad/ops.hpp"
#include "tapegrad/registry.hpp"
#include "tapegrad/replay.hpp"

using tg::Shape;
using tg::TensorD;

namespace {

template <class T> void write_into(tg::Tensor<T>& to, const tg::Tensor<T>& from) {
  std::memcpy(to.data(), std::as_const(from).data(), from.size() * sizeof(T));
}

bool is_replayable(const tg::OpInfo& op) {
  return op.cases && op.cases().replayable;
}

struct SampleRun {
  std::size_t replayed = 0;  // samples recorded and compared
  std::size_t skipped = 0;   // the second seed's sample had other shapes
  std::size_t fused = 0;     // elementwise kernels the recordings ran in blocks
};

// For each sample of the op: record f = sum(op(inputs) * w) with w fixed and compare the
// recording's step with eager mode, then write the inputs of the same sample drawn from another
// seed (values in the op's domain, other than the recorded ones), run, and compare again: the loss
// and every input's gradient, bit for bit.
template <class T> SampleRun replay_op_samples(const tg::OpInfo& op) {
  const auto factory = [&](std::uint64_t seed) {
    if constexpr (std::is_same_v<T, double>)
      return op.samples_double(seed);
    else
      return op.samples_float(seed);
  };
  std::vector<tg::GradSample<T>> samples = factory(11);
  const std::vector<tg::GradSample<T>> fresh = factory(29);
  SampleRun result;
  std::mt19937_64 rng(5);
  for (std::size_t s = 0; s < samples.size(); ++s) {
    tg::GradSample<T>& sample = samples[s];
    CAPTURE(sample.label);
    bool same_shapes = s < fresh.size() && fresh[s].inputs.size() == sample.inputs.size();
    for (std::size_t i = 0; same_shapes && i < sample.inputs.size(); ++i)
      same_shapes = fresh[s].inputs[i].shape() == sample.inputs[i].shape();
    if (!same_shapes) {
      ++result.skipped;
      continue;
    }
    std::vector<tg::Tensor<T>> params, others;
    for (const tg::Tensor<T>& x : sample.inputs) (x.requires_grad() ? params : others).push_back(x);
    const tg::Shape out_shape = [&] {
      tg::NoGradGuard no_grad;
      return sample.fn(sample.inputs).shape();
    }();
    const tg::Tensor<T> w = tg::Tensor<T>::uniform(out_shape, T(0.5), T(1.5), rng);
    auto f = [&] { return tg::sum(tg::mul(sample.fn(sample.inputs), w)); };

    // The loss and every parameter's gradient as the step left them, against eager mode's on
    // the inputs' current values.
    const auto check_against_eager = [&](const tg::Tensor<T>& loss, const char* when) {
      CAPTURE(when);
      const tg::Tensor<T> replayed_loss = loss.clone();
      std::vector<tg::Tensor<T>> replayed;
      for (const tg::Tensor<T>& p : params)
        replayed.push_back(p.has_grad() ? p.grad().clone() : tg::Tensor<T>());
      for (tg::Tensor<T>& p : params) p.zero_grad();
      const tg::Tensor<T> eager = f();
      eager.backward();
      CHECK_MESSAGE(same_bits(replayed_loss, eager),
                    "loss " << replayed_loss.item() << " replayed, " << eager.item() << " eager");
      for (std::size_t i = 0; i < params.size(); ++i) {
        CAPTURE(i);
        REQUIRE(params[i].has_grad() == replayed[i].defined());
        if (replayed[i].defined()) CHECK(same_bits(replayed[i], params[i].grad()));
      }
    };

    tg::Replay<T> step = tg::record_step(f, params, others);
    result.fused += step.summary().fused;
    // Its backward recorded without running, then the tape run once after the passes.
    check_against_eager(step.loss(), "the recording's own step");
    for (std::size_t i = 0; i < sample.inputs.size(); ++i)
      write_into(sample.inputs[i], fresh[s].inputs[i]);
    check_against_eager(step.run(), "a run on new values");
    ++result.replayed;
  }
  return result;
}

}  // namespace

TEST_CASE("every replayable op replays on new values bit for bit as eager mode, double and float") {
  std::size_t replayable_ops = 0;
  for (const tg::OpInfo& op : tg::registered_ops()) {
    if (!is_replayable(op)) continue;
    CAPTURE(op.name);
    ++replayable_ops;
    const SampleRun d = replay_op_samples<double>(op);
    const SampleRun f = replay_op_samples<float>(op);
    CHECK(d.replayed > 0);
    CHECK(f.replayed > 0);
  }
  CHECK(replayable_ops > 0);
}

// The passes' blocked loops on every op: in blocks of 3 elements, elementwise kernels (an op's and
// the mul by w after it, an adjoint's and the accumulation) run interleaved on the samples' small
// tensors, and must still give eager mode's bits.
TEST_CASE("every replayable op replays bit for bit with elementwise kernels fused in blocks of 3") {
  struct BlockScope {
    std::size_t before = tg::fusion_block();
    BlockScope() { tg::set_fusion_block(3); }
    ~BlockScope() { tg::set_fusion_block(before); }
  } small_blocks;
  std::size_t fused = 0;
  for (const tg::OpInfo& op : tg::registered_ops()) {
    if (!is_replayable(op)) continue;
    CAPTURE(op.name);
    const SampleRun d = replay_op_samples<double>(op);
    const SampleRun f = replay_op_samples<float>(op);
    CHECK(d.replayed > 0);
    CHECK(f.replayed > 0);
    fused += d.fused + f.fused;
  }
  CHECK(fused > 0);
  check_error<tg::DomainError>([] { tg::set_fusion_block(0); }, {"set_fusion_block", "1 element"});
}

// The ops not converted yet, as data: each must refuse to be recorded (ReplayError naming it),
// never record a tape that would replay stale values.
TEST_CASE("every op not marked replayable raises ReplayError naming it when recorded") {
  std::vector<std::string> not_yet;
  for (const tg::OpInfo& op : tg::registered_ops()) {
    if (is_replayable(op)) continue;
    not_yet.push_back(op.name);
    CAPTURE(op.name);
    std::vector<tg::GradSample<double>> samples = op.samples_double(3);
    REQUIRE(!samples.empty());
    for (tg::GradSample<double>& sample : samples) {
      CAPTURE(sample.label);
      std::vector<TensorD> params;
      for (const TensorD& x : sample.inputs)
        if (x.requires_grad()) params.push_back(x);
      check_error<tg::ReplayError>(
          [&] { tg::record_step([&] { return tg::sum(sample.fn(sample.inputs)); }, params); },
          {"cannot be recorded for replay"});
      for (TensorD& p : params) CHECK(!p.has_grad());
    }
  }
  std::string list;
  for (const std::string& name : not_yet) list += (list.empty() ? "" : ", ") + name;
  MESSAGE("ops not replayable yet (" << not_yet.size() << "): " << list);
}

namespace {

struct XorBatch {
  TensorD x, y;
};

// Batch t of a stream of XOR-like batches: the four corners, jittered differently every step.
XorBatch xor_batch(int t) {
  std::mt19937_64 rng(100 + t);
  std::uniform_real_distribution<double> jitter(-0.1, 0.1);
  std::vector<double> x = {0, 0, 0, 1, 1, 0, 1, 1};
  for (double& v : x) v += jitter(rng);
  return {TensorD::from_vector(Shape{4, 2}, x), TensorD::from_vector(Shape{4, 1}, {0, 1, 1, 0})};
}

tg::nn::Sequential<double> xor_net() {
  std::mt19937_64 rng(7);
  return tg::nn::mlp<double>({2, 2, 2, 1}, tg::nn::Activation::sigmoid, tg::nn::Activation::sigmoid,
                             tg::nn::Init::uniform(1.0), rng);
}

}  // namespace

TEST_CASE("an MLP trained by 20 replayed steps with nn::SGD equals 20 eager steps bit for bit") {
  auto eager_net = xor_net();
  auto replay_net = xor_net();
  tg::nn::SGD<double> eager_opt(eager_net.parameters(), {.lr = 0.5, .momentum = 0.9});
  tg::nn::SGD<double> replay_opt(replay_net.parameters(), {.lr = 0.5, .momentum = 0.9});

  TensorD x = TensorD::zeros(Shape{4, 2}), y = TensorD::zeros(Shape{4, 1});
  const XorBatch first = xor_batch(0);
  write_into(x, first.x);
  write_into(y, first.y);
  auto step = tg::record_step([&] { return tg::mse(replay_net.forward(x), y); },
                              replay_net.parameters(), {x, y});
  replay_opt.step();  // the recording is step 0

  std::vector<double> eager_losses, replay_losses;
  for (int t = 0; t < 20; ++t) {
    const XorBatch batch = xor_batch(t);
    eager_opt.zero_grad();
    const TensorD loss = tg::mse(eager_net.forward(batch.x), batch.y);
    loss.backward();
    eager_opt.step();
    eager_losses.push_back(loss.item());
    if (t == 0) {
      replay_losses.push_back(step.loss().item());
    } else {
      replay_losses.push_back(step.run({batch.x, batch.y}).item());
      replay_opt.step();
    }
  }
  const auto pe = eager_net.parameters(), pr = replay_net.parameters();
  REQUIRE(pe.size() == pr.size());
  for (std::size_t i = 0; i < pe.size(); ++i) {
    CAPTURE(i);
    CHECK(same_bits(pe[i], pr[i]));
    CHECK(same_bits(pe[i].grad(), pr[i].grad()));
  }
  CHECK(std::memcmp(eager_losses.data(), replay_losses.data(), 20 * sizeof(double)) == 0);
  CHECK(eager_losses.back() < eager_losses.front());  // it did train
}

TEST_CASE("a run replaces the gradients, as eager mode after zero_grad") {
  TensorD w = TensorD::vector({2, -1}, true);
  TensorD x = TensorD::vector({3, 4});
  w.set_grad(TensorD::vector({100, 100}));
  auto step = tg::record_step([&] { return tg::sum(tg::mul(w, x)); }, {w}, {x});
  CHECK(w.grad().to_vector() == std::vector<double>{3, 4});  // not 103, 104
  step.run({TensorD::vector({5, 6})});
  step.run();
  CHECK(step.loss().item() == 2 * 5 - 6);
  CHECK(w.grad().to_vector() == std::vector<double>{5, 6});
  // The optimizer's way: the values written in place are read by the next run.
  w.data()[0] = 1;
  CHECK(step.run().item() == 5 - 6);
}

TEST_CASE("replay inputs of another shape or count are a ShapeError naming the index and shapes") {
  TensorD w = TensorD::zeros(Shape{2, 3}, true);
  TensorD x = TensorD::zeros(Shape{4, 2}), y = TensorD::zeros(Shape{4, 3});
  auto step = tg::record_step([&] { return tg::mse(tg::matmul(x, w), y); }, {w}, std::vector{x, y});
  check_error<tg::ShapeError>(
      [&] {
        step.run({TensorD::zeros(Shape{4, 2}), TensorD::zeros(Shape{5, 3})});
      },
      {"replay", "input 1", "[5,3]", "[4,3]"});
  check_error<tg::ShapeError>(
      [&] {
        step.run({TensorD::zeros(Shape{4, 2})});
      },
      {"replay", "1 input values for 2 recorded inputs"});
  CHECK_NOTHROW(step.run({TensorD::ones(Shape{4, 2}), TensorD::ones(Shape{4, 3})}));
}

TEST_CASE("recording refuses a non-scalar loss, a generator local to f, a nested recording") {
  TensorD w = TensorD::ones(Shape{3}, true);
  check_error<tg::ReplayError>([&] { tg::record_step([&] { return tg::mul(w, w); }, {w}); },
                               {"record_step", "one-element loss", "[3]"});
  check_error<tg::ReplayError>(
      [&] {
        tg::record_step(
            [&] {
              std::mt19937_64 rng(1);
              return tg::sum(tg::mul(w, TensorD::uniform(Shape{3}, 0, 1, rng)));
            },
            {w});
      },
      {"uniform", "generator is a local variable", "outlives the recording"});
  check_error<tg::ReplayError>(
      [&] {
        tg::record_step(
            [&] {
              std::mt19937_64 rng(1);
              return tg::sum(tg::mul(w, TensorD::dropout_mask(Shape{3}, 0.5, rng)));
            },
            {w});
      },
      {"dropout_mask", "generator is a local variable"});
  check_error<tg::ReplayError>(
      [&] {
        tg::record_step(
            [&] {
              tg::record_step([&] { return tg::sum(w); }, {w});
              return tg::sum(w);
            },
            {w});
      },
      {"record_step", "cannot contain another"});
  CHECK(!w.has_grad());
}

TEST_CASE("check mode catches control flow that depends on the values") {
  TensorD w = TensorD::vector({1, -2}, true);
  TensorD x = TensorD::vector({1, 1});
  // Branches on a value: recorded with sum(w * x) > 0 false, so the tape holds the second branch.
  auto f = [&] {
    const TensorD s = tg::sum(tg::mul(w, x));
    return s.item() > 0 ? tg::mul(s, s) : tg::neg(s);
  };
  auto step = tg::record_step(f, {w}, {x});
  CHECK(step.loss().item() == 1);
  CHECK_NOTHROW(step.run_checked({TensorD::vector({2, 1.5})}));  // still the second branch
  check_error<tg::ReplayError>(
      [&] {
        step.run_checked({TensorD::vector({3, 1})});
      },
      {"replay check", "loss", "differs"});
  // After the error the replayed gradient is in place again (of the first branch: -x).
  CHECK(w.grad().to_vector() == std::vector<double>{-3, -1});
}

TEST_CASE("check mode names a gradient that differs when the loss agrees") {
  TensorD w = TensorD::vector({0.5, 2}, true);
  // A constant computed from data: the loss is sum(w * c) with c = w's values at recording, the
  // same loss as sum(w * w) at the recorded values only.
  auto f = [&] { return tg::sum(tg::mul(w, TensorD::from_vector(Shape{2}, w.to_vector()))); };
  auto step = tg::record_step(f, {w});
  CHECK_NOTHROW(step.run_checked());
  check_error<tg::ReplayError>(
      [&] {
        w.data()[0] = 3;  // eager: c = [3, 2]; the tape still multiplies by [0.5, 2]
        step.run_checked();
      },
      {"replay check"});
}

TEST_CASE("a run while the recording is running is refused with ReplayError") {
  // run_checked holds the recording while it runs f eagerly: a run from inside f meets the flag
  // that a run on another thread would meet.
  TensorD w = TensorD::vector({1, 2}, true);
  tg::Replay<double>* running = nullptr;
  auto f = [&] {
    if (running) running->run();
    return tg::sum(tg::exp(w));
  };
  auto step = tg::record_step(f, {w});
  running = &step;
  check_error<tg::ReplayError>([&] { step.run_checked(); },
                               {"replay", "another run of this recording is in progress"});
  running = nullptr;
  CHECK_NOTHROW(step.run_checked());
  CHECK(w.grad().to_vector() == tg::exp(w.detach()).to_vector());  // d/dw sum(e^w) = e^w
}

// abs (a NaN), maximum and minimum (a tie) and pow_tensor (a zero exponent) choose their adjoint by
// looking at the values; a recording takes the form that is right for every value, so a run whose
// values hold what the recording's did not still equals eager mode.
TEST_CASE("adjoints that test the values replay right on values the recording did not see") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  TensorD a = TensorD::vector({1, 2}, true), b = TensorD::vector({0, 3}, true);
  TensorD c = TensorD::vector({0.5, 2}, true), e = TensorD::vector({1, 2}, true);
  auto f = [&] {
    return tg::sum(tg::maximum(a, b) + tg::minimum(a, b) * 3.0 + tg::abs(a) * 5.0 +
                   tg::pow(c, e) * 7.0);
  };
  auto step = tg::record_step(f, {a, b, c, e});
  a.data()[0] = 1;  // a tie with b
  b.data()[0] = 1;
  CHECK_NOTHROW(step.run_checked());
  CHECK(a.grad().to_vector()[0] == 0.5 + 1.5 + 5);
  a.data()[1] = nan;  // abs's NaN
  CHECK_NOTHROW(step.run_checked());
  c.data()[0] = 0;  // 0^0: the exponent's and base's masks
  e.data()[0] = 0;
  CHECK_NOTHROW(step.run_checked());
  CHECK(c.grad().to_vector()[0] == 0);
}

TEST_CASE("recording refuses a tensor made by Tensor::empty, which is filled outside the kernels") {
  TensorD w = TensorD::ones(Shape{2, 3}, true);
  check_error<tg::ReplayError>(
      [&] {
        tg::record_step(
            [&] {
              TensorD filled_by_hand = TensorD::empty(Shape{2, 3});
              std::fill_n(filled_by_hand.data(), 6, 2.0);
              return tg::sum(tg::mul(w, filled_by_hand));
            },
            {w});
      },
      {"empty", "uninitialized", "through data()"});
}

TEST_CASE("recording refuses BatchNorm1d's running statistics update, and eval mode replays") {
  TensorD x = TensorD::matrix({{1, 2}, {3, 5}, {-1, 0.5}});
  tg::nn::BatchNorm1d<double> bn(2);
  CHECK_FALSE(tg::recording());
  check_error<tg::ReplayError>(
      [&] { tg::record_step([&] { return tg::sum(bn.forward(x)); }, bn.parameters(), {x}); },
      {"BatchNorm1d(2)", "running statistics", "eval mode"});
  CHECK_FALSE(tg::recording());
  bn.eval();
  auto step =
      tg::record_step([&] { return tg::sum(tg::square(bn.forward(x))); }, bn.parameters(), {x});
  const double recorded = step.loss().item();
  TensorD y = TensorD::matrix({{0, 1}, {2, 2}, {4, -3}});
  const double replayed = step.run({y}).item();
  bn.zero_grad();
  const double eager = tg::sum(tg::square(bn.forward(y))).item();
  CHECK(replayed == eager);
  CHECK(replayed != recorded);
}

TEST_CASE("recording refuses a buffer made by make_impl outside the library's ops and factories") {
  // An op defined outside the library that allocates its output itself and fills it in a loop:
  // its writes would not be in the tape.
  TensorD w = TensorD::ones(Shape{2}, true);
  check_error<tg::ReplayError>(
      [&] {
        tg::record_step(
            [&] {
              TensorD out(tg::make_impl<double>(Shape{2}));
              for (std::size_t i = 0; i < 2; ++i) out.data()[i] = 2 * std::as_const(w).data()[i];
              return tg::sum(tg::mul(w, out));
            },
            {w});
      },
      {"tensor", "cannot be recorded for replay"});
}

TEST_CASE("a recording captures its own thread only: eager work on another thread stays out") {
  auto net = xor_net();
  const XorBatch batch = xor_batch(0);
  auto record = [&] {
    return tg::record_step([&] { return tg::mse(net.forward(batch.x), batch.y); },
                           net.parameters());
  };
  const std::size_t alone = record().kernels();
  std::atomic<bool> stop{false};
  std::thread other([&] {
    auto other_net = xor_net();
    while (!stop) {
      other_net.zero_grad();
      tg::mse(other_net.forward(batch.x), batch.y).backward();
    }
  });
  std::size_t together = 0;
  for (int i = 0; i < 50; ++i) together = std::max(together, record().kernels());
  stop = true;
  other.join();
  CHECK(together == alone);
}

namespace {

// 3 -> 8 -> ReLU -> Dropout(0.5) -> 1: the same weights and the same dropout generator for the
// same seeds.
tg::nn::Sequential<double> dropout_net(std::uint64_t dropout_seed) {
  std::mt19937_64 rng(17);
  tg::nn::Sequential<double> net;
  net.emplace<tg::nn::Linear<double>>(3, 8, tg::nn::Init::uniform(1.0), rng)
      .emplace<tg::nn::ActivationLayer<double>>(tg::nn::Activation::relu)
      .emplace<tg::nn::Dropout<double>>(0.5, dropout_seed)
      .emplace<tg::nn::Linear<double>>(8, 1, tg::nn::Init::uniform(1.0), rng);
  return net;
}

// Batch t: 6 samples of 3 features, and their targets, different every step.
std::pair<TensorD, TensorD> regression_batch(int t) {
  std::mt19937_64 rng(300 + t);
  std::uniform_real_distribution<double> value(-1, 1);
  std::vector<double> x(18), y(6);
  for (double& v : x) v = value(rng);
  for (double& v : y) v = value(rng);
  return {TensorD::from_vector(Shape{6, 3}, x), TensorD::from_vector(Shape{6, 1}, y)};
}

}  // namespace

TEST_CASE("a net with Dropout: the recording and 4 replayed runs equal 5 eager steps bit for bit") {
  auto eager_net = dropout_net(23);
  auto replay_net = dropout_net(23);
  tg::nn::SGD<double> eager_opt(eager_net.parameters(), {.lr = 0.1, .momentum = 0.9});
  tg::nn::SGD<double> replay_opt(replay_net.parameters(), {.lr = 0.1, .momentum = 0.9});
  const auto pe = eager_net.parameters(), pr = replay_net.parameters();
  REQUIRE(pe.size() == pr.size());

  TensorD x, y;
  std::tie(x, y) = regression_batch(0);
  auto step =
      tg::record_step([&] { return tg::mse(replay_net.forward(x), y); }, pr, std::vector{x, y});
  for (int t = 0; t < 5; ++t) {
    CAPTURE(t);
    const auto batch = regression_batch(t);
    eager_opt.zero_grad();
    const TensorD eager_loss = tg::mse(eager_net.forward(batch.first), batch.second);
    eager_loss.backward();
    const TensorD replay_loss = t == 0 ? step.loss() : step.run({batch.first, batch.second});
    CHECK(same_bits(eager_loss, replay_loss));
    for (std::size_t i = 0; i < pe.size(); ++i) {
      CAPTURE(i);
      CHECK(same_bits(pe[i].grad(), pr[i].grad()));
    }
    eager_opt.step();
    replay_opt.step();
  }
  for (std::size_t i = 0; i < pe.size(); ++i) {
    CAPTURE(i);
    CHECK(same_bits(pe[i], pr[i]));
  }
}

TEST_CASE("each replayed run draws a fresh dropout mask: the same values give other gradients") {
  auto net = dropout_net(5);
  const auto params = net.parameters();
  TensorD x, y;
  std::tie(x, y) = regression_batch(0);
  auto step = tg::record_step([&] { return tg::mse(net.forward(x), y); }, params);
  const std::vector<double> recorded = params[0].grad().to_vector();
  step.run();
  const std::vector<double> first_run = params[0].grad().to_vector();
  step.run();
  // Each hidden unit is kept or dropped per sample afresh: equal gradients of the first layer
  // would need the same decisions again wherever a unit is active.
  CHECK(first_run != recorded);
  CHECK(params[0].grad().to_vector() != first_run);
}

TEST_CASE("run_checked on a recording with dropout compares the run with the same masks") {
  auto checked_net = dropout_net(8);
  auto eager_net = dropout_net(8);
  TensorD x, y;
  std::tie(x, y) = regression_batch(0);
  auto step = tg::record_step([&] { return tg::mse(checked_net.forward(x), y); },
                              checked_net.parameters(), std::vector{x, y});
  std::vector<TensorD> eager_losses;  // no optimizer: only the masks change between steps
  for (int t = 0; t < 3; ++t) {
    const auto batch = regression_batch(t);
    eager_losses.push_back(tg::mse(eager_net.forward(batch.first), batch.second));
  }
  const auto second = regression_batch(1), third = regression_batch(2);
  CHECK_NOTHROW(step.run_checked({second.first, second.second}));
  CHECK(same_bits(eager_losses[1], step.loss()));
  // The checked run drew as much as one step: the next run is the third.
  CHECK(same_bits(eager_losses[2], step.run({third.first, third.second})));
}

namespace {

// loss = sum(w * (normal(0, 1) + uniform(-1, 1))) with draws of 5 elements: an odd count leaves
// normal_distribution holding the second value of its last pair, which eager mode drops with the
// distribution at the end of the call.
template <class T> tg::Tensor<T> noisy_loss(const tg::Tensor<T>& w, std::mt19937_64& rng) {
  return tg::sum(tg::mul(w, tg::add(tg::Tensor<T>::normal(Shape{5}, T(0), T(1), rng),
                                    tg::Tensor<T>::uniform(Shape{5}, T(-1), T(1), rng))));
}

template <class T> void check_random_factories_replay() {
  tg::Tensor<T> we = tg::Tensor<T>::vector({1, -2, 3, 0.5, 2}, true);
  tg::Tensor<T> wr = tg::Tensor<T>::vector({1, -2, 3, 0.5, 2}, true);
  std::mt19937_64 eager_rng(41), replay_rng(41);
  auto step = tg::record_step([&] { return noisy_loss(wr, replay_rng); }, {wr});
  for (int t = 0; t < 4; ++t) {
    CAPTURE(t);
    we.zero_grad();
    const tg::Tensor<T> eager_loss = noisy_loss(we, eager_rng);
    eager_loss.backward();
    const tg::Tensor<T> replay_loss = t == 0 ? step.loss() : step.run();
    CHECK(same_bits(eager_loss, replay_loss));
    CHECK(same_bits(we.grad(), wr.grad()));
  }
  CHECK(eager_rng == replay_rng);  // the same number of draws from the caller's generator
}

}  // namespace

TEST_CASE("Tensor::uniform and normal in a recording draw afresh from the caller's generator") {
  SUBCASE("double") {
    check_random_factories_replay<double>();
  }
  SUBCASE("float") {
    check_random_factories_replay<float>();
  }
}

TEST_CASE("Dropout in evaluation mode records nothing and leaves its generator alone") {
  TensorD w = TensorD::matrix({{1, 2, 3}, {4, 5, 6}}, true);
  tg::nn::Dropout<double> dropout(0.5, 1);
  dropout.eval();
  auto with_dropout = tg::record_step([&] { return tg::sum(dropout.forward(w)); }, {w});
  auto without = tg::record_step([&] { return tg::sum(w); }, {w});
  CHECK(with_dropout.kernels() == without.kernels());
  CHECK(with_dropout.run().item() == 21);
  with_dropout.run();
  // Its first mask in training is still a fresh module's first mask: no draw was made.
  dropout.train();
  tg::nn::Dropout<double> fresh(0.5, 1);
  const TensorD ones = TensorD::ones(Shape{4, 16});
  CHECK(same_bits(dropout.forward(ones), fresh.forward(ones)));
}

namespace {

// Logits x @ w of 4 rows and 3 classes, for the labelled losses.
template <class T> struct LabelledStep {
  tg::Tensor<T> x = tg::Tensor<T>::from_vector(Shape{4, 2}, {0.5, -1, 2, 0.25, -0.75, 1.5, 1, 1});
  tg::Tensor<T> w = tg::Tensor<T>::from_vector(Shape{2, 3}, {0.3, -0.2, 0.8, -0.6, 0.9, 0.1}, true);
};

}  // namespace

TEST_CASE_TEMPLATE("softmax_ce and nll_loss replay new values and new labels bit for bit", T, float,
                   double) {
  struct Case {
    std::string name;
    std::int64_t ignored;  // the loss's ignore_index
    std::function<tg::Tensor<T>(const tg::Tensor<T>&, const tg::Labels&)> loss;
  };
  const std::vector<Case> cases = {
      {"softmax_ce mean", -100,
       [](const tg::Tensor<T>& z, const tg::Labels& y) { return tg::softmax_ce(z, y); }},
      {"softmax_ce smoothing 0.2, ignore_index 1, sum", 1,
       [](const tg::Tensor<T>& z, const tg::Labels& y) {
         return tg::softmax_ce(
             z, y, {.ignore_index = 1, .label_smoothing = 0.2, .reduction = tg::Reduction::sum});
       }},
      {"softmax_ce none", -100,
       [](const tg::Tensor<T>& z, const tg::Labels& y) {
         return tg::softmax_ce(z, y, tg::Reduction::none);
       }},
      {"nll_loss mean", -100,
       [](const tg::Tensor<T>& z, const tg::Labels& y) { return tg::nll_loss(z, y); }},
      {"nll_loss ignore_index 2, mean", 2,
       [](const tg::Tensor<T>& z, const tg::Labels& y) {
         return tg::nll_loss(z, y, {.ignore_index = 2});
       }},
      {"nll_loss none", -100, [](const tg::Tensor<T>& z, const tg::Labels& y) {
         return tg::nll_loss(z, y, tg::Reduction::none);
       }}};
  for (const Case& c : cases) {
    CAPTURE(c.name);
    const auto& loss = c.loss;
    LabelledStep<T> s;
    tg::Labels y = {0, 2, 1, 2};
    const tg::Tensor<T> weights = tg::Tensor<T>::from_vector(Shape{4}, {1, 0.5, 2, 1.5});
    auto f = [&] {
      const tg::Tensor<T> out = loss(tg::matmul(s.x, s.w), y);
      return out.shape().rank() == 0 ? out : tg::sum(tg::mul(out, weights));
    };
    auto step = tg::record_step(f, {s.w}, {s.x}, {y});
    // New values and new labels, ignored rows included: the rows kept (the mean's divisor)
    // change too.
    const tg::Tensor<T> x2 =
        tg::Tensor<T>::from_vector(Shape{4, 2}, {-1, 0.5, 0.25, 2, 1.5, -0.5, 0.75, -2});
    const std::int64_t ign = c.ignored;
    const std::vector<tg::Labels> runs = {{2, 1, 0, 0}, {0, ign, 2, 1}, {ign, ign, 0, 1}};
    for (const tg::Labels& labels : runs) {
      const tg::Tensor<T> replayed = step.run({x2}, {labels}).clone();
      const tg::Tensor<T> replayed_grad = s.w.grad().clone();
      CHECK(y == labels);
      s.w.zero_grad();
      const tg::Tensor<T> eager = f();
      eager.backward();
      CHECK(same_bits(replayed, eager));
      CHECK(same_bits(replayed_grad, s.w.grad()));
      // And the in-place way: labels written into y, then run().
      y = {labels[3], labels[2], labels[1], labels[0]};
      const tg::Tensor<T> in_place = step.run().clone();
      const tg::Tensor<T> in_place_grad = s.w.grad().clone();
      s.w.zero_grad();
      const tg::Tensor<T> eager_in_place = f();
      eager_in_place.backward();
      CHECK(same_bits(in_place, eager_in_place));
      CHECK(same_bits(in_place_grad, s.w.grad()));
      CHECK_FALSE(same_bits(in_place, replayed));  // the labels did change the loss
    }
    CHECK_NOTHROW(step.run_checked({x2}, {{0, 0, 1, 2}}));
  }
}

TEST_CASE("a run with a label out of range raises the op's IndexError before writing anything") {
  LabelledStep<double> s;
  tg::Labels y = {0, 2, 1, 2};
  auto step =
      tg::record_step([&] { return tg::softmax_ce(tg::matmul(s.x, s.w), y); }, {s.w}, {s.x}, {y});
  const TensorD x_before = s.x.clone(), grad_before = s.w.grad().clone();
  const double loss_before = step.loss().item();
  const TensorD x2 = TensorD::ones(Shape{4, 2});
  check_error<tg::IndexError>(
      [&] {
        step.run({x2}, {{0, 1, 3, 0}});
      },
      {"softmax_ce", "label 3 at row 2", "out of range for 3 classes", "logits[4,3]"});
  check_error<tg::IndexError>(
      [&] {
        step.run_checked({x2}, {{-1, 1, 2, 0}});
      },
      {"softmax_ce", "label -1 at row 0"});
  CHECK(same_bits(s.x, x_before));  // the values were not copied
  CHECK(y == tg::Labels{0, 2, 1, 2});
  CHECK(step.loss().item() == loss_before);  // no kernel ran
  CHECK(same_bits(s.w.grad(), grad_before));
  // Written in place by the caller: checked by run() the same way.
  y[1] = 7;
  check_error<tg::IndexError>([&] { step.run(); }, {"softmax_ce", "label 7 at row 1"});
  CHECK(step.loss().item() == loss_before);
  CHECK(same_bits(s.w.grad(), grad_before));
  y[1] = 2;
  CHECK(step.run().item() == loss_before);
  // -100 is a label of its own once ignore_index is another: out of range, as in eager mode.
  tg::Labels z = {0, 1, 2, 0};
  auto nll = tg::record_step(
      [&] { return tg::nll_loss(tg::matmul(s.x, s.w), z, {.ignore_index = 1}); }, {s.w}, {}, {z});
  check_error<tg::IndexError>(
      [&] {
        nll.run({}, {{0, -100, 1, 2}});
      },
      {"nll_loss", "label -100 at row 1", "log_probs[4,3]"});
  CHECK_NOTHROW(nll.run({}, {{0, 1, 1, 2}}));
}

TEST_CASE("label inputs of another length or count are a ShapeError, a copied one a ReplayError") {
  LabelledStep<double> s;
  tg::Labels y = {0, 2, 1, 2};
  auto step =
      tg::record_step([&] { return tg::nll_loss(tg::matmul(s.x, s.w), y); }, {s.w}, {s.x}, {y});
  const TensorD x = s.x.clone();
  check_error<tg::ShapeError>(
      [&] {
        step.run({x}, {{0, 1, 2}});
      },
      {"replay", "label input 0 has 3 labels, recorded with 4"});
  check_error<tg::ShapeError>([&] { step.run({x}, {}); },
                              {"replay", "0 label vectors for 1 recorded label inputs"});
  check_error<tg::ShapeError>(
      [&] {
        step.run({x}, {{0, 1, 2, 0}, {0, 1, 2, 0}});
      },
      {"replay", "2 label vectors for 1 recorded label inputs"});
  CHECK(y == tg::Labels{0, 2, 1, 2});
  y.push_back(0);
  check_error<tg::ShapeError>([&] { step.run(); },
                              {"replay", "label input 0 has 5 labels, recorded with 4"});
  y.pop_back();
  CHECK_NOTHROW(step.run());
  // f reads a copy of the declared vector: a run would never see new labels.
  check_error<tg::ReplayError>(
      [&] {
        tg::record_step([&] { return tg::nll_loss(tg::matmul(s.x, s.w), tg::Labels(y)); }, {s.w},
                        {s.x}, {y});
      },
      {"record_step", "label input 0 (4 labels)", "not passed to softmax_ce or nll_loss"});
  CHECK(!s.w.has_grad());
}

TEST_CASE("labels not declared to record_step are constants of the recording") {
  LabelledStep<double> s;
  tg::Labels y = {0, 2, 1, 2};
  auto step = tg::record_step([&] { return tg::softmax_ce(tg::matmul(s.x, s.w), y); }, {s.w});
  const double recorded = step.loss().item();
  y = {1, 1, 1, 1};
  CHECK(step.run().item() == recorded);
  check_error<tg::ReplayError>([&] { step.run_checked(); }, {"replay check", "loss", "differs"});
}

// prod's adjoint has one form for an x without zeros and another for an x with zeros, which round
// differently; a recording holds both and picks one at each run.
TEST_CASE_TEMPLATE("prod replays bit for bit whether or not the run's values hold zeros", T, float,
                   double) {
  for (const int axis : {0, 1, -100}) {
    CAPTURE(axis);
    for (const bool record_with_zero : {false, true}) {
      CAPTURE(record_with_zero);
      tg::Tensor<T> x = tg::Tensor<T>::from_vector(
          Shape{2, 3}, {1.5, record_with_zero ? T(0) : T(-0.75), 3, 0.3, 2.5, -1.25}, true);
      const tg::Tensor<T> w = tg::Tensor<T>::from_vector(Shape{3}, {0.7, 1.3, -0.9});
      auto f = [&] {
        if (axis == -100) return tg::mul(tg::prod(x), tg::Tensor<T>::scalar(T(1.1)));
        const tg::Tensor<T> p = tg::prod(x, axis);
        return tg::sum(
            tg::mul(p, axis == 0 ? w : tg::Tensor<T>::from_vector(Shape{2}, {0.7, 1.3})));
      };
      auto step = tg::record_step(f, {x});
      const std::vector<std::vector<T>> runs = {{1.1, -0.4, 2.2, 0.6, 1.7, -0.3},     // no zero
                                                {1.1, 0, 2.2, 0.6, 1.7, -0.3},        // one zero
                                                {0, 0, 2.2, 0.6, 0, -0.3},            // zeros
                                                {0.9, 1.9, -2.1, 0.35, 1.45, 2.05}};  // none again
      for (const std::vector<T>& values : runs) {
        std::copy(values.begin(), values.end(), x.data());
        const tg::Tensor<T> replayed = step.run().clone();
        const tg::Tensor<T> replayed_grad = x.grad().clone();
        x.zero_grad();
        const tg::Tensor<T> eager = f();
        eager.backward();
        CHECK(same_bits(replayed, eager));
        CHECK(same_bits(replayed_grad, x.grad()));
      }
    }
  }
}

TEST_CASE("a labelled loss whose graph was made before the recording replays its labels") {
  // Its backward runs inside the recording: the node's own label copy dies with the node, so the
  // recording keeps one.
  LabelledStep<double> s;
  const TensorD made_before = tg::softmax_ce(tg::matmul(s.x, s.w), tg::Labels{2, 0, 1, 1});
  auto step = tg::record_step([&] { return tg::mul(made_before, TensorD::scalar(3.0)); }, {s.w});
  const TensorD recorded_grad = s.w.grad().clone();
  step.run();
  CHECK(same_bits(s.w.grad(), recorded_grad));
  s.w.zero_grad();
  tg::mul(tg::softmax_ce(tg::matmul(s.x, s.w), tg::Labels{2, 0, 1, 1}), TensorD::scalar(3.0))
      .backward();
  CHECK(same_bits(s.w.grad(), recorded_grad));
}

namespace {

// A step of a multi-layer perceptron written out op by op, so that the buffers it makes are known:
// every layer makes z = x W (matmul), z + b (add_bias) and its activation, three new [n,H]
// buffers, before backward makes any.
struct LayeredStep {
  static constexpr std::size_t n = 256, H = 32, L = 6;
  std::vector<TensorD> params;  // W0, b0, W1, b1, ...
  TensorD x = TensorD::zeros(Shape{n, H}), y = TensorD::zeros(Shape{n, H});

  explicit LayeredStep(std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    for (std::size_t l = 0; l < L; ++l) {
      params.push_back(TensorD::uniform(Shape{H, H}, -0.3, 0.3, rng, true));
      params.push_back(TensorD::uniform(Shape{H}, -0.1, 0.1, rng, true));
    }
    fill(rng);
  }
  void fill(std::mt19937_64& rng) {
    write_into(x, TensorD::uniform(Shape{n, H}, -1, 1, rng));
    write_into(y, TensorD::uniform(Shape{n, H}, 0, 1, rng));
  }
  TensorD loss() const { return loss_of(x, y, params); }
  static TensorD loss_of(const TensorD& x, const TensorD& y, const std::vector<TensorD>& params) {
    TensorD h = x;
    for (std::size_t l = 0; l < L; ++l) {
      const TensorD z = tg::add_bias(tg::matmul(h, params[2 * l]), params[2 * l + 1]);
      h = l % 2 ? tg::relu(z) : tg::sigmoid(z);
    }
    return tg::mse(h, y);
  }
};

// A replayed loss and gradients equal eager mode's bit for bit; then a step in place on both
// models, as an optimizer's: the next run reads the new values.
void same_step(const TensorD& loss, const TensorD& expected, LayeredStep& replayed,
               LayeredStep& eager) {
  CHECK(same_bits(loss, expected));
  for (std::size_t i = 0; i < eager.params.size(); ++i) {
    CAPTURE(i);
    CHECK(same_bits(replayed.params[i].grad(), eager.params[i].grad()));
    for (LayeredStep* s : {&replayed, &eager}) {
      TensorD& p = s->params[i];
      const TensorD g = p.grad();
      for (std::size_t k = 0; k < p.size(); ++k) p.data()[k] -= 0.5 * g.data()[k];
    }
  }
}

}  // namespace

TEST_CASE(
    "a recording reuses the blocks of buffers freed while recording, and still replays "
    "bit for bit") {
  LayeredStep replayed(3), eager(3);
  auto step =
      tg::record_step([&] { return replayed.loss(); }, replayed.params, {replayed.x, replayed.y});
  // Lower bound of the bytes of the buffers the recording made: the forward pass alone makes
  // 3 L buffers of n*H doubles. Without reuse the recording would hold at least that.
  constexpr std::size_t forward_bytes =
      3 * LayeredStep::L * LayeredStep::n * LayeredStep::H * sizeof(double);
  // What must be alive at once: the L activations saved for backward when the forward pass ends.
  constexpr std::size_t saved_bytes =
      LayeredStep::L * LayeredStep::n * LayeredStep::H * sizeof(double);
  MESSAGE("recording: " << step.bytes() << " bytes in " << step.buffers() << " blocks; forward "
                        << forward_bytes << " bytes");
  CHECK(step.bytes() >= saved_bytes);
  CHECK(step.bytes() < forward_bytes);

  std::mt19937_64 rng_replayed(9), rng_eager(9);
  for (int t = 0; t < 3; ++t) {
    CAPTURE(t);
    replayed.fill(rng_replayed);
    eager.fill(rng_eager);
    const TensorD loss = step.run().clone();
    for (TensorD& p : eager.params) p.zero_grad();
    const TensorD expected = eager.loss();
    expected.backward();
    same_step(loss, expected, replayed, eager);
  }
}

TEST_CASE("buffers that outlive their recording keep their values and blocks") {
  LayeredStep s(4);
  std::vector<TensorD> grads;
  TensorD loss;
  std::vector<std::vector<double>> expected;
  {
    auto step = tg::record_step([&] { return s.loss(); }, s.params, {s.x, s.y});
    loss = step.run();
    for (const TensorD& p : s.params) {
      grads.push_back(p.grad());
      expected.push_back(p.grad().to_vector());
    }
    expected.push_back(loss.to_vector());
  }
  // The recording is gone and its free blocks with it: eager steps now allocate and free buffers
  // of the same sizes, which must not land on the blocks the handles above still hold.
  for (int t = 0; t < 3; ++t) {
    for (TensorD& p : s.params) p.zero_grad();
    s.loss().backward();
  }
  for (std::size_t i = 0; i < grads.size(); ++i) {
    CAPTURE(i);
    CHECK(grads[i].to_vector() == expected[i]);
  }
  CHECK(loss.to_vector() == expected.back());
}

namespace {

// One model, two batch shapes (an epoch's full minibatch and its shorter last one): the layers of
// LayeredStep on batches of `rows` rows.
struct Batch {
  TensorD x, y;
  explicit Batch(std::size_t rows)
      : x(TensorD::zeros(Shape{rows, LayeredStep::H})),
        y(TensorD::zeros(Shape{rows, LayeredStep::H})) {}
  void fill(std::mt19937_64& rng) {
    write_into(x, TensorD::uniform(x.shape(), -1, 1, rng));
    write_into(y, TensorD::uniform(y.shape(), 0, 1, rng));
  }
  TensorD loss(const std::vector<TensorD>& params) const {
    return LayeredStep::loss_of(x, y, params);
  }
};

}  // namespace

TEST_CASE(
    "a recording that shares another's buffers takes no memory of its own for a batch no larger, "
    "and both replay bit for bit") {
  LayeredStep replayed(5), eager(5);
  Batch full(LayeredStep::n), last(LayeredStep::n * 3 / 4);
  Batch eager_full(LayeredStep::n), eager_last(LayeredStep::n * 3 / 4);
  auto full_step = tg::record_step([&] { return full.loss(replayed.params); }, replayed.params,
                                   {full.x, full.y});
  std::size_t alone_bytes = 0;
  {
    auto alone = tg::record_step([&] { return last.loss(replayed.params); }, replayed.params,
                                 {last.x, last.y});
    alone_bytes = alone.bytes();
  }
  auto last_step = tg::record_step([&] { return last.loss(replayed.params); }, replayed.params,
                                   {last.x, last.y}, {}, tg::share_buffers_with(full_step));
  MESSAGE("full batch: " << full_step.bytes() << " bytes; last batch alone: " << alone_bytes
                         << ", sharing: " << last_step.bytes());
  CHECK(alone_bytes > 0);
  // Every block it holds is one of the full batch's recording: none of its own.
  CHECK(last_step.bytes() == full_step.bytes());
  CHECK(last_step.buffers() == full_step.buffers());

  // An epoch of three batches and its last one, twice, each run followed by a step in place.
  std::mt19937_64 rng_replayed(11), rng_eager(11);
  for (int t = 0; t < 8; ++t) {
    CAPTURE(t);
    const bool is_last = t % 4 == 3;
    Batch& b = is_last ? last : full;
    Batch& e = is_last ? eager_last : eager_full;
    b.fill(rng_replayed);
    e.fill(rng_eager);
    const TensorD loss = (is_last ? last_step : full_step).run().clone();
    for (TensorD& p : eager.params) p.zero_grad();
    const TensorD expected = e.loss(eager.params);
    expected.backward();
    same_step(loss, expected, replayed, eager);
  }
}

TEST_CASE(
    "a recording that shares another's buffers leaves the tensors the other's f made and the "
    "caller keeps, and the versions of its results") {
  LayeredStep s(6);
  Batch full(LayeredStep::n), last(LayeredStep::n / 2);
  std::mt19937_64 rng(3);
  full.fill(rng);
  last.fill(rng);
  TensorD kept;  // as an accuracy would read the logits
  auto full_step = tg::record_step(
      [&] {
        kept = tg::sigmoid(tg::matmul(full.x, s.params[0]));
        return tg::mse(kept, full.y);
      },
      s.params, {full.x, full.y});
  kept = kept.detach();
  full_step.run();
  const std::vector<double> kept_values = kept.to_vector();
  // A result of the first recording whose version a user moved on (a write in place).
  TensorD gradient = full_step.gradient(0);
  gradient.data()[0] += 0;
  const std::uint64_t version = gradient.version();
  REQUIRE(version > 0);

  auto last_step = tg::record_step([&] { return last.loss(s.params); }, s.params, {last.x, last.y},
                                   {}, tg::share_buffers_with(full_step));
  for (int t = 0; t < 2; ++t) last_step.run();
  CHECK(kept.to_vector() == kept_values);
  CHECK(gradient.version() == version);
}

TEST_CASE(
    "recordings that share buffers do not run while one of them runs or records: ReplayError") {
  TensorD w = TensorD::vector({1, 2}, true);
  tg::Replay<double>* other = nullptr;       // f runs it
  tg::Replay<double>* share_with = nullptr;  // f records a step sharing its buffers
  auto first = tg::record_step(
      [&] {
        if (other) other->run();
        if (share_with)
          (void)tg::record_step([&] { return tg::sum(w); }, {w}, {}, {},
                                tg::share_buffers_with(*share_with));
        return tg::sum(tg::exp(w));
      },
      {w});
  // While the second records, a run of the first (from its f here, from another thread alike).
  check_error<tg::ReplayError>(
      [&] {
        (void)tg::record_step(
            [&] {
              first.run();
              return tg::sum(w);
            },
            {w}, {}, {}, tg::share_buffers_with(first));
      },
      {"replay: run() called", "sharing its buffers"});
  auto second = tg::record_step([&] { return tg::sum(tg::mul(w, w)); }, {w}, {}, {},
                                tg::share_buffers_with(first));
  // run_checked holds the flag while it runs f eagerly: a run of the other from inside f, or a
  // new recording sharing with it, meets the flag.
  other = &second;
  check_error<tg::ReplayError>([&] { first.run_checked(); },
                               {"replay: run() called", "sharing its buffers"});
  other = nullptr;
  share_with = &first;
  bool refused = false;
  try {
    first.run_checked();
  } catch (const tg::ReplayError& e) {
    refused = std::string(e.what()).find("record_step: the recording to share buffers with") !=
              std::string::npos;
  }
  CHECK(refused);
  share_with = nullptr;
  CHECK_NOTHROW(first.run_checked());
  CHECK_NOTHROW(second.run_checked());
  CHECK(w.grad().to_vector() == std::vector<double>{2, 4});
}

TEST_CASE(
    "a labelled loss made in one recording and backpropagated in a later one reads its own "
    "labels") {
  // The node of `kept` is made while recording the first step, whose copy of the labels dies with
  // it; the second recording may be allocated where the first was. Its backward must not take the
  // first recording's copy (freed: the sanitizer builds see a read of it) for its own.
  LabelledStep<double> s;
  TensorD kept;
  {
    auto first = tg::record_step(
        [&] {
          kept = tg::softmax_ce(tg::matmul(s.x, s.w), tg::Labels{2, 0, 1, 1});
          return tg::sum(s.w);
        },
        {s.w});
  }
  auto second = tg::record_step([&] { return tg::mul(kept, TensorD::scalar(3.0)); }, {s.w});
  const TensorD recorded_grad = s.w.grad().clone();
  second.run();
  CHECK(same_bits(s.w.grad(), recorded_grad));
  s.w.zero_grad();
  tg::mul(tg::softmax_ce(tg::matmul(s.x, s.w), tg::Labels{2, 0, 1, 1}), TensorD::scalar(3.0))
      .backward();
  CHECK(same_bits(s.w.grad(), recorded_grad));
}

TEST_CASE("nn::one_hot refuses to be recorded: its ones are written outside the kernels") {
  // Recorded, its targets would be zeros at every run (the recorded loss 1/3, replays 0).
  TensorD z = TensorD::from_vector(Shape{2, 3}, {0.5, 0, 0, 0, 0.5, 0}, true);
  const tg::Labels y{0, 1};
  check_error<tg::ReplayError>(
      [&] { tg::record_step([&] { return tg::mse(z, tg::nn::one_hot<double>(y, 3)); }, {z}); },
      {"one_hot: ", "outside the recorded function"});
  // Outside a recording it works as before.
  CHECK(tg::nn::one_hot<double>(y, 3).to_vector() == std::vector<double>{1, 0, 0, 0, 1, 0});
}

TEST_CASE("a recording moved from raises ReplayError from every member that needs its tape") {
  TensorD w = TensorD::full(Shape{2, 2}, 0.5, true);
  TensorD x = TensorD::ones(Shape{3, 2});
  tg::Labels y = {0, 1, 1};
  auto step = tg::record_step([&] { return tg::softmax_ce(tg::matmul(x, w), y); }, {w}, {x}, {y});
  tg::Replay<double> moved = std::move(step);
  CHECK(moved.run().size() == 1);  // the new owner runs
  const std::vector<std::string> words = {"moved from", "no tape"};
  check_error<tg::ReplayError>([&] { step.run(); }, words);
  check_error<tg::ReplayError>([&] { step.run({x}); }, words);
  check_error<tg::ReplayError>([&] { step.run({x}, {y}); }, words);
  check_error<tg::ReplayError>([&] { step.run_checked(); }, words);
  check_error<tg::ReplayError>([&] { (void)step.kernels(); }, words);
  check_error<tg::ReplayError>([&] { (void)step.summary(); }, words);
  check_error<tg::ReplayError>([&] { (void)step.buffers(); }, words);
  check_error<tg::ReplayError>([&] { (void)step.bytes(); }, words);
  check_error<tg::ReplayError>([&] { (void)tg::gradcheck(step); }, words);
}
