// The library computes exponentials in a vectorized loop of its own rather than by libm's
// std::exp per element (exp, sigmoid, softmax and the losses built on them): its values must stay
// within one ulp of std::exp's over the whole range, with std::exp's own answers where it hands
// over (subnormal results, underflow to 0, overflow to inf, NaN).
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <type_traits>
#include <vector>

#include "doctest/doctest.h"
#include "tapegrad/tapegrad.hpp"

namespace {

// Distance in representable values between two non-negative numbers of the same type (exp's
// results): 0 for equal bits, 1 for neighbours; 0 and the smallest subnormal are neighbours too.
template <class T> std::uint64_t ulps_apart(T a, T b) {
  using Bits = std::conditional_t<sizeof(T) == 8, std::uint64_t, std::uint32_t>;
  const Bits x = std::bit_cast<Bits>(a), y = std::bit_cast<Bits>(b);
  return x > y ? x - y : y - x;
}

// Arguments across exp's whole range: uniform over [low, high], a dense band around each place
// where the kernel's cases meet (where 2^k leaves the normal range, at 0), and the special values.
template <class T> std::vector<T> arguments(T low, T high, std::vector<T> edges) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> anywhere{double(low), double(high)};
  std::vector<T> x;
  for (int i = 0; i < 100000; ++i) x.push_back(T(anywhere(rng)));
  for (const T edge : edges) {
    std::uniform_real_distribution<double> near{double(edge) - 2.0, double(edge) + 2.0};
    for (int i = 0; i < 2000; ++i) x.push_back(T(near(rng)));
    x.push_back(edge);
    x.push_back(std::nextafter(edge, T(0)));
    x.push_back(std::nextafter(
        edge, edge < 0 ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity()));
  }
  for (const T v :
       {T(0), T(-0.0), std::numeric_limits<T>::denorm_min(), -std::numeric_limits<T>::denorm_min(),
        std::numeric_limits<T>::min(), T(1e-30), T(-1e-30), T(1), T(-1), T(0.5) * std::log(T(2)),
        -T(0.5) * std::log(T(2)), std::numeric_limits<T>::max(), std::numeric_limits<T>::lowest(),
        std::numeric_limits<T>::infinity(), -std::numeric_limits<T>::infinity()})
    x.push_back(v);
  return x;
}

template <class T> void check_exp_against_libm(T low, T high, std::vector<T> edges) {
  const std::vector<T> x = arguments(low, high, std::move(edges));
  const tg::Tensor<T> in = tg::Tensor<T>::from_vector(tg::Shape{x.size()}, x);
  const std::vector<T> got = tg::exp(in).to_vector();
  std::uint64_t worst = 0, differing = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const T want = std::exp(x[i]);
    INFO("exp(" << x[i] << ") = " << got[i] << ", std::exp gives " << want);
    if (std::isnan(want)) {
      CHECK(std::isnan(got[i]));
      continue;
    }
    // Where the loop hands over to std::exp (outside the normal range) the values are its own.
    const bool outside_normal_range = want < std::numeric_limits<T>::min() || std::isinf(want);
    const std::uint64_t apart = ulps_apart(got[i], want);
    CHECK(apart <= (outside_normal_range ? 0 : 1));
    worst = std::max(worst, apart);
    differing += apart != 0;
  }
  const T nan = std::numeric_limits<T>::quiet_NaN();
  CHECK(std::isnan(tg::exp(tg::Tensor<T>::vector({nan})).item()));
  // Most values are std::exp's to the bit (it is itself within about half an ulp of e^x).
  CHECK(double(differing) < 0.2 * double(x.size()));
}

}  // namespace

TEST_CASE(
    "exp is within one ulp of std::exp over the whole range, with its subnormals, 0, inf and "
    "NaN (double)") {
  check_exp_against_libm<double>(-750.0, 750.0, {-708.0, 708.0, -709.8, 709.8, -745.1, 0.0});
}

TEST_CASE(
    "exp is within one ulp of std::exp over the whole range, with its subnormals, 0, inf and "
    "NaN (float)") {
  check_exp_against_libm<float>(-110.0f, 100.0f, {-87.0f, 88.0f, -87.4f, 88.7f, -103.9f, 0.0f});
}

TEST_CASE("sigmoid, softmax and logsumexp stay within a few ulp of their formulas over std::exp") {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> wide(-40, 40);
  std::vector<double> x(3000);
  for (double& v : x) v = wide(rng);
  x.insert(x.end(), {0.0, -0.0, -745.0, 745.0, 800.0, -800.0});
  const std::vector<double> s = tg::sigmoid(tg::TensorD::from_vector({x.size()}, x)).to_vector();
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double e = std::exp(-std::abs(x[i]));
    const double want = (x[i] >= 0 ? 1.0 : e) / (1.0 + e);
    INFO("sigmoid(" << x[i] << ") = " << s[i] << ", want " << want);
    CHECK(ulps_apart(s[i], want) <= 2);
  }

  // softmax rows: a row of 300 logits (more than one block of the kernel) and a short one.
  for (const std::size_t cols : {std::size_t(300), std::size_t(7)}) {
    std::vector<double> logits(2 * cols);
    for (double& v : logits) v = wide(rng);
    const std::vector<double> p =
        tg::softmax(tg::TensorD::from_vector({2, cols}, logits)).to_vector();
    for (std::size_t r = 0; r < 2; ++r) {
      const double* row = logits.data() + r * cols;
      double top = row[0];
      for (std::size_t c = 0; c < cols; ++c) top = std::max(top, row[c]);
      double total = 0;
      for (std::size_t c = 0; c < cols; ++c) total += std::exp(row[c] - top);
      for (std::size_t c = 0; c < cols; ++c) {
        const double want = std::exp((row[c] - top) - std::log(total));
        INFO("softmax row " << r << " of " << cols << ", column " << c);
        CHECK(p[r * cols + c] == doctest::Approx(want).epsilon(1e-14));
      }
      // logsumexp along the rows, and along the columns of the transpose (a strided slice).
      const tg::TensorD x = tg::TensorD::from_vector({2, cols}, logits);
      CHECK(tg::logsumexp(x, 1).to_vector()[r] ==
            doctest::Approx(top + std::log(total)).epsilon(1e-15));
      CHECK(tg::logsumexp(tg::transpose(x), 0).to_vector()[r] ==
            doctest::Approx(top + std::log(total)).epsilon(1e-15));
    }
  }
}
