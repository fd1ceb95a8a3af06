// The passes a recording runs over its tape: kernels whose values nothing reads are dropped,
// values the caller keeps or an opaque kernel may read are not, and elementwise kernels run in
// blocks, all without changing a bit of what eager mode computes.
#include <doctest/doctest.h>

#include <cstring>
#include <random>
#include <utility>

#include "tapegrad/ops.hpp"
#include "tapegrad/replay.hpp"

using tg::Shape;
using tg::TensorD;

namespace {

bool same_bits(const TensorD& a, const TensorD& b) {
  return a.shape() == b.shape() && std::memcmp(std::as_const(a).data(), std::as_const(b).data(),
                                               a.size() * sizeof(double)) == 0;
}

void fill_uniform(TensorD& t, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  double* d = t.data();
  for (std::size_t i = 0; i < t.size(); ++i) d[i] = u(rng);
}

struct Layer {
  std::mt19937_64 rng{17};
  TensorD x = TensorD::uniform(Shape{8, 16}, -1.0, 1.0, rng);
  TensorD w = TensorD::uniform(Shape{16, 4}, -1.0, 1.0, rng, true);
  TensorD hidden() const { return tg::sigmoid(tg::matmul(x, w)); }
  static TensorD loss_of(const TensorD& h) { return tg::mean(h * h); }
};

std::size_t run_kernels(const tg::TapeSummary& s) {
  return s.recorded - s.dead - s.fused + s.groups;
}

}  // namespace

TEST_CASE("a value f computes and never uses is not computed by a run") {
  Layer layer;
  auto plain =
      tg::record_step([&] { return Layer::loss_of(layer.hidden()); }, {layer.w}, {layer.x});
  auto extra = tg::record_step(
      [&] {
        const TensorD h = layer.hidden();
        const TensorD unused = tg::exp(h) * 2.0;  // two kernels whose values nobody reads
        return Layer::loss_of(h);
      },
      {layer.w}, {layer.x});
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
  auto plain =
      tg::record_step([&] { return Layer::loss_of(layer.hidden()); }, {layer.w}, {layer.x});
  auto step = tg::record_step(
      [&] {
        const TensorD h = layer.hidden();
        kept = tg::exp(h);  // read by the caller after each run, as logits for an accuracy
        return Layer::loss_of(h);
      },
      {layer.w}, {layer.x});
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
  auto plain =
      tg::record_step([&] { return Layer::loss_of(layer.hidden()); }, {layer.w}, {layer.x});
  auto step = tg::record_step(
      [&] {
        const TensorD h = layer.hidden();
        // index_select's kernel is opaque to the passes: it might read anything, so what comes
        // before it stays, and so does the kernel itself.
        const TensorD rows = tg::index_select(tg::exp(h), 0, {1, 3});
        return Layer::loss_of(h);
      },
      {layer.w}, {layer.x});
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
