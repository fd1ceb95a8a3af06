// SGD and Adam (torch.optim's update rules, written straight into the parameter buffers, so
// nothing is recorded on the graph) and full-batch L-BFGS with a strong-Wolfe line search
// (Nocedal & Wright, Numerical Optimization, 2nd ed., Alg. 7.4 and 3.5/3.6).
#include "tapegrad/nn/optim.hpp"

#include "tapegrad/nn/parameters.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <sstream>
#include <unordered_set>
#include <utility>

namespace tg::nn {

namespace {

std::string num(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

// `ok` written as a positive range test (lr >= 0) is false for NaN, so NaN options are rejected.
void require(bool ok, const std::string& message) {
  if (!ok) throw DomainError(message);
}

template <class T>
void validate_parameters(const std::string& who, const std::vector<Tensor<T>>& params) {
  if (params.empty()) throw GraphError(who + ": got an empty parameter list");
  std::unordered_set<const TensorImpl<T>*> handles;
  std::unordered_set<const T*> buffers;
  for (std::size_t i = 0; i < params.size(); ++i) {
    const Tensor<T>& p = params[i];
    const std::string where = who + ": parameter " + std::to_string(i);
    if (!p.defined()) throw GraphError(where + " is an undefined tensor");
    const std::string shape = p.shape().str();
    if (!p.is_leaf())
      throw GraphError(where + " " + shape + " is not a leaf (it was produced by " + p.op_name() +
                       "); optimize the leaf tensors it was computed from");
    if (!p.requires_grad())
      throw GraphError(where + " " + shape +
                       " does not require a gradient (create it with requires_grad = true or "
                       "call set_requires_grad())");
    if (!handles.insert(p.impl().get()).second ||
        (p.size() > 0 && !buffers.insert(std::as_const(p).data()).second))
      throw GraphError(where + " " + shape +
                       " appears more than once in the list (it would be updated twice per step)");
  }
}

void validate_lr(const char* who, double lr) {
  require(lr >= 0 && std::isfinite(lr),
          std::string(who) + ": invalid learning rate " + num(lr) + " (must be finite and >= 0)");
}

void validate(const SgdOptions& o) {
  validate_lr("SGD", o.lr);
  require(o.momentum >= 0 && std::isfinite(o.momentum),
          "SGD: invalid momentum " + num(o.momentum) + " (must be finite and >= 0)");
  require(o.weight_decay >= 0 && std::isfinite(o.weight_decay),
          "SGD: invalid weight_decay " + num(o.weight_decay) + " (must be finite and >= 0)");
  require(!o.nesterov || o.momentum > 0, "SGD: nesterov momentum requires momentum > 0");
}

void validate(const AdamOptions& o) {
  validate_lr("Adam", o.lr);
  require(o.beta1 >= 0 && o.beta1 < 1,
          "Adam: invalid beta1 " + num(o.beta1) + " (must be in [0, 1))");
  require(o.beta2 >= 0 && o.beta2 < 1,
          "Adam: invalid beta2 " + num(o.beta2) + " (must be in [0, 1))");
  require(o.eps >= 0 && std::isfinite(o.eps),
          "Adam: invalid eps " + num(o.eps) + " (must be finite and >= 0)");
  require(o.weight_decay >= 0 && std::isfinite(o.weight_decay),
          "Adam: invalid weight_decay " + num(o.weight_decay) + " (must be finite and >= 0)");
}

// The gradient of parameter p, checked against its shape (the engine guarantees it; a mismatch
// would mean a corrupted gradient, which must not be written past the buffer).
template <class T> Tensor<T> gradient_of(const char* who, std::size_t i, const Tensor<T>& p) {
  Tensor<T> g = p.grad();
  if (g.size() != p.size())
    throw ShapeError(std::string(who) + ": gradient of parameter " + std::to_string(i) + " has " +
                     "shape " + g.shape().str() + ", the parameter " + p.shape().str());
  return g;
}

}  // namespace

// ---- Optimizer --------------------------------------------------------------------------------

template <class T>
Optimizer<T>::Optimizer(std::vector<Tensor<T>> params)
    : Optimizer(std::move(params), "optimizer") {}

template <class T>
Optimizer<T>::Optimizer(std::vector<Tensor<T>> params, const char* name)
    : params_(std::move(params)) {
  validate_parameters(name, params_);
}

template <class T> Optimizer<T>::~Optimizer() = default;

template <class T> void Optimizer<T>::zero_grad() {
  for (auto& p : params_) p.zero_grad();
}

template <class T> bool Optimizer<T>::has_grad(std::size_t i) const {
  return params_[i].has_grad();
}

// ---- SGD --------------------------------------------------------------------------------------

template <class T>
SGD<T>::SGD(std::vector<Tensor<T>> params, const SgdOptions& options)
    : Optimizer<T>(std::move(params), "SGD"), options_(options) {
  validate(options_);
  momentum_.resize(this->parameters().size());
}

template <class T> void SGD<T>::set_learning_rate(double lr) {
  validate_lr("SGD", lr);
  options_.lr = lr;
}

template <class T> void SGD<T>::step() {
  const double lr = options_.lr, momentum = options_.momentum, decay = options_.weight_decay;
  const bool nesterov = options_.nesterov;
  for (std::size_t i = 0; i < this->parameters().size(); ++i) {
    if (!this->has_grad(i)) continue;     // PyTorch skips a parameter whose grad is None
    Tensor<T> p = this->parameters()[i];  // a handle on the caller's buffer
    const Tensor<T> g = gradient_of("SGD", i, p);
    T* x = p.data();
    const T* gd = g.data();
    const std::size_t n = p.size();
    std::vector<T>& buf = momentum_[i];
    const bool first = buf.empty();
    if (momentum != 0 && first) buf.resize(n);
    for (std::size_t j = 0; j < n; ++j) {
      double d = gd[j];
      if (decay != 0) d += decay * x[j];
      if (momentum != 0) {
        buf[j] = static_cast<T>(first ? d : momentum * buf[j] + d);
        d = nesterov ? d + momentum * buf[j] : buf[j];
      }
      x[j] = static_cast<T>(x[j] - lr * d);
    }
  }
}

// ---- Adam -------------------------------------------------------------------------------------

template <class T>
Adam<T>::Adam(std::vector<Tensor<T>> params, const AdamOptions& options)
    : Optimizer<T>(std::move(params), "Adam"), options_(options) {
  validate(options_);
  m_.resize(this->parameters().size());
  v_.resize(this->parameters().size());
  steps_.assign(this->parameters().size(), 0);
}

template <class T> void Adam<T>::set_learning_rate(double lr) {
  validate_lr("Adam", lr);
  options_.lr = lr;
}

template <class T> void Adam<T>::step() {
  const double lr = options_.lr, beta1 = options_.beta1, beta2 = options_.beta2;
  const double eps = options_.eps, decay = options_.weight_decay;
  for (std::size_t i = 0; i < this->parameters().size(); ++i) {
    if (!this->has_grad(i)) continue;  // PyTorch skips a parameter whose grad is None
    Tensor<T> p = this->parameters()[i];
    const Tensor<T> g = gradient_of("Adam", i, p);
    T* x = p.data();
    const T* gd = g.data();
    const std::size_t n = p.size();
    std::vector<T>& m = m_[i];
    std::vector<T>& v = v_[i];
    if (m.empty()) {
      m.assign(n, T(0));
      v.assign(n, T(0));
    }
    const double t = static_cast<double>(++steps_[i]);
    const double step_size = lr / (1 - std::pow(beta1, t));
    const double correction2_sqrt = std::sqrt(1 - std::pow(beta2, t));
    for (std::size_t j = 0; j < n; ++j) {
      double gj = gd[j];
      if (decay != 0) gj += decay * x[j];
      m[j] = static_cast<T>(m[j] + (1 - beta1) * (gj - m[j]));  // torch's lerp_(g, 1 - beta1)
      v[j] = static_cast<T>(beta2 * v[j] + (1 - beta2) * gj * gj);
      const double denom = std::sqrt(static_cast<double>(v[j])) / correction2_sqrt + eps;
      x[j] = static_cast<T>(x[j] - step_size * m[j] / denom);
    }
  }
}

// ---- L-BFGS -----------------------------------------------------------------------------------

namespace {

using Vec = std::vector<double>;

double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

double inf_norm(const Vec& a) {
  double m = 0;
  for (double v : a) m = std::max(m, std::abs(v));
  return m;
}

bool all_finite(const Vec& a) {
  return std::all_of(a.begin(), a.end(), [](double v) { return std::isfinite(v); });
}

// Counts objective calls against the budget and checks the gradient's size.
class Evaluator {
 public:
  Evaluator(const LbfgsObjective& objective, std::size_t n, std::size_t budget)
      : objective_(objective), n_(n), budget_(budget) {}

  double operator()(const Vec& x, Vec& gradient) {
    gradient.assign(n_, 0.0);
    const double f = objective_(x, gradient);
    ++count_;
    if (gradient.size() != n_)
      throw ShapeError("lbfgs_minimize: the objective resized its gradient from " +
                       std::to_string(n_) + " to " + std::to_string(gradient.size()) + " elements");
    return f;
  }
  std::size_t count() const { return count_; }
  std::size_t budget() const { return budget_; }
  bool exhausted() const { return count_ >= budget_; }

 private:
  const LbfgsObjective& objective_;
  std::size_t n_;
  std::size_t budget_;
  std::size_t count_ = 0;
};

// A point on the search line x + alpha d.
struct Trial {
  double alpha = 0;
  double f = 0;
  double slope = 0;  // phi'(alpha) = g(x + alpha d)' d
  Vec x, g;
  bool finite = true;
};

struct SearchOutcome {
  bool moved = false;  // `point` has alpha > 0 and sufficient decrease
  bool wolfe = false;  // ... and the strong curvature condition
  Trial point;
  bool unbounded = false;  // the value kept falling through every extrapolation
  std::string failure;     // why the search stopped short of a strong-Wolfe point, when !wolfe
};

// Strong-Wolfe line search: bracketing (Alg. 3.5) then zoom (Alg. 3.6) with a safeguarded cubic
// interpolation. A non-finite value or slope counts as "too far": the bracketing phase halves the
// step back towards the last good point, and zoom treats the point as the bracket's upper end.
class LineSearch {
 public:
  static constexpr double c1 = 1e-4;
  static constexpr double c2 = 0.9;
  static constexpr int max_trials = 60;  // per search, on top of the global budget

  LineSearch(Evaluator& eval, const Vec& x, const Vec& d, double f0, double slope0)
      : eval_(eval), x_(x), d_(d), f0_(f0), slope0_(slope0), d_norm_(inf_norm(d)) {}

  SearchOutcome run(double alpha, const Vec& g0) {
    Trial prev;
    prev.alpha = 0;
    prev.f = f0_;
    prev.slope = slope0_;
    prev.x = x_;
    prev.g = g0;
    double alpha_bad = std::numeric_limits<double>::infinity();  // smallest non-finite step
    for (trials_ = 0; trials_ < max_trials;) {
      if (eval_.exhausted()) return stop(prev, "the evaluation budget ran out");
      if (too_small(alpha - prev.alpha, alpha))
        return stop(prev, std::isfinite(alpha_bad)
                              ? "no finite value along the direction beyond step " + num(prev.alpha)
                              : "the step " + num(alpha) + " no longer changes x");
      Trial cur = at(alpha);
      if (!cur.finite) {  // backtrack towards the last good point
        alpha_bad = alpha;
        alpha = prev.alpha + 0.5 * (alpha - prev.alpha);
        continue;
      }
      if (cur.f > f0_ + c1 * alpha * slope0_ || (prev.alpha > 0 && cur.f >= prev.f))
        return zoom(std::move(prev), std::move(cur));
      if (std::abs(cur.slope) <= -c2 * slope0_) return accept(std::move(cur), true);
      if (cur.slope >= 0) return zoom(std::move(cur), std::move(prev));
      prev = std::move(cur);
      // Still descending: extrapolate, staying below a step known to be non-finite.
      alpha = std::isfinite(alpha_bad) ? 0.5 * (alpha + alpha_bad) : 4 * alpha;
    }
    if (std::isfinite(alpha_bad))
      return stop(prev, "no acceptable step within " + std::to_string(max_trials) + " trials");
    SearchOutcome out =
        stop(prev, "still descending at step " + num(prev.alpha) + " after " +
                       std::to_string(max_trials) + " trials: the objective looks unbounded below");
    out.unbounded = true;
    return out;
  }

 private:
  Trial at(double alpha) {
    ++trials_;
    Trial t;
    t.alpha = alpha;
    t.x.resize(x_.size());
    for (std::size_t i = 0; i < x_.size(); ++i) t.x[i] = x_[i] + alpha * d_[i];
    t.f = eval_(t.x, t.g);
    t.slope = dot(t.g, d_);
    t.finite = std::isfinite(t.f) && std::isfinite(t.slope) && all_finite(t.g);
    return t;
  }

  // A step change that no longer moves x in floating point.
  bool too_small(double delta, double alpha) const {
    return std::abs(delta) * d_norm_ <= 1e-16 * std::max(1.0, inf_norm(x_)) ||
           std::abs(delta) <= 1e-16 * std::abs(alpha);
  }

  static SearchOutcome accept(Trial t, bool wolfe) {
    SearchOutcome out;
    out.moved = true;
    out.wolfe = wolfe;
    out.point = std::move(t);
    return out;
  }

  // The best point so far when the search cannot continue: a step with sufficient decrease is
  // still progress (the curvature pair may then be skipped); alpha = 0 is a failure.
  static SearchOutcome stop(Trial best, std::string why) {
    SearchOutcome out;
    if (best.alpha > 0) out = accept(std::move(best), false);
    out.failure = std::move(why);
    return out;
  }

  // lo: finite, sufficient decrease, lowest value so far; hi: the other end of an interval that
  // contains strong-Wolfe points.
  SearchOutcome zoom(Trial lo, Trial hi) {
    while (trials_ < max_trials) {
      if (eval_.exhausted()) return stop(std::move(lo), "the evaluation budget ran out");
      const double left = std::min(lo.alpha, hi.alpha), right = std::max(lo.alpha, hi.alpha);
      const double width = right - left;
      if (too_small(width, right))
        return stop(std::move(lo),
                    "the bracket collapsed at step " + num(lo.alpha) + " without decrease");
      double alpha = 0.5 * (left + right);
      if (hi.finite) {
        const double c = cubic_minimizer(lo, hi);
        if (std::isfinite(c) && c >= left + 0.1 * width && c <= right - 0.1 * width) alpha = c;
      }
      Trial t = at(alpha);
      if (!t.finite || t.f > f0_ + c1 * alpha * slope0_ || t.f >= lo.f) {
        hi = std::move(t);
      } else {
        if (std::abs(t.slope) <= -c2 * slope0_) return accept(std::move(t), true);
        if (t.slope * (hi.alpha - lo.alpha) >= 0) hi = std::move(lo);
        lo = std::move(t);
      }
    }
    return stop(std::move(lo),
                "no acceptable step within " + std::to_string(max_trials) + " trials");
  }

  // Minimizer of the cubic through (a, f_a, f'_a) and (b, f_b, f'_b) (N&W eq. 3.59); NaN when
  // it has none.
  static double cubic_minimizer(const Trial& a, const Trial& b) {
    const double d1 = a.slope + b.slope - 3 * (a.f - b.f) / (a.alpha - b.alpha);
    const double disc = d1 * d1 - a.slope * b.slope;
    if (!(disc >= 0)) return std::numeric_limits<double>::quiet_NaN();
    const double d2 = std::copysign(std::sqrt(disc), b.alpha - a.alpha);
    const double den = b.slope - a.slope + 2 * d2;
    if (den == 0) return std::numeric_limits<double>::quiet_NaN();
    return b.alpha - (b.alpha - a.alpha) * (b.slope + d2 - d1) / den;
  }

  Evaluator& eval_;
  const Vec& x_;
  const Vec& d_;
  double f0_, slope0_, d_norm_;
  int trials_ = 0;
};

struct CurvaturePair {
  Vec s, y;
  double rho;  // 1 / s'y
};

// -H g by the two-loop recursion (N&W Alg. 7.4) with H0 = (s'y / y'y) I from the newest pair.
Vec lbfgs_direction(const Vec& g, const std::deque<CurvaturePair>& pairs) {
  Vec q = g;
  std::vector<double> a(pairs.size());
  for (std::size_t k = pairs.size(); k-- > 0;) {
    a[k] = pairs[k].rho * dot(pairs[k].s, q);
    for (std::size_t i = 0; i < q.size(); ++i) q[i] -= a[k] * pairs[k].y[i];
  }
  if (!pairs.empty()) {
    const CurvaturePair& newest = pairs.back();
    const double gamma = 1 / (newest.rho * dot(newest.y, newest.y));
    for (double& v : q) v *= gamma;
  }
  for (std::size_t k = 0; k < pairs.size(); ++k) {
    const double b = pairs[k].rho * dot(pairs[k].y, q);
    for (std::size_t i = 0; i < q.size(); ++i) q[i] += (a[k] - b) * pairs[k].s[i];
  }
  for (double& v : q) v = -v;
  return q;
}

void validate_lbfgs(const LbfgsObjective& objective, const Vec& x0, const LbfgsOptions& options) {
  require(options.history >= 1, "lbfgs_minimize: history must be at least 1");
  require(options.gradient_tolerance >= 0, "lbfgs_minimize: invalid gradient_tolerance " +
                                               num(options.gradient_tolerance) + " (must be >= 0)");
  require(options.value_tolerance >= 0, "lbfgs_minimize: invalid value_tolerance " +
                                            num(options.value_tolerance) + " (must be >= 0)");
  if (!objective) throw DomainError("lbfgs_minimize: the objective is empty");
  if (x0.empty()) throw ShapeError("lbfgs_minimize: x0 is empty");
  for (std::size_t i = 0; i < x0.size(); ++i)
    require(std::isfinite(x0[i]),
            "lbfgs_minimize: x0[" + std::to_string(i) + "] = " + num(x0[i]) + " is not finite");
}

std::string budget_reason(const Evaluator& eval) {
  return "evaluation limit reached (" + std::to_string(eval.budget()) + " evaluations)";
}

// What the convergence tests need to know about the last step.
struct LastStep {
  bool taken = false;  // whether a step has been taken (the value test needs one)
  bool wolfe = false;  // whether that step satisfied the strong Wolfe conditions
  double f_before = 0;
  std::string failure;  // why its line search stopped short of a strong-Wolfe point
};

// The convergence and limit tests before each iteration: sets result.reason (and converged) and
// returns true when the iteration must stop.
bool lbfgs_done(LbfgsResult& result, const Vec& g, const LastStep& last, const Evaluator& eval,
                const LbfgsOptions& options) {
  const double gnorm = inf_norm(g);
  if (gnorm <= options.gradient_tolerance) {
    result.converged = true;
    result.reason = "gradient inf-norm " + num(gnorm) + " <= gradient_tolerance " +
                    num(options.gradient_tolerance);
    return true;
  }
  if (last.taken) {
    const double change = (last.f_before - result.value) /
                          std::max({std::abs(last.f_before), std::abs(result.value), 1.0});
    if (change <= options.value_tolerance) {
      const std::string value_test = "relative value change " + num(change) +
                                     " <= value_tolerance " + num(options.value_tolerance);
      if (last.wolfe) {
        result.converged = true;
        result.reason = value_test;
      } else if (eval.exhausted()) {
        result.reason = budget_reason(eval);
      } else {  // a stall (say, against the edge of a NaN region), not a minimum
        result.reason = "no progress: the line search found no strong-Wolfe step (" + last.failure +
                        ") and the " + value_test;
      }
      return true;
    }
  }
  if (result.iterations >= options.max_iterations) {
    result.reason =
        "iteration limit reached (" + std::to_string(options.max_iterations) + " iterations)";
    return true;
  }
  if (eval.exhausted()) {
    result.reason = budget_reason(eval);
    return true;
  }
  return false;
}

// The quasi-Newton direction and its slope; when it is not a descent direction the history is
// dropped and the direction restarts from -g.
Vec descent_direction(const Vec& g, std::deque<CurvaturePair>& pairs, double& slope) {
  Vec d = lbfgs_direction(g, pairs);
  slope = dot(g, d);
  if (!(slope < 0) || !all_finite(d)) {
    pairs.clear();
    d = lbfgs_direction(g, pairs);
    slope = dot(g, d);
  }
  return d;
}

// Without curvature information the first trial step is scaled like PyTorch's LBFGS.
double first_trial_step(const Vec& g, const std::deque<CurvaturePair>& pairs) {
  if (!pairs.empty()) return 1;
  double l1 = 0;
  for (double v : g) l1 += std::abs(v);
  return std::min(1.0, 1.0 / l1);
}

// Records the step from (x, g) to `to`, keeping at most `history` pairs.
void remember_step(std::deque<CurvaturePair>& pairs, const Vec& x, const Vec& g, const Trial& to,
                   std::size_t history) {
  const std::size_t n = x.size();
  CurvaturePair pair;
  pair.s.resize(n);
  pair.y.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    pair.s[i] = to.x[i] - x[i];
    pair.y[i] = to.g[i] - g[i];
  }
  const double sy = dot(pair.s, pair.y);
  const double yy = dot(pair.y, pair.y);
  // Skip pairs without positive curvature (they would make H indefinite).
  if (sy > std::numeric_limits<double>::epsilon() * yy && sy > 0) {
    pair.rho = 1 / sy;
    pairs.push_back(std::move(pair));
    if (pairs.size() > history) pairs.pop_front();
  }
}

}  // namespace

LbfgsResult lbfgs_minimize(const LbfgsObjective& objective, std::vector<double> x0,
                           const LbfgsOptions& options) {
  validate_lbfgs(objective, x0, options);
  const std::size_t budget = std::max<std::size_t>(
      1, options.max_evaluations ? options.max_evaluations : 25 * options.max_iterations);
  Evaluator eval(objective, x0.size(), budget);

  LbfgsResult result;
  result.x = std::move(x0);
  Vec g;
  result.value = eval(result.x, g);
  result.evaluations = 1;
  if (!std::isfinite(result.value) || !all_finite(g)) {
    result.reason = "the objective is not finite at x0 (value " + num(result.value) +
                    (all_finite(g) ? ")" : ", gradient not finite)");
    return result;
  }

  std::deque<CurvaturePair> pairs;
  LastStep last;
  while (true) {
    result.evaluations = eval.count();
    if (lbfgs_done(result, g, last, eval, options)) return result;
    double slope = 0;
    const Vec d = descent_direction(g, pairs, slope);
    LineSearch search(eval, result.x, d, result.value, slope);
    SearchOutcome out = search.run(first_trial_step(g, pairs), g);
    if (!out.moved) {
      result.evaluations = eval.count();
      if (eval.exhausted()) {
        result.reason = budget_reason(eval);
        return result;
      }
      if (!pairs.empty()) {  // the quasi-Newton direction failed; retry along -g
        pairs.clear();
        continue;
      }
      result.reason = "line search failed: " + out.failure;
      return result;
    }

    remember_step(pairs, result.x, g, out.point, options.history);
    last = LastStep{true, out.wolfe, result.value, out.failure};
    result.x = std::move(out.point.x);
    result.value = out.point.f;
    g = std::move(out.point.g);
    ++result.iterations;
    if (out.unbounded) {
      result.evaluations = eval.count();
      result.reason = "line search: " + out.failure;
      return result;
    }
  }
}

template <class T>
LbfgsResult lbfgs_minimize(const std::type_identity_t<std::function<Tensor<T>()>>& loss,
                           const std::vector<Tensor<T>>& params, const LbfgsOptions& options) {
  validate_parameters("lbfgs_minimize", params);
  if (!loss) throw DomainError("lbfgs_minimize: the loss function is empty");
  // Checked here: backward() on a non-scalar would raise GraphError asking for an upstream
  // gradient, which is not what is wrong.
  std::function<Tensor<T>()> scalar_loss = [&loss] {
    Tensor<T> value = loss();
    if (value.defined() && value.size() != 1)
      throw ShapeError("lbfgs_minimize: loss() returned shape " + value.shape().str() +
                       "; it must return a one-element tensor");
    return value;
  };
  LbfgsResult result =
      lbfgs_minimize(vector_objective<T>(params, std::move(scalar_loss)), flatten(params), options);
  unflatten(result.x, params);
  for (auto p : params) p.zero_grad();
  return result;
}

template class Optimizer<float>;
template class Optimizer<double>;
template class SGD<float>;
template class SGD<double>;
template class Adam<float>;
template class Adam<double>;
template LbfgsResult lbfgs_minimize<float>(const std::function<Tensor<float>()>&,
                                           const std::vector<Tensor<float>>&, const LbfgsOptions&);
template LbfgsResult lbfgs_minimize<double>(const std::function<Tensor<double>()>&,
                                            const std::vector<Tensor<double>>&,
                                            const LbfgsOptions&);

}  // namespace tg::nn
