// Optimizers: SGD (momentum, Nesterov, L2 weight decay), Adam, AdamW and RMSprop with
// torch.optim's exact update rules, and full-batch L-BFGS on a flat parameter vector (the course
// notes' "advanced optimizer" run on the unrolled parameters).
//
// Parameters are leaf tensors that require a gradient. An optimizer keeps copies of the handles
// (which share the caller's buffers) and updates their data in place; nothing is recorded on the
// graph. As in PyTorch, step() skips a parameter whose gradient is unset (no backward reached it
// since the last zero_grad), and its state (momentum buffer, Adam moments and step count) is kept
// per parameter.
//
// Threads: step() and zero_grad() read and clear the parameters' gradients without the per-leaf
// lock that backward takes (an atomic exchange per parameter, twice a step, once a BLAS pool has
// made the process multithreaded): run them with no backward in flight on the parameters, after
// joining the threads that accumulate into them, as the data updates need anyway.
//
// Errors: a parameter that is undefined, not a leaf, does not require a gradient or appears twice
// raises tg::GraphError; an option outside its range (a negative learning rate, beta >= 1, ...)
// raises tg::DomainError; both name the optimizer and the offending value.
//
// Every first-order optimizer is Stateful (state.hpp), for resuming a run where it stopped. Its
// state_dict holds "lr" (a 0-d array: the one option a schedule changes during training) and, by
// parameter index i, the per-parameter state under torch.optim's names:
//   SGD      "i.momentum_buffer" (with momentum, once parameter i has stepped)
//   Adam(W)  "i.step" (always), "i.exp_avg", "i.exp_avg_sq" (once it has stepped)
//   RMSprop  "i.step" (always), "i.square_avg", "i.momentum_buffer" (momentum > 0),
//            "i.grad_avg" (centered), the last three once it has stepped
// A buffer is absent exactly while its parameter has not stepped, as in PyTorch. The other options
// are the constructor's: load_state_dict into an optimizer built with the same options (and the
// same parameter list). It checks everything (every name known and present when it must be,
// shapes equal to the parameters', "lr" valid, steps whole numbers from 0 to 2^53, a buffer
// present exactly when the step count is positive) before changing anything, and throws
// SerializeError naming the optimizer, the entry and the shapes.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <type_traits>
#include <vector>

#include "tapegrad/errors.hpp"
#include "tapegrad/nn/state.hpp"
#include "tapegrad/tensor.hpp"

namespace tg::nn {

// ---- first-order optimizers on tensors -------------------------------------------------------

template <class T> class Optimizer : public LearningRateControl, public Stateful {
 public:
  // Throws GraphError for an empty list, an undefined tensor, a non-leaf, a tensor that does not
  // require a gradient, or the same tensor twice.
  explicit Optimizer(std::vector<Tensor<T>> params);
  virtual ~Optimizer();
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter from its accumulated gradient.
  virtual void step() = 0;
  // Clears every parameter's gradient (unset, like PyTorch's set_to_none = true).
  void zero_grad();
  const std::vector<Tensor<T>>& parameters() const { return params_; }

 protected:
  // As above, with the optimizer's name in the error messages ("SGD: parameter 1 [3] ...").
  Optimizer(std::vector<Tensor<T>> params, const char* name);
  // Whether backward gave parameter i a gradient since the last zero_grad (read without the
  // leaf's lock: see Threads above).
  bool has_grad(std::size_t i) const { return params_[i].impl()->grad != nullptr; }
  // The optimizer's own handle on parameter i, to write through without copying a handle (a
  // reference count up and down per parameter and step).
  Tensor<T>& parameter(std::size_t i) { return params_[i]; }

 private:
  std::vector<Tensor<T>> params_;
};

struct SgdOptions {
  double lr = 0.01;
  double momentum = 0;
  double weight_decay = 0;
  bool nesterov = false;
};

// torch.optim.SGD (dampening 0): g = grad + weight_decay * p; with momentum, buf = g on the first
// step, else buf = momentum * buf + g, then g = g + momentum * buf (Nesterov) or g = buf;
// p -= lr * g. Without momentum and weight decay the step is computed in T (float parameters:
// float(lr) * g rounded to float, then the subtraction); otherwise in double, rounded into T.
template <class T> class SGD : public Optimizer<T> {
 public:
  // Throws DomainError unless lr >= 0, momentum >= 0, weight_decay >= 0, and, with nesterov,
  // momentum > 0.
  SGD(std::vector<Tensor<T>> params, const SgdOptions& options = {});
  void step() override;
  const SgdOptions& options() const { return options_; }
  double learning_rate() const override { return options_.lr; }
  void set_learning_rate(double lr) override;
  StateDict state_dict() const override;
  void load_state_dict(const StateDict& state) override;

 private:
  SgdOptions options_;
  std::vector<std::vector<T>> momentum_;  // per parameter; empty until its first step
};

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0;
  static constexpr const char* kName = "Adam";
  static constexpr bool kDecoupledDecay = false;
};

// torch.optim.Adam (amsgrad off): with t the parameter's own step count (1 on its first step),
// g = grad + weight_decay * p; m = beta1 m + (1 - beta1) g; v = beta2 v + (1 - beta2) g^2;
// p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps).
// torch.optim.AdamW (amsgrad off): Adam with decoupled weight decay. The decay shrinks the
// parameter before the Adam update instead of entering the gradient (and so the moments):
// p *= 1 - lr * weight_decay, then Adam's update with g = grad.
struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 1e-2;
  static constexpr const char* kName = "AdamW";
  static constexpr bool kDecoupledDecay = true;
};

// Adam and AdamW: one implementation, the options type saying which (AdamOptions or
// AdamWOptions). Throws DomainError unless lr >= 0, 0 <= beta1 < 1, 0 <= beta2 < 1, eps >= 0 and
// weight_decay >= 0.
template <class T, class Options> class AdamFamily : public Optimizer<T> {
 public:
  AdamFamily(std::vector<Tensor<T>> params, const Options& options = {});
  void step() override;
  const Options& options() const { return options_; }
  double learning_rate() const override { return options_.lr; }
  void set_learning_rate(double lr) override;
  // The number of steps parameter i has taken (its t).
  std::size_t step_count(std::size_t i) const { return steps_.at(i); }
  StateDict state_dict() const override;
  void load_state_dict(const StateDict& state) override;

 private:
  Options options_;
  std::vector<std::vector<T>> m_, v_;  // per parameter; empty until its first step
  std::vector<std::size_t> steps_;
};

template <class T> using Adam = AdamFamily<T, AdamOptions>;
template <class T> using AdamW = AdamFamily<T, AdamWOptions>;

struct RmspropOptions {
  double lr = 1e-2;
  double alpha = 0.99;
  double eps = 1e-8;
  double weight_decay = 0;
  double momentum = 0;
  bool centered = false;
};

// torch.optim.RMSprop: g = grad + weight_decay * p; s = alpha s + (1 - alpha) g^2 (s starts at 0);
// centered: a = alpha a + (1 - alpha) g (a starts at 0) and d = sqrt(s - a^2) + eps, else
// d = sqrt(s) + eps; with momentum, buf = momentum buf + g / d (buf starts at 0) and p -= lr buf,
// else p -= lr g / d. Unlike Adam, eps is added to the root before dividing, and there is no
// bias correction.
template <class T> class RMSprop : public Optimizer<T> {
 public:
  // Throws DomainError unless lr >= 0, 0 <= alpha <= 1, eps >= 0, weight_decay >= 0 and
  // momentum >= 0.
  RMSprop(std::vector<Tensor<T>> params, const RmspropOptions& options = {});
  void step() override;
  const RmspropOptions& options() const { return options_; }
  double learning_rate() const override { return options_.lr; }
  void set_learning_rate(double lr) override;
  std::size_t step_count(std::size_t i) const { return steps_.at(i); }
  StateDict state_dict() const override;
  void load_state_dict(const StateDict& state) override;

 private:
  RmspropOptions options_;
  // Per parameter, empty until its first step (momentum_ without momentum, grad_avg_ uncentered:
  // always empty).
  std::vector<std::vector<T>> square_avg_, momentum_, grad_avg_;
  std::vector<std::size_t> steps_;
};

// ---- L-BFGS on a flat vector (full batch, double) --------------------------------------------

struct LbfgsOptions {
  std::size_t max_iterations = 100;
  std::size_t history = 10;          // curvature pairs kept (m)
  double gradient_tolerance = 1e-7;  // stop when the gradient's inf-norm is at most this
  double value_tolerance = 1e-12;    // stop when (f_k - f_k+1) / max(|f_k|, |f_k+1|, 1) <= this
  std::size_t max_evaluations = 0;   // objective evaluations; 0: 25 * max_iterations
};

struct LbfgsResult {
  std::vector<double> x;        // the best point found (where `value` was evaluated)
  double value = 0;             // the objective there
  std::size_t iterations = 0;   // accepted steps
  std::size_t evaluations = 0;  // objective calls, the one at x0 included
  bool converged = false;       // stopped on the gradient or the value tolerance (see below)
  std::string reason;           // why it stopped, e.g. "gradient inf-norm 3.1e-08 <= 1e-07"
};

// The objective writes the gradient at x into `gradient` (handed over with x's size, zeroed) and
// returns the value. A NaN or infinite value (or gradient) is treated as "step too long": the
// line search backtracks.
using LbfgsObjective =
    std::function<double(const std::vector<double>& x, std::vector<double>& gradient)>;

// Minimizes `objective` from x0 by L-BFGS: two-loop recursion with the initial Hessian
// s'y / y'y, a line search satisfying the strong Wolfe conditions (c1 = 1e-4, c2 = 0.9; bracketing
// and zoom with safeguarded cubic interpolation, Nocedal & Wright Alg. 3.5/3.6), curvature pairs
// with s'y <= 0 skipped, the first trial step min(1, 1/||g||_1) while there is no curvature pair.
//
// Stops, checked in this order after every step:
// - converged: the gradient's inf-norm <= gradient_tolerance;
// - converged: the relative value change <= value_tolerance after a strong-Wolfe step. Near a
//   minimum with |f| >> 0 this usually fires before the gradient test (a value change of e
//   means an x error of about sqrt(e)); set value_tolerance = 0 to stop on the gradient alone
//   (or when the value stops decreasing at all);
// - not converged: the same tiny change after a step that was not strong-Wolfe (a stall, e.g.
//   against the edge of a region where the objective is NaN), the iteration or evaluation limit,
//   a line search that found no decrease (after one retry along -g), an objective that keeps
//   decreasing along a line (unbounded below), or a non-finite objective at x0.
// `reason` says which, with the numbers. Throws DomainError for history 0, NaN or negative
// tolerances or a non-finite x0, and ShapeError for an empty x0 or an objective that resizes its
// gradient; an exception from the objective propagates.
LbfgsResult lbfgs_minimize(const LbfgsObjective& objective, std::vector<double> x0,
                           const LbfgsOptions& options = {});

// The same on tensor parameters: their data, unrolled into one vector, is the variable, and each
// evaluation writes it back into the parameters, clears their gradients, calls loss() (which must
// return a one-element tensor built from them) and runs backward. On return the parameters hold
// result.x and their gradients are cleared (if loss() throws, the exception propagates and they
// hold the point being evaluated). Throws like Optimizer's constructor for bad parameters, and
// ShapeError when loss() returns more than one element.
template <class T>
LbfgsResult lbfgs_minimize(const std::type_identity_t<std::function<Tensor<T>()>>& loss,
                           const std::vector<Tensor<T>>& params, const LbfgsOptions& options = {});

}  // namespace tg::nn
