#include "blas.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <optional>
#include <tuple>
#include <utility>
#include <vector>
#include <xtensor-blas/xblas.hpp>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "tapegrad/tensor.hpp"

namespace tg::detail {

namespace {

// Below this many multiply-adds a plain loop beats the call overhead of BLAS (45-100 ns per
// call, docs/design-notes.md "BLAS"; the XOR network's matrices are 4x2).
constexpr std::size_t kSmallGemm = 512;

// Whether the plain loop must do it: an empty output, an empty inner dimension (C is beta*C; BLAS
// wants lda >= 1 there), a small product, or a dimension beyond BLAS's int. Written so that no
// product of the dimensions can wrap.
bool use_small_gemm(std::size_t m, std::size_t n, std::size_t k, std::size_t lda, std::size_t ldb) {
  if (m == 0 || n == 0 || k == 0) return true;
  if (std::max({m, n, k, lda, ldb}) > std::size_t(INT_MAX)) return true;
  std::size_t work = 0;
  return !__builtin_mul_overflow(m, n, &work) && !__builtin_mul_overflow(work, k, &work) &&
         work <= kSmallGemm;
}

// A small product with the transpose flags fixed at compile time. Tiny matrices are the case here
// (the tutorials' networks are 4x2 and 20x5), where BLAS's packing and call cost more than the
// work. Each C[i,j] sums over p in order, as one chain of dependent adds: one add's latency per
// multiply-add when entries are done one by one (the regression network's weight gradients are
// [2,5] over 20 samples), so a tile of NI x NJ entries is summed at once, their chains
// independent. The tile's order of operations per entry is the one-by-one order: same values.
template <bool TA, bool TB, std::size_t NI, std::size_t NJ, class T>
inline void small_gemm_tile(std::size_t i0, std::size_t j0, std::size_t n, std::size_t k, T alpha,
                            const T* a, std::size_t lda, const T* b, std::size_t ldb, T beta,
                            T* c) {
  T sum[NI][NJ] = {};
  for (std::size_t p = 0; p < k; ++p) {
    T av[NI], bv[NJ];
    for (std::size_t ii = 0; ii < NI; ++ii)
      av[ii] = TA ? a[p * lda + i0 + ii] : a[(i0 + ii) * lda + p];
    for (std::size_t jj = 0; jj < NJ; ++jj)
      bv[jj] = TB ? b[(j0 + jj) * ldb + p] : b[p * ldb + j0 + jj];
    for (std::size_t ii = 0; ii < NI; ++ii)
      for (std::size_t jj = 0; jj < NJ; ++jj) sum[ii][jj] += av[ii] * bv[jj];
  }
  // beta tested once, not per entry: the stores then run without a branch between them. The
  // values are the per-entry test's (`+ T(0)` kept: it turns a -0 sum into +0, as before).
  if (beta == T(0)) {
    for (std::size_t ii = 0; ii < NI; ++ii)
      for (std::size_t jj = 0; jj < NJ; ++jj)
        c[(i0 + ii) * n + j0 + jj] = alpha * sum[ii][jj] + T(0);
  } else {
    for (std::size_t ii = 0; ii < NI; ++ii)
      for (std::size_t jj = 0; jj < NJ; ++jj) {
        T& out = c[(i0 + ii) * n + j0 + jj];
        out = alpha * sum[ii][jj] + beta * out;
      }
  }
}

// A block of NI rows across all the columns: 4-column tiles, then the 1 to 3 columns left over in
// one tile (W1's layers have 2).
template <bool TA, bool TB, std::size_t NI, class T>
[[gnu::always_inline]] inline void small_gemm_rows(std::size_t i, std::size_t n, std::size_t k,
                                                   T alpha, const T* a, std::size_t lda, const T* b,
                                                   std::size_t ldb, T beta, T* c) {
  constexpr std::size_t C = 4;
  std::size_t j = 0;
  for (; j + C <= n; j += C)
    small_gemm_tile<TA, TB, NI, C>(i, j, n, k, alpha, a, lda, b, ldb, beta, c);
  switch (n - j) {
    case 3:
      small_gemm_tile<TA, TB, NI, 3>(i, j, n, k, alpha, a, lda, b, ldb, beta, c);
      break;
    case 2:
      small_gemm_tile<TA, TB, NI, 2>(i, j, n, k, alpha, a, lda, b, ldb, beta, c);
      break;
    case 1:
      small_gemm_tile<TA, TB, NI, 1>(i, j, n, k, alpha, a, lda, b, ldb, beta, c);
      break;
  }
}

// A tall product (a layer over 20 samples) in blocks of 4 rows: up to 16 independent chains per
// tile, a tile's set-up and its loads of B shared by twice the rows of a 2-row tile (in float,
// where 4 columns fill one SSE register, 2.7% of W2's step). 16 double accumulators are 8 SSE2
// registers of 16. Out of line: inlined, it changed the code of the small products' path and
// cost W1 1.5%.
template <bool TA, bool TB, class T>
[[gnu::noinline]] void small_gemm_tall(std::size_t m, std::size_t n, std::size_t k, T alpha,
                                       const T* a, std::size_t lda, const T* b, std::size_t ldb,
                                       T beta, T* c) {
  std::size_t i = 0;
  for (; i + 4 <= m; i += 4) small_gemm_rows<TA, TB, 4>(i, n, k, alpha, a, lda, b, ldb, beta, c);
  if (i + 2 <= m) {
    small_gemm_rows<TA, TB, 2>(i, n, k, alpha, a, lda, b, ldb, beta, c);
    i += 2;
  }
  for (; i < m; ++i) small_gemm_rows<TA, TB, 1>(i, n, k, alpha, a, lda, b, ldb, beta, c);
}

// k = 1, an outer product (the input gradient of a layer of one output, G W^T): a tile's set-up
// and stores cost several times its one product per entry, so each row is one loop over B's row,
// which vectorizes (C never overlaps A or B). Each entry is the tile's expression for one term,
// 0 + a b (which makes a -0 product +0), so the values are the same. B's row has unit stride
// (small_gemm sends a transposed B with rows longer than 1, which no op passes, to the general
// kernels).
template <bool TA, bool Beta, class T>
void small_outer_rows(std::size_t m, std::size_t n, T alpha, const T* __restrict a, std::size_t lda,
                      const T* __restrict b, T beta, T* __restrict c) {
  for (std::size_t i = 0; i < m; ++i) {
    const T ai = TA ? a[i] : a[i * lda];
    T* __restrict row = c + i * n;
    for (std::size_t j = 0; j < n; ++j) {
      const T product = alpha * (T(0) + ai * b[j]);
      row[j] = Beta ? product + beta * row[j] : product + T(0);
    }
  }
}

template <bool TA, class T>
[[gnu::noinline]] void small_outer(std::size_t m, std::size_t n, T alpha, const T* a,
                                   std::size_t lda, const T* b, T beta, T* c) {
  if (beta == T(0)) return small_outer_rows<TA, false>(m, n, alpha, a, lda, b, beta, c);
  small_outer_rows<TA, true>(m, n, alpha, a, lda, b, beta, c);
}

// A product of 2 to 8 columns (a small layer's outputs, or its weight gradient's), one whole row
// of C at a time: N accumulators, which the compiler keeps in registers and vectorizes across the
// row, and no tile set-up or leftover tiles per block of rows. The tiles' order of operations per
// entry, so the same values. 1.1-2.1x faster than the tiles on the XOR and regression networks'
// products ([20,2] x [2,5]: 112 -> 55 ns), but slower for 2 or 3 columns over a long inner
// dimension ([2,100]^T x [100,2]: 94 -> 124 ns), where its N chains of dependent adds are fewer
// than a tile's: those keep the tiles (small_gemm).
template <bool TA, bool TB, std::size_t N, class T>
[[gnu::noinline]] void small_gemm_whole_rows(std::size_t m, std::size_t k, T alpha,
                                             const T* __restrict a, std::size_t lda,
                                             const T* __restrict b, std::size_t ldb, T beta,
                                             T* __restrict c) {
  for (std::size_t i = 0; i < m; ++i) {
    T sum[N] = {};
    for (std::size_t p = 0; p < k; ++p) {
      const T ai = TA ? a[p * lda + i] : a[i * lda + p];
      for (std::size_t j = 0; j < N; ++j) sum[j] += ai * (TB ? b[j * ldb + p] : b[p * ldb + j]);
    }
    T* __restrict row = c + i * N;
    if (beta == T(0)) {
      for (std::size_t j = 0; j < N; ++j) row[j] = alpha * sum[j] + T(0);
    } else {
      for (std::size_t j = 0; j < N; ++j) row[j] = alpha * sum[j] + beta * row[j];
    }
  }
}

template <bool TA, bool TB, class T>
[[gnu::noinline]] void small_gemm_tiles(std::size_t m, std::size_t n, std::size_t k, T alpha,
                                        const T* a, std::size_t lda, const T* b, std::size_t ldb,
                                        T beta, T* c) {
  // Tiles of R x 4: 8 accumulators, no spills in SSE2's 16 registers.
  constexpr std::size_t R = 2, C = 4;
  if (m >= 8) return small_gemm_tall<TA, TB>(m, n, k, alpha, a, lda, b, ldb, beta, c);
  std::size_t i = 0;
  // A single column (a layer of one output, its weight gradient) in tiles of 4 rows: as many
  // independent chains as a 2 x 4 tile would give it, where 2 x 1 tiles pay a tile's set-up and
  // stores for every 2 entries. The rows left over take the loop below.
  if (n == 1)
    for (; i + 4 <= m; i += 4)
      small_gemm_tile<TA, TB, 4, 1>(i, 0, n, k, alpha, a, lda, b, ldb, beta, c);
  for (; i + R <= m; i += R) small_gemm_rows<TA, TB, R>(i, n, k, alpha, a, lda, b, ldb, beta, c);
  for (; i < m; ++i) {
    std::size_t j = 0;
    for (; j + C <= n; j += C)
      small_gemm_tile<TA, TB, 1, C>(i, j, n, k, alpha, a, lda, b, ldb, beta, c);
    for (; j < n; ++j) small_gemm_tile<TA, TB, 1, 1>(i, j, n, k, alpha, a, lda, b, ldb, beta, c);
  }
}

// small_gemm_whole_rows for N = kMinRowColumns + I.
constexpr std::size_t kMinRowColumns = 2, kMaxRowColumns = 8;
template <bool TA, bool TB, class T, std::size_t... I>
constexpr auto whole_rows_kernels(std::index_sequence<I...>) {
  return std::array{&small_gemm_whole_rows<TA, TB, kMinRowColumns + I, T>...};
}

// The loop for the shape: an outer product, whole rows, or tiles; each out of line, so that
// choosing costs a few compares and a jump.
template <bool TA, bool TB, class T>
inline void small_gemm(std::size_t m, std::size_t n, std::size_t k, T alpha, const T* a,
                       std::size_t lda, const T* b, std::size_t ldb, T beta, T* c) {
  if (k == 1 && (!TB || ldb == 1)) return small_outer<TA>(m, n, alpha, a, lda, b, beta, c);
  if (n >= kMinRowColumns && n <= kMaxRowColumns && (n >= 4 || k <= 4)) {
    static constexpr auto whole_rows = whole_rows_kernels<TA, TB, T>(
        std::make_index_sequence<kMaxRowColumns - kMinRowColumns + 1>());
    return whole_rows[n - kMinRowColumns](m, k, alpha, a, lda, b, ldb, beta, c);
  }
  small_gemm_tiles<TA, TB>(m, n, k, alpha, a, lda, b, ldb, beta, c);
}

template <class T>
void small_gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, T alpha, const T* a,
                std::size_t lda, const T* b, std::size_t ldb, T beta, T* c) {
  if (m == 0 || n == 0) return;  // no loop over the rows of an empty [2^40, 0] output
  if (!ta && !tb) return small_gemm<false, false>(m, n, k, alpha, a, lda, b, ldb, beta, c);
  if (!ta && tb) return small_gemm<false, true>(m, n, k, alpha, a, lda, b, ldb, beta, c);
  if (ta && !tb) return small_gemm<true, false>(m, n, k, alpha, a, lda, b, ldb, beta, c);
  small_gemm<true, true>(m, n, k, alpha, a, lda, b, ldb, beta, c);
}

// One ?gemm call on the buffers as stored, through xtensor-blas's cxxblas layer: the flags and the
// leading dimensions go to BLAS, nothing is copied. The dimensions are given, not read off the
// operands, so that an operand may be a block of rows (or columns) of a larger matrix.
template <class T>
void blas_gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, T alpha, const T* a,
               std::size_t lda, const T* b, std::size_t ldb, T beta, T* c) {
  using Index = xt::blas_index_t;
  cxxblas::gemm<Index>(cxxblas::StorageOrder::RowMajor,
                       ta ? cxxblas::Transpose::Trans : cxxblas::Transpose::NoTrans,
                       tb ? cxxblas::Transpose::Trans : cxxblas::Transpose::NoTrans, Index(m),
                       Index(n), Index(k), alpha, a, Index(lda), b, Index(ldb), beta, c, Index(n));
}

// ---- narrow outputs ---------------------------------------------------------------------------
// A row-major C[m,n] = op(A) op(B) reaches BLAS as the column-major C^T = op(B)^T op(A)^T: BLAS's
// row count is our n. When n is a layer's few units (25 hidden units, 10 classes) over many rows,
// BLAS tiles a dimension of 25 with kernels made for wide blocks, and OpenBLAS's AVX-512 double
// kernel runs the digit network's products ([5000,400] @ [400,25] and its weight gradient) 25-30%
// slower than the same product asked the other way round, C^T = op(B)^T op(A)^T, whose BLAS row
// count is m. The transposed call writes C^T into a scratch buffer, transposed into C after (C is
// small: 1 MB there, 3% of the saving). Whether it pays depends on the kernel (OpenBLAS's Haswell
// kernel gains little, and loses on 10 columns), so it is timed once per shape, on first use; and
// it is kept only if it gives the very bits of the direct call on random operands, which it does
// when the kernel sums each entry in the same order either way. So the choice changes the time
// only, never a value: a program's results do not depend on what the timing found.
//
// With more than one BLAS thread, OpenBLAS splits such a product over its threads in a way that
// sums the entries in another order than one thread does (other bits) and is slow for a narrow C
// (the digit network's two products: 2.2 and 2.7 ms at 2 threads, 2.7 and 2.4 transposed at 1).
// The engine splits it itself, into one block of C's rows per thread, each block one call of one
// BLAS thread (direct or transposed, as timed for the block's shape at one thread): 1.2 and 1.35
// ms there. A block's entries are then summed as the one-thread call sums them when the kernel's
// order per entry does not depend on the row count, which is checked once per shape and thread
// count on random operands, as the transposed call's bits are: the product is split only if the
// blocks give the one-thread direct call's very bits. So, where the split is taken, a narrow
// product's values do not depend on the thread count either (else OpenBLAS splits it, as before).
constexpr std::size_t kNarrowColumns = 64;                 // n at most this,
constexpr std::size_t kNarrowRowsPerColumn = 4;            // m at least 4 n,
constexpr std::size_t kNarrowWork = std::size_t(1) << 22;  // and 4M multiply-adds or more

std::atomic<NarrowGemm> g_narrow_gemm{NarrowGemm::tune};

// The tuning runs on operands of its own, so it is skipped above this size (the product then
// goes as asked): its copies must stay small next to the memory a training step holds anyway.
constexpr std::size_t kNarrowTuneBytes = std::size_t(64) << 20;

bool narrow(std::size_t m, std::size_t n, std::size_t k) {
  std::size_t work = 0;  // m, n, k fit an int here: m * n fits 64 bits, times k may not
  return n <= kNarrowColumns && m >= kNarrowRowsPerColumn * n &&
         (__builtin_mul_overflow(m * n, k, &work) || work >= kNarrowWork);
}

// The threads a BLAS call of this thread would use: OpenBLAS's OpenMP build takes the calling
// thread's OpenMP thread count (which openblas_set_num_threads sets too), and one thread inside a
// parallel region. Without OpenMP (OpenBLAS's pthread build) the engine never splits a product.
int blas_threads() {
#ifdef _OPENMP
  return omp_in_parallel() ? 1 : omp_get_max_threads();
#else
  return 1;
#endif
}

// While alive, this thread's BLAS calls use one thread (other threads' calls are not affected).
// Without OpenMP it is never needed, as blas_threads() is 1.
struct OneBlasThread {
#ifdef _OPENMP
  int saved = omp_get_max_threads();
  OneBlasThread() {
    omp_set_num_threads(1);
  }
  ~OneBlasThread() {
    omp_set_num_threads(saved);
  }
#else
  OneBlasThread() {}
  ~OneBlasThread() {}
#endif
  OneBlasThread(const OneBlasThread&) = delete;
  OneBlasThread& operator=(const OneBlasThread&) = delete;
};

// dst[cols, rows] = src[rows, cols]^T, in tiles that keep both sides' lines in cache.
template <class T> void transpose_into(const T* src, std::size_t rows, std::size_t cols, T* dst) {
  constexpr std::size_t B = 16;
  for (std::size_t i0 = 0; i0 < rows; i0 += B)
    for (std::size_t j0 = 0; j0 < cols; j0 += B) {
      const std::size_t i1 = std::min(rows, i0 + B), j1 = std::min(cols, j0 + B);
      for (std::size_t i = i0; i < i1; ++i)
        for (std::size_t j = j0; j < j1; ++j) dst[j * rows + i] = src[i * cols + j];
    }
}

// C^T's scratch block, from the calling thread's cache.
template <class T> struct Scratch {
  std::size_t bytes;
  T* p = static_cast<T*>(allocate_small(bytes));
  explicit Scratch(std::size_t elements) : bytes(elements * sizeof(T)) {}
  ~Scratch() { deallocate_small(p, bytes); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
};

// The product through the transposed call, C^T in ct (m * n elements).
template <class T>
void transposed_gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, T alpha,
                     const T* a, std::size_t lda, const T* b, std::size_t ldb, T beta, T* c,
                     T* ct) {
  if (beta != T(0)) transpose_into(c, m, n, ct);  // beta = 0 reads nothing of C, as BLAS
  blas_gemm(!tb, !ta, n, m, k, alpha, b, ldb, a, lda, beta, ct);
  transpose_into(ct, n, m, c);
}

template <class T>
void transposed_gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, T alpha,
                     const T* a, std::size_t lda, const T* b, std::size_t ldb, T beta, T* c) {
  const Scratch<T> ct(m * n);
  transposed_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ct.p);
}

// C's rows in blocks of a multiple of 16 (the kernels' row tiles; blocks of 2500 rows broke the
// digit network's bit equality where 2512 kept it), one block per thread.
std::size_t split_block_rows(std::size_t m, int threads) {
  const std::size_t per_thread = (m + std::size_t(threads) - 1) / std::size_t(threads);
  return (per_thread + 15) / 16 * 16;
}

// The product in row blocks, each one BLAS call of one thread (inside the parallel region OpenBLAS
// runs single-threaded), direct or transposed. Nothing in the region throws: the scratch block is
// taken before it, and without it the blocks go direct.
template <class T>
void split_gemm(int threads, bool transposed_blocks, bool ta, bool tb, std::size_t m, std::size_t n,
                std::size_t k, T alpha, const T* a, std::size_t lda, const T* b, std::size_t ldb,
                T beta, T* c) {
  const std::size_t rows = split_block_rows(m, threads);
  const int blocks = int((m + rows - 1) / rows);
  if (blocks < 2) {  // a team of one is no parallel region to OpenBLAS, which would split
    const OneBlasThread one;
    return blas_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c);
  }
  std::optional<Scratch<T>> ct;
  if (transposed_blocks) {
    try {
      ct.emplace(m * n);
    } catch (const std::bad_alloc&) {  // the blocks go direct
    }
  }
  T* const scratch = ct ? ct->p : nullptr;
#ifdef _OPENMP
#pragma omp parallel for num_threads(blocks) schedule(static, 1)
#endif
  for (int block = 0; block < blocks; ++block) {
    const std::size_t r0 = std::size_t(block) * rows, r1 = std::min(m, r0 + rows);
    const T* a_rows = ta ? a + r0 : a + r0 * lda;  // op(A)'s rows r0..r1: A's columns when ta
    if (scratch)
      transposed_gemm(ta, tb, r1 - r0, n, k, alpha, a_rows, lda, b, ldb, beta, c + r0 * n,
                      scratch + r0 * n);
    else
      blas_gemm(ta, tb, r1 - r0, n, k, alpha, a_rows, lda, b, ldb, beta, c + r0 * n);
  }
}

// How a narrow product goes.
enum class Route : unsigned char { direct, transposed, split, split_transposed };

// Random operands of one shape for the trials (uniform in [-1, 1), the same every time), and C's
// start; the products compared run with beta = 1, so that C's own order of adds is compared too.
template <class T> struct Trial {
  bool ta, tb;
  std::size_t m, n, k, lda, ldb;
  std::vector<T> a, b, c0;

  Trial(bool ta_, bool tb_, std::size_t m_, std::size_t n_, std::size_t k_, std::size_t lda_,
        std::size_t ldb_)
      : ta(ta_),
        tb(tb_),
        m(m_),
        n(n_),
        k(k_),
        lda(lda_),
        ldb(ldb_),
        a((ta ? k : m) * lda),
        b((tb ? n : k) * ldb),
        c0(m * n) {
    std::uint64_t state = 0x9e3779b97f4a7c15ull;
    for (std::vector<T>* v : {&a, &b, &c0})
      for (T& x : *v) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        x = T(double(state >> 11) * 0x1p-52 - 1.0);
      }
  }
  static bool fits(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, std::size_t lda,
                   std::size_t ldb) {
    const std::size_t a_size = (ta ? k : m) * lda, b_size = (tb ? n : k) * ldb;
    return (a_size + b_size + 3 * m * n) * sizeof(T) <= kNarrowTuneBytes;
  }
  // op(A)'s first `rows` rows times op(B), onto C's start.
  std::vector<T> direct(std::size_t rows) const {
    std::vector<T> c(c0.begin(), c0.begin() + std::ptrdiff_t(rows * n));
    blas_gemm(ta, tb, rows, n, k, T(0.5), a.data(), lda, b.data(), ldb, T(1), c.data());
    return c;
  }
  std::vector<T> transposed(std::size_t rows) const {
    std::vector<T> c(c0.begin(), c0.begin() + std::ptrdiff_t(rows * n));
    transposed_gemm(ta, tb, rows, n, k, T(0.5), a.data(), lda, b.data(), ldb, T(1), c.data());
    return c;
  }
  std::vector<T> split(int threads, bool transposed_blocks) const {
    std::vector<T> c = c0;
    split_gemm(threads, transposed_blocks, ta, tb, m, n, k, T(0.5), a.data(), lda, b.data(), ldb,
               T(1), c.data());
    return c;
  }
};

template <class T> bool same_bits(const std::vector<T>& x, const std::vector<T>& y) {
  return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * sizeof(T)) == 0;
}

// Whether the transposed call pays for op(A)'s first `rows` rows under the calling thread's BLAS
// thread count and gives the direct call's bits: compared, then each timed, best of three.
template <class T> bool transposed_pays(const Trial<T>& trial, std::size_t rows) {
  if (!same_bits(trial.direct(rows), trial.transposed(rows))) return false;
  std::vector<T> c(rows * trial.n);
  using Clock = std::chrono::steady_clock;
  const auto seconds = [](auto&& run) {
    const auto start = Clock::now();
    run();
    return std::chrono::duration<double>(Clock::now() - start).count();
  };
  const auto [ta, tb, n, k, a, lda, b, ldb] = std::tuple{
      trial.ta, trial.tb, trial.n, trial.k, trial.a.data(), trial.lda, trial.b.data(), trial.ldb};
  double direct = 1e300, transposed = 1e300;
  for (int round = 0; round < 3; ++round) {
    direct = std::min(direct, seconds([&] {
                        blas_gemm(ta, tb, rows, n, k, T(1), a, lda, b, ldb, T(0), c.data());
                      }));
    transposed =
        std::min(transposed, seconds([&] {
                   transposed_gemm(ta, tb, rows, n, k, T(1), a, lda, b, ldb, T(0), c.data());
                 }));
  }
  return transposed < 0.9 * direct;  // a clear gain, not the timer's noise
}

// The route for a shape at a thread count: split if the blocks give one thread's bits (their own
// route timed at one thread), else transposed if that pays and gives the direct call's bits.
template <class T> Route tune_route(const Trial<T>& trial, int threads) {
  if (threads > 1 && split_block_rows(trial.m, threads) < trial.m) {
    std::vector<T> one_thread;
    bool transposed_blocks = false;
    {
      const OneBlasThread one;
      one_thread = trial.direct(trial.m);
      transposed_blocks = transposed_pays(trial, split_block_rows(trial.m, threads));
    }
    // The direct blocks are checked either way: they are the transposed blocks' fallback.
    if (same_bits(trial.split(threads, false), one_thread)) {
      if (transposed_blocks && same_bits(trial.split(threads, true), one_thread))
        return Route::split_transposed;
      return Route::split;
    }
  }
  return transposed_pays(trial, trial.m) ? Route::transposed : Route::direct;
}

// The decision per shape and BLAS thread count, made once per process.
template <class T>
Route narrow_route(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, std::size_t lda,
                   std::size_t ldb, int threads) {
  const NarrowGemm mode = g_narrow_gemm.load(std::memory_order_relaxed);
  if (mode == NarrowGemm::direct || !narrow(m, n, k)) return Route::direct;
  if (mode == NarrowGemm::transposed) return Route::transposed;
  if (mode == NarrowGemm::split_transposed)
    return threads > 1 ? Route::split_transposed : Route::transposed;
  using Key = std::tuple<std::size_t, bool, bool, std::size_t, std::size_t, std::size_t,
                         std::size_t, std::size_t, int>;
  static std::mutex mutex;
  static std::map<Key, Route> decided;
  // Held while timing: another thread's products would skew the figures.
  const std::lock_guard<std::mutex> lock(mutex);
  const Key key{sizeof(T), ta, tb, m, n, k, lda, ldb, threads};
  if (const auto it = decided.find(key); it != decided.end()) return it->second;
  Route route = Route::direct;
  try {
    if (Trial<T>::fits(ta, tb, m, n, k, lda, ldb))
      route = tune_route(Trial<T>(ta, tb, m, n, k, lda, ldb), threads);
  } catch (const std::bad_alloc&) {  // no room for the trial's operands: the direct call needs none
  }
  decided.emplace(key, route);
  return route;
}

// A product for BLAS: directly, transposed or split (narrow_route).
template <class T>
[[gnu::noinline]] void large_gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k,
                                  T alpha, const T* a, std::size_t lda, const T* b, std::size_t ldb,
                                  T beta, T* c) {
  const int threads = blas_threads();
  switch (narrow_route<T>(ta, tb, m, n, k, lda, ldb, threads)) {
    case Route::transposed:
      try {
        return transposed_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c);
      } catch (const std::bad_alloc&) {
        // No room for C^T (its allocation is the only throw, before anything is written): the
        // direct call needs none.
      }
      break;
    case Route::split:
      return split_gemm(threads, false, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c);
    case Route::split_transposed:
      return split_gemm(threads, true, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c);
    case Route::direct:
      break;
  }
  blas_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c);
}

}  // namespace

// Both paths out of line: inlined, the BLAS path's frame and spills cost every small product
// (a tiny network's) about 60 instructions before its loop started.
template <class T>
void gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, T alpha, const T* a,
          std::size_t lda, const T* b, std::size_t ldb, T beta, T* c) {
  if (use_small_gemm(m, n, k, lda, ldb))
    return small_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c);
  large_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c);
}

template void gemm<double>(bool, bool, std::size_t, std::size_t, std::size_t, double, const double*,
                           std::size_t, const double*, std::size_t, double, double*);
template void gemm<float>(bool, bool, std::size_t, std::size_t, std::size_t, float, const float*,
                          std::size_t, const float*, std::size_t, float, float*);

}  // namespace tg::detail

namespace tg {

void set_narrow_gemm(NarrowGemm mode) {
  detail::g_narrow_gemm.store(mode, std::memory_order_relaxed);
}

}  // namespace tg
