// Large products with a narrow result (few columns over many rows) may be asked of BLAS the other
// way round, C^T = op(B)^T op(A)^T, then transposed: tg::set_narrow_gemm. These tests force each
// route and compare: the transposed route must compute the same product (to rounding; the bits
// where the kernel sums in the same order) through every path that reaches a GEMM (both transpose
// flags, the bias written first then beta = 1, a gradient accumulated onto another, a replayed
// SGD step folded into the GEMM), and the tuned default must give the direct route's very bits
// (at 2 BLAS threads: one thread's bits where the engine splits the product itself).
#include <doctest/doctest.h>

#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "same_bits.hpp"
#include "tapegrad/nn/optim.hpp"
#include "tapegrad/tapegrad.hpp"

namespace {

// Sets the route while alive; back to the default after.
struct NarrowGemmGuard {
  explicit NarrowGemmGuard(tg::NarrowGemm mode) { tg::set_narrow_gemm(mode); }
  ~NarrowGemmGuard() { tg::set_narrow_gemm(tg::NarrowGemm::tune); }
};

// Sets OpenBLAS's thread count (through the symbol, as the engine hides its BLAS) while alive.
struct BlasThreads {
  using Get = int (*)();
  using Set = void (*)(int);
  Get get = reinterpret_cast<Get>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  Set set = reinterpret_cast<Set>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  int saved = get ? get() : 1;
  explicit BlasThreads(int threads) {
    REQUIRE(bool(set));
    set(threads);
  }
  ~BlasThreads() { set(saved); }
};

// [1024, 256] @ [256, 16]: 16 columns, 4M multiply-adds, the smallest product the route takes.
constexpr std::size_t kRows = 1024, kInner = 256, kColumns = 16;

// |a - b| within a few units of rounding of the sums' size: a transposed-index bug is off by O(1).
template <class T> void check_close(const tg::Tensor<T>& a, const tg::Tensor<T>& b) {
  REQUIRE(a.shape() == b.shape());
  const double tolerance = (sizeof(T) == 4 ? 1e-5 : 1e-13) * double(kInner);
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    worst = std::max(worst, std::abs(double(a.data()[i]) - double(b.data()[i])) /
                                std::max(1.0, std::abs(double(b.data()[i]))));
  CHECK(worst <= tolerance);
}

template <class T> struct Operands {
  std::mt19937_64 rng{11};
  tg::Tensor<T> x = tg::Tensor<T>::uniform(tg::Shape{kRows, kInner}, -1, 1, rng);
  tg::Tensor<T> xt = tg::Tensor<T>::uniform(tg::Shape{kInner, kRows}, -1, 1, rng);
  tg::Tensor<T> w = tg::Tensor<T>::uniform(tg::Shape{kInner, kColumns}, -1, 1, rng, true);
  tg::Tensor<T> wt = tg::Tensor<T>::uniform(tg::Shape{kColumns, kInner}, -1, 1, rng);
  tg::Tensor<T> b = tg::Tensor<T>::uniform(tg::Shape{kColumns}, -1, 1, rng, true);
  tg::Tensor<T> g = tg::Tensor<T>::uniform(tg::Shape{kRows, kColumns}, -1, 1, rng);
};

// Every product the route can take, each a fresh result: the four flag pairs of matmul, linear's
// forward (bias then beta = 1), its weight gradient X^T G ([256, 16] over 1024 rows), and that
// gradient accumulated onto a second one (beta = 1 on a written buffer).
template <class T> std::vector<tg::Tensor<T>> products(Operands<T>& in) {
  std::vector<tg::Tensor<T>> out;
  tg::NoGradGuard no_grad;
  out.push_back(tg::matmul(in.x, in.w));
  out.push_back(tg::matmul(in.x, in.wt, false, true));
  out.push_back(tg::matmul(in.xt, in.w, true, false));
  out.push_back(tg::matmul(in.xt, in.wt, true, true));
  {
    tg::EnableGradGuard grad;
    const tg::Tensor<T> y = tg::linear(in.x, in.w, in.b);
    out.push_back(y.detach());
    const auto grads = tg::grad(y, {in.w}, in.g);
    out.push_back(grads[0]);
    in.w.zero_grad();
    const tg::Tensor<T> twice = tg::linear(in.x, in.w, in.b) + tg::linear(in.x, in.w, in.b);
    twice.backward(in.g);
    out.push_back(in.w.grad().clone());
    in.w.zero_grad();
  }
  return out;
}

// Every product on `mode`'s route against the direct route's, to rounding.
template <class T> void check_route(tg::NarrowGemm mode) {
  Operands<T> in;
  std::vector<tg::Tensor<T>> direct, routed;
  {
    NarrowGemmGuard route(tg::NarrowGemm::direct);
    direct = products(in);
  }
  {
    NarrowGemmGuard route(mode);
    routed = products(in);
  }
  REQUIRE(direct.size() == routed.size());
  for (std::size_t i = 0; i < direct.size(); ++i) {
    CAPTURE(i);
    check_close(routed[i], direct[i]);
  }
}

}  // namespace

TEST_CASE_TEMPLATE("narrow products: the transposed route computes what the direct one does", T,
                   float, double) {
  check_route<T>(tg::NarrowGemm::transposed);
}

TEST_CASE_TEMPLATE(
    "narrow products: the split route at 2 BLAS threads computes what the direct "
    "one does",
    T, float, double) {
  const BlasThreads blas(2);
  check_route<T>(tg::NarrowGemm::split_transposed);
}

TEST_CASE_TEMPLATE(
    "narrow products: at 1 BLAS thread the tuned default gives the direct route's bits", T, float,
    double) {
  const BlasThreads blas(1);  // at more threads, the test below
  Operands<T> in;
  std::vector<tg::Tensor<T>> direct, tuned;
  {
    NarrowGemmGuard route(tg::NarrowGemm::direct);
    direct = products(in);
  }
  tuned = products(in);  // the default: timed on first use of each shape
  const std::vector<tg::Tensor<T>> again = products(in);  // the decision, remembered
  REQUIRE(direct.size() == tuned.size());
  for (std::size_t i = 0; i < direct.size(); ++i) {
    CAPTURE(i);
    CHECK(same_bits(tuned[i], direct[i]));
    CHECK(same_bits(again[i], direct[i]));
  }
}

TEST_CASE_TEMPLATE(
    "narrow products: at 2 BLAS threads the tuned default gives 1 thread's bits, or "
    "2 threads' direct call's",
    T, float, double) {
  // With OpenBLAS's OpenMP build the engine splits the product by rows itself where the blocks
  // give one thread's bits; else OpenBLAS splits it. Either way, no third set of values: a block
  // at the wrong offset, or summed in another order, would give one.
  Operands<T> in;
  std::vector<tg::Tensor<T>> one_thread, two_threads, tuned, again;
  {
    NarrowGemmGuard route(tg::NarrowGemm::direct);
    const BlasThreads blas(1);
    one_thread = products(in);
  }
  {
    const BlasThreads blas(2);
    {
      NarrowGemmGuard route(tg::NarrowGemm::direct);
      two_threads = products(in);
    }
    tuned = products(in);
    again = products(in);
  }
  REQUIRE(tuned.size() == one_thread.size());
  int split = 0;
  for (std::size_t i = 0; i < tuned.size(); ++i) {
    CAPTURE(i);
    check_close(tuned[i], one_thread[i]);
    const bool as_one_thread = same_bits(tuned[i], one_thread[i]);
    split += as_one_thread && !same_bits(two_threads[i], one_thread[i]);
    CHECK((as_one_thread || same_bits(tuned[i], two_threads[i])));
    CHECK(same_bits(again[i], tuned[i]));
  }
  MESSAGE(split << " of " << tuned.size()
                << " products gave 1 thread's bits where OpenBLAS's 2 threads do not");
}

TEST_CASE("narrow products: a replayed SGD step on the transposed route trains as eager mode") {
  NarrowGemmGuard route(tg::NarrowGemm::transposed);
  Operands<double> in;
  tg::TensorD y = tg::TensorD::uniform(tg::Shape{kRows, kColumns}, -1, 1, in.rng);
  tg::TensorD w_eager = in.w.detach().clone(), b_eager = in.b.detach().clone();
  w_eager.set_requires_grad(true);
  b_eager.set_requires_grad(true);
  const auto loss_of = [&](const tg::TensorD& w, const tg::TensorD& b) {
    return tg::mse(tg::sigmoid(tg::linear(in.x, w, b)), y);
  };
  // The recorded step updates W in its gradient's GEMM: beta = 1 onto W, on the transposed route.
  auto step = tg::record_step([&] { return loss_of(in.w, in.b); }, {in.w, in.b}, {in.x, y}, {}, {},
                              tg::sgd_update(0.5));
  CHECK(step.summary().updates_in_gemm == 1);
  tg::nn::SGD<double> sgd({w_eager, b_eager}, {.lr = 0.5});
  for (int t = 0; t < 4; ++t) {
    const double replayed = t == 0 ? step.loss().item() : step.run().item();  // 0: the recording
    sgd.zero_grad();
    const tg::TensorD loss = loss_of(w_eager, b_eager);
    loss.backward();
    sgd.step();
    // The GEMM rounds W - lr X^T delta once where nn::SGD rounds the gradient first.
    CHECK(replayed == doctest::Approx(loss.item()).epsilon(1e-12));
    check_close(in.w, w_eager);
    check_close(in.b, b_eager);
  }
}
