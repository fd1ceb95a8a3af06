// Newton's method on L2-regularized logistic regression, with the Hessian from the engine.
//
// 200 points in 4 dimensions, labels drawn from a logistic model (so the classes overlap and the
// unregularized optimum is finite too; the L2 term makes the problem strongly convex anyway).
// theta = (w[4], b) packed in one tensor of 5; the loss is
//
//   L(theta) = bce_with_logits(Xa theta, y) + lambda/2 * |w|^2,   Xa = [X, 1],
//
// and each Newton step solves H d = -grad L with H = tg::hessian(L, theta) (one recorded backward
// pass, then 5 backward passes through it) by a Cholesky factorization. From theta = 0 the
// gradient norm falls quadratically: a handful of iterations to 1e-10, where gradient descent
// would need hundreds. Exits nonzero if not converged within 10 iterations.
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "tapegrad/grad.hpp"
#include "tapegrad/tapegrad.hpp"

namespace {

using tg::TensorD;

// Solves H x = r for a symmetric positive definite H[n,n] (Cholesky); false if H is not SPD.
bool cholesky_solve(const TensorD& H, const std::vector<double>& r, std::vector<double>& x) {
  const std::size_t n = r.size();
  std::vector<double> L(n * n, 0.0);
  for (std::size_t j = 0; j < n; ++j) {
    double d = H.data()[j * n + j];
    for (std::size_t k = 0; k < j; ++k) d -= L[j * n + k] * L[j * n + k];
    if (!(d > 0)) return false;
    L[j * n + j] = std::sqrt(d);
    for (std::size_t i = j + 1; i < n; ++i) {
      double s = H.data()[i * n + j];
      for (std::size_t k = 0; k < j; ++k) s -= L[i * n + k] * L[j * n + k];
      L[i * n + j] = s / L[j * n + j];
    }
  }
  std::vector<double> z(n);
  for (std::size_t i = 0; i < n; ++i) {  // L z = r
    double s = r[i];
    for (std::size_t k = 0; k < i; ++k) s -= L[i * n + k] * z[k];
    z[i] = s / L[i * n + i];
  }
  x.assign(n, 0.0);
  for (std::size_t i = n; i-- > 0;) {  // L^T x = z
    double s = z[i];
    for (std::size_t k = i + 1; k < n; ++k) s -= L[k * n + i] * x[k];
    x[i] = s / L[i * n + i];
  }
  return true;
}

double norm(const std::vector<double>& v) {
  double s = 0;
  for (double e : v) s += e * e;
  return std::sqrt(s);
}

}  // namespace

int main() {
  const std::size_t n = 200, d = 4;
  const double w_true[d] = {2.0, -1.0, 0.5, 1.5}, b_true = 0.3, lambda = 0.01;

  std::mt19937_64 rng(7);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::vector<double> xa(n * (d + 1)), labels(n);
  for (std::size_t i = 0; i < n; ++i) {
    double z = b_true;
    for (std::size_t j = 0; j < d; ++j) {
      xa[i * (d + 1) + j] = normal(rng);
      z += w_true[j] * xa[i * (d + 1) + j];
    }
    xa[i * (d + 1) + d] = 1.0;  // the bias column
    labels[i] = uniform(rng) < 1 / (1 + std::exp(-z)) ? 1.0 : 0.0;
  }
  const TensorD Xa = TensorD::from_vector({n, d + 1}, xa);
  const TensorD y = TensorD::from_vector({n, 1}, labels);
  const TensorD mask = TensorD::vector({1, 1, 1, 1, 0});  // no penalty on the bias

  auto loss = [&](const TensorD& theta) {  // theta[5]
    const TensorD logits = tg::matmul(Xa, tg::reshape(theta, {d + 1, 1}));
    return tg::bce_with_logits(logits, y) + tg::sum(theta * theta * mask) * (lambda / 2);
  };
  auto value = [&](const TensorD& theta) {
    tg::NoGradGuard no_grad;
    return loss(theta).item();
  };

  std::printf("L2-regularized logistic regression, %zu points, %zu features + bias, lambda %g\n", n,
              d, lambda);
  std::printf("Newton's method with tg::hessian (5x5 by double backward), Cholesky solve\n\n");
  std::printf("iter        loss          |grad|      step\n");
  TensorD theta = TensorD::zeros({d + 1});
  const double tolerance = 1e-10;
  const int max_iterations = 10;
  bool converged = false;
  for (int it = 0; it <= max_iterations; ++it) {
    TensorD leaf = theta.clone().set_requires_grad(true);
    const TensorD g = tg::grad(loss(leaf), {leaf})[0];
    const std::vector<double> gv = g.to_vector();
    const double gnorm = norm(gv);
    const double L0 = value(theta);
    if (gnorm < tolerance) {
      std::printf("%4d  %.12f  %10.3e\n", it, L0, gnorm);
      converged = true;
      break;
    }
    if (it == max_iterations) {
      std::printf("%4d  %.12f  %10.3e\n", it, L0, gnorm);
      break;
    }
    const TensorD H = tg::hessian(loss, theta);
    std::vector<double> neg_g(gv.size()), step;
    for (std::size_t i = 0; i < gv.size(); ++i) neg_g[i] = -gv[i];
    if (!cholesky_solve(H, neg_g, step)) {
      std::printf("the Hessian is not positive definite at iteration %d\n", it);
      return 1;
    }
    // Backtracking (Armijo) for safety; a full step t = 1 is taken near the optimum.
    double t = 1, slope = 0;
    for (std::size_t i = 0; i < gv.size(); ++i) slope += gv[i] * step[i];
    TensorD next;
    for (int halvings = 0; halvings < 30; ++halvings, t /= 2) {
      next = theta + TensorD::from_vector({d + 1}, step) * t;
      if (value(next) <= L0 + 0.25 * t * slope) break;
    }
    std::printf("%4d  %.12f  %10.3e  %g\n", it, L0, gnorm, t);
    theta = next;
  }

  std::printf("\ntheta = (w:");
  for (std::size_t j = 0; j < d; ++j) std::printf(" %.4f", theta.data()[j]);
  std::printf(", b: %.4f); the data came from w: 2 -1 0.5 1.5, b: 0.3\n", theta.data()[d]);

  // The Hessian-vector product agrees with H v, and the Hessian is symmetric.
  const TensorD H = tg::hessian(loss, theta);
  const TensorD v = TensorD::vector({1.0, -0.5, 0.25, 2.0, -1.0});
  const TensorD Hv =
      tg::hvp([&](const std::vector<TensorD>& in) { return loss(in[0]); }, {theta}, {v})[0];
  const TensorD Hv_dense = tg::reshape(tg::matmul(H, tg::reshape(v, {d + 1, 1})), {d + 1});
  double diff = 0, asym = 0;
  for (std::size_t i = 0; i <= d; ++i) {
    diff = std::max(diff, std::abs(Hv.data()[i] - Hv_dense.data()[i]));
    for (std::size_t j = 0; j <= d; ++j)
      asym = std::max(asym, std::abs(H.at({i, j}) - H.at({j, i})));
  }
  std::printf("hvp vs H v: max difference %.2e; H symmetric to %.2e\n", diff, asym);

  std::size_t correct = 0;
  {
    tg::NoGradGuard no_grad;
    const TensorD logits = tg::matmul(Xa, tg::reshape(theta, {d + 1, 1}));
    for (std::size_t i = 0; i < n; ++i)
      correct += (logits.data()[i] > 0) == (labels[i] > 0.5) ? 1 : 0;
  }
  std::printf("training accuracy %.3f\n", double(correct) / double(n));
  if (!converged) {
    std::printf("NOT converged within %d Newton iterations\n", max_iterations);
    return 1;
  }
  return diff < 1e-12 && asym < 1e-12 ? 0 : 1;
}
