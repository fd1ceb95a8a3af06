// A replayed training step allocates nothing: global operator new/delete and malloc (and its
// relatives) are replaced by counting versions, and 100 runs after the first must count 0. Its
// own executable: the replacement is process-wide.
#include <dlfcn.h>
#include <malloc.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <random>

#include "tapegrad/nn/layers.hpp"
#include "tapegrad/nn/module.hpp"
#include "tapegrad/nn/optim.hpp"
#include "tapegrad/ops.hpp"
#include "tapegrad/replay.hpp"
#include "tapegrad/tensor.hpp"

namespace {
std::atomic<bool> counting{false};
std::atomic<long> allocations{0};
void count() {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

// glibc's own entry points, under the names it exports for exactly this use.
extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
void __libc_free(void*);

void* malloc(std::size_t n) {
  count();
  return __libc_malloc(n);
}
void* calloc(std::size_t n, std::size_t size) {
  count();
  return __libc_calloc(n, size);
}
void* realloc(void* p, std::size_t n) {
  count();
  return __libc_realloc(p, n);
}
void* memalign(std::size_t alignment, std::size_t n) {
  count();
  return __libc_memalign(alignment, n);
}
void* aligned_alloc(std::size_t alignment, std::size_t n) {
  count();
  return __libc_memalign(alignment, n);
}
int posix_memalign(void** out, std::size_t alignment, std::size_t n) {
  count();
  *out = __libc_memalign(alignment, n);
  return *out ? 0 : ENOMEM;
}
void free(void* p) {
  __libc_free(p);
}
}

void* operator new(std::size_t n) {
  count();
  if (void* p = __libc_malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  return operator new(n);
}
void* operator new(std::size_t n, std::align_val_t a) {
  count();
  if (void* p = __libc_memalign(std::size_t(a), n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t a) {
  return operator new(n, a);
}
void operator delete(void* p) noexcept {
  __libc_free(p);
}
void operator delete[](void* p) noexcept {
  __libc_free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  __libc_free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  __libc_free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
  __libc_free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
  __libc_free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  __libc_free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  __libc_free(p);
}

namespace {

// Allocations counted over 100 runs of `step` after its first, each on new values written into
// the input's buffer `px` (8 elements).
template <class Step> long replayed_allocations(Step& step, double* px) {
  step.run();
  allocations = 0;
  counting = true;
  double loss = 0;
  for (int i = 0; i < 100; ++i) {
    px[i % 8] += 1e-3;
    loss += step.run().item();
  }
  counting = false;
  asm volatile("" : : "r"(loss) : "memory");
  return allocations.exchange(0);
}

}  // namespace

int main() {
  std::mt19937_64 rng(7);
  auto net = tg::nn::mlp<double>({2, 2, 2, 1}, tg::nn::Activation::sigmoid,
                                 tg::nn::Activation::sigmoid, tg::nn::Init::uniform(1.0), rng);
  tg::nn::SGD<double> opt(net.parameters(), {.lr = 0.5});
  tg::TensorD x = tg::TensorD::from_vector(tg::Shape{4, 2}, {0, 0, 0, 1, 1, 0, 1, 1});
  tg::TensorD y = tg::TensorD::from_vector(tg::Shape{4, 1}, {0, 1, 1, 0});
  auto step = tg::record_step([&] { return tg::mse(net.forward(x), y); }, net.parameters(), {x, y});
  // A counter that counts nothing proves nothing: one operator new and one malloc must count 2.
  counting = true;
  {
    auto* block = new double[64];
    void* raw = std::malloc(64);
    asm volatile("" : : "r"(block), "r"(raw) : "memory");
    std::free(raw);
    delete[] block;
  }
  counting = false;
  const long eager = allocations.exchange(0);

  step.run();
  opt.step();
  const long replayed = replayed_allocations(step, x.data());

  // Dropout's mask is redrawn into the recorded buffer on every run, from the module's generator.
  tg::nn::Sequential<double> dropout_net;
  dropout_net.emplace<tg::nn::Linear<double>>(2, 16, tg::nn::Init::uniform(1.0), rng)
      .emplace<tg::nn::ActivationLayer<double>>(tg::nn::Activation::relu)
      .emplace<tg::nn::Dropout<double>>(0.5, 3)
      .emplace<tg::nn::Linear<double>>(16, 1, tg::nn::Init::uniform(1.0), rng);
  auto dropout_step = tg::record_step([&] { return tg::mse(dropout_net.forward(x), y); },
                                      dropout_net.parameters(), {x, y});
  const long replayed_dropout = replayed_allocations(dropout_step, x.data());

  // New values passed to the run as a braced list, copied into the recorded inputs.
  tg::TensorD batch = tg::TensorD::from_vector(tg::Shape{4, 2}, {1, 1, 1, 0, 0, 1, 0, 0});
  step.run({batch, y});
  allocations = 0;
  counting = true;
  for (int i = 0; i < 100; ++i) {
    batch.data()[i % 8] += 1e-3;
    step.run({batch, y});
  }
  counting = false;
  const long replayed_values = allocations.exchange(0);

  // The SGD step recorded with the step (its weights' updates in the GEMMs).
  auto update_step = tg::record_step([&] { return tg::mse(net.forward(x), y); }, net.parameters(),
                                     {x, y}, {}, {}, tg::sgd_update(0.5));
  const long replayed_update = replayed_allocations(update_step, x.data());

  // A large product with a narrow result on the transposed route: its C^T in a scratch block
  // (the thread's cache keeps it between runs), forward and in the folded SGD update. On one BLAS
  // thread: OpenBLAS mallocs a job table on every call that it splits over threads (products
  // above 262k multiply-adds), which no caller can avoid.
  auto* blas_threads = reinterpret_cast<int (*)()>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  auto* set_blas_threads =
      reinterpret_cast<void (*)(int)>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  const int threads = blas_threads ? blas_threads() : 1;
  if (set_blas_threads) set_blas_threads(1);
  tg::set_narrow_gemm(tg::NarrowGemm::transposed);
  std::mt19937_64 wide_rng(9);
  tg::TensorD wide_x = tg::TensorD::uniform(tg::Shape{1024, 256}, -1, 1, wide_rng);
  tg::TensorD wide_y = tg::TensorD::uniform(tg::Shape{1024, 16}, -1, 1, wide_rng);
  tg::TensorD wide_w = tg::TensorD::uniform(tg::Shape{256, 16}, -0.1, 0.1, wide_rng, true);
  tg::TensorD wide_b = tg::TensorD::zeros(tg::Shape{16}, true);
  auto narrow_step = tg::record_step(
      [&] { return tg::mse(tg::sigmoid(tg::linear(wide_x, wide_w, wide_b)), wide_y); },
      {wide_w, wide_b}, {wide_x, wide_y}, {}, {}, tg::sgd_update(0.5));
  const long replayed_narrow = replayed_allocations(narrow_step, wide_x.data());
  tg::set_narrow_gemm(tg::NarrowGemm::tune);
  if (set_blas_threads) set_blas_threads(threads);

  std::printf(
      "probe: %ld allocations counted (of 2); 100 replayed runs: %ld, with dropout: %ld, given "
      "values: %ld, with the SGD step: %ld, a narrow product transposed: %ld\n",
      eager, replayed, replayed_dropout, replayed_values, replayed_update, replayed_narrow);
  if (eager != 2) {
    std::printf("FAILED: the counter did not count the probe's allocations\n");
    return 1;
  }
  if (update_step.summary().updates_in_gemm == 0) {
    std::printf("FAILED: no update was computed in a GEMM\n");
    return 1;
  }
  if (replayed != 0 || replayed_dropout != 0 || replayed_values != 0 || replayed_update != 0 ||
      replayed_narrow != 0) {
    std::printf("FAILED: replayed runs allocated\n");
    return 1;
  }
  return 0;
}
