// Every op's forward value (and, where the README's op table fixes it, its gradient) against
// independently computed expectations: hand-worked arithmetic in comments, or NumPy values
// (NumPy 1.24, float64) with the Python that produced them next to the numbers.
//
// Python reference helpers used below (paste before the one-liners):
//   import numpy as np
//   def sm(x): m = x.max(-1, keepdims=True); e = np.exp(x - m); return e / e.sum(-1, keepdims=True)
//   def lsm(x): m = x.max(-1, keepdims=True); return (x - m) - np.log(np.exp(x - m).sum(-1,
//   keepdims=True))
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "tapegrad/tapegrad.hpp"

using tg::Shape;
using tg::TensorD;
using tg::TensorF;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Checks shape and every element. Expected NaN matches NaN, expected +-inf matches exactly,
// everything else within a relative epsilon (doctest::Approx, scale 1: absolute near 0).
template <class T>
void check_tensor(const tg::Tensor<T>& t, const Shape& shape, const std::vector<double>& expected,
                  double eps = 1e-12) {
  REQUIRE(t.defined());
  CHECK(t.shape().str() == shape.str());
  REQUIRE(t.size() == expected.size());
  const std::vector<T> got = t.to_vector();
  for (std::size_t i = 0; i < expected.size(); ++i) {
    INFO("element " << i << ": got " << double(got[i]) << ", expected " << expected[i]);
    const double v = double(got[i]);
    if (std::isnan(expected[i]))
      CHECK(std::isnan(v));
    else if (std::isinf(expected[i]))
      CHECK(v == expected[i]);
    else
      CHECK(v == doctest::Approx(expected[i]).epsilon(eps));
  }
}

template <class T> void check_scalar(const tg::Tensor<T>& t, double expected, double eps = 1e-12) {
  check_tensor(t, Shape{}, {expected}, eps);
}

// Every element finite.
template <class T> bool all_finite(const tg::Tensor<T>& t) {
  for (T v : t.to_vector())
    if (!std::isfinite(v)) return false;
  return true;
}

}  // namespace

// The registry's forward cases: every op carries, in its own file, values worked out
// independently of its kernel; this runs them all.
TEST_CASE("every registered op gives the forward values worked out for it") {
  for (const tg::OpInfo& op : tg::registered_ops()) {
    if (!op.cases) continue;
    for (const tg::ForwardCase& c : op.cases().forward) {
      INFO("op " << op.name << ", forward case " << c.label);
      check_tensor(c.call(), c.shape, c.values, c.tolerance);
    }
  }
}

// ============================================================================================
// matmul
// ============================================================================================

TEST_CASE("matmul: A @ B by hand") {
  const TensorD a = TensorD::matrix({{1, 2, 3}, {4, 5, 6}});
  const TensorD b = TensorD::matrix({{7, 8}, {9, 10}, {11, 12}});
  // [1*7+2*9+3*11, 1*8+2*10+3*12] = [58, 64]; [4*7+5*9+6*11, 4*8+5*10+6*12] = [139, 154]
  check_tensor(tg::matmul(a, b), Shape{2, 2}, {58, 64, 139, 154});
}

TEST_CASE("matmul: transpose flags give A^T B, A B^T and A^T B^T") {
  const TensorD a = TensorD::matrix({{1, 2, 3}, {4, 5, 6}});       // [2,3]
  const TensorD b = TensorD::matrix({{7, 8}, {9, 10}, {11, 12}});  // [3,2]
  // A^T A [3,3]: (i,j) = sum_k A[k,i] A[k,j]
  //   [1+16, 2+20, 3+24; 2+20, 4+25, 6+30; 3+24, 6+30, 9+36]
  check_tensor(tg::matmul(a, a, true, false), Shape{3, 3}, {17, 22, 27, 22, 29, 36, 27, 36, 45});
  // A A^T [2,2]: [1+4+9, 4+10+18; 4+10+18, 16+25+36]
  check_tensor(tg::matmul(a, a, false, true), Shape{2, 2}, {14, 32, 32, 77});
  // B^T A^T = (A B)^T = [58, 139; 64, 154]
  check_tensor(tg::matmul(b, a, true, true), Shape{2, 2}, {58, 139, 64, 154});
  // A^T [3,2] @ B^T [2,3] = [3,3]: (i,j) = sum_k A[k,i] B[j,k]
  //   row 0: [1*7+4*8, 1*9+4*10, 1*11+4*12] = [39, 49, 59]
  //   row 1: [2*7+5*8, 2*9+5*10, 2*11+5*12] = [54, 68, 82]
  //   row 2: [3*7+6*8, 3*9+6*10, 3*11+6*12] = [69, 87, 105]
  check_tensor(tg::matmul(a, b, true, true), Shape{3, 3}, {39, 49, 59, 54, 68, 82, 69, 87, 105});
}

TEST_CASE("matmul: gradients of sum(A^T B) with a transpose flag") {
  // C = A^T B with A[3,2], B[3,2]; L = sum(C) = sum_{i,j,k} A[k,i] B[k,j]
  // dA[k,i] = sum_j B[k,j] (row sums of B), dB[k,j] = sum_i A[k,i] (row sums of A).
  TensorD a = TensorD::matrix({{1, 2}, {3, 4}, {5, 6}}, true);
  TensorD b = TensorD::matrix({{1, -1}, {2, 0.5}, {0, 3}}, true);
  TensorD c = tg::matmul(a, b, true, false);
  check_tensor(c, Shape{2, 2},
               // [1*1+3*2+5*0, 1*-1+3*0.5+5*3; 2*1+4*2+6*0, 2*-1+4*0.5+6*3]
               {7, 15.5, 10, 18});
  tg::sum(c).backward();
  check_tensor(a.grad(), Shape{3, 2}, {0, 0, 2.5, 2.5, 3, 3});
  check_tensor(b.grad(), Shape{3, 2}, {3, 3, 7, 7, 11, 11});
}

// ============================================================================================
// add_bias, elementwise binary ops and broadcasting
// ============================================================================================

TEST_CASE("add_bias: bias added to every row, its gradient is the column sum of G") {
  TensorD x = TensorD::matrix({{1, 2, 3}, {4, 5, 6}}, true);
  TensorD b = TensorD::vector({10, 20, 30}, true);
  TensorD y = tg::add_bias(x, b);
  check_tensor(y, Shape{2, 3}, {11, 22, 33, 14, 25, 36});
  // G = [[1,2,3],[4,5,6]] -> dX = G, db = [1+4, 2+5, 3+6]
  y.backward(TensorD::matrix({{1, 2, 3}, {4, 5, 6}}));
  check_tensor(x.grad(), Shape{2, 3}, {1, 2, 3, 4, 5, 6});
  check_tensor(b.grad(), Shape{3}, {5, 7, 9});
}

TEST_CASE("add/sub/mul/div: same shape, elementwise") {
  const TensorD a = TensorD::vector({1, -2, 3, 0.5});
  const TensorD b = TensorD::vector({4, 5, -6, 2});
  check_tensor(tg::add(a, b), Shape{4}, {5, 3, -3, 2.5});
  check_tensor(tg::sub(a, b), Shape{4}, {-3, -7, 9, -1.5});
  check_tensor(tg::mul(a, b), Shape{4}, {4, -10, -18, 1});
  check_tensor(tg::div(a, b), Shape{4}, {0.25, -0.4, -0.5, 0.25});
  // The operators are the same ops.
  check_tensor(a + b, Shape{4}, {5, 3, -3, 2.5});
  check_tensor(a - b, Shape{4}, {-3, -7, 9, -1.5});
  check_tensor(a * b, Shape{4}, {4, -10, -18, 1});
  check_tensor(a / b, Shape{4}, {0.25, -0.4, -0.5, 0.25});
}

TEST_CASE("add/sub/mul/div: gradients for same-shape operands") {
  TensorD a = TensorD::vector({1, -2, 4}, true);
  TensorD b = TensorD::vector({2, 4, -8}, true);
  SUBCASE("add") {
    tg::sum(a + b).backward();
    check_tensor(a.grad(), Shape{3}, {1, 1, 1});
    check_tensor(b.grad(), Shape{3}, {1, 1, 1});
  }
  SUBCASE("sub") {
    tg::sum(a - b).backward();
    check_tensor(a.grad(), Shape{3}, {1, 1, 1});
    check_tensor(b.grad(), Shape{3}, {-1, -1, -1});
  }
  SUBCASE("mul") {
    tg::sum(a * b).backward();
    check_tensor(a.grad(), Shape{3}, {2, 4, -8});
    check_tensor(b.grad(), Shape{3}, {1, -2, 4});
  }
  SUBCASE("div") {
    // da = 1/b = [0.5, 0.25, -0.125]; db = -a/b^2 = [-1/4, 2/16, -4/64]
    tg::sum(a / b).backward();
    check_tensor(a.grad(), Shape{3}, {0.5, 0.25, -0.125});
    check_tensor(b.grad(), Shape{3}, {-0.25, 0.125, -0.0625});
  }
}

TEST_CASE("add: [3,4] + [4] broadcasts the row, the row's gradient is summed over rows") {
  TensorD x = TensorD::from_vector(Shape{3, 4}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, true);
  TensorD v = TensorD::vector({100, 200, 300, 400}, true);
  TensorD y = x + v;
  check_tensor(y, Shape{3, 4}, {100, 201, 302, 403, 104, 205, 306, 407, 108, 209, 310, 411});
  tg::sum(y).backward();
  check_tensor(x.grad(), Shape{3, 4}, std::vector<double>(12, 1.0));
  check_tensor(v.grad(), Shape{4}, {3, 3, 3, 3});  // 3 rows
}

TEST_CASE("mul: [3,1] * [1,4] is the outer product, gradients summed back") {
  TensorD c = TensorD::from_vector(Shape{3, 1}, {1, 2, 3}, true);
  TensorD r = TensorD::from_vector(Shape{1, 4}, {10, 20, 30, 40}, true);
  TensorD y = c * r;
  check_tensor(y, Shape{3, 4}, {10, 20, 30, 40, 20, 40, 60, 80, 30, 60, 90, 120});
  tg::sum(y).backward();
  // dc[i] = sum_j r[j] = 100; dr[j] = sum_i c[i] = 6
  check_tensor(c.grad(), Shape{3, 1}, {100, 100, 100});
  check_tensor(r.grad(), Shape{1, 4}, {6, 6, 6, 6});
}

TEST_CASE("sub and div broadcast: [2,3] - [3], [2,3] / [2,1]") {
  TensorD x = TensorD::matrix({{2, 4, 6}, {8, 10, 12}}, true);
  TensorD v = TensorD::vector({1, 2, 3}, true);
  TensorD d = TensorD::from_vector(Shape{2, 1}, {2, 4}, true);
  check_tensor(x - v, Shape{2, 3}, {1, 2, 3, 7, 8, 9});
  TensorD q = x / d;
  check_tensor(q, Shape{2, 3}, {1, 2, 3, 2, 2.5, 3});
  tg::sum(q).backward();
  // dx = 1/d per row: [0.5 x3, 0.25 x3]; dd[i] = -sum_j x[i,j]/d[i]^2 = [-12/4, -30/16]
  check_tensor(x.grad(), Shape{2, 3}, {0.5, 0.5, 0.5, 0.25, 0.25, 0.25});
  check_tensor(d.grad(), Shape{2, 1}, {-3, -1.875});
}

TEST_CASE("add/mul with a 0-d scalar tensor: gradient of the scalar is the total") {
  TensorD x = TensorD::matrix({{1, 2}, {3, 4}}, true);
  TensorD s = TensorD::scalar(3, true);
  TensorD y = x * s + s;  // 3x + 3
  check_tensor(y, Shape{2, 2}, {6, 9, 12, 15});
  tg::sum(y).backward();
  check_tensor(x.grad(), Shape{2, 2}, {3, 3, 3, 3});
  // d/ds sum(x*s + s) = sum(x) + 4 = 10 + 4
  check_tensor(s.grad(), Shape{}, {14});
}

TEST_CASE("operators with plain numbers: x * 2.0, 1.0 - x, x + 0.5, 3.0 / x, x / 4.0") {
  TensorD x = TensorD::vector({1, 2, 4}, true);
  check_tensor(x * 2.0, Shape{3}, {2, 4, 8});
  check_tensor(2.0 * x, Shape{3}, {2, 4, 8});
  check_tensor(1.0 - x, Shape{3}, {0, -1, -3});
  check_tensor(x - 1.0, Shape{3}, {0, 1, 3});
  check_tensor(x + 0.5, Shape{3}, {1.5, 2.5, 4.5});
  check_tensor(0.5 + x, Shape{3}, {1.5, 2.5, 4.5});
  check_tensor(3.0 / x, Shape{3}, {3, 1.5, 0.75});
  check_tensor(x / 4.0, Shape{3}, {0.25, 0.5, 1});
  // d/dx sum(1 - x) = -1; d/dx sum(3/x) = -3/x^2 = [-3, -0.75, -0.1875]
  tg::sum(1.0 - x).backward();
  check_tensor(x.grad(), Shape{3}, {-1, -1, -1});
  x.zero_grad();
  tg::sum(3.0 / x).backward();
  check_tensor(x.grad(), Shape{3}, {-3, -0.75, -0.1875});
}

TEST_CASE("xdivy: x / y, but 0 wherever x == 0, even at y == 0") {
  const TensorD x = TensorD::vector({0, 0, 2, -3, 0});
  const TensorD y = TensorD::vector({0, 5, 4, 2, -1});
  // [0 (0/0), 0/5, 2/4, -3/2, 0/-1 = -0 == 0]
  check_tensor(tg::xdivy(x, y), Shape{5}, {0, 0, 0.5, -1.5, 0});
  // Non-zero x over y = 0 is still the IEEE quotient.
  check_tensor(tg::xdivy(TensorD::vector({1, -1}), TensorD::vector({0, 0})), Shape{2},
               {kInf, -kInf});
}

TEST_CASE("xdivy: gradient is finite where x == 0 and y == 0") {
  TensorD x = TensorD::vector({0, 2}, true);
  TensorD y = TensorD::vector({0, 4}, true);
  tg::sum(tg::xdivy(x, y)).backward();
  // dx = [x != 0]/y -> [0, 1/4]; dy = -x/y^2 with 0 at x == 0 -> [0, -2/16]
  check_tensor(x.grad(), Shape{2}, {0, 0.25});
  check_tensor(y.grad(), Shape{2}, {0, -0.125});
}

TEST_CASE("xdivy: the x == 0 mask selects, so an infinite upstream still gives 0 there") {
  // xdivy([0,2],[1,4]) = [0, 0.5]; log's upstream 1/v = [inf, 2]. The mask [x != 0] must select
  // 0 at x = 0, not multiply inf by 0: dx = [0, 2/4], dy = [0, -2*2/4^2].
  for (const bool recorded : {false, true}) {
    CAPTURE(recorded);
    TensorD x = TensorD::vector({0, 2}, true);
    TensorD y = TensorD::vector({1, 4}, true);
    tg::sum(tg::log(tg::xdivy(x, y))).backward({.create_graph = recorded});
    check_tensor(x.grad(), Shape{2}, {0, 0.5});
    check_tensor(y.grad(), Shape{2}, {0, -0.25});
    x.zero_grad();  // a recorded gradient refers back to its leaf: break the cycle
    y.zero_grad();
  }
  // Broadcast y: the selected zeros are summed back like any gradient.
  TensorD x = TensorD::vector({0, 2, 0}, true);
  TensorD y = TensorD::scalar(2, true);
  tg::xdivy(x, y).backward(TensorD::vector({kInf, 1, -kInf}));
  check_tensor(x.grad(), Shape{3}, {0, 0.5, 0});
  check_tensor(y.grad(), Shape{}, {-0.5});
}

// ============================================================================================
// unary ops
// ============================================================================================

TEST_CASE("neg: -x and gradient -1") {
  TensorD x = TensorD::vector({1, -2.5, 0}, true);
  TensorD y = tg::neg(x);
  check_tensor(y, Shape{3}, {-1, 2.5, 0});
  check_tensor(-x, Shape{3}, {-1, 2.5, 0});
  tg::sum(y).backward();
  check_tensor(x.grad(), Shape{3}, {-1, -1, -1});
}

TEST_CASE("exp: values and gradient e^x") {
  TensorD x = TensorD::vector({0, 1, -1, 2.5}, true);
  TensorD y = tg::exp(x);
  // np.exp([0.0, 1.0, -1.0, 2.5])
  const std::vector<double> e = {1.0, 2.718281828459045, 0.3678794411714424, 12.182493960703473};
  check_tensor(y, Shape{4}, e);
  tg::sum(y).backward();
  check_tensor(x.grad(), Shape{4}, e);
}

TEST_CASE("log: values and gradient 1/x") {
  TensorD x = TensorD::vector({1, 2.718281828459045, 0.5, 10}, true);
  TensorD y = tg::log(x);
  // np.log([1.0, np.e, 0.5, 10.0])
  check_tensor(y, Shape{4}, {0.0, 0.9999999999999999, -0.6931471805599453, 2.3025850929940455});
  tg::sum(y).backward();
  check_tensor(x.grad(), Shape{4}, {1, 1 / 2.718281828459045, 2, 0.1});
}

TEST_CASE("sigmoid: values and gradient s(1-s)") {
  TensorD x = TensorD::vector({0, 2, -2, 0.5}, true);
  TensorD s = tg::sigmoid(x);
  // 1/(1+np.exp(-np.array([0.0, 2.0, -2.0, 0.5])))
  check_tensor(s, Shape{4}, {0.5, 0.8807970779778825, 0.11920292202211755, 0.6224593312018546});
  tg::sum(s).backward();
  // (lambda s: s*(1-s))(1/(1+np.exp(-np.array([2.0, -2.0])))) ; 0.25 at 0 by hand
  const std::vector<double> g = x.grad().to_vector();
  CHECK(g[0] == doctest::Approx(0.25).epsilon(1e-12));
  CHECK(g[1] == doctest::Approx(0.10499358540350645).epsilon(1e-12));
  CHECK(g[2] == doctest::Approx(0.1049935854035065).epsilon(1e-12));
}

TEST_CASE("sigmoid: x = -800 and 800 are finite, exactly 0 and 1, gradients 0 (no NaN)") {
  TensorD x = TensorD::vector({-800, 800}, true);
  TensorD s = tg::sigmoid(x);
  // e^-800 ~ 3.7e-348 underflows to 0 in double: s(-800) = 0/(1+0) = 0, s(800) = 1/(1+0) = 1
  check_tensor(s, Shape{2}, {0, 1});
  tg::sum(s).backward();
  check_tensor(x.grad(), Shape{2}, {0, 0});
  CHECK(all_finite(x.grad()));
}

TEST_CASE("tanh: values, +-1000 saturate to +-1, gradient 1 - tanh^2") {
  TensorD x = TensorD::vector({1000, -1000, 0, 0.5, -1.5}, true);
  TensorD y = tg::tanh(x);
  // np.tanh([1000.0, -1000.0, 0.0, 0.5, -1.5])
  check_tensor(y, Shape{5}, {1.0, -1.0, 0.0, 0.46211715726000974, -0.9051482536448665});
  tg::sum(y).backward();
  // 1 - np.tanh(np.array([0.5, -1.5]))**2 ; 0 at +-1000, 1 at 0
  check_tensor(x.grad(), Shape{5}, {0, 0, 1, 0.7864477329659274, 0.18070663892364836});
}

TEST_CASE("relu: max(x,0), relu(0) = 0 and relu'(0) = 0") {
  TensorD x = TensorD::vector({-2, 0, 3, -0.0, 1e-300}, true);
  TensorD y = tg::relu(x);
  check_tensor(y, Shape{5}, {0, 0, 3, 0, 1e-300});
  tg::sum(y).backward();
  check_tensor(x.grad(), Shape{5}, {0, 0, 1, 0, 1});
}

TEST_CASE("pow at x = 0: x^0 has gradient 0 there, and PyTorch's G*p*x^(p-1) for other p") {
  // torch.pow(x, p) at x = [0, 2, -2] with sum().backward(), PyTorch's pow_backward:
  //   p = 0: value 1 everywhere (0^0 = 1), gradient zeros_like(x): 0 even at x = 0, where
  //          p*x^(p-1) = 0 * 0^-1 = 0 * inf would be NaN;
  //   p = 0.5: [0, sqrt 2, NaN], gradient 0.5*x^-0.5 = [inf, 0.3535533905932738, NaN];
  //   p = 1: [0, 2, -2], gradient 1*x^0 = [1, 1, 1];
  //   p = 2: [0, 4, 4], gradient [0, 4, -4];  p = 3: [0, 8, -8], gradient 3x^2 = [0, 12, 12];
  //   p = -1: [inf, 0.5, -0.5], gradient -x^-2 = [-inf, -0.25, -0.25].
  struct Case {
    double p;
    std::vector<double> value, gradient;
  };
  const Case cases[] = {{0, {1, 1, 1}, {0, 0, 0}},
                        {0.5, {0, std::sqrt(2.0), kNaN}, {kInf, 0.3535533905932738, kNaN}},
                        {1, {0, 2, -2}, {1, 1, 1}},
                        {2, {0, 4, 4}, {0, 4, -4}},
                        {3, {0, 8, -8}, {0, 12, 12}},
                        {-1, {kInf, 0.5, -0.5}, {-kInf, -0.25, -0.25}}};
  for (const Case& c : cases) {
    for (const bool recorded : {false, true}) {
      CAPTURE(c.p);
      CAPTURE(recorded);
      TensorD x = TensorD::vector({0, 2, -2}, true);
      TensorD y = tg::pow(x, c.p);
      check_tensor(y, Shape{3}, c.value);
      tg::sum(y).backward({.create_graph = recorded});
      check_tensor(x.grad(), Shape{3}, c.gradient);
      x.zero_grad();
    }
  }
  // x^0 is constant: its gradient is 0 whatever the upstream (zeros_like(x) in PyTorch), also
  // for an infinite one, where multiplying by 0 would give NaN.
  TensorD x = TensorD::vector({0, 3}, true);
  tg::pow(x, 0.0).backward(TensorD::vector({kInf, -kInf}));
  check_tensor(x.grad(), Shape{2}, {0, 0});
}

TEST_CASE("pow: x^0.5, x^2, x^-1 and gradient p*x^(p-1)") {
  SUBCASE("x^0.5") {
    TensorD x = TensorD::vector({4, 9, 0.25}, true);
    TensorD y = tg::pow(x, 0.5);
    check_tensor(y, Shape{3}, {2, 3, 0.5});
    tg::sum(y).backward();
    // 0.5 / sqrt(x) = [0.5/2, 0.5/3, 0.5/0.5]
    check_tensor(x.grad(), Shape{3}, {0.25, 1.0 / 6.0, 1});
  }
  SUBCASE("x^2") {
    TensorD x = TensorD::vector({-3, 0, 1.5}, true);
    TensorD y = tg::pow(x, 2.0);
    check_tensor(y, Shape{3}, {9, 0, 2.25});
    tg::sum(y).backward();
    check_tensor(x.grad(), Shape{3}, {-6, 0, 3});
  }
  SUBCASE("x^-1") {
    TensorD x = TensorD::vector({4, -0.5, 2}, true);
    TensorD y = tg::pow(x, -1.0);
    check_tensor(y, Shape{3}, {0.25, -2, 0.5});
    tg::sum(y).backward();
    // -1/x^2 = [-1/16, -4, -1/4]
    check_tensor(x.grad(), Shape{3}, {-0.0625, -4, -0.25});
  }
}

// ============================================================================================
// reductions and layout
// ============================================================================================

TEST_CASE("sum: all elements -> [], each axis removed ([2,3] axis 0 -> [3], axis 1 -> [2])") {
  const TensorD x = TensorD::matrix({{1, 2, 3}, {4, 5, 6}});
  check_tensor(tg::sum(x), Shape{}, {21});
  check_tensor(tg::sum(x, 0), Shape{3}, {5, 7, 9});
  check_tensor(tg::sum(x, 1), Shape{2}, {6, 15});
  check_tensor(tg::sum(TensorD::vector({1.5, 2.5})), Shape{}, {4});
  check_tensor(tg::sum(TensorD::vector({1.5, 2.5}), 0), Shape{}, {4});
}

TEST_CASE("sum: 3-D [2,3,4] along each axis") {
  std::vector<double> v(24);
  for (int i = 0; i < 24; ++i) v[i] = i;  // x[a][l][i] = 12a + 4l + i
  const TensorD x = TensorD::from_vector(Shape{2, 3, 4}, v);
  // axis 0: x[0][l][i] + x[1][l][i] = 12 + 2(4l + i) = 12 + 2j for j = 0..11
  std::vector<double> a0(12), a1(8), a2(6);
  for (int j = 0; j < 12; ++j) a0[j] = 12 + 2 * j;
  // axis 1: sum_l (12a + 4l + i) = 36a + 12 + 3i
  for (int a = 0; a < 2; ++a)
    for (int i = 0; i < 4; ++i) a1[a * 4 + i] = 36 * a + 12 + 3 * i;
  // axis 2: sum_i (12a + 4l + i) = 48a + 16l + 6
  for (int a = 0; a < 2; ++a)
    for (int l = 0; l < 3; ++l) a2[a * 3 + l] = 48 * a + 16 * l + 6;
  check_tensor(tg::sum(x, 0), Shape{3, 4}, a0);
  check_tensor(tg::sum(x, 1), Shape{2, 4}, a1);
  check_tensor(tg::sum(x, 2), Shape{2, 3}, a2);
  check_tensor(tg::sum(x), Shape{}, {276});  // 0 + 1 + ... + 23 = 23*24/2
}

TEST_CASE("sum: gradient is G broadcast back along the removed axis") {
  TensorD x = TensorD::matrix({{1, 2, 3}, {4, 5, 6}}, true);
  TensorD s = tg::sum(x, 0);  // [3]
  s.backward(TensorD::vector({1, 10, 100}));
  check_tensor(x.grad(), Shape{2, 3}, {1, 10, 100, 1, 10, 100});
  x.zero_grad();
  TensorD r = tg::sum(x, 1);  // [2]
  r.backward(TensorD::vector({2, -1}));
  check_tensor(x.grad(), Shape{2, 3}, {2, 2, 2, -1, -1, -1});
}

TEST_CASE("mean: all elements, each axis removed, 3-D, gradient G/count") {
  TensorD x = TensorD::matrix({{1, 2, 3}, {4, 5, 6}}, true);
  check_tensor(tg::mean(x), Shape{}, {3.5});                // 21/6
  check_tensor(tg::mean(x, 0), Shape{3}, {2.5, 3.5, 4.5});  // [5,7,9]/2
  check_tensor(tg::mean(x, 1), Shape{2}, {2, 5});           // [6,15]/3
  std::vector<double> v(24);
  for (int i = 0; i < 24; ++i) v[i] = i;
  const TensorD x3 = TensorD::from_vector(Shape{2, 3, 4}, v);
  // axis 1: (36a + 12 + 3i)/3 = 12a + 4 + i
  check_tensor(tg::mean(x3, 1), Shape{2, 4}, {4, 5, 6, 7, 16, 17, 18, 19});
  // axis 2: (48a + 16l + 6)/4 = 12a + 4l + 1.5
  check_tensor(tg::mean(x3, 2), Shape{2, 3}, {1.5, 5.5, 9.5, 13.5, 17.5, 21.5});
  tg::mean(x).backward();
  check_tensor(x.grad(), Shape{2, 3}, std::vector<double>(6, 1.0 / 6.0));
  x.zero_grad();
  tg::mean(x, 1).backward(TensorD::vector({3, -6}));
  check_tensor(x.grad(), Shape{2, 3}, {1, 1, 1, -2, -2, -2});
}

TEST_CASE("broadcast_to: [3] -> [2,3], [3,1] -> [3,2], [] -> [2,2], gradient summed back") {
  TensorD v = TensorD::vector({1, 2, 3}, true);
  TensorD y = tg::broadcast_to(v, Shape{2, 3});
  check_tensor(y, Shape{2, 3}, {1, 2, 3, 1, 2, 3});
  check_tensor(tg::broadcast_to(TensorD::from_vector(Shape{3, 1}, {1, 2, 3}), Shape{3, 2}),
               Shape{3, 2}, {1, 1, 2, 2, 3, 3});
  check_tensor(tg::broadcast_to(TensorD::scalar(7), Shape{2, 2}), Shape{2, 2}, {7, 7, 7, 7});
  y.backward(TensorD::matrix({{1, 2, 3}, {10, 20, 30}}));
  check_tensor(v.grad(), Shape{3}, {11, 22, 33});
}

TEST_CASE("sum_to: [2,3] -> [3], [2,1], [1,3], [], gradient broadcast back") {
  TensorD x = TensorD::matrix({{1, 2, 3}, {4, 5, 6}}, true);
  check_tensor(tg::sum_to(x, Shape{3}), Shape{3}, {5, 7, 9});
  check_tensor(tg::sum_to(x, Shape{1, 3}), Shape{1, 3}, {5, 7, 9});
  check_tensor(tg::sum_to(x, Shape{2, 1}), Shape{2, 1}, {6, 15});
  check_tensor(tg::sum_to(x, Shape{}), Shape{}, {21});
  check_tensor(tg::sum_to(x, Shape{2, 3}), Shape{2, 3}, {1, 2, 3, 4, 5, 6});
  tg::sum_to(x, Shape{2, 1}).backward(TensorD::from_vector(Shape{2, 1}, {3, -1}));
  check_tensor(x.grad(), Shape{2, 3}, {3, 3, 3, -1, -1, -1});
}

TEST_CASE("reshape: same row-major elements, new shape, gradient reshaped back") {
  TensorD x = TensorD::matrix({{1, 2, 3}, {4, 5, 6}}, true);
  TensorD y = tg::reshape(x, Shape{3, 2});
  check_tensor(y, Shape{3, 2}, {1, 2, 3, 4, 5, 6});
  CHECK(y.at({2, 0}) == 5.0);
  check_tensor(tg::reshape(x, Shape{6}), Shape{6}, {1, 2, 3, 4, 5, 6});
  check_tensor(tg::reshape(TensorD::vector({4}), Shape{}), Shape{}, {4});
  y.backward(TensorD::matrix({{1, 2}, {3, 4}, {5, 6}}));
  check_tensor(x.grad(), Shape{2, 3}, {1, 2, 3, 4, 5, 6});
}

TEST_CASE("transpose: [2,3] -> [3,2], gradient G^T") {
  TensorD x = TensorD::matrix({{1, 2, 3}, {4, 5, 6}}, true);
  TensorD y = tg::transpose(x);
  check_tensor(y, Shape{3, 2}, {1, 4, 2, 5, 3, 6});
  y.backward(TensorD::matrix({{1, 2}, {3, 4}, {5, 6}}));
  check_tensor(x.grad(), Shape{2, 3}, {1, 3, 5, 2, 4, 6});
}

// ============================================================================================
// softmax, log_softmax
// ============================================================================================

TEST_CASE("softmax: along each row") {
  const TensorD x = TensorD::matrix({{1, 2, 3}, {-1, 0, 5}});
  // sm(np.array([[1.0,2,3],[-1,0,5]])).ravel()
  check_tensor(tg::softmax(x), Shape{2, 3},
               {0.09003057317038043, 0.24472847105479767, 0.6652409557748218, 0.0024561149044509535,
                0.006676412513376451, 0.9908674725821726});
}

TEST_CASE("log_softmax: along each row") {
  const TensorD x = TensorD::matrix({{1, 2, 3}, {-1, 0, 5}});
  // lsm(np.array([[1.0,2,3],[-1,0,5]])).ravel()
  check_tensor(tg::log_softmax(x), Shape{2, 3},
               {-2.4076059644443806, -1.4076059644443804, -0.40760596444438035, -6.0091744845917345,
                -5.0091744845917345, -0.009174484591734727});
}

TEST_CASE("softmax / log_softmax: logits of +-800 are finite and correct") {
  const TensorD x = TensorD::matrix({{800, -800, 0}, {-800, -800, -800}, {800, 800, 799}});
  // Row 0: x - max = [0, -1600, -800]; e^-800 underflows -> softmax [1, 0, 0],
  //        log_softmax [0, -1600, -800] (log(1 + e^-800) = 0).
  // Row 1: all equal -> 1/3 each, log_softmax -log(3) = -1.0986122886681096 (np.log(3)).
  // Row 2: sm(np.array([[800.,800,799]])), lsm(...): x - max = [0, 0, -1]
  const TensorD s = tg::softmax(x);
  const TensorD l = tg::log_softmax(x);
  CHECK(all_finite(s));
  CHECK(all_finite(l));
  check_tensor(s, Shape{3, 3},
               {1, 0, 0, 1.0 / 3, 1.0 / 3, 1.0 / 3, 0.4223187982515182, 0.4223187982515182,
                0.15536240349696365});
  check_tensor(l, Shape{3, 3},
               {0, -1600, -800, -1.0986122886681096, -1.0986122886681096, -1.0986122886681096,
                -0.861994804058251, -0.861994804058251, -1.861994804058251});
}

TEST_CASE("softmax: vector-Jacobian product s * (G - rowsum(G*s))") {
  TensorD x = TensorD::matrix({{1, 2, 3}, {-1, 0, 5}}, true);
  tg::softmax(x).backward(TensorD::matrix({{1, 0, 0}, {0, 2, -1}}));
  // x = np.array([[1.,2,3],[-1,0,5]]); G = np.array([[1.,0,0],[0,2,-1]]); s = sm(x)
  // (s*(G-(G*s).sum(1,keepdims=True))).ravel()
  check_tensor(x.grad(), Shape{2, 3},
               {0.08192506906499321, -0.02203304452017429, -0.05989202454481891,
                0.002400888295179987, 0.019879116051700677, -0.022280004346880742});
}

TEST_CASE("log_softmax: vector-Jacobian product G - softmax * rowsum(G)") {
  TensorD x = TensorD::matrix({{1, 2, 3}, {-1, 0, 5}}, true);
  tg::log_softmax(x).backward(TensorD::matrix({{1, 0, 0}, {0, 2, -1}}));
  // (G - sm(x)*G.sum(1,keepdims=True)).ravel()
  check_tensor(x.grad(), Shape{2, 3},
               {0.9099694268296196, -0.24472847105479767, -0.6652409557748218,
                -0.0024561149044509535, 1.9933235874866235, -1.9908674725821727});
}

// ============================================================================================
// losses
// ============================================================================================

TEST_CASE("mse: the mean (not the sum) of squared differences") {
  const TensorD a = TensorD::matrix({{1, 2}, {3, 4}});
  const TensorD b = TensorD::matrix({{0, 2}, {5, 1}});
  // diffs [1, 0, -2, 3], squares [1, 0, 4, 9], sum 14, N = 4 -> 3.5 (the sum would be 14)
  check_scalar(tg::mse(a, b), 3.5);
}

TEST_CASE("mse: the XOR tutorial's trap, d mse / d a = 2(a-b)/N exactly, d/db = -da") {
  TensorD a = TensorD::matrix({{1, 2}, {3, 4}}, true);
  TensorD b = TensorD::matrix({{0, 2}, {5, 1}}, true);
  tg::mse(a, b).backward();
  // 2 * [1, 0, -2, 3] / 4 = [0.5, 0, -1, 1.5]   ((a-b)/N would be half of it)
  check_tensor(a.grad(), Shape{2, 2}, {0.5, 0, -1, 1.5}, 1e-15);
  check_tensor(b.grad(), Shape{2, 2}, {-0.5, 0, 1, -1.5}, 1e-15);
}

TEST_CASE("mse: an upstream gradient scales the adjoint (0.5 * mse)") {
  TensorD a = TensorD::vector({3, -1, 2}, true);
  const TensorD b = TensorD::vector({1, 1, 2});
  // diffs [2, -2, 0]: mse = 8/3; 0.5*mse = 4/3; d/da = 0.5 * 2 * diffs / 3 = diffs/3
  TensorD loss = tg::mul(tg::mse(a, b), TensorD::scalar(0.5));
  check_scalar(loss, 4.0 / 3.0);
  loss.backward();
  check_tensor(a.grad(), Shape{3}, {2.0 / 3, -2.0 / 3, 0});
}

TEST_CASE("bce: value and gradient for p strictly inside (0,1), soft label") {
  TensorD p = TensorD::vector({0.9, 0.2, 0.6, 0.3}, true);
  const TensorD y = TensorD::vector({1, 0, 1, 0.5});
  TensorD loss = tg::bce(p, y);
  // p=np.array([.9,.2,.6,.3]); y=np.array([1.,0,1,.5]); -np.mean(y*np.log(p)+(1-y)*np.log(1-p))
  check_scalar(loss, 0.40491339121759024);
  loss.backward();
  // (p-y)/(p*(1-p))/4
  check_tensor(
      p.grad(), Shape{4},
      {-0.2777777777777778, 0.31249999999999994, -0.4166666666666667, -0.2380952380952381});
}

TEST_CASE(
    "bce: xlogy rule, p = 0 with y = 0 (and p = 1 with y = 1) adds 0 with a finite gradient") {
  TensorD p = TensorD::vector({0, 1, 0.5}, true);
  const TensorD y = TensorD::vector({0, 1, 0.5});
  TensorD loss = tg::bce(p, y);
  // terms: 0 (0 log 0 + 1 log 1), 0 (1 log 1 + 0 log 0), -(0.5 log 0.5 + 0.5 log 0.5) = log 2
  check_scalar(loss, std::log(2.0) / 3);
  loss.backward();
  // d/dp of -(y log p + (1-y) log(1-p)) = -y/p + (1-y)/(1-p), with 0/0 -> 0 (xdivy):
  //   p=0,y=0: -0 + 1/1 = 1;  p=1,y=1: -1/1 + 0 = -1;  p=y=0.5: -1 + 1 = 0;  then / N = 3
  CHECK(all_finite(p.grad()));
  check_tensor(p.grad(), Shape{3}, {1.0 / 3, -1.0 / 3, 0});
}

TEST_CASE("bce: p = 0 with y = 1 is honestly +inf (no clamping)") {
  TensorD p = TensorD::vector({0, 0.5}, true);
  const TensorD y = TensorD::vector({1, 0.5});
  TensorD loss = tg::bce(p, y);
  check_scalar(loss, kInf);  // -(1 * log 0) = +inf
  loss.backward();
  // entry 0: -y/p = -1/0 = -inf (divided by N stays -inf); entry 1: (-1 + 1)/2 = 0
  check_tensor(p.grad(), Shape{2}, {-kInf, 0});
}

TEST_CASE("bce after a saturated sigmoid: dz = (p - y)/N, not a tenth of it") {
  // z = [30, -2], y = [0, 1], N = 2. p(1-p) at z = 30 is 9.4e-14 < 1e-12, where PyTorch's clamp
  // would give 0.094 * (p - y)/N. The chain bce' * sigmoid' must give (p - y)/N.
  TensorD z = TensorD::vector({30, -2}, true);
  const TensorD y = TensorD::vector({0, 1});
  TensorD p = tg::sigmoid(z);
  TensorD loss = tg::bce(p, y);
  // -log(1 - sigmoid(30)) = log(1 + e^30) ~ 30.0000000000000936; -log(sigmoid(-2)) = log(1+e^2)
  // np.mean([np.logaddexp(0, 30.0), np.logaddexp(0, 2.0)]) = 16.06346400552153. Loose tolerance:
  // 1 - p at p = sigmoid(30) keeps only ~3 significant digits in double, so an honest
  // -log(1 - p) = 30.001020555434774 (-np.log(1-1/(1+np.exp(-30.0)))) is off by 1e-3.
  check_scalar(loss, 16.06346400552153, 1e-4);
  loss.backward();
  // 1/(1+np.exp(-30.0)) = 0.9999999999999065; 1/(1+np.exp(2.0)) = 0.11920292202211755
  const std::vector<double> g = z.grad().to_vector();
  CHECK(g[0] == doctest::Approx(0.9999999999999065 / 2).epsilon(1e-6));
  CHECK(g[1] == doctest::Approx((0.11920292202211755 - 1) / 2).epsilon(1e-6));
}

TEST_CASE("bce_with_logits: finite at +-1000, value and gradient (sigmoid(z) - y)/N") {
  TensorD z = TensorD::vector({-1000, 1000, 0, 2, -3, 1000, -1000}, true);
  const TensorD y = TensorD::vector({0, 1, 1, 0, 1, 0, 1});
  TensorD loss = tg::bce_with_logits(z, y);
  // terms max(z,0) - z*y + log1p(e^-|z|): [0, 0, log 2, 2 + log1p(e^-2), 3 + log1p(e^-3), 1000,
  // 1000] z=np.array([-1000.,1000,0,2,-3,1000,-1000]); y=np.array([0.,1,1,0,1,0,1])
  // np.mean(np.maximum(z,0)-z*y+np.log1p(np.exp(-np.abs(z))))
  check_scalar(loss, 286.55266607759665);
  loss.backward();
  // s = stable sigmoid(z); (s-y)/7
  check_tensor(z.grad(), Shape{7},
               {0.0, 0.0, -0.07142857142857142, 0.12582815399684036, -0.13608201811749046,
                0.14285714285714285, -0.14285714285714285});
}

TEST_CASE_TEMPLATE("bce_with_logits: log1p keeps the tail at |z| = 40 (1 + e^-40 rounds to 1)", T,
                   float, double) {
  // A confident right answer: z = 40, y = 1 and z = -40, y = 0, each term log1p(e^-40), where
  // log(1 + e^-40) is log(1) = 0. np.log1p(np.exp(-40.0)) = 4.248354255291589e-18; in float32,
  // np.log1p(np.exp(np.float32(-40))) = 4.2483543e-18.
  const tg::Tensor<T> z = tg::Tensor<T>::vector({40, -40});
  const tg::Tensor<T> y = tg::Tensor<T>::vector({1, 0});
  const double loss = double(tg::bce_with_logits(z, y).item());
  // Relative (scale 0): with doctest's default absolute floor 4e-18 and 0 would both pass.
  CHECK(loss == doctest::Approx(4.248354255291589e-18).epsilon(1e-6).scale(0));
}

TEST_CASE("bce_with_logits agrees with bce(sigmoid(z)) for moderate z") {
  TensorD z1 = TensorD::matrix({{0.5, -1.2}, {2.0, 0.1}}, true);
  TensorD z2 = TensorD::matrix({{0.5, -1.2}, {2.0, 0.1}}, true);
  const TensorD y = TensorD::matrix({{1, 0}, {0.25, 1}});
  TensorD l1 = tg::bce_with_logits(z1, y);
  TensorD l2 = tg::bce(tg::sigmoid(z2), y);
  CHECK(l1.item() == doctest::Approx(l2.item()).epsilon(1e-12));
  l1.backward();
  l2.backward();
  const std::vector<double> g1 = z1.grad().to_vector(), g2 = z2.grad().to_vector();
  for (std::size_t i = 0; i < 4; ++i) CHECK(g1[i] == doctest::Approx(g2[i]).epsilon(1e-12));
}

TEST_CASE("softmax_ce with integer labels: value and gradient (softmax - onehot)/n") {
  TensorD logits = TensorD::matrix({{1, 2, 3}, {1, -1, 0.5}}, true);
  TensorD loss = tg::softmax_ce(logits, tg::Labels{2, 0});
  // L = np.array([[1.,2,3],[1,-1,.5]]); -np.mean([lsm(L)[0,2], lsm(L)[1,0]])
  check_scalar(loss, 0.48128144204318546);
  loss.backward();
  // ((sm(L) - np.array([[0,0,1],[1,0,0]]))/2).ravel()
  check_tensor(logits.grad(), Shape{2, 3},
               {0.04501528658519022, 0.12236423552739883, -0.1673795221125891, -0.21295150351615272,
                0.038847789574285294, 0.17410371394186744});
}

TEST_CASE("softmax_ce with one-hot targets agrees with integer labels (value and gradient)") {
  TensorD l1 = TensorD::matrix({{1, 2, 3}, {1, -1, 0.5}, {0, 0, 0}}, true);
  TensorD l2 = TensorD::matrix({{1, 2, 3}, {1, -1, 0.5}, {0, 0, 0}}, true);
  const TensorD onehot = TensorD::matrix({{0, 0, 1}, {1, 0, 0}, {0, 1, 0}});
  TensorD a = tg::softmax_ce(l1, tg::Labels{2, 0, 1});
  TensorD b = tg::softmax_ce(l2, onehot);
  CHECK(a.shape().str() == "[]");
  CHECK(b.shape().str() == "[]");
  CHECK(a.item() == doctest::Approx(b.item()).epsilon(1e-12));
  // Row 2 (all equal) contributes log 3; rows 0, 1 as in the case above: (2*0.48128144204318546 +
  // log 3)/3
  CHECK(a.item() == doctest::Approx((2 * 0.48128144204318546 + std::log(3.0)) / 3).epsilon(1e-12));
  a.backward();
  b.backward();
  const std::vector<double> g1 = l1.grad().to_vector(), g2 = l2.grad().to_vector();
  for (std::size_t i = 0; i < g1.size(); ++i) CHECK(g1[i] == doctest::Approx(g2[i]).epsilon(1e-12));
}

TEST_CASE("softmax_ce with soft targets: value and gradient (softmax*rowsum(T) - T)/n") {
  TensorD logits = TensorD::matrix({{1, 2, 3}, {1, -1, 0.5}}, true);
  const TensorD t = TensorD::matrix({{0.2, 0.3, 0.5}, {0.6, 0.1, 0.3}});
  TensorD loss = tg::softmax_ce(logits, t);
  // T = np.array([[.2,.3,.5],[.6,.1,.3]]); -np.mean((T*lsm(L)).sum(1))
  check_scalar(loss, 1.0062814420431854);
  loss.backward();
  // ((sm(L)*T.sum(1,keepdims=True)-T)/2).ravel()
  check_tensor(logits.grad(), Shape{2, 3},
               {-0.05498471341480979, -0.02763576447260116, 0.08262047788741089,
                -0.012951503516152707, -0.01115221042571471, 0.024103713941867444});
}

TEST_CASE("softmax_ce with targets whose rows do not sum to 1: gradient uses rowsum(T)") {
  TensorD logits = TensorD::matrix({{0, 0}}, true);
  // T = [2, 0]: loss = -2 * log(1/2) = 2 log 2; grad = (0.5*2 - [2, 0]) / 1 = [-1, 1]
  TensorD loss = tg::softmax_ce(logits, TensorD::matrix({{2, 0}}));
  check_scalar(loss, 2 * std::log(2.0));
  loss.backward();
  check_tensor(logits.grad(), Shape{1, 2}, {-1, 1});
}

TEST_CASE("softmax_ce: logits of +-800 are finite and exact") {
  TensorD l1 = TensorD::matrix({{800, -800, 0}, {-800, 800, 0}}, true);
  TensorD l2 = TensorD::matrix({{800, -800, 0}, {-800, 800, 0}}, true);
  // row 0: lse = 800, label 1: 800 - (-800) = 1600; row 1: lse = 800, label 1: 0 -> mean 800
  TensorD a = tg::softmax_ce(l1, tg::Labels{1, 1});
  TensorD b = tg::softmax_ce(l2, TensorD::matrix({{0, 1, 0}, {0, 1, 0}}));
  check_scalar(a, 800);
  check_scalar(b, 800);
  a.backward();
  b.backward();
  // (softmax - onehot)/2: row 0 ([1,0,0] - [0,1,0])/2, row 1 0
  check_tensor(l1.grad(), Shape{2, 3}, {0.5, -0.5, 0, 0, 0, 0});
  check_tensor(l2.grad(), Shape{2, 3}, {0.5, -0.5, 0, 0, 0, 0});
}

// ============================================================================================
// float
// ============================================================================================

TEST_CASE("float: matmul with flags, broadcasting and scalar operators") {
  const TensorF a = TensorF::matrix({{1, 2, 3}, {4, 5, 6}});
  const TensorF b = TensorF::matrix({{7, 8}, {9, 10}, {11, 12}});
  check_tensor(tg::matmul(a, b), Shape{2, 2}, {58, 64, 139, 154}, 1e-6);
  check_tensor(tg::matmul(b, a, true, true), Shape{2, 2}, {58, 139, 64, 154}, 1e-6);
  check_tensor(a + TensorF::vector({10, 20, 30}), Shape{2, 3}, {11, 22, 33, 14, 25, 36}, 1e-6);
  check_tensor(1.0f - a * 2.0f, Shape{2, 3}, {-1, -3, -5, -7, -9, -11}, 1e-6);
  check_tensor(tg::add_bias(a, TensorF::vector({1, 1, 1})), Shape{2, 3}, {2, 3, 4, 5, 6, 7}, 1e-6);
  check_tensor(tg::sum(a, 0), Shape{3}, {5, 7, 9}, 1e-6);
  check_tensor(tg::mean(a, 1), Shape{2}, {2, 5}, 1e-6);
  check_tensor(tg::transpose(a), Shape{3, 2}, {1, 4, 2, 5, 3, 6}, 1e-6);
}

TEST_CASE("float: unary ops, sigmoid at +-800, tanh at +-1000, relu at 0") {
  TensorF x = TensorF::vector({-800, 800, 0}, true);
  TensorF s = tg::sigmoid(x);
  check_tensor(s, Shape{3}, {0, 1, 0.5}, 1e-6);
  tg::sum(s).backward();
  check_tensor(x.grad(), Shape{3}, {0, 0, 0.25}, 1e-6);
  check_tensor(tg::tanh(TensorF::vector({1000, -1000, 0.5f})), Shape{3},
               {1, -1, 0.46211715726000974}, 1e-6);
  TensorF r = TensorF::vector({-1, 0, 2}, true);
  tg::sum(tg::relu(r)).backward();
  check_tensor(r.grad(), Shape{3}, {0, 0, 1}, 1e-6);
  check_tensor(tg::exp(TensorF::vector({1})), Shape{1}, {2.718281828459045}, 1e-6);
  check_tensor(tg::log(TensorF::vector({0.5f})), Shape{1}, {-0.6931471805599453}, 1e-6);
  check_tensor(tg::pow(TensorF::vector({4, 9}), 0.5f), Shape{2}, {2, 3}, 1e-6);
}

TEST_CASE("float: softmax/log_softmax at +-800 and the losses") {
  const TensorF x = TensorF::matrix({{800, -800, 0}, {1, 2, 3}});
  const TensorF s = tg::softmax(x);
  const TensorF l = tg::log_softmax(x);
  CHECK(all_finite(s));
  CHECK(all_finite(l));
  check_tensor(s, Shape{2, 3},
               {1, 0, 0, 0.09003057317038043, 0.24472847105479767, 0.6652409557748218}, 1e-5);
  check_tensor(l, Shape{2, 3},
               {0, -1600, -800, -2.4076059644443806, -1.4076059644443804, -0.40760596444438035},
               1e-5);
  TensorF a = TensorF::matrix({{1, 2}, {3, 4}}, true);
  TensorF m = tg::mse(a, TensorF::matrix({{0, 2}, {5, 1}}));
  check_scalar(m, 3.5, 1e-6);
  m.backward();
  check_tensor(a.grad(), Shape{2, 2}, {0.5, 0, -1, 1.5}, 1e-6);
  check_scalar(tg::bce(TensorF::vector({0.9f, 0.2f, 0.6f, 0.3f}), TensorF::vector({1, 0, 1, 0.5f})),
               0.40491339121759024, 1e-5);
  TensorF z = TensorF::vector({-1000, 1000, 0, 2, -3, 1000, -1000}, true);
  TensorF bl = tg::bce_with_logits(z, TensorF::vector({0, 1, 1, 0, 1, 0, 1}));
  check_scalar(bl, 286.55266607759665, 1e-5);
  bl.backward();
  CHECK(all_finite(z.grad()));
  check_scalar(tg::softmax_ce(TensorF::matrix({{1, 2, 3}, {1, -1, 0.5f}}), tg::Labels{2, 0}),
               0.48128144204318546, 1e-5);
  check_scalar(tg::softmax_ce(TensorF::matrix({{1, 2, 3}, {1, -1, 0.5f}}),
                              TensorF::matrix({{0.2f, 0.3f, 0.5f}, {0.6f, 0.1f, 0.3f}})),
               1.0062814420431854, 1e-5);
  check_scalar(tg::softmax_ce(TensorF::matrix({{800, -800, 0}}), tg::Labels{1}), 1600, 1e-6);
}

// ============================================================================================
// Non-finite results (IEEE-754, as the README's op table states): values AND gradients
// ============================================================================================

TEST_CASE("non-finite: sum(G*log(x)), x = [-1, 2, 0.5] -> NaN value, finite gradient G/x") {
  TensorD x = TensorD::vector({-1, 2, 0.5}, true);
  const TensorD g = TensorD::vector({3, 3, 3});
  TensorD out = tg::sum(g * tg::log(x));
  CHECK(std::isnan(out.item()));
  out.backward();
  // G/x = [3/-1, 3/2, 3/0.5] = [-3 (= -G at -1), 1.5, 6]
  CHECK(all_finite(x.grad()));
  check_tensor(x.grad(), Shape{3}, {-3, 1.5, 6});
}

TEST_CASE(
    "non-finite: sum(G*pow(x, 0.5)), x = [-4, 4, 0.25, 9] -> NaN value, NaN gradient only at -4") {
  TensorD x = TensorD::vector({-4, 4, 0.25, 9}, true);
  const TensorD g = TensorD::vector({2, 2, 2, 2});
  TensorD out = tg::sum(g * tg::pow(x, 0.5));
  CHECK(std::isnan(out.item()));
  out.backward();
  // G * 0.5 * x^-0.5 = [NaN, 2*0.5/2, 2*0.5/0.5, 2*0.5/3]
  check_tensor(x.grad(), Shape{4}, {kNaN, 0.5, 2, 1.0 / 3});
}

TEST_CASE("non-finite: sum(log(x)*G), x = [0, 1, 3], G > 0 -> -inf value, +inf gradient at 0") {
  TensorD x = TensorD::vector({0, 1, 3}, true);
  const TensorD g = TensorD::vector({2, 2, 2});
  TensorD out = tg::sum(tg::log(x) * g);
  check_scalar(out, -kInf);
  out.backward();
  // G/x = [2/0 = +inf, 2, 2/3]
  check_tensor(x.grad(), Shape{3}, {kInf, 2, 2.0 / 3});
}

TEST_CASE("non-finite: sum(a/b), b = [0, 2] -> +inf value, da = [inf, 0.5], db = [-inf, -0.75]") {
  TensorD a = TensorD::vector({1, 3}, true);
  TensorD b = TensorD::vector({0, 2}, true);
  TensorD out = tg::sum(a / b);
  check_scalar(out, kInf);  // 1/0 + 3/2
  out.backward();
  // da = 1/b = [inf, 0.5]; db = -a/b^2 = [-1/0, -3/4]
  check_tensor(a.grad(), Shape{2}, {kInf, 0.5});
  check_tensor(b.grad(), Shape{2}, {-kInf, -0.75});
}

TEST_CASE("non-finite: mse(a, b) with a NaN in a -> NaN value, NaN gradient at that entry only") {
  TensorD a = TensorD::vector({1, kNaN, 3}, true);
  TensorD b = TensorD::vector({0, 0, 0}, true);
  TensorD out = tg::mse(a, b);
  CHECK(std::isnan(out.item()));
  out.backward();
  // 2(a-b)/3 = [2/3, NaN, 2]
  check_tensor(a.grad(), Shape{3}, {2.0 / 3, kNaN, 2});
  check_tensor(b.grad(), Shape{3}, {-2.0 / 3, kNaN, -2});
}
