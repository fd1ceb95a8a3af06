// The passes a recording runs over its tape: kernels whose values nothing reads are dropped,
// values the caller keeps or an opaque kernel may read are not, and elementwise kernels run in
// blocks, all without changing a bit of what eager mode computes.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <utility>
#include <vector>

#include "check_error.hpp"
#include "same_bits.hpp"
#include "tapegrad/gradcheck.hpp"
#include "tapegrad/nn/layers.hpp"
#include "tapegrad/nn/module.hpp"
#include "tapegrad/nn/optim.hpp"
#include "tapegrad/ops.hpp"
#include "tapegrad/replay.hpp"

using tg::Shape;
using tg::TensorD;

namespace {

void fill_uniform(TensorD& t, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  double* d = t.data();
  for (std::size_t i = 0; i < t.size(); ++i) d[i] = u(rng);
}

// A layer whose loss is mean(h * h), recorded as it is or with `also(h)` done beside it.
struct Layer {
  std::mt19937_64 rng{17};
  TensorD x = TensorD::uniform(Shape{8, 16}, -1.0, 1.0, rng);
  TensorD w = TensorD::uniform(Shape{16, 4}, -1.0, 1.0, rng, true);
  TensorD hidden() const { return tg::sigmoid(tg::matmul(x, w)); }
  tg::Replay<double> record(std::function<void(const TensorD&)> also = {}) {
    return tg::record_step(
        [this, also] {
          const TensorD h = hidden();
          if (also) also(h);
          return tg::mean(h * h);
        },
        {w}, {x});
  }
};

std::size_t run_kernels(const tg::TapeSummary& s) {
  return s.recorded - s.dead - s.updates_in_gemm - s.fused + s.groups;
}

}  // namespace

TEST_CASE("a value f computes and never uses is not computed by a run") {
  Layer layer;
  auto plain = layer.record();
  auto extra = layer.record([](const TensorD& h) {
    const TensorD unused = tg::exp(h) * 2.0;  // two kernels whose values nobody reads
  });
  CHECK(extra.summary().recorded == plain.summary().recorded + 2);
  CHECK(extra.summary().dead == plain.summary().dead + 2);
  CHECK(extra.kernels() == plain.kernels());
  CHECK(extra.kernels() == run_kernels(extra.summary()));
  // On new values the run still equals eager mode, loss and gradient, bit for bit.
  fill_uniform(layer.x, layer.rng);
  extra.run_checked();
}

TEST_CASE("a tensor f makes and the caller keeps is computed by every run") {
  Layer layer;
  TensorD kept;
  auto plain = layer.record();
  auto step = layer.record([&](const TensorD& h) {
    kept = tg::exp(h);  // read by the caller after each run, as logits for an accuracy
  });
  CHECK(step.summary().dead == plain.summary().dead);
  fill_uniform(layer.x, layer.rng);
  step.run();
  TensorD expected;
  {
    tg::NoGradGuard no_grad;
    expected = tg::exp(layer.hidden());
  }
  CHECK(same_bits(kept, expected));
}

TEST_CASE("a value that an opaque kernel reads is computed, even when the reader's result is not") {
  Layer layer;
  auto plain = layer.record();
  auto step = layer.record([](const TensorD& h) {
    // index_select's kernel is opaque to the passes: it might read anything, so what comes
    // before it stays, and so does the kernel itself.
    const TensorD rows = tg::index_select(tg::exp(h), 0, {1, 3});
  });
  CHECK(step.summary().recorded == plain.summary().recorded + 2);
  CHECK(step.kernels() == plain.kernels() + 2);
  fill_uniform(layer.x, layer.rng);
  step.run_checked();
}

TEST_CASE("a chain of elementwise ops on a large tensor runs in blocks, bit for bit") {
  std::mt19937_64 rng(23);
  REQUIRE(tg::fusion_block() < 5120);
  TensorD x = TensorD::uniform(Shape{64, 80}, -2.0, 2.0, rng);  // 5120 elements: several blocks
  TensorD w = TensorD::uniform(Shape{64, 80}, -1.0, 1.0, rng, true);
  auto f = [&] { return tg::sum(tg::sigmoid(x * w) * x + w); };
  auto step = tg::record_step(f, {w}, {x});
  const tg::TapeSummary s = step.summary();
  CHECK(s.groups >= 2);  // the forward chain, the backward's
  CHECK(s.fused >= 2 * s.groups);
  CHECK(step.kernels() == run_kernels(s));
  for (int run = 0; run < 3; ++run) {
    fill_uniform(x, rng);
    fill_uniform(w, rng);
    step.run_checked();  // throws at the first bit that differs from eager mode
  }
}

TEST_CASE("tensors no larger than a block are not fused") {
  std::mt19937_64 rng(29);
  const Shape one_block{2, tg::fusion_block() / 2};
  TensorD x = TensorD::uniform(one_block, -2.0, 2.0, rng);
  TensorD w = TensorD::uniform(one_block, -1.0, 1.0, rng, true);
  auto step = tg::record_step([&] { return tg::sum(tg::sigmoid(x * w) * x + w); }, {w}, {x});
  CHECK(step.summary().groups == 0);
  CHECK(step.kernels() == step.summary().recorded - step.summary().dead);
}

namespace {

tg::nn::Sequential<double> small_mlp() {
  std::mt19937_64 rng(31);
  return tg::nn::mlp<double>({6, 8, 8, 3}, tg::nn::Activation::sigmoid,
                             tg::nn::Activation::identity, tg::nn::Init::uniform(0.8), rng);
}

double relative_difference(const TensorD& a, const TensorD& b) {
  double worst = 0, scale = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    worst = std::max(worst, std::abs(std::as_const(a).data()[i] - std::as_const(b).data()[i]));
    scale = std::max(scale, std::abs(std::as_const(b).data()[i]));
  }
  return worst / scale;
}

}  // namespace

TEST_CASE("a recording with sgd_update trains as nn::SGD does, each weight updated in its GEMM") {
  auto eager_net = small_mlp();
  auto replay_net = small_mlp();
  tg::nn::SGD<double> sgd(eager_net.parameters(), {.lr = 0.3});
  std::mt19937_64 rng(37);
  TensorD x = TensorD::uniform(Shape{5, 6}, -1.0, 1.0, rng);
  TensorD y = TensorD::uniform(Shape{5, 3}, -1.0, 1.0, rng);
  auto step = tg::record_step([&] { return tg::mse(replay_net.forward(x), y); },
                              replay_net.parameters(), {x, y}, {}, {}, tg::sgd_update(0.3));
  CHECK(step.updates_parameters());
  CHECK(step.summary().updates_in_gemm == 3);  // the three weights; the biases' updates stay
  CHECK(step.kernels() == run_kernels(step.summary()));
  std::vector<double> eager_losses, replay_losses;
  for (int t = 0; t < 8; ++t) {
    if (t > 0) {
      fill_uniform(x, rng);
      replay_losses.push_back(step.run().item());
    } else {
      replay_losses.push_back(step.loss().item());  // the recording was step 0
    }
    sgd.zero_grad();
    const TensorD loss = tg::mse(eager_net.forward(x), y);
    loss.backward();
    sgd.step();
    eager_losses.push_back(loss.item());
    // The GEMM rounds W - lr * X^T delta once where nn::SGD rounds the gradient first.
    CHECK(replay_losses.back() == doctest::Approx(eager_losses.back()).epsilon(1e-12));
    for (std::size_t i = 0; i < eager_net.parameters().size(); ++i) {
      CAPTURE(i);
      CHECK(relative_difference(replay_net.parameters()[i], eager_net.parameters()[i]) < 1e-12);
      CHECK(!replay_net.parameters()[i].has_grad());
    }
  }
  CHECK(eager_losses.back() < eager_losses.front());  // the nets did learn
}

TEST_CASE("a weight whose gradient is a sum of two products is updated as nn::SGD, bit for bit") {
  std::mt19937_64 rng(41);
  TensorD w_eager = TensorD::uniform(Shape{4, 4}, -0.5, 0.5, rng, true);
  TensorD w_replay = w_eager.detach().clone();
  w_replay.set_requires_grad(true);
  TensorD x = TensorD::uniform(Shape{3, 4}, -1.0, 1.0, rng);
  TensorD y = TensorD::uniform(Shape{3, 4}, -1.0, 1.0, rng);
  // w is used twice: its gradient is accumulated from two GEMMs, which no single GEMM can update.
  auto f = [&](const TensorD& w) { return tg::mse(tg::matmul(tg::matmul(x, w), w), y); };
  tg::nn::SGD<double> sgd({w_eager}, {.lr = 0.1});
  auto step =
      tg::record_step([&] { return f(w_replay); }, {w_replay}, {x}, {}, {}, tg::sgd_update(0.1));
  CHECK(step.summary().updates_in_gemm == 0);
  for (int t = 0; t < 5; ++t) {
    if (t > 0) step.run();
    sgd.zero_grad();
    f(w_eager).backward();
    sgd.step();
    CHECK(same_bits(w_replay, w_eager));
  }
}

TEST_CASE("a recording with sgd_update refuses run_checked and gradcheck, and writes nothing") {
  auto net = small_mlp();
  std::mt19937_64 rng(43);
  TensorD x = TensorD::uniform(Shape{5, 6}, -1.0, 1.0, rng);
  TensorD y = TensorD::uniform(Shape{5, 3}, -1.0, 1.0, rng);
  auto step = tg::record_step([&] { return tg::mse(net.forward(x), y); }, net.parameters(), {x, y},
                              {}, {}, tg::sgd_update(0.3));
  const TensorD w_before = net.parameters()[0].detach().clone();
  const TensorD x_before = x.detach().clone();
  const TensorD other = TensorD::uniform(Shape{5, 6}, -1.0, 1.0, rng);
  check_error<tg::ReplayError>(
      [&] {
        step.run_checked({other, y});
      },
      {"replay check", "updates its parameters", "sgd_update"});
  check_error<tg::ReplayError>([&] { (void)tg::gradcheck(step); },
                               {"gradcheck", "updates its parameters"});
  CHECK(same_bits(net.parameters()[0], w_before));
  CHECK(same_bits(x, x_before));
}

TEST_CASE("the gradient buffers that the GEMMs no longer write are given back") {
  auto net_plain = small_mlp();
  auto net_update = small_mlp();
  std::mt19937_64 rng(47);
  TensorD x = TensorD::uniform(Shape{64, 6}, -1.0, 1.0, rng);
  TensorD y = TensorD::uniform(Shape{64, 3}, -1.0, 1.0, rng);
  auto plain = tg::record_step([&] { return tg::mse(net_plain.forward(x), y); },
                               net_plain.parameters(), {x, y});
  auto update = tg::record_step([&] { return tg::mse(net_update.forward(x), y); },
                                net_update.parameters(), {x, y}, {}, {}, tg::sgd_update(0.1));
  std::size_t weight_bytes = 0;
  for (const TensorD& p : net_plain.parameters())
    if (p.ndim() == 2) weight_bytes += p.size() * sizeof(double);
  MESSAGE("recording: " << plain.bytes() << " bytes; with the SGD step: " << update.bytes());
  CHECK(update.bytes() + weight_bytes <= plain.bytes());
}

TEST_CASE("a recording with sgd_update never writes the gradient buffer its GEMM replaces") {
  std::mt19937_64 rng(53);
  TensorD w = TensorD::uniform(Shape{128, 128}, -0.1, 0.1, rng, true);
  TensorD x = TensorD::uniform(Shape{32, 128}, -1.0, 1.0, rng);
  TensorD y = TensorD::uniform(Shape{32, 128}, -1.0, 1.0, rng);
  // A freed buffer of w's size, every value a sentinel, waits in the thread's buffer cache, which
  // hands it out again (last in, first out) for the recording's gradient of w: the only buffer of
  // that size. The recording drops that gradient (the update is in the GEMM) and gives the block
  // back before it would have been written: its pages were never touched.
  { const TensorD sentinel = TensorD::full(Shape{128, 128}, 12345.0); }
  auto step = tg::record_step([&] { return tg::mse(tg::matmul(x, w), y); }, {w}, {x}, {}, {},
                              tg::sgd_update(0.1));
  REQUIRE(step.summary().updates_in_gemm == 1);
  const TensorD next = TensorD::empty(Shape{128, 128});
  const std::vector<double> values = next.to_vector();
  CHECK(std::all_of(values.begin(), values.end(), [](double v) { return v == 12345.0; }));
}

TEST_CASE("sgd_update refuses a learning rate that is not finite and >= 0, and a parameter twice") {
  auto net = small_mlp();
  TensorD x = TensorD::zeros(Shape{2, 6}), y = TensorD::zeros(Shape{2, 3});
  auto f = [&] { return tg::mse(net.forward(x), y); };
  for (double lr : {-0.1, std::nan(""), double(INFINITY)})
    check_error<tg::DomainError>(
        [&] {
          tg::record_step(f, net.parameters(), {x, y}, {}, {}, tg::sgd_update(lr));
        },
        {"record_step", "learning rate", "finite and >= 0"});
  std::vector<TensorD> twice = net.parameters();
  twice.push_back(twice[0]);
  check_error<tg::GraphError>(
      [&] {
        tg::record_step(f, twice, {x, y}, {}, {}, tg::sgd_update(0.1));
      },
      {"record_step", "parameter 6", "is parameter 0 again", "twice"});
  for (const TensorD& p : net.parameters()) CHECK(!p.has_grad());
}
