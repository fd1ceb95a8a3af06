// The library's exp kernel (tg::detail::exp_values, behind exp, sigmoid and softmax) against a
// loop of libm's std::exp over the same buffer, at a small network's sizes and a large layer's;
// median of rounds, nanoseconds per element; and how many of the results differ from std::exp's,
// and by how many ulp at most. Build the library first (build/ at the repository's root):
//   L=$PWD/../../build/autodiff
//   g++ -O3 -std=c++20 exp_bench.cpp -L$L -ltapegrad_autodiff -Wl,-rpath,$L -o exp_bench
//   ./exp_bench [rounds]
#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <type_traits>
#include <vector>

namespace tg::detail {  // autodiff/src/kernels.hpp (exported, not installed)
void exp_values(const double* in, double* out, std::size_t n);
void exp_values(const float* in, float* out, std::size_t n);
}  // namespace tg::detail

namespace {

template <class T> [[gnu::noinline]] void libm_exp(const T* in, T* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = std::exp(in[i]);
}

template <class F> double ns_per_element(int rounds, std::size_t n, F&& f) {
  std::vector<double> v;
  for (int r = 0; r < rounds; ++r) {
    const auto start = std::chrono::steady_clock::now();
    std::size_t calls = 0;
    do {
      for (int i = 0; i < 64; ++i) f();
      calls += 64;
    } while (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(20));
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    v.push_back(took.count() / double(calls * n) * 1e9);
  }
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

template <class T> void run(const char* type, int rounds) {
  using Bits = std::conditional_t<sizeof(T) == 8, std::uint64_t, std::uint32_t>;
  for (const std::size_t n :
       {std::size_t(8), std::size_t(100), std::size_t(2500), std::size_t(131072)}) {
    // Arguments as sigmoid and softmax pass them (at most 0), over the range that matters.
    std::vector<T> x(n), ours(n), libm(n);
    std::mt19937_64 rng(3);
    std::uniform_real_distribution<double> u(-20, 0);
    for (T& v : x) v = T(u(rng));
    const double t_ours =
        ns_per_element(rounds, n, [&] { tg::detail::exp_values(x.data(), ours.data(), n); });
    const double t_libm = ns_per_element(rounds, n, [&] { libm_exp(x.data(), libm.data(), n); });
    std::uint64_t worst = 0, differ = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const Bits a = std::bit_cast<Bits>(ours[i]), b = std::bit_cast<Bits>(libm[i]);
      const std::uint64_t d = a > b ? a - b : b - a;
      worst = std::max(worst, d);
      differ += d != 0;
    }
    std::printf(
        "%s n=%-7zu exp_values %6.2f ns  std::exp %6.2f ns  %.2fx  differ %5.1f%%, at most "
        "%llu ulp\n",
        type, n, t_ours, t_libm, t_ours / t_libm, 100.0 * double(differ) / double(n),
        static_cast<unsigned long long>(worst));
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 7;
  run<double>("f64", rounds);
  run<float>("f32", rounds);
}
