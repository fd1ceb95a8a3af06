// Optimizers: SGD, Adam, AdamW and RMSprop against updates worked out by hand (torch.optim's
// rules), gradient clipping by norm and by value, SGD and Adam driving a least-squares problem
// built from the engine's ops to its normal-equation solution, and L-BFGS on Rosenbrock, a
// 20-dimensional quadratic, and functions that turn NaN away from the start.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "tapegrad/nn/clip.hpp"
#include "tapegrad/nn/optim.hpp"
#include "tapegrad/ops.hpp"

namespace {

using tg::TensorD;
using tg::TensorF;
using tg::nn::Adam;
using tg::nn::AdamOptions;
using tg::nn::AdamW;
using tg::nn::LbfgsOptions;
using tg::nn::LbfgsResult;
using tg::nn::RMSprop;
using tg::nn::SGD;
using tg::nn::SgdOptions;

// loss = sum(c * p) with c = [0.5, 3]: the gradient is c whatever p is.
const std::vector<double> kC = {0.5, 3.0};

template <class T> void backward_linear(tg::Tensor<T>& p) {
  tg::sum(tg::mul(tg::Tensor<T>::vector({T(0.5), T(3)}), p)).backward();
}

// loss = 0.5 * sum(p * p): the gradient is p itself.
template <class T> void backward_half_square(tg::Tensor<T>& p) {
  (tg::sum(tg::mul(p, p)) * T(0.5)).backward();
}

template <class T>
void check_values(const tg::Tensor<T>& p, const std::vector<double>& expected, double tol) {
  REQUIRE(p.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    INFO("element " << i);
    CHECK(static_cast<double>(p.data()[i]) == doctest::Approx(expected[i]).epsilon(tol));
  }
}

// sum((A x - b)^2) with the engine's ops.
TensorD least_squares(const TensorD& A, const TensorD& x, const TensorD& b) {
  const TensorD r = tg::sub(tg::matmul(A, x), b);
  return tg::sum(tg::mul(r, r));
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_SUITE("nn.optim") {
  // ---- SGD ---------------------------------------------------------------------------------

  TEST_CASE("SGD without momentum: two steps by hand") {
    // p0 = [1, -2], lr 0.1, gradient c = [0.5, 3] on each step:
    //   p1 = p0 - 0.1 c = [0.95, -2.3];  p2 = p1 - 0.1 c = [0.9, -2.6].
    auto p = TensorD::vector({1, -2}, true);
    TensorD alias = p;  // another handle on the same buffer sees every update
    SGD<double> opt({p}, {.lr = 0.1});
    backward_linear(p);
    opt.step();
    check_values(alias, {0.95, -2.3}, 1e-15);
    opt.zero_grad();
    backward_linear(p);
    opt.step();
    check_values(p, {0.9, -2.6}, 1e-15);
    CHECK(p.is_leaf());  // the update was not recorded
    CHECK(p.requires_grad());
  }

  TEST_CASE("SGD with momentum: buf = g on the first step, then momentum * buf + g") {
    // lr 0.1, momentum 0.9, gradient c = [0.5, 3]:
    //   step 1: buf = [0.5, 3],                     p1 = [1 - 0.05, -2 - 0.3]   = [0.95, -2.3]
    //   step 2: buf = 0.9 [0.5, 3] + c = [0.95, 5.7], p2 = [0.95 - 0.095, -2.3 - 0.57]
    //                                                   = [0.855, -2.87]
    auto p = TensorD::vector({1, -2}, true);
    SGD<double> opt({p}, {.lr = 0.1, .momentum = 0.9});
    backward_linear(p);
    opt.step();
    check_values(p, {0.95, -2.3}, 1e-15);
    opt.zero_grad();
    backward_linear(p);
    opt.step();
    check_values(p, {0.855, -2.87}, 1e-14);
  }

  TEST_CASE("SGD weight decay adds weight_decay * p to the gradient") {
    SUBCASE("without momentum") {
      // lr 0.1, weight_decay 0.5:
      //   step 1: g = c + 0.5 [1, -2] = [1, 2],          p1 = [0.9, -2.2]
      //   step 2: g = c + 0.5 [0.9, -2.2] = [0.95, 1.9], p2 = [0.9 - 0.095, -2.2 - 0.19]
      //                                                     = [0.805, -2.39]
      auto p = TensorD::vector({1, -2}, true);
      SGD<double> opt({p}, {.lr = 0.1, .weight_decay = 0.5});
      backward_linear(p);
      opt.step();
      check_values(p, {0.9, -2.2}, 1e-15);
      opt.zero_grad();
      backward_linear(p);
      opt.step();
      check_values(p, {0.805, -2.39}, 1e-14);
    }
    SUBCASE("with momentum") {
      // lr 0.1, momentum 0.9, weight_decay 0.1:
      //   step 1: g = c + 0.1 [1, -2] = [0.6, 2.8], buf = g,     p1 = [0.94, -2.28]
      //   step 2: g = c + 0.1 [0.94, -2.28] = [0.594, 2.772]
      //           buf = 0.9 [0.6, 2.8] + g = [1.134, 5.292], p2 = [0.94 - 0.1134, -2.28 - 0.5292]
      //                                                          = [0.8266, -2.8092]
      auto p = TensorD::vector({1, -2}, true);
      SGD<double> opt({p}, {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.1});
      backward_linear(p);
      opt.step();
      check_values(p, {0.94, -2.28}, 1e-15);
      opt.zero_grad();
      backward_linear(p);
      opt.step();
      check_values(p, {0.8266, -2.8092}, 1e-14);
    }
  }

  TEST_CASE("SGD nesterov: g + momentum * buf") {
    // lr 0.1, momentum 0.9, gradient c = [0.5, 3]:
    //   step 1: buf = c,          d = c + 0.9 c = [0.95, 5.7],        p1 = [0.905, -2.57]
    //   step 2: buf = [0.95, 5.7], d = c + 0.9 buf = [1.355, 8.13],   p2 = [0.905 - 0.1355,
    //                                                                  -2.57 - 0.813]
    //                                                                = [0.7695, -3.383]
    auto p = TensorD::vector({1, -2}, true);
    SGD<double> opt({p}, {.lr = 0.1, .momentum = 0.9, .nesterov = true});
    backward_linear(p);
    opt.step();
    check_values(p, {0.905, -2.57}, 1e-15);
    opt.zero_grad();
    backward_linear(p);
    opt.step();
    check_values(p, {0.7695, -3.383}, 1e-14);
  }

  TEST_CASE("SGD with momentum minimizes sum((A x - b)^2) to the normal-equation solution") {
    // A = [[1,0],[0,1],[1,1]], b = [1,2,4]. Normal equations A'A x = A'b:
    //   A'A = [[2,1],[1,2]], A'b = [1+4, 2+4] = [5,6]; det 3, so
    //   x = (1/3) [[2,-1],[-1,2]] [5,6] = (1/3) [10-6, -5+12] = [4/3, 7/3].
    //   (Check: residual A x - b = [1/3, 1/3, -1/3] and A' r = [0, 0].)
    // The Hessian 2 A'A has eigenvalues 2 and 6; lr 0.05 with momentum 0.9 contracts by about
    // sqrt(0.9) per step, so 600 steps reach machine precision.
    const auto A = TensorD::matrix({{1, 0}, {0, 1}, {1, 1}});
    const auto b = TensorD::matrix({{1}, {2}, {4}});
    auto x = TensorD::zeros({2, 1}, true);
    SGD<double> opt({x}, {.lr = 0.05, .momentum = 0.9});
    for (int i = 0; i < 600; ++i) {
      opt.zero_grad();
      least_squares(A, x, b).backward();
      opt.step();
    }
    CHECK(x.at({0, 0}) == doctest::Approx(4.0 / 3).epsilon(1e-10));
    CHECK(x.at({1, 0}) == doctest::Approx(7.0 / 3).epsilon(1e-10));
    CHECK(least_squares(A, x, b).item() == doctest::Approx(1.0 / 3).epsilon(1e-10));
  }

  TEST_CASE("SGD with float parameters") {
    // Same numbers as the momentum case above, in float.
    auto p = TensorF::vector({1, -2}, true);
    SGD<float> opt({p}, {.lr = 0.1, .momentum = 0.9});
    backward_linear(p);
    opt.step();
    opt.zero_grad();
    backward_linear(p);
    opt.step();
    check_values(p, {0.855, -2.87}, 1e-6);
  }

  TEST_CASE("plain SGD on float parameters steps in float arithmetic") {
    // x - float(lr) * g, each operation rounded to float, as the hand-written loop w -= lr * g
    // does; worked out in Python with struct's float packing. Computed in double and rounded
    // once it would be 0.0019439220195636153, with one fused rounding 0.0019439223688095808.
    auto p = TensorF::vector({-0.018259651958942413f}, true);
    p.set_grad(TensorF::vector({-0.20203574001789093f}));
    SGD<float> opt({p}, {.lr = 0.1});
    opt.step();
    CHECK(p.item() == 0.0019439216703176498f);
  }

  // ---- Adam --------------------------------------------------------------------------------

  TEST_CASE("Adam: the first step is lr * sign(g), the second by hand") {
    // loss 0.5 sum(p^2), so g = p; p0 = [1, -2], lr 0.1, betas (0.9, 0.999), eps 1e-8.
    // Step 1 (t = 1): m = 0.1 g, v = 0.001 g^2, m_hat = m / 0.1 = g, v_hat = v / 0.001 = g^2,
    //   update = 0.1 g / (|g| + 1e-8) = 0.1 sign(g) up to 1e-8 relative:
    //   p1 = [0.9, -1.9] (exactly [0.900000001, -1.9000000005]).
    // Step 2 (t = 2): g = p1 = [0.9, -1.9]
    //   m = 0.9 * [0.1, -0.2] + 0.1 * [0.9, -1.9]         = [0.18, -0.37]
    //   v = 0.999 * [0.001, 0.004] + 0.001 * [0.81, 3.61] = [0.001809, 0.007606]
    //   m_hat = m / (1 - 0.81)      = [0.947368421, -1.947368421]
    //   v_hat = v / (1 - 0.998001)  = [0.904952476, 3.804902451], sqrt = [0.951289, 1.950616]
    //   update = 0.1 m_hat / sqrt(v_hat) = [0.0995877, -0.0998335]
    //   p2 = [0.9 - 0.0995877, -1.9 + 0.0998335] = [0.8004123, -1.8001665]
    auto p = TensorD::vector({1, -2}, true);
    Adam<double> opt({p}, {.lr = 0.1});
    backward_half_square(p);
    opt.step();
    check_values(p, {0.9, -1.9}, 1e-8);
    CHECK(opt.step_count(0) == 1);
    opt.zero_grad();
    backward_half_square(p);
    opt.step();
    check_values(p, {0.8004122297123382, -1.800166486621093}, 1e-12);
    CHECK(opt.step_count(0) == 2);
  }

  TEST_CASE("Adam with L2 weight decay: two steps by hand") {
    // loss sum(c p), c = [0.5, 3]; weight_decay 0.1, lr 0.1; g = c + 0.1 p.
    // Step 1: g = [0.6, 2.8], update 0.1 sign(g): p1 = [0.9, -2.1].
    // Step 2: g = c + 0.1 [0.9, -2.1] = [0.59, 2.79]
    //   m = 0.9 * 0.1 [0.6, 2.8] + 0.1 [0.59, 2.79] = [0.113, 0.531]
    //   v = 0.999 * 0.001 [0.36, 7.84] + 0.001 [0.3481, 7.7841] = [0.00070774, 0.01561626]
    //   m_hat = m / 0.19 = [0.594736842, 2.794736842]
    //   v_hat = v / 0.001999 = [0.354047024, 7.812036018], sqrt = [0.595018507, 2.795001971]
    //   update = 0.1 m_hat / sqrt(v_hat) = [0.0999527, 0.0999905]
    //   p2 = [0.8000473, -2.1999905]
    auto p = TensorD::vector({1, -2}, true);
    Adam<double> opt({p}, {.lr = 0.1, .weight_decay = 0.1});
    backward_linear(p);
    opt.step();
    check_values(p, {0.9, -2.1}, 1e-8);
    opt.zero_grad();
    backward_linear(p);
    opt.step();
    check_values(p, {0.8000473404883316, -2.1999905134630198}, 1e-12);
  }

  TEST_CASE("Adam minimizes a 3-unknown least-squares problem to the normal-equation solution") {
    // A = [[2,0,0],[0,1,0],[0,0,1],[1,1,1]], b = [1,-3,0,4].
    // Normal equations: A'A = [[5,1,1],[1,2,1],[1,1,2]], A'b = [2*1 + 4, -3 + 4, 0 + 4] = [6,1,4].
    // Eliminating: (row2 - row3) x2 - x3 = -3; row1 - row2 - row3: 3 x1 - 2 x2 - 2 x3 = 1 and
    // row2 + row3: 2 x1 + 3 x2 + 3 x3 = 5 give x2 + x3 = 1 and 3 x1 = 3, so
    //   x = [1, -1, 2]   (check: A'A x = [5-1+2, 1-2+2, 1-1+4] = [6, 1, 4]),
    // residual A x - b = [2-1, -1+3, 2-0, 2-4] = [1, 2, 2, -2], minimum value 13.
    const auto A = TensorD::matrix({{2, 0, 0}, {0, 1, 0}, {0, 0, 1}, {1, 1, 1}});
    const auto b = TensorD::matrix({{1}, {-3}, {0}, {4}});
    auto x = TensorD::zeros({3, 1}, true);
    Adam<double> opt({x}, {.lr = 0.05});
    for (int i = 0; i < 4000; ++i) {
      if (i == 2000) opt.set_learning_rate(0.005);  // a one-step schedule to settle
      opt.zero_grad();
      least_squares(A, x, b).backward();
      opt.step();
    }
    CHECK(x.at({0, 0}) == doctest::Approx(1).epsilon(1e-6));
    CHECK(x.at({1, 0}) == doctest::Approx(-1).epsilon(1e-6));
    CHECK(x.at({2, 0}) == doctest::Approx(2).epsilon(1e-6));
    CHECK(least_squares(A, x, b).item() == doctest::Approx(13).epsilon(1e-10));
  }

  TEST_CASE("Adam with float parameters") {
    // The hand-computed two steps above, in float.
    auto p = TensorF::vector({1, -2}, true);
    Adam<float> opt({p}, {.lr = 0.1});
    backward_half_square(p);
    opt.step();
    opt.zero_grad();
    backward_half_square(p);
    opt.step();
    check_values(p, {0.8004122297123382, -1.800166486621093}, 1e-6);
  }

  // ---- shared behaviour --------------------------------------------------------------------

  TEST_CASE("zero_grad clears every parameter's gradient") {
    auto w = TensorD::vector({1, 2}, true);
    auto v = TensorD::scalar(3, true);
    SGD<double> opt({w, v});
    tg::sum(tg::mul(w, v)).backward();
    CHECK(w.grad().to_vector() == std::vector<double>{3, 3});
    CHECK(v.grad().item() == 3);
    opt.zero_grad();
    CHECK(w.grad().to_vector() == std::vector<double>{0, 0});
    CHECK(v.grad().item() == 0);
    CHECK(opt.parameters().size() == 2);
    CHECK(opt.parameters()[0].impl() == w.impl());
  }

  TEST_CASE("a parameter with no gradient is skipped, state per parameter (as in PyTorch)") {
    auto used = TensorD::vector({1, -2}, true);
    auto unused = TensorD::vector({5}, true);
    SUBCASE("SGD with weight decay leaves it alone") {
      SGD<double> opt({used, unused}, {.lr = 0.1, .weight_decay = 0.5});
      backward_linear(used);
      opt.step();
      check_values(used, {0.9, -2.2}, 1e-15);
      CHECK(unused.data()[0] == 5);
    }
    SUBCASE("Adam counts steps per parameter") {
      Adam<double> opt({used, unused}, {.lr = 0.1});
      backward_linear(used);
      opt.step();
      CHECK(opt.step_count(0) == 1);
      CHECK(opt.step_count(1) == 0);
      CHECK(unused.data()[0] == 5);
      // Now both get a gradient: `unused` takes its own first step (t = 1, an lr * sign step).
      opt.zero_grad();
      backward_linear(used);
      tg::sum(unused).backward();
      opt.step();
      CHECK(opt.step_count(0) == 2);
      CHECK(opt.step_count(1) == 1);
      CHECK(unused.data()[0] == doctest::Approx(4.9).epsilon(1e-8));
    }
  }

  TEST_CASE("bad parameters throw GraphError naming the parameter") {
    auto ok = TensorD::vector({1, 2}, true);
    auto constant = TensorD::vector({1, 2});
    const auto computed = ok * 2.0;
    CHECK_THROWS_AS(SGD<double>({}), tg::GraphError);
    CHECK_THROWS_WITH_AS(SGD<double>({ok, constant}),
                         doctest::Contains("SGD: parameter 1 [2] does not require a gradient"),
                         tg::GraphError);
    CHECK_THROWS_WITH_AS(Adam<double>({computed}),
                         doctest::Contains("Adam: parameter 0 [2] is not a leaf"), tg::GraphError);
    CHECK_THROWS_WITH_AS(SGD<double>({ok, ok}), doctest::Contains("appears more than once"),
                         tg::GraphError);
    CHECK_THROWS_AS(Adam<double>({TensorD()}), tg::GraphError);
    CHECK_THROWS_AS(tg::nn::lbfgs_minimize<double>([&] { return tg::sum(ok); }, {constant}),
                    tg::GraphError);
  }

  TEST_CASE("bad options throw DomainError") {
    auto p = TensorD::vector({1}, true);
    const double nan = std::numeric_limits<double>::quiet_NaN();
    CHECK_THROWS_WITH_AS(SGD<double>({p}, {.lr = -0.1}),
                         doctest::Contains("SGD: invalid learning rate -0.1"), tg::DomainError);
    CHECK_THROWS_AS(SGD<double>({p}, {.lr = nan}), tg::DomainError);
    CHECK_THROWS_AS(SGD<double>({p}, {.momentum = -1}), tg::DomainError);
    CHECK_THROWS_AS(SGD<double>({p}, {.weight_decay = -1}), tg::DomainError);
    CHECK_THROWS_WITH_AS(SGD<double>({p}, {.nesterov = true}),
                         doctest::Contains("nesterov momentum requires momentum > 0"),
                         tg::DomainError);
    CHECK_THROWS_WITH_AS(Adam<double>({p}, {.beta1 = 1}),
                         doctest::Contains("Adam: invalid beta1 1 (must be in [0, 1))"),
                         tg::DomainError);
    CHECK_THROWS_AS(Adam<double>({p}, {.beta2 = -0.1}), tg::DomainError);
    CHECK_THROWS_AS(Adam<double>({p}, {.beta2 = nan}), tg::DomainError);
    CHECK_THROWS_AS(Adam<double>({p}, {.lr = -1}), tg::DomainError);
    CHECK_THROWS_AS(Adam<double>({p}, {.eps = -1e-8}), tg::DomainError);
    CHECK_THROWS_AS(Adam<double>({p}, {.weight_decay = -1}), tg::DomainError);
    Adam<double> adam({p});
    CHECK_THROWS_AS(adam.set_learning_rate(-1), tg::DomainError);
    adam.set_learning_rate(0.5);
    CHECK(adam.learning_rate() == 0.5);
    // Boundary values are accepted.
    CHECK_NOTHROW(Adam<double>({p}, {.lr = 0, .beta1 = 0, .beta2 = 0, .eps = 0}));
    CHECK_NOTHROW(SGD<double>({p}, {.lr = 0}));
  }

  // ---- AdamW -------------------------------------------------------------------------------

  TEST_CASE("AdamW: decoupled decay shrinks p before the Adam update, two steps by hand") {
    // loss 0.5 sum(p^2), so g = p (taken before the step); p0 = [1, -2], lr 0.1,
    // weight_decay 0.1 (shrink factor 1 - 0.01 = 0.99), betas (0.9, 0.999), eps 1e-8.
    // Step 1: g = [1, -2] (the decay does not enter it), p = 0.99 p0 = [0.99, -1.98];
    //   m = 0.1 g, v = 0.001 g^2, the update is 0.1 sign(g) up to 1e-8 relative:
    //   p1 = [0.89, -1.88] (exactly [0.890000001, -1.8800000005]).
    // Step 2: g = p1; p = 0.99 p1 = [0.8811, -1.8612];
    //   m = 0.9 [0.1, -0.2] + 0.1 [0.89, -1.88]               = [0.179, -0.368]
    //   v = 0.999 [0.001, 0.004] + 0.001 [0.7921, 3.5344]     = [0.0017911, 0.0075304]
    //   m_hat = m / 0.19 = [0.942105263, -1.936842105]
    //   sqrt(v / 0.001999) = [0.946574, 1.940893]
    //   update = 0.1 m_hat / sqrt(v_hat) = [0.0995279, -0.0997913]
    //   p2 = [0.8811 - 0.0995279, -1.8612 + 0.0997913] = [0.7815721, -1.7614087]
    // (to more digits, from the same formulas: [0.7815718569541611, -1.7614089510885826]).
    auto p = TensorD::vector({1, -2}, true);
    AdamW<double> opt({p}, {.lr = 0.1, .weight_decay = 0.1});
    backward_half_square(p);
    opt.step();
    check_values(p, {0.890000001, -1.8800000005}, 1e-12);
    CHECK(opt.step_count(0) == 1);
    opt.zero_grad();
    backward_half_square(p);
    opt.step();
    check_values(p, {0.7815718569541611, -1.7614089510885826}, 1e-12);
    CHECK(opt.step_count(0) == 2);
  }

  TEST_CASE("AdamW without weight decay is Adam, and its defaults are torch's") {
    auto a = TensorD::vector({1, -2}, true);
    auto b = TensorD::vector({1, -2}, true);
    AdamW<double> adamw({a}, {.lr = 0.1, .weight_decay = 0});
    Adam<double> adam({b}, {.lr = 0.1});
    for (int i = 0; i < 3; ++i) {
      adamw.zero_grad();
      adam.zero_grad();
      backward_half_square(a);
      backward_half_square(b);
      adamw.step();
      adam.step();
    }
    CHECK(a.to_vector() == b.to_vector());
    const tg::nn::AdamWOptions defaults;
    CHECK(defaults.lr == 1e-3);
    CHECK(defaults.beta1 == 0.9);
    CHECK(defaults.beta2 == 0.999);
    CHECK(defaults.eps == 1e-8);
    CHECK(defaults.weight_decay == 1e-2);
  }

  TEST_CASE("AdamW with float parameters") {
    auto p = TensorF::vector({1, -2}, true);
    AdamW<float> opt({p}, {.lr = 0.1, .weight_decay = 0.1});
    backward_half_square(p);
    opt.step();
    opt.zero_grad();
    backward_half_square(p);
    opt.step();
    check_values(p, {0.7815718569541611, -1.7614089510885826}, 1e-6);
  }

  // ---- RMSprop -----------------------------------------------------------------------------

  TEST_CASE("RMSprop: two steps by hand with the defaults") {
    // loss sum(c p), so g = c = [0.5, 3]; lr 0.01, alpha 0.99, eps 1e-8.
    // Step 1: s = 0.01 g^2, sqrt(s) = 0.1 |g|, p -= 0.01 g / (0.1 |g| + 1e-8) = 0.1 sign(g)
    //   (up to 1e-7 relative): p1 = [0.9, -2.1] (exactly [0.90000002, -2.0999999967]).
    // Step 2: s = 0.99 * 0.01 g^2 + 0.01 g^2 = 0.0199 g^2, sqrt(s) = 0.14106736 |g|,
    //   p -= 0.01 / 0.14106736 sign(g) = 0.07088812 sign(g): p2 = [0.8291119, -2.1708881]
    //   (to more digits: [0.8291119095494123, -2.170888115492459]).
    auto p = TensorD::vector({1, -2}, true);
    RMSprop<double> opt({p});
    backward_linear(p);
    opt.step();
    check_values(p, {0.900000019999996, -2.099999996666667}, 1e-12);
    opt.zero_grad();
    backward_linear(p);
    opt.step();
    check_values(p, {0.8291119095494123, -2.170888115492459}, 1e-12);
    CHECK(opt.step_count(0) == 2);
  }

  TEST_CASE("RMSprop centered, with momentum and weight decay: three steps") {
    // loss 0.5 sum(p^2), so grad = p; lr 0.1, alpha 0.9, weight_decay 0.1, momentum 0.5,
    // centered; p0 = [1, -2]. Step 1 by hand: g = p0 + 0.1 p0 = [1.1, -2.2];
    //   s = 0.1 g^2 = [0.121, 0.484]; a = 0.1 g = [0.11, -0.22];
    //   sqrt(s - a^2) = sqrt([0.1089, 0.4356]) = [0.33, 0.66];
    //   buf = 0 + g / (0.33 + 1e-8) = [3.3333333, -3.3333333];
    //   p1 = p0 - 0.1 buf = [0.6666667, -1.6666667].
    // Steps 2 and 3 from the same formulas (float64):
    //   p2 = [0.2989010260929377, -1.268339709370328],
    //   p3 = [0.02084087662612022, -0.8969423973602988].
    auto p = TensorD::vector({1, -2}, true);
    RMSprop<double> opt(
        {p}, {.lr = 0.1, .alpha = 0.9, .weight_decay = 0.1, .momentum = 0.5, .centered = true});
    const std::vector<std::vector<double>> expected = {{0.6666666767676764, -1.6666666717171716},
                                                       {0.2989010260929377, -1.268339709370328},
                                                       {0.02084087662612022, -0.8969423973602988}};
    for (const auto& e : expected) {
      opt.zero_grad();
      backward_half_square(p);
      opt.step();
      check_values(p, e, 1e-12);
    }
  }

  TEST_CASE("RMSprop with float parameters") {
    auto p = TensorF::vector({1, -2}, true);
    RMSprop<float> opt({p});
    for (int i = 0; i < 2; ++i) {
      opt.zero_grad();
      backward_linear(p);
      opt.step();
    }
    check_values(p, {0.8291119095494123, -2.170888115492459}, 1e-6);
  }

  TEST_CASE("AdamW and RMSprop skip a parameter without a gradient") {
    auto used = TensorD::vector({1, -2}, true);
    auto unused = TensorD::vector({5}, true);
    AdamW<double> adamw({used, unused}, {.lr = 0.1, .weight_decay = 0.5});
    RMSprop<double> rmsprop({used, unused}, {.weight_decay = 0.5, .momentum = 0.9});
    backward_linear(used);
    adamw.step();
    rmsprop.step();
    CHECK(unused.data()[0] == 5);  // not even decayed
    CHECK(adamw.step_count(1) == 0);
    CHECK(rmsprop.step_count(1) == 0);
    CHECK(rmsprop.step_count(0) == 1);
  }

  TEST_CASE("AdamW and RMSprop bad options throw DomainError naming the optimizer and value") {
    auto p = TensorD::vector({1}, true);
    const double nan = std::numeric_limits<double>::quiet_NaN();
    CHECK_THROWS_WITH_AS(AdamW<double>({p}, {.lr = -0.1}),
                         doctest::Contains("AdamW: invalid learning rate -0.1"), tg::DomainError);
    CHECK_THROWS_WITH_AS(AdamW<double>({p}, {.beta1 = 1}),
                         doctest::Contains("AdamW: invalid beta1 1 (must be in [0, 1))"),
                         tg::DomainError);
    CHECK_THROWS_WITH_AS(AdamW<double>({p}, {.beta2 = nan}),
                         doctest::Contains("AdamW: invalid beta2 nan"), tg::DomainError);
    CHECK_THROWS_WITH_AS(AdamW<double>({p}, {.eps = -1}),
                         doctest::Contains("AdamW: invalid eps -1"), tg::DomainError);
    CHECK_THROWS_WITH_AS(AdamW<double>({p}, {.weight_decay = -0.5}),
                         doctest::Contains("AdamW: invalid weight_decay -0.5"), tg::DomainError);
    CHECK_THROWS_WITH_AS(RMSprop<double>({p}, {.lr = nan}),
                         doctest::Contains("RMSprop: invalid learning rate nan"), tg::DomainError);
    CHECK_THROWS_WITH_AS(RMSprop<double>({p}, {.alpha = 1.5}),
                         doctest::Contains("RMSprop: invalid alpha 1.5 (must be in [0, 1])"),
                         tg::DomainError);
    CHECK_THROWS_WITH_AS(RMSprop<double>({p}, {.alpha = -0.1}),
                         doctest::Contains("RMSprop: invalid alpha -0.1"), tg::DomainError);
    CHECK_THROWS_WITH_AS(RMSprop<double>({p}, {.eps = -1e-8}),
                         doctest::Contains("RMSprop: invalid eps -1e-08"), tg::DomainError);
    CHECK_THROWS_WITH_AS(RMSprop<double>({p}, {.weight_decay = -1}),
                         doctest::Contains("RMSprop: invalid weight_decay -1"), tg::DomainError);
    CHECK_THROWS_WITH_AS(RMSprop<double>({p}, {.momentum = -0.9}),
                         doctest::Contains("RMSprop: invalid momentum -0.9"), tg::DomainError);
    CHECK_THROWS_WITH_AS(AdamW<double>({p, p}), doctest::Contains("AdamW: parameter 1"),
                         tg::GraphError);
    RMSprop<double> rmsprop({p});
    CHECK_THROWS_WITH_AS(rmsprop.set_learning_rate(-1),
                         doctest::Contains("RMSprop: invalid learning rate -1"), tg::DomainError);
    rmsprop.set_learning_rate(0.5);
    CHECK(rmsprop.learning_rate() == 0.5);
    CHECK_NOTHROW(RMSprop<double>({p}, {.lr = 0, .alpha = 1, .eps = 0}));
    CHECK_NOTHROW(RMSprop<double>({p}, {.alpha = 0}));
    CHECK_NOTHROW(AdamW<double>({p}, {.lr = 0, .beta1 = 0, .beta2 = 0, .eps = 0}));
  }

  // ---- gradient clipping -------------------------------------------------------------------

  TEST_CASE("clip_grad_norm_: the total 2-norm over every gradient, scaled down to max_norm") {
    // Gradients [3, -4] and [12]: total norm sqrt(9 + 16 + 144) = 13. max_norm 6.5:
    // coefficient 6.5 / (13 + 1e-6) = 0.49999996153846454, applied to both.
    auto a = TensorD::vector({0, 0}, true);
    auto b = TensorD::vector({0}, true);
    auto none = TensorD::vector({7}, true);  // no gradient: skipped
    a.set_grad(TensorD::vector({3, -4}));
    b.set_grad(TensorD::vector({12}));
    const TensorD before = a.grad();
    const double c = 0.49999996153846454;
    CHECK(tg::nn::clip_grad_norm_<double>({a, none, b}, 6.5) == doctest::Approx(13).epsilon(1e-15));
    check_values(a.grad(), {3 * c, -4 * c}, 1e-15);
    check_values(b.grad(), {12 * c}, 1e-15);
    CHECK(!none.has_grad());
    CHECK(before.to_vector() == std::vector<double>{3, -4});  // replaced, not written over
    // Now the norm is 6.5 (up to the 1e-6): below max_norm 100, nothing changes.
    const double again = tg::nn::clip_grad_norm_<double>({a, b}, 100);
    CHECK(again == doctest::Approx(13 * c).epsilon(1e-15));
    check_values(a.grad(), {3 * c, -4 * c}, 1e-15);
  }

  TEST_CASE("clip_grad_norm_ with the 1-, 3- and infinity norms, in float and double") {
    // Gradients [3, -4] and [12]: 1-norm 19, 3-norm (27 + 64 + 1728)^(1/3) = 1819^(1/3)
    // = 12.207054953820636, inf-norm 12.
    auto run = [](auto zero, double norm_type, double max_norm) {
      using Tn = tg::Tensor<decltype(zero)>;
      auto a = Tn::vector({0, 0}, true);
      auto b = Tn::vector({0}, true);
      a.set_grad(Tn::vector({3, -4}));
      b.set_grad(Tn::vector({12}));
      const double total = tg::nn::clip_grad_norm_<decltype(zero)>({a, b}, max_norm, norm_type);
      return std::make_pair(total, b.grad().item());
    };
    const double inf = std::numeric_limits<double>::infinity();
    CHECK(run(0.0, 1, 100).first == 19);
    CHECK(run(0.0, 3, 100).first == doctest::Approx(12.207054953820636).epsilon(1e-14));
    CHECK(run(0.0, inf, 100).first == 12);
    CHECK(run(0.0, inf, 100).second == 12);
    // inf-norm 12, max_norm 3: coefficient 3 / (12 + 1e-6), so b's 12 becomes 3 (to 1e-7).
    CHECK(run(0.0, inf, 3).second == doctest::Approx(3).epsilon(1e-7));
    CHECK(run(0.0f, 1, 100).first == 19);
    CHECK(run(0.0f, 2, 6.5).first == doctest::Approx(13).epsilon(1e-7));
    CHECK(run(0.0f, 2, 6.5).second == doctest::Approx(6).epsilon(1e-6));
    CHECK(run(0.0f, inf, 3).second == doctest::Approx(3).epsilon(1e-6));
  }

  TEST_CASE("clip_grad_norm_: a non-finite norm is returned and scales the gradients anyway") {
    const double inf = std::numeric_limits<double>::infinity();
    const double nan = std::numeric_limits<double>::quiet_NaN();
    auto a = TensorD::vector({0, 0}, true);
    SUBCASE("NaN: every gradient becomes NaN") {
      a.set_grad(TensorD::vector({nan, 1}));
      CHECK(std::isnan(tg::nn::clip_grad_norm_<double>({a}, 1)));
      CHECK(std::isnan(a.grad().data()[1]));
    }
    SUBCASE("NaN under the infinity norm too") {
      a.set_grad(TensorD::vector({1, nan}));
      CHECK(std::isnan(tg::nn::clip_grad_norm_<double>({a}, 1, inf)));
      CHECK(std::isnan(a.grad().data()[0]));
    }
    SUBCASE("infinite: the coefficient is 0, so inf * 0 = NaN and finite entries become 0") {
      a.set_grad(TensorD::vector({inf, 1}));
      CHECK(tg::nn::clip_grad_norm_<double>({a}, 1) == inf);
      CHECK(std::isnan(a.grad().data()[0]));
      CHECK(a.grad().data()[1] == 0);
    }
  }

  TEST_CASE("clip_grad_norm_ and clip_grad_value_: no gradient at all, and bad arguments") {
    auto a = TensorD::vector({1, 2}, true);
    CHECK(tg::nn::clip_grad_norm_<double>({a}, 1) == 0);
    CHECK(!a.has_grad());
    CHECK_NOTHROW(tg::nn::clip_grad_value_<double>({a}, 1));
    CHECK(!a.has_grad());
    const double nan = std::numeric_limits<double>::quiet_NaN();
    CHECK_THROWS_WITH_AS(tg::nn::clip_grad_norm_<double>({a}, 1, 0),
                         doctest::Contains("clip_grad_norm_: invalid norm_type 0"),
                         tg::DomainError);
    CHECK_THROWS_WITH_AS(tg::nn::clip_grad_norm_<double>({a}, 1, nan),
                         doctest::Contains("clip_grad_norm_: invalid norm_type nan"),
                         tg::DomainError);
    CHECK_THROWS_WITH_AS(tg::nn::clip_grad_norm_<double>({a}, -1),
                         doctest::Contains("clip_grad_norm_: invalid max_norm -1"),
                         tg::DomainError);
    CHECK_THROWS_WITH_AS(tg::nn::clip_grad_value_<double>({a}, -0.5),
                         doctest::Contains("clip_grad_value_: invalid clip_value -0.5"),
                         tg::DomainError);
    CHECK_THROWS_WITH_AS(tg::nn::clip_grad_norm_<double>({a, TensorD()}, 1),
                         doctest::Contains("clip_grad_norm_: parameter 1 is an undefined tensor"),
                         tg::GraphError);
    CHECK_THROWS_WITH_AS(tg::nn::clip_grad_value_<float>({TensorF()}, 1),
                         doctest::Contains("clip_grad_value_: parameter 0 is an undefined tensor"),
                         tg::GraphError);
  }

  TEST_CASE("clip_grad_value_ clamps every element into [-clip_value, clip_value]") {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    auto a = TensorD::vector({0, 0, 0, 0}, true);
    auto none = TensorD::vector({0}, true);
    a.set_grad(TensorD::vector({3, -4, 0.25, nan}));
    tg::nn::clip_grad_value_<double>({a, none}, 0.5);
    const std::vector<double> g = a.grad().to_vector();
    CHECK(g[0] == 0.5);
    CHECK(g[1] == -0.5);
    CHECK(g[2] == 0.25);
    CHECK(std::isnan(g[3]));
    CHECK(!none.has_grad());
    auto f = TensorF::vector({0, 0}, true);
    f.set_grad(TensorF::vector({3, -4}));
    tg::nn::clip_grad_value_<float>({f}, 3.5);
    CHECK(f.grad().to_vector() == std::vector<float>{3, -3.5f});
  }

  // ---- L-BFGS ------------------------------------------------------------------------------

  TEST_CASE("L-BFGS: Rosenbrock from (-1.2, 1) to (1, 1)") {
    // f = 100 (y - x^2)^2 + (1 - x)^2, df/dx = -400 x (y - x^2) - 2 (1 - x), df/dy = 200 (y - x^2);
    // the only minimizer is (1, 1) with f = 0.
    auto rosenbrock = [](const std::vector<double>& v, std::vector<double>& g) {
      const double x = v[0], y = v[1];
      g[0] = -400 * x * (y - x * x) - 2 * (1 - x);
      g[1] = 200 * (y - x * x);
      return 100 * (y - x * x) * (y - x * x) + (1 - x) * (1 - x);
    };
    const LbfgsResult r = tg::nn::lbfgs_minimize(rosenbrock, {-1.2, 1.0});
    MESSAGE("Rosenbrock: " << r.iterations << " iterations, " << r.evaluations << " evaluations, "
                           << r.reason);
    CHECK(r.converged);
    CHECK((contains(r.reason, "gradient inf-norm") || contains(r.reason, "relative value change")));
    CHECK(r.iterations < 100);
    CHECK(r.x[0] == doctest::Approx(1).epsilon(1e-6));
    CHECK(r.x[1] == doctest::Approx(1).epsilon(1e-6));
    CHECK(r.value < 1e-12);
    CHECK(r.evaluations >= r.iterations + 1);

    SUBCASE("the iteration and evaluation limits stop it with a reason") {
      const LbfgsResult few =
          tg::nn::lbfgs_minimize(rosenbrock, {-1.2, 1.0}, {.max_iterations = 3});
      CHECK_FALSE(few.converged);
      CHECK(few.iterations == 3);
      CHECK(contains(few.reason, "iteration limit"));
      CHECK(few.value < 24.2);  // f(-1.2, 1) = 24.2 and every step decreases it

      const LbfgsResult cheap =
          tg::nn::lbfgs_minimize(rosenbrock, {-1.2, 1.0}, {.max_evaluations = 5});
      CHECK_FALSE(cheap.converged);
      CHECK(cheap.evaluations <= 5);
      CHECK(contains(cheap.reason, "evaluation limit"));
    }
  }

  TEST_CASE("L-BFGS: a 20-dimensional convex quadratic in at most about n iterations") {
    // f = 0.5 (x - x*)' A (x - x*) with A tridiagonal (4 on the diagonal, -1 beside it:
    // eigenvalues 4 - 2 cos(k pi / 21) in [2, 6], positive definite) and x*_i = i - 4.75
    // (i = 0..19), so the minimizer is x* with f = 0; g = A (x - x*). (Written around x* rather
    // than as 0.5 x'Ax - b'x, whose cancellation leaves f with ~1e-13 of noise near the minimum:
    // below that a line search cannot see a decrease.)
    constexpr std::size_t n = 20;
    std::vector<double> expected(n);
    for (std::size_t i = 0; i < n; ++i) expected[i] = static_cast<double>(i) - 4.75;
    auto quadratic = [&](const std::vector<double>& x, std::vector<double>& g) {
      double f = 0;
      for (std::size_t i = 0; i < n; ++i) {
        g[i] = 4 * (x[i] - expected[i]);
        if (i > 0) g[i] -= x[i - 1] - expected[i - 1];
        if (i + 1 < n) g[i] -= x[i + 1] - expected[i + 1];
        f += 0.5 * (x[i] - expected[i]) * g[i];
      }
      return f;
    };
    // A is diagonally dominant with margin 2, so ||A^-1||_inf <= 1/2: once the gradient's
    // inf-norm is <= 1e-7, |x - x*| <= 5e-8.
    for (std::size_t history : {std::size_t{10}, n}) {
      CAPTURE(history);
      const LbfgsResult r =
          tg::nn::lbfgs_minimize(quadratic, std::vector<double>(n, 0.0), {.history = history});
      MESSAGE("quadratic n=20, history " << history << ": " << r.iterations << " iterations, "
                                         << r.evaluations << " evaluations, " << r.reason);
      CHECK(r.converged);
      CHECK(r.iterations <= n);
      CHECK(r.value < 1e-12);
      for (std::size_t i = 0; i < n; ++i)
        CHECK(r.x[i] == doctest::Approx(expected[i]).epsilon(1e-7));
    }
  }

  TEST_CASE("L-BFGS: NaN away from the start backtracks and ends cleanly") {
    SUBCASE("interior minimizer of a function undefined for x <= 0") {
      // f = sum(x_i - log x_i) is NaN for x_i < 0 and -inf... +inf at 0; its minimizer is
      // x_i = 1 (f' = 1 - 1/x). From x = 0.05, -g points far past the domain's edge.
      auto f = [](const std::vector<double>& x, std::vector<double>& g) {
        double v = 0;
        for (std::size_t i = 0; i < x.size(); ++i) {
          v += x[i] - std::log(x[i]);
          g[i] = 1 - 1 / x[i];
        }
        return v;
      };
      const LbfgsResult r = tg::nn::lbfgs_minimize(f, {0.05, 3.0, 0.5});
      MESSAGE("log barrier: " << r.iterations << " iterations, " << r.reason);
      CHECK(r.converged);
      CHECK(std::isfinite(r.value));
      for (double v : r.x) CHECK(v == doctest::Approx(1).epsilon(1e-6));
    }
    SUBCASE("the infimum sits on the edge of the domain") {
      // f = (x - 2)^2 inside |x| < 1 and NaN outside: no minimizer, the iterates crowd the edge
      // x = 1. It must stop with a finite point and a reason, not loop.
      auto f = [](const std::vector<double>& x, std::vector<double>& g) {
        if (std::abs(x[0]) >= 1) {
          g[0] = std::numeric_limits<double>::quiet_NaN();
          return std::numeric_limits<double>::quiet_NaN();
        }
        g[0] = 2 * (x[0] - 2);
        return (x[0] - 2) * (x[0] - 2);
      };
      const LbfgsResult r = tg::nn::lbfgs_minimize(f, {0.0});
      MESSAGE("edge of the domain: " << r.iterations << " iterations, " << r.evaluations
                                     << " evaluations, converged " << r.converged << ", "
                                     << r.reason);
      CHECK(std::isfinite(r.value));
      CHECK(std::abs(r.x[0]) < 1);
      CHECK(r.x[0] > 0.9);
      CHECK(r.evaluations <= 2500);
      CHECK_FALSE(r.reason.empty());
      CHECK_FALSE(contains(r.reason, "gradient inf-norm"));  // the gradient never vanishes
    }
    SUBCASE("unbounded below") {
      // f = -x: every step longer than the last keeps decreasing it.
      auto f = [](const std::vector<double>& x, std::vector<double>& g) {
        g[0] = -1;
        return -x[0];
      };
      const LbfgsResult r = tg::nn::lbfgs_minimize(f, {0.0});
      CHECK_FALSE(r.converged);
      CHECK(std::isfinite(r.value));
      CHECK(contains(r.reason, "unbounded below"));
    }
    SUBCASE("NaN at the start") {
      auto f = [](const std::vector<double>& x, std::vector<double>& g) {
        g[0] = 1;
        return std::sqrt(x[0]);
      };
      const LbfgsResult r = tg::nn::lbfgs_minimize(f, {-1.0});
      CHECK_FALSE(r.converged);
      CHECK(r.evaluations == 1);
      CHECK(contains(r.reason, "not finite at x0"));
    }
  }

  TEST_CASE("L-BFGS on tensor parameters (unrolled) solves the least-squares problem") {
    // The 3-unknown problem from the Adam test, x split into two parameters to exercise the
    // unrolling: minimizer [1, -1, 2], minimum 13.
    // A x = A[:, 0] x0 + A[:, 1:3] x[1:3], so the two parameters are x0 and x[1:3].
    const auto A_head = TensorD::matrix({{2}, {0}, {0}, {1}});
    const auto A_tail = TensorD::matrix({{0, 0}, {1, 0}, {0, 1}, {1, 1}});
    const auto b = TensorD::matrix({{1}, {-3}, {0}, {4}});
    auto head = TensorD::zeros({1, 1}, true);
    auto tail = TensorD::zeros({2, 1}, true);
    auto loss = [&] {
      const TensorD r = tg::matmul(A_head, head) + tg::matmul(A_tail, tail) - b;
      return tg::sum(r * r);
    };
    const std::vector<TensorD> params = {head, tail};
    const LbfgsResult r = tg::nn::lbfgs_minimize(loss, params);  // T deduced from params
    CHECK(r.converged);
    CHECK(r.value == doctest::Approx(13).epsilon(1e-12));
    CHECK(head.data()[0] == doctest::Approx(1).epsilon(1e-7));
    CHECK(tail.data()[0] == doctest::Approx(-1).epsilon(1e-7));
    CHECK(tail.data()[1] == doctest::Approx(2).epsilon(1e-7));
    CHECK(head.grad().item() == 0);  // gradients are cleared on return
  }

  TEST_CASE("L-BFGS on float parameters") {
    // (p - [1, 2])^2 summed: minimizer [1, 2].
    auto p = TensorF::zeros({2}, true);
    auto loss = [&] {
      const TensorF r = p - TensorF::vector({1, 2});
      return tg::sum(r * r);
    };
    const LbfgsResult r = tg::nn::lbfgs_minimize<float>(loss, {p}, {.gradient_tolerance = 1e-5});
    CHECK(r.converged);
    CHECK(p.data()[0] == doctest::Approx(1).epsilon(1e-5));
    CHECK(p.data()[1] == doctest::Approx(2).epsilon(1e-5));
  }

  TEST_CASE("L-BFGS bad options and inputs") {
    auto f = [](const std::vector<double>& x, std::vector<double>& g) {
      g[0] = 2 * x[0];
      return x[0] * x[0];
    };
    CHECK_THROWS_AS(tg::nn::lbfgs_minimize(f, {1.0}, {.history = 0}), tg::DomainError);
    CHECK_THROWS_AS(tg::nn::lbfgs_minimize(f, {1.0}, {.gradient_tolerance = -1}), tg::DomainError);
    CHECK_THROWS_AS(tg::nn::lbfgs_minimize(
                        f, {1.0}, {.value_tolerance = std::numeric_limits<double>::quiet_NaN()}),
                    tg::DomainError);
    CHECK_THROWS_AS(tg::nn::lbfgs_minimize(f, {}), tg::ShapeError);
    CHECK_THROWS_AS(tg::nn::lbfgs_minimize(f, {std::numeric_limits<double>::infinity()}),
                    tg::DomainError);
    auto resizes = [](const std::vector<double>&, std::vector<double>& g) {
      g.resize(3);
      return 0.0;
    };
    CHECK_THROWS_WITH_AS(tg::nn::lbfgs_minimize(resizes, {1.0}),
                         doctest::Contains("resized its gradient from 1 to 3"), tg::ShapeError);
    // Already at the minimizer: converged with no iteration.
    const LbfgsResult r = tg::nn::lbfgs_minimize(f, {0.0});
    CHECK(r.converged);
    CHECK(r.iterations == 0);
    CHECK(r.evaluations == 1);
  }
}

TEST_CASE("nn tensor L-BFGS: a loss with more than one element is a ShapeError, as documented") {
  TensorD x = TensorD::vector({1, 2, 3}, true);
  CHECK_THROWS_WITH_AS(tg::nn::lbfgs_minimize<double>([&] { return x * x; }, {x}),
                       doctest::Contains("lbfgs_minimize: loss() returned shape [3]"),
                       tg::ShapeError);
  TensorF m = TensorF::ones({2, 2}, true);
  CHECK_THROWS_WITH_AS(tg::nn::lbfgs_minimize<float>([&] { return tg::sum(m, 0); }, {m}),
                       doctest::Contains("[2]"), tg::ShapeError);
  // A one-element loss of any rank is fine.
  const auto r = tg::nn::lbfgs_minimize<double>([&] { return tg::sum(x * x, 0); }, {x});
  CHECK(r.value == doctest::Approx(0).epsilon(1e-12));
}

// Building an optimizer reads its parameters (to refuse one listed twice); a read must not count
// as an in-place change, or the graph the parameters are saved in could no longer be
// differentiated.
TEST_CASE("nn optimizers: constructing one between forward and backward leaves the graph valid") {
  TensorD w = TensorD::vector({1, 2, 3}, true);
  const TensorD loss = tg::sum(w * w);
  SGD<double> sgd({w}, {.lr = 0.1});
  Adam<double> adam({w});
  loss.backward();
  CHECK(w.grad().to_vector() == std::vector<double>{2, 4, 6});
}
