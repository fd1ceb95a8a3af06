// A large product with a narrow result still comes out when there is no memory for the transposed
// call's scratch block, or for the operands of its first-use timing: the direct call, which needs
// none, does it, with the direct call's bits. operator new is replaced to refuse one block size on
// request, so this is an executable of its own (not under a sanitizer, which replaces it itself).
#include <atomic>
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
bool check(const char* what, tg::NarrowGemm mode, std::size_t rows, std::size_t refuse) {
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
  std::printf("%s: %ld allocation(s) refused, %s\n", what, refused,
              same_bits(y, direct) ? "the direct call's bits" : "OTHER VALUES");
  if (refused == 0) std::printf("FAILED: %s: nothing was refused, nothing was tested\n", what);
  return refused > 0 && same_bits(y, direct);
}

}  // namespace

int main() {
  // The transposed call's scratch block: C^T, rows x 16 doubles.
  const bool scratch = check("no memory for the scratch block", tg::NarrowGemm::transposed, 1024,
                             1024 * 16 * sizeof(double));
  // The first-use timing's copy of A (a shape not timed yet: 1040 rows).
  const bool timing = check("no memory for the timing's operands", tg::NarrowGemm::tune, 1040,
                            1040 * 256 * sizeof(double));
  return scratch && timing ? 0 : 1;
}
