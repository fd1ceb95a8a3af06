// SGD, Adam, AdamW and RMSprop (torch.optim's update rules, written straight into the parameter
// buffers, so nothing is recorded on the graph) and full-batch L-BFGS with a strong-Wolfe line
// search (Nocedal & Wright, Numerical Optimization, 2nd ed., Alg. 7.4 and 3.5/3.6).
#include "tapegrad/nn/optim.hpp"

#include "tapegrad/nn/parameters.hpp"
#include "tapegrad/nn/serialize.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <map>
#include <sstream>
#include <unordered_set>
#include <utility>

namespace tg::nn {

namespace {

std::string num(double v) {
  return format_number(v);
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

// Adam and AdamW share their options' ranges.
void validate_adam(const char* who, double lr, double beta1, double beta2, double eps,
                   double weight_decay) {
  const std::string name(who);
  validate_lr(who, lr);
  require(beta1 >= 0 && beta1 < 1, name + ": invalid beta1 " + num(beta1) + " (must be in [0, 1))");
  require(beta2 >= 0 && beta2 < 1, name + ": invalid beta2 " + num(beta2) + " (must be in [0, 1))");
  require(eps >= 0 && std::isfinite(eps),
          name + ": invalid eps " + num(eps) + " (must be finite and >= 0)");
  require(weight_decay >= 0 && std::isfinite(weight_decay),
          name + ": invalid weight_decay " + num(weight_decay) + " (must be finite and >= 0)");
}

void validate(const AdamOptions& o) {
  validate_adam("Adam", o.lr, o.beta1, o.beta2, o.eps, o.weight_decay);
}

void validate(const AdamWOptions& o) {
  validate_adam("AdamW", o.lr, o.beta1, o.beta2, o.eps, o.weight_decay);
}

// alpha > 1 would give the new squared gradient a negative weight (and the root of a negative
// average), so the range is [0, 1] rather than just alpha >= 0.
void validate(const RmspropOptions& o) {
  validate_lr("RMSprop", o.lr);
  require(o.alpha >= 0 && o.alpha <= 1,
          "RMSprop: invalid alpha " + num(o.alpha) + " (must be in [0, 1])");
  require(o.eps >= 0 && std::isfinite(o.eps),
          "RMSprop: invalid eps " + num(o.eps) + " (must be finite and >= 0)");
  require(o.weight_decay >= 0 && std::isfinite(o.weight_decay),
          "RMSprop: invalid weight_decay " + num(o.weight_decay) + " (must be finite and >= 0)");
  require(o.momentum >= 0 && std::isfinite(o.momentum),
          "RMSprop: invalid momentum " + num(o.momentum) + " (must be finite and >= 0)");
}

// Throws ShapeError: parameter i's gradient g does not have the parameter's shape.
template <class T>
[[noreturn]] void throw_gradient_shape(const char* who, std::size_t i, const Tensor<T>& g,
                                       const Tensor<T>& p) {
  throw ShapeError(std::string(who) + ": gradient of parameter " + std::to_string(i) + " has " +
                   "shape " + g.shape().str() + ", the parameter " + p.shape().str());
}

// The values of parameter p's gradient (set: the caller checked has_grad), read in place without
// the leaf's lock (see Threads in optim.hpp) and checked against p's shape (the engine guarantees
// it; a mismatch would mean a corrupted gradient, which must not be read past its buffer).
template <class T> const T* gradient_of(const char* who, std::size_t i, const Tensor<T>& p) {
  const std::shared_ptr<TensorImpl<T>>& g = p.impl()->grad;
  if (g->numel != p.size()) throw_gradient_shape(who, i, Tensor<T>(g), p);
  return g->data;
}

// One Adam step of parameter p (torch's single-tensor rule); `decoupled_decay` is AdamW's
// p *= 1 - lr * weight_decay before the update, otherwise the decay is added to the gradient.
template <class T>
void adam_update(const char* who, std::size_t i, Tensor<T>& p, std::vector<T>& m, std::vector<T>& v,
                 std::size_t& steps, double lr, double beta1, double beta2, double eps,
                 double weight_decay, bool decoupled_decay) {
  const T* gd = gradient_of(who, i, p);
  T* x = p.data();
  const std::size_t n = p.size();
  if (m.empty()) {
    m.assign(n, T(0));
    v.assign(n, T(0));
  }
  const double t = static_cast<double>(++steps);
  const double step_size = lr / (1 - std::pow(beta1, t));
  const double correction2_sqrt = std::sqrt(1 - std::pow(beta2, t));
  const double shrink = 1 - lr * weight_decay;
  for (std::size_t j = 0; j < n; ++j) {
    double gj = gd[j];
    if (weight_decay != 0) {
      if (decoupled_decay)
        x[j] = static_cast<T>(x[j] * shrink);
      else
        gj += weight_decay * x[j];
    }
    m[j] = static_cast<T>(m[j] + (1 - beta1) * (gj - m[j]));  // torch's lerp_(g, 1 - beta1)
    v[j] = static_cast<T>(beta2 * v[j] + (1 - beta2) * gj * gj);
    const double denom = std::sqrt(static_cast<double>(v[j])) / correction2_sqrt + eps;
    x[j] = static_cast<T>(x[j] - step_size * m[j] / denom);
  }
}

// ---- state_dict / load_state_dict -------------------------------------------------------------

std::string entry_name(std::size_t i, const char* buffer) {
  return std::to_string(i) + "." + buffer;
}

Tensor<double> scalar_entry(double value) {
  return Tensor<double>::scalar(value);
}

template <class T> Tensor<double> buffer_entry(const Tensor<T>& param, const std::vector<T>& buf) {
  return Tensor<double>::from_vector(param.shape(), std::vector<double>(buf.begin(), buf.end()));
}

// Reads a state dict by name, checking every entry before the caller changes anything: names
// are looked up once each, and finish() refuses the entries nobody asked for.
class StateReader {
 public:
  StateReader(const char* who, const StateDict& state) : who_(who) {
    for (std::size_t k = 0; k < state.size(); ++k) {
      const auto& [name, tensor] = state[k];
      if (!tensor.defined()) fail("entry " + name + " is an undefined tensor");
      if (!entries_.emplace(name, &tensor).second) fail("entry " + name + " appears twice");
    }
  }

  double learning_rate() {
    const double lr = scalar("lr");
    if (!(lr >= 0 && std::isfinite(lr)))
      fail("entry lr holds an invalid learning rate " + num(lr) + " (must be finite and >= 0)");
    return lr;
  }

  // A step count: a whole number from 0 up to 2^53, where doubles stop counting exactly (the
  // schedules' bound). 2^53 itself is exact and is what a state at 2^53 - 1 saves after a step:
  // refusing it would make a loaded state unloadable one step later.
  std::size_t step_count(std::size_t i) {
    const std::string name = entry_name(i, "step");
    const double step = scalar(name);
    if (!(step >= 0 && step <= 9007199254740992.0 && step == std::floor(step)))
      fail("entry " + name + " holds " + format_number(step, 17) +
           ", not a step count (a whole number from 0 to 2^53)");
    return static_cast<std::size_t>(step);
  }

  // Buffer `buffer` of parameter i, with the parameter's shape. `presence` says whether it must
  // be there, must not, or may; `why` explains it in the message. Returns nullptr when absent.
  enum class Presence { required, forbidden, optional };
  template <class T>
  const Tensor<double>* buffer(std::size_t i, const char* buffer, const Tensor<T>& param,
                               Presence presence, const std::string& why) {
    const std::string name = entry_name(i, buffer);
    const Tensor<double>* t = take(name);
    if (!t) {
      if (presence == Presence::required) fail("has no entry " + name + " (" + why + ")");
      return nullptr;
    }
    if (presence == Presence::forbidden)
      fail("has an unexpected entry " + name + " " + t->shape().str() + " (" + why + ")");
    if (t->shape() != param.shape())
      fail("entry " + name + " has shape " + t->shape().str() + ", parameter " + std::to_string(i) +
           " has shape " + param.shape().str());
    return t;
  }

  // A buffer that exists exactly when `expected`.
  template <class T>
  const Tensor<double>* buffer(std::size_t i, const char* name, const Tensor<T>& param,
                               bool expected, const std::string& why) {
    return buffer(i, name, param, expected ? Presence::required : Presence::forbidden, why);
  }

  void finish() const {
    for (const auto& [name, tensor] : entries_)
      if (!used_.count(name))
        fail("has an unknown entry " + name + " " + tensor->shape().str() +
             " (built with other options or another parameter list?)");
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw SerializeError(std::string(who_) + ".load_state_dict: the state " + what);
  }

 private:
  const Tensor<double>* take(const std::string& name) {
    const auto it = entries_.find(name);
    if (it == entries_.end()) return nullptr;
    used_.insert(name);
    return it->second;
  }

  double scalar(const std::string& name) {
    const Tensor<double>* t = take(name);
    if (!t) fail("has no entry " + name);
    if (t->shape().rank() != 0)
      fail("entry " + name + " has shape " + t->shape().str() + ", expected a 0-d array []");
    return t->item();
  }

  const char* who_;
  std::map<std::string, const Tensor<double>*> entries_;
  std::unordered_set<std::string> used_;
};

template <class T> std::vector<T> to_buffer(const Tensor<double>* t) {
  if (!t) return {};
  const double* d = t->data();
  std::vector<T> out(t->size());
  for (std::size_t j = 0; j < out.size(); ++j) out[j] = static_cast<T>(d[j]);
  return out;
}

// The state Adam and AdamW share: lr, then per parameter its step count and, once it has
// stepped, both moments.
template <class T>
StateDict adam_state_dict(double lr, const std::vector<Tensor<T>>& params,
                          const std::vector<std::vector<T>>& m,
                          const std::vector<std::vector<T>>& v,
                          const std::vector<std::size_t>& steps) {
  StateDict out;
  out.emplace_back("lr", scalar_entry(lr));
  for (std::size_t i = 0; i < params.size(); ++i) {
    out.emplace_back(entry_name(i, "step"), scalar_entry(static_cast<double>(steps[i])));
    if (steps[i] == 0) continue;
    out.emplace_back(entry_name(i, "exp_avg"), buffer_entry(params[i], m[i]));
    out.emplace_back(entry_name(i, "exp_avg_sq"), buffer_entry(params[i], v[i]));
  }
  return out;
}

template <class T>
void adam_load_state_dict(const char* who, const StateDict& state,
                          const std::vector<Tensor<T>>& params, double& lr,
                          std::vector<std::vector<T>>& m, std::vector<std::vector<T>>& v,
                          std::vector<std::size_t>& steps) {
  StateReader reader(who, state);
  const double new_lr = reader.learning_rate();
  std::vector<std::vector<T>> new_m(params.size()), new_v(params.size());
  std::vector<std::size_t> new_steps(params.size());
  for (std::size_t i = 0; i < params.size(); ++i) {
    new_steps[i] = reader.step_count(i);
    const bool stepped = new_steps[i] > 0;
    const std::string why =
        "parameter " + std::to_string(i) + " has taken " + std::to_string(new_steps[i]) + " steps";
    new_m[i] = to_buffer<T>(reader.buffer(i, "exp_avg", params[i], stepped, why));
    new_v[i] = to_buffer<T>(reader.buffer(i, "exp_avg_sq", params[i], stepped, why));
  }
  reader.finish();
  lr = new_lr;
  m = std::move(new_m);
  v = std::move(new_v);
  steps = std::move(new_steps);
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
  for (auto& p : params_) p.impl()->grad.reset();  // no lock: see Threads in optim.hpp
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
    Tensor<T>& p = this->parameter(i);       // a handle on the caller's buffer
    if (!this->has_grad(i)) continue;        // PyTorch skips a parameter whose grad is None
    const T* gd = gradient_of("SGD", i, p);  // no handle on the gradient to count
    T* x = p.data();
    const std::size_t n = p.size();
    if (momentum == 0 && decay == 0) {
      // Plain SGD in T, as PyTorch's add_(g, alpha = -lr) computes it: in float, a round trip
      // through double per element made this loop twice as long (7% of a W5 epoch).
      const T rate = static_cast<T>(lr);
      for (std::size_t j = 0; j < n; ++j) x[j] -= rate * gd[j];
      continue;
    }
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

template <class T> StateDict SGD<T>::state_dict() const {
  StateDict out;
  out.emplace_back("lr", scalar_entry(options_.lr));
  const auto& params = this->parameters();
  for (std::size_t i = 0; i < params.size(); ++i)
    if (!momentum_[i].empty())
      out.emplace_back(entry_name(i, "momentum_buffer"), buffer_entry(params[i], momentum_[i]));
  return out;
}

// SGD keeps no step count, so a momentum buffer cannot be checked against one.
template <class T> void SGD<T>::load_state_dict(const StateDict& state) {
  StateReader reader("SGD", state);
  const double lr = reader.learning_rate();
  const auto& params = this->parameters();
  std::vector<std::vector<T>> momentum(params.size());
  for (std::size_t i = 0; i < params.size(); ++i) {
    // Absent until the parameter's first step; never there without momentum.
    const auto presence =
        options_.momentum != 0 ? StateReader::Presence::optional : StateReader::Presence::forbidden;
    momentum[i] = to_buffer<T>(reader.buffer(i, "momentum_buffer", params[i], presence,
                                             "momentum " + num(options_.momentum)));
  }
  reader.finish();
  options_.lr = lr;
  momentum_ = std::move(momentum);
}

// ---- Adam and AdamW ---------------------------------------------------------------------------

template <class T, class Options>
AdamFamily<T, Options>::AdamFamily(std::vector<Tensor<T>> params, const Options& options)
    : Optimizer<T>(std::move(params), Options::kName), options_(options) {
  validate(options_);
  m_.resize(this->parameters().size());
  v_.resize(this->parameters().size());
  steps_.assign(this->parameters().size(), 0);
}

template <class T, class Options> void AdamFamily<T, Options>::set_learning_rate(double lr) {
  validate_lr(Options::kName, lr);
  options_.lr = lr;
}

template <class T, class Options> void AdamFamily<T, Options>::step() {
  for (std::size_t i = 0; i < this->parameters().size(); ++i) {
    if (!this->has_grad(i)) continue;  // PyTorch skips (and does not decay) it
    adam_update(Options::kName, i, this->parameter(i), m_[i], v_[i], steps_[i], options_.lr,
                options_.beta1, options_.beta2, options_.eps, options_.weight_decay,
                Options::kDecoupledDecay);
  }
}

template <class T, class Options> StateDict AdamFamily<T, Options>::state_dict() const {
  return adam_state_dict(options_.lr, this->parameters(), m_, v_, steps_);
}

template <class T, class Options>
void AdamFamily<T, Options>::load_state_dict(const StateDict& state) {
  adam_load_state_dict(Options::kName, state, this->parameters(), options_.lr, m_, v_, steps_);
}

// ---- RMSprop ----------------------------------------------------------------------------------

template <class T>
RMSprop<T>::RMSprop(std::vector<Tensor<T>> params, const RmspropOptions& options)
    : Optimizer<T>(std::move(params), "RMSprop"), options_(options) {
  validate(options_);
  const std::size_t n = this->parameters().size();
  square_avg_.resize(n);
  momentum_.resize(n);
  grad_avg_.resize(n);
  steps_.assign(n, 0);
}

template <class T> void RMSprop<T>::set_learning_rate(double lr) {
  validate_lr("RMSprop", lr);
  options_.lr = lr;
}

template <class T> void RMSprop<T>::step() {
  const double lr = options_.lr, alpha = options_.alpha, eps = options_.eps;
  const double decay = options_.weight_decay, momentum = options_.momentum;
  const bool centered = options_.centered;
  for (std::size_t i = 0; i < this->parameters().size(); ++i) {
    if (!this->has_grad(i)) continue;  // PyTorch skips a parameter whose grad is None
    Tensor<T>& p = this->parameter(i);
    const T* gd = gradient_of("RMSprop", i, p);
    T* x = p.data();
    const std::size_t n = p.size();
    std::vector<T>& square_avg = square_avg_[i];
    std::vector<T>& buf = momentum_[i];
    std::vector<T>& grad_avg = grad_avg_[i];
    if (steps_[i] == 0) {
      square_avg.assign(n, T(0));
      if (momentum > 0) buf.assign(n, T(0));
      if (centered) grad_avg.assign(n, T(0));
    }
    ++steps_[i];
    for (std::size_t j = 0; j < n; ++j) {
      double gj = gd[j];
      if (decay != 0) gj += decay * x[j];
      square_avg[j] = static_cast<T>(alpha * square_avg[j] + (1 - alpha) * gj * gj);
      double mean_square = square_avg[j];
      if (centered) {
        grad_avg[j] = static_cast<T>(alpha * grad_avg[j] + (1 - alpha) * gj);
        mean_square -= static_cast<double>(grad_avg[j]) * grad_avg[j];
      }
      const double denom = std::sqrt(mean_square) + eps;
      if (momentum > 0) {
        buf[j] = static_cast<T>(momentum * buf[j] + gj / denom);
        x[j] = static_cast<T>(x[j] - lr * buf[j]);
      } else {
        x[j] = static_cast<T>(x[j] - lr * gj / denom);
      }
    }
  }
}

template <class T> StateDict RMSprop<T>::state_dict() const {
  StateDict out;
  out.emplace_back("lr", scalar_entry(options_.lr));
  const auto& params = this->parameters();
  for (std::size_t i = 0; i < params.size(); ++i) {
    out.emplace_back(entry_name(i, "step"), scalar_entry(static_cast<double>(steps_[i])));
    if (steps_[i] == 0) continue;
    out.emplace_back(entry_name(i, "square_avg"), buffer_entry(params[i], square_avg_[i]));
    if (options_.momentum > 0)
      out.emplace_back(entry_name(i, "momentum_buffer"), buffer_entry(params[i], momentum_[i]));
    if (options_.centered)
      out.emplace_back(entry_name(i, "grad_avg"), buffer_entry(params[i], grad_avg_[i]));
  }
  return out;
}

template <class T> void RMSprop<T>::load_state_dict(const StateDict& state) {
  StateReader reader("RMSprop", state);
  const double lr = reader.learning_rate();
  const auto& params = this->parameters();
  const std::size_t n = params.size();
  std::vector<std::vector<T>> square_avg(n), momentum(n), grad_avg(n);
  std::vector<std::size_t> steps(n);
  for (std::size_t i = 0; i < n; ++i) {
    steps[i] = reader.step_count(i);
    const bool stepped = steps[i] > 0;
    const std::string taken =
        "parameter " + std::to_string(i) + " has taken " + std::to_string(steps[i]) + " steps";
    square_avg[i] = to_buffer<T>(reader.buffer(i, "square_avg", params[i], stepped, taken));
    momentum[i] = to_buffer<T>(reader.buffer(i, "momentum_buffer", params[i],
                                             stepped && options_.momentum > 0,
                                             taken + ", momentum " + num(options_.momentum)));
    grad_avg[i] =
        to_buffer<T>(reader.buffer(i, "grad_avg", params[i], stepped && options_.centered,
                                   taken + (options_.centered ? ", centered" : ", not centered")));
  }
  reader.finish();
  options_.lr = lr;
  square_avg_ = std::move(square_avg);
  momentum_ = std::move(momentum);
  grad_avg_ = std::move(grad_avg);
  steps_ = std::move(steps);
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
template class AdamFamily<float, AdamOptions>;
template class AdamFamily<double, AdamOptions>;
template class AdamFamily<float, AdamWOptions>;
template class AdamFamily<double, AdamWOptions>;
template class RMSprop<float>;
template class RMSprop<double>;
template LbfgsResult lbfgs_minimize<float>(const std::function<Tensor<float>()>&,
                                           const std::vector<Tensor<float>>&, const LbfgsOptions&);
template LbfgsResult lbfgs_minimize<double>(const std::function<Tensor<double>()>&,
                                            const std::vector<Tensor<double>>&,
                                            const LbfgsOptions&);

}  // namespace tg::nn
