// A training loop runs in flat memory: every step's graph is released by backward and freed with
// the step's tensors. Counted with the engine's own live-object counters (exact, unlike RSS);
// benchmarks/memory_flat prints the process's RSS over the same loop.
#include <doctest/doctest.h>

#include <random>
#include <thread>

#include "tapegrad/tapegrad.hpp"

using tg::TensorD;

TEST_CASE("100000 training steps of a small MLP keep live nodes and buffers flat") {
  std::mt19937_64 rng(7);
  TensorD x = TensorD::uniform({4, 2}, -1, 1, rng);
  TensorD y = TensorD::uniform({4, 1}, 0, 1, rng);
  TensorD w1 = TensorD::uniform({2, 3}, -1, 1, rng, true);
  TensorD b1 = TensorD::zeros({3}, true);
  TensorD w2 = TensorD::uniform({3, 1}, -1, 1, rng, true);
  TensorD b2 = TensorD::zeros({1}, true);
  TensorD loss;
  tg::MemoryStats after_warmup{};
  std::int64_t max_nodes = 0, max_buffers = 0, max_bytes = 0;
  for (int step = 0; step < 100000; ++step) {
    TensorD h = tg::sigmoid(tg::add_bias(tg::matmul(x, w1), b1));
    loss = tg::mse(tg::add_bias(tg::matmul(h, w2), b2), y);
    loss.backward();
    {
      tg::NoGradGuard no_grad;
      for (TensorD* p : {&w1, &b1, &w2, &b2}) {
        TensorD g = p->grad();
        for (std::size_t i = 0; i < p->size(); ++i) p->data()[i] -= 0.1 * g.data()[i];
        p->zero_grad();
      }
    }
    const auto now = tg::memory_stats();
    if (step == 10) after_warmup = now;
    if (step >= 10) {
      max_nodes = std::max(max_nodes, now.live_nodes);
      max_buffers = std::max(max_buffers, now.live_buffers);
      max_bytes = std::max(max_bytes, now.live_buffer_bytes);
    }
  }
  CHECK(max_nodes == after_warmup.live_nodes);
  CHECK(max_buffers == after_warmup.live_buffers);
  CHECK(max_bytes == after_warmup.live_buffer_bytes);
  // What is alive between steps: the last loss's released graph (nodes without saved tensors).
  CHECK(loss.graph_stats().saved_bytes == 0);
}

TEST_CASE("accumulating a loss across steps without detaching keeps every graph (and shows it)") {
  // The PyTorch leak of issue #1346, made visible: graph_stats grows with every step.
  TensorD w = TensorD::vector({1.0, 2.0}, true);
  TensorD total = TensorD::scalar(0.0);
  for (int step = 0; step < 50; ++step) total = total + tg::sum(w * w);
  CHECK(total.graph_stats().nodes == 150);
  // Detaching the running total keeps the graph of one step only.
  TensorD running = TensorD::scalar(0.0);
  for (int step = 0; step < 50; ++step) running = (running + tg::sum(w * w)).detach();
  CHECK(running.graph_stats().nodes == 0);
}

TEST_CASE("big buffers are cached for reuse, bounded, and can be released") {
  tg::release_buffer_cache();
  const auto base = tg::memory_stats();
  const std::size_t n = 100000;  // 800 kB: cached
  { TensorD big = TensorD::zeros({n}); }
  const auto after_free = tg::memory_stats();
  CHECK(after_free.live_buffer_bytes == base.live_buffer_bytes);
  CHECK(after_free.cached_buffer_bytes > base.cached_buffer_bytes);
  const double* first = nullptr;
  {
    TensorD again = TensorD::zeros({n});  // the same size comes back from the cache
    first = again.data();
    CHECK(tg::memory_stats().cached_buffer_bytes == base.cached_buffer_bytes);
  }
  {
    TensorD third = TensorD::zeros({n});
    CHECK(third.data() == first);
  }
  CHECK(tg::release_buffer_cache() > 0);
  CHECK(tg::memory_stats().cached_buffer_bytes == 0);
  // A limit of 0 turns the cache off.
  tg::set_buffer_cache_limit(0);
  { TensorD big = TensorD::zeros({n}); }
  CHECK(tg::memory_stats().cached_buffer_bytes == 0);
  tg::set_buffer_cache_limit(std::size_t(1) << 30);
  // Small blocks (the buffer, the handle) are kept too, in size classes, and released with the
  // rest.
  { TensorD small = TensorD::zeros({16}); }
  CHECK(tg::memory_stats().cached_buffer_bytes > 0);
  const double* small_data = nullptr;
  {
    TensorD small = TensorD::zeros({16});
    small_data = small.data();
  }
  {
    TensorD same_class = TensorD::zeros({15});  // rounds up to the same 64-byte class
    CHECK(same_class.data() == small_data);
  }
  CHECK(tg::release_buffer_cache() > 0);
  CHECK(tg::memory_stats().cached_buffer_bytes == 0);
  // A limit of 0 turns the small classes off as well.
  tg::set_buffer_cache_limit(0);
  { TensorD small = TensorD::zeros({16}); }
  CHECK(tg::memory_stats().cached_buffer_bytes == 0);
  tg::set_buffer_cache_limit(std::size_t(1) << 30);
}

TEST_CASE("a thread's cached blocks are freed and counted down when the thread exits") {
  const std::int64_t before = tg::memory_stats().cached_buffer_bytes;
  std::int64_t while_running = 0;
  std::thread([&] {
    // The thread's first tensor: its handle is allocated before its buffer, so the block cache is
    // made before anything else of the thread's.
    { TensorD t = TensorD::zeros({16}); }
    { TensorD big = TensorD::zeros({100000}); }  // 800 kB, an exact-size list
    while_running = tg::memory_stats().cached_buffer_bytes;
  }).join();
  CHECK(while_running >= before + 800000);
  CHECK(tg::memory_stats().cached_buffer_bytes == before);
}
