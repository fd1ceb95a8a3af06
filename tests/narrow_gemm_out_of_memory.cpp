// A large product with a narrow result still comes out when there is no memory for the transposed
// call's scratch block, for the operands of its first-use timing, or for the scratch block of a
// split over 2 BLAS threads: the direct call (or direct blocks), which needs none, does it, with
// the direct call's values. operator new is replaced to refuse one block size on request, so this
// is an executable of its own (not under a sanitizer, which replaces it itself).
#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <random>

#include "same_bits.hpp"
#include "tapegrad/ops.hpp"
#include "tapegrad/tensor.hpp"

namespace {
std::atomic<std::size_t> refused_size{0};  // 0: refuse nothing
std::atomic<long> refusals{0};
}  // namespace

void* operator new(std::size_t n) {
  if (n != 0 && n == refused_size.load(std::memory_order_relaxed)) {
    refusals.fetch_add(1, std::memory_order_relaxed);
    throw std::bad_alloc();
  }
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  return operator new(n);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}

namespace {

// [rows, 256] @ [256, 16]: 16 columns over at least 1024 rows, a product the route may take.
// `same` is the direct call's bits, else its values to rounding (a split's blocks may sum in
// another order than 2 threads' direct call).
bool check(const char* what, tg::NarrowGemm mode, std::size_t rows, std::size_t refuse,
           bool same = true) {
  std::mt19937_64 rng(5);
  const tg::TensorD x = tg::TensorD::uniform(tg::Shape{rows, 256}, -1, 1, rng);
  const tg::TensorD w = tg::TensorD::uniform(tg::Shape{256, 16}, -1, 1, rng);
  tg::set_narrow_gemm(tg::NarrowGemm::direct);
  const tg::TensorD direct = tg::matmul(x, w);
  tg::set_narrow_gemm(mode);
  tg::release_buffer_cache();  // so that the scratch block is asked of operator new
  refusals = 0;
  refused_size = refuse;
  tg::TensorD y;
  try {
    y = tg::matmul(x, w);
  } catch (const std::exception& e) {
    refused_size = 0;
    std::printf("FAILED: %s: the product threw %s\n", what, e.what());
    return false;
  }
  refused_size = 0;
  tg::set_narrow_gemm(tg::NarrowGemm::tune);
  const long refused = refusals.exchange(0);
  double worst = 0;
  for (std::size_t i = 0; i < y.size(); ++i)
    worst = std::max(worst, std::abs(y.data()[i] - direct.data()[i]));
  const bool ok = same ? same_bits(y, direct) : worst <= 1e-12;
  std::printf("%s: %ld allocation(s) refused, %s (largest difference %g)\n", what, refused,
              ok ? "the direct call's values" : "OTHER VALUES", worst);
  if (refused == 0) std::printf("FAILED: %s: nothing was refused, nothing was tested\n", what);
  return refused > 0 && ok;
}

}  // namespace

int main() {
  // The transposed call's scratch block: C^T, rows x 16 doubles.
  const bool scratch = check("no memory for the scratch block", tg::NarrowGemm::transposed, 1024,
                             1024 * 16 * sizeof(double));
  // The first-use timing's copy of A (a shape not timed yet: 1040 rows).
  const bool timing = check("no memory for the timing's operands", tg::NarrowGemm::tune, 1040,
                            1040 * 256 * sizeof(double));
  // The split's scratch block at 2 BLAS threads (C^T of both blocks, taken before the threads
  // start): its blocks go direct.
  auto* set_blas_threads =
      reinterpret_cast<void (*)(int)>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  if (!set_blas_threads) {
    std::printf("FAILED: no openblas_set_num_threads\n");
    return 1;
  }
  set_blas_threads(2);
  const bool split =
      check("no memory for the split's scratch block", tg::NarrowGemm::split_transposed, 1024,
            1024 * 16 * sizeof(double), false);
  return scratch && timing && split ? 0 : 1;
}
