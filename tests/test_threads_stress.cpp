// Thread hardening, beyond test_threads.cpp: several threads each build, differentiate and train
// their own graphs at once, through the nn library (Adam), through recorded backward passes
// (create_graph), with buffers big enough for the per-thread buffer cache, handing tensors to
// another thread to free, while yet another thread reads memory_stats(). Every result must equal
// the single-threaded one bit for bit. scripts/test.sh runs this file and test_threads.cpp under
// ThreadSanitizer (build-tsan, target tapegrad_thread_tests).
#include <doctest/doctest.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "tapegrad/nn/module.hpp"
#include "tapegrad/nn/optim.hpp"
#include "tapegrad/tapegrad.hpp"

using tg::TensorD;

namespace {

using Result = std::vector<double>;

// Runs job(i) for i in 0..n-1 on n threads at once (released together), and on this thread one
// after another; checks the results agree bit for bit.
void check_threads_match_serial(int n, const std::function<Result(int)>& job) {
  std::vector<Result> serial;
  for (int i = 0; i < n; ++i) serial.push_back(job(i));
  std::vector<Result> parallel(n);
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i)
    threads.emplace_back([&, i] {
      ready.fetch_add(1);
      while (ready.load() < n) std::this_thread::yield();
      parallel[i] = job(i);
    });
  for (auto& t : threads) t.join();
  for (int i = 0; i < n; ++i) {
    CAPTURE(i);
    CHECK(!serial[i].empty());
    CHECK(parallel[i] == serial[i]);
  }
}

// A [6, 16, 8, 3] tanh MLP trained with Adam on softmax cross-entropy; returns its parameters.
Result train_mlp(int seed, int steps) {
  std::mt19937_64 rng(1000 + seed);
  auto net = tg::nn::mlp<double>({6, 16, 8, 3}, tg::nn::Activation::tanh,
                                 tg::nn::Activation::identity, tg::nn::Init::xavier_uniform(), rng);
  TensorD x = TensorD::uniform({32, 6}, -1, 1, rng);
  tg::Labels labels(32);
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = std::int64_t(i % 3);
  tg::nn::Adam<double> adam(net.parameters(), {.lr = 0.01});
  for (int s = 0; s < steps; ++s) {
    adam.zero_grad();
    tg::softmax_ce(net(x), labels).backward();
    adam.step();
  }
  Result out;
  for (const TensorD& p : net.parameters())
    for (double v : p.to_vector()) out.push_back(v);
  return out;
}

// A gradient-norm penalty: R = sum((dL/dW)^2) for L = mse(sigmoid(X W), Y), differentiated again.
Result second_order(int seed) {
  std::mt19937_64 rng(2000 + seed);
  TensorD x = TensorD::uniform({5, 4}, -1, 1, rng);
  TensorD y = TensorD::uniform({5, 3}, 0, 1, rng);
  TensorD w = TensorD::uniform({4, 3}, -1, 1, rng, true);
  Result out;
  for (int round = 0; round < 5; ++round) {
    TensorD loss = tg::mse(tg::sigmoid(tg::matmul(x, w)), y);
    loss.backward({.create_graph = true});
    TensorD g = w.grad();
    w.zero_grad();
    TensorD penalty = tg::sum(g * g);
    penalty.backward();
    for (double v : w.grad().to_vector()) out.push_back(v);
    out.push_back(penalty.item());
    w.zero_grad();
  }
  return out;
}

// Big tensors (800 kB: the per-thread buffer cache) through a few ops and a backward pass.
Result big_buffers(int seed) {
  std::mt19937_64 rng(3000 + seed);
  Result out;
  for (int round = 0; round < 3; ++round) {
    TensorD a = TensorD::uniform({100, 1000}, -1, 1, rng, true);
    TensorD b = TensorD::uniform({1000}, -1, 1, rng, true);
    TensorD loss = tg::mean(tg::tanh(a * b + 0.5));
    loss.backward();
    out.push_back(loss.item());
    out.push_back(tg::sum(a.grad()).item());
    out.push_back(tg::sum(b.grad()).item());
  }
  return out;
}

}  // namespace

TEST_CASE("threads: nn MLPs trained with Adam on four threads equal the serial runs bit for bit") {
  check_threads_match_serial(4, [](int i) { return train_mlp(i, 40); });
}

TEST_CASE("threads: second-order gradient penalties (create_graph) on four threads at once") {
  check_threads_match_serial(4, second_order);
}

TEST_CASE("threads: big cached buffers on three threads at once, with memory_stats() polled") {
  // memory_stats() sums every thread's counters while they change: a reader racing with them.
  std::atomic<bool> done{false};
  std::int64_t polls = 0, seen = 0;
  std::thread poller([&] {
    while (!done.load()) {
      seen += tg::memory_stats().live_buffers;
      ++polls;
      std::this_thread::yield();
    }
  });
  check_threads_match_serial(3, big_buffers);
  done = true;
  poller.join();
  CHECK(polls > 0);
  (void)seen;
}

TEST_CASE("threads: tensors and graphs made on one thread are freed on another") {
  tg::release_buffer_cache();
  const tg::MemoryStats before = tg::memory_stats();
  std::mutex mutex;
  std::condition_variable cv;
  std::deque<TensorD> queue;
  bool finished = false;
  std::thread producer([&] {
    std::mt19937_64 rng(4000);
    for (int i = 0; i < 20; ++i) {
      TensorD w = TensorD::uniform({200, 100}, -1, 1, rng, true);  // 160 kB: cached sizes
      TensorD out = tg::sigmoid(tg::matmul(w, w, false, true));    // a live graph goes along
      {
        std::lock_guard<std::mutex> lock(mutex);
        queue.push_back(out);
        queue.push_back(w);
      }
      cv.notify_one();
    }
    {
      std::lock_guard<std::mutex> lock(mutex);
      finished = true;
    }
    cv.notify_one();
    tg::release_buffer_cache();
  });
  std::thread consumer([&] {
    std::size_t received = 0;
    for (;;) {
      std::unique_lock<std::mutex> lock(mutex);
      cv.wait(lock, [&] { return !queue.empty() || finished; });
      if (queue.empty()) break;
      TensorD t = std::move(queue.front());
      queue.pop_front();
      lock.unlock();
      if (t.requires_grad() && !t.is_leaf()) {  // differentiate the producer's graph here
        tg::sum(t).backward();
      }
      ++received;
    }  // every tensor is freed on this thread
    CHECK(received == 40);
    tg::release_buffer_cache();
  });
  producer.join();
  consumer.join();
  const tg::MemoryStats after = tg::memory_stats();
  CHECK(after.live_nodes == before.live_nodes);
  CHECK(after.live_buffers == before.live_buffers);
  CHECK(after.live_buffer_bytes == before.live_buffer_bytes);
}
