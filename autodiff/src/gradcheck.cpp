#include "tapegrad/gradcheck.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <exception>
#include <limits>
#include <random>
#include <set>
#include <sstream>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include "leaf_grads_aside.hpp"
#include "op_samples_run.hpp"
#include "tapegrad/grad.hpp"
#include "tapegrad/registry.hpp"

namespace tg {

namespace {

template <class T> struct Defaults;
template <> struct Defaults<double> {
  static constexpr double tolerance = 1e-9, abs_tolerance = 1e-12;
};
template <> struct Defaults<float> {
  static constexpr double tolerance = 1e-3, abs_tolerance = 1e-5;
};

// The tolerance for a float adjoint against double differences: the adjoint's own rounding,
// float's epsilon grown with the square root of the computation's size (its largest tensor,
// which bounds the length of any reduction in it). Correct adjoints of every registered op stay
// below a fifth of it; an adjoint 1e-4 off exceeds it up to a few thousand elements.
double mixed_tolerance(std::size_t elements) {
  return 16 * double(std::numeric_limits<float>::epsilon()) *
         std::sqrt(double(std::max<std::size_t>(elements, 1)));
}

std::string multi_index(const Shape& shape, std::size_t flat) {
  if (shape.rank() == 0) return "[]";
  if (shape.numel() == 0) return "(none: no elements)";  // and no extent to divide by
  std::vector<std::size_t> idx(shape.rank());
  for (std::size_t d = shape.rank(); d-- > 0;) {
    idx[d] = flat % shape[d];
    flat /= shape[d];
  }
  std::string s = "[";
  for (std::size_t d = 0; d < idx.size(); ++d) {
    if (d) s += ',';
    s += std::to_string(idx[d]);
  }
  s += ']';
  return s;
}

// The leaves' own gradients are put aside for the check and back afterwards, even on an
// exception, by the same class tg::grad uses; a leaf listed twice is set aside once.
template <class T> std::vector<Tensor<T>> distinct_leaves(const std::vector<Tensor<T>>& leaves) {
  std::vector<Tensor<T>> distinct;
  for (const auto& t : leaves)
    if (std::none_of(distinct.begin(), distinct.end(),
                     [&](const Tensor<T>& d) { return d.impl() == t.impl(); }))
      distinct.push_back(t);
  return distinct;
}

// Sets one input element for the duration of a scope; the original value is put back on every
// path, an exception from f included, so that a failed check never leaves a parameter moved.
template <class T> class Perturbation {
 public:
  explicit Perturbation(T& element) : element_(element), original_(element) {}
  ~Perturbation() { element_ = original_; }
  Perturbation(const Perturbation&) = delete;
  Perturbation& operator=(const Perturbation&) = delete;
  void set(T value) { element_ = value; }
  void restore() { element_ = original_; }
  T original() const { return original_; }

 private:
  T& element_;
  T original_;
};

template <class T> const char* dtype_name() {
  return sizeof(T) == sizeof(float) ? "float" : "double";
}

// What the analytic side hands to the numeric side: each input's gradient and the projection R
// (both as doubles, so that a float adjoint can be compared with double differences).
struct Analytic {
  std::vector<std::vector<double>> grads;
  std::vector<double> projection;  // empty in full mode
  Shape out_shape;
  bool full = false;
  std::set<std::size_t> reached;  // the inputs the output's graph reaches
};

// f with grad mode on (recording), checked against f with grad mode off: the same values, and an
// error raised the same way (type and message) in both modes or in neither.
template <class T> Tensor<T> evaluate_both_ways(const std::function<Tensor<T>()>& f) {
  Tensor<T> out;
  Tensor<T> plain;
  std::exception_ptr recorded_error, plain_error;
  try {
    out = f();
  } catch (...) {
    recorded_error = std::current_exception();
  }
  try {
    NoGradGuard no_grad;
    plain = f();
  } catch (...) {
    plain_error = std::current_exception();
  }
  auto what = [](const std::exception_ptr& p, const std::type_info** type) -> std::string {
    try {
      std::rethrow_exception(p);
    } catch (const std::exception& e) {
      *type = &typeid(e);
      return e.what();
    } catch (...) {
      *type = nullptr;
      return "a non-standard exception";
    }
  };
  if (recorded_error || plain_error) {
    const std::type_info *t1 = nullptr, *t2 = nullptr;
    const std::string w1 = recorded_error ? what(recorded_error, &t1) : "";
    const std::string w2 = plain_error ? what(plain_error, &t2) : "";
    if (recorded_error && plain_error && t1 == t2 && w1 == w2)
      std::rethrow_exception(recorded_error);
    throw GraphError("gradcheck: the function raises differently with grad mode on (" +
                     (recorded_error ? w1 : std::string("nothing")) + ") and off (" +
                     (plain_error ? w2 : std::string("nothing")) + ")");
  }
  if (!out.defined() || !plain.defined())
    throw Error("gradcheck: the function returned an undefined tensor");
  bool same = out.shape() == plain.shape();
  std::size_t at = 0;
  for (; same && at < out.size(); ++at) {
    const T a = std::as_const(out).data()[at], b = std::as_const(plain).data()[at];
    same = a == b || (std::isnan(a) && std::isnan(b));
    if (!same) break;
  }
  if (!same)
    throw GraphError(
        "gradcheck: the recorded forward differs from the function with grad mode "
        "off: shape " +
        out.shape().str() + " vs " + plain.shape().str() +
        (out.shape() == plain.shape() ? ", element " + multi_index(out.shape(), at) + ": " +
                                            format_number(std::as_const(out).data()[at]) + " vs " +
                                            format_number(std::as_const(plain).data()[at])
                                      : std::string()));
  return out;
}

// One backward pass of f seeded with the projection R (1 for a scalar output); in full mode one
// per output element, seeded with that element alone (grads[i] is then outputs x elements, row
// by row). The leaves' own gradients are put aside and restored.
template <class T>
Analytic analytic_pass(const std::function<Tensor<T>()>& f, const std::vector<Tensor<T>>& inputs,
                       std::uint64_t seed, bool full) {
  detail::LeafGradsAside<T> aside(distinct_leaves(inputs));
  Tensor<T> out = evaluate_both_ways(f);
  Analytic an;
  for (const auto& leaf : detail::reachable_leaves(out))
    for (std::size_t i = 0; i < inputs.size(); ++i)
      if (inputs[i].impl() == leaf) an.reached.insert(i);
  an.out_shape = out.shape();
  an.full = full;
  an.grads.resize(inputs.size());
  auto collect = [&] {
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      Tensor<T> input = inputs[i];  // a handle on the same leaf
      const Tensor<T> g = input.grad();
      an.grads[i].insert(an.grads[i].end(), std::as_const(g).data(),
                         std::as_const(g).data() + g.size());
      input.zero_grad();
    }
  };
  if (full) {
    for (std::size_t o = 0; o < out.size(); ++o) {
      Tensor<T> seed_o = Tensor<T>::zeros(out.shape());
      seed_o.data()[o] = T(1);
      if (out.requires_grad()) out.backward(seed_o, {.retain_graph = o + 1 < out.size()});
      collect();
    }
    return an;
  }
  Tensor<T> projection = Tensor<T>::ones(out.shape());
  if (out.size() != 1) {
    std::mt19937_64 rng(seed);
    projection = Tensor<T>::uniform(out.shape(), T(-1), T(1), rng);
  }
  if (out.requires_grad()) out.backward(projection);
  an.projection.assign(std::as_const(projection).data(),
                       std::as_const(projection).data() + projection.size());
  collect();
  return an;
}

// How the numeric side differentiates and judges.
struct Settings {
  std::optional<double> eps;  // a fixed central step, or adaptive steps when absent
  double tolerance = 0;
  double abs_tolerance = 0;
  bool explicit_abs_tolerance = false;
  std::vector<std::string> names;
};

// The numeric derivatives of phi's outputs along one element and estimates of their errors.
struct Numeric {
  std::vector<double> value;
  std::vector<double> error;
  std::vector<double> step;
};

using Phi = std::function<std::vector<double>()>;

// Central difference over the representable steps actually taken (x + h rounds in U).
template <class U> std::vector<double> central(const Phi& phi, Perturbation<U>& v, double h) {
  const U x = v.original();
  const U up = U(x + h), down = U(x - h);
  v.set(up);
  std::vector<double> d = phi();
  v.set(down);
  const std::vector<double> minus = phi();
  v.restore();
  const double width = double(up) - double(down);
  for (std::size_t o = 0; o < d.size(); ++o) d[o] = (d[o] - minus[o]) / width;
  return d;
}

bool all_finite(const std::vector<double>& v) {
  return std::all_of(v.begin(), v.end(), [](double x) { return std::isfinite(x); });
}

// Ridders' method: central differences at steps h0, h0/2, h0/4, ... extrapolated to step zero
// (Richardson's tableau), per output; the error estimate is the tableau's own disagreement, and
// the extrapolation stops as soon as rounding makes it worse (when every output has stopped, no
// further step is evaluated).
template <class U>
Numeric ridders(const Phi& phi, Perturbation<U>& v, double h0,
                const std::vector<double>& rounding) {
  constexpr int kTable = 6;
  constexpr double kShrink = 2, kShrink2 = kShrink * kShrink, kSafe = 2;
  double h = h0;
  std::vector<std::vector<double>> rows;  // rows[i] = central differences at step h0 / 2^i
  rows.push_back(central(phi, v, h));
  // A step that leaves f's domain (log of a negative) gives a non-finite value: shrink it.
  for (int tries = 0; tries < 4 && !all_finite(rows[0]); ++tries) {
    h /= 10;
    rows[0] = central(phi, v, h);
  }
  const std::size_t m = rows[0].size();
  std::vector<double> steps{h};
  Numeric best;
  best.value = rows[0];
  best.error.assign(m, std::numeric_limits<double>::infinity());
  best.step.assign(m, h);
  std::vector<std::array<std::array<double, kTable>, kTable>> a(m);
  std::vector<bool> done(m, false);
  for (std::size_t o = 0; o < m; ++o) a[o][0][0] = rows[0][o];
  for (int i = 1; i < kTable; ++i) {
    if (std::all_of(done.begin(), done.end(), [](bool d) { return d; })) break;
    h /= kShrink;
    const std::vector<double> row = central(phi, v, h);
    for (std::size_t o = 0; o < m; ++o) {
      if (done[o]) continue;
      auto& t = a[o];
      t[0][i] = row[o];
      double fac = kShrink2;
      for (int j = 1; j <= i; ++j) {
        t[j][i] = (t[j - 1][i] * fac - t[j - 1][i - 1]) / (fac - 1);
        fac *= kShrink2;
        const double errt =
            std::max(std::abs(t[j][i] - t[j - 1][i]), std::abs(t[j][i] - t[j - 1][i - 1]));
        if (errt <= best.error[o]) {
          best.value[o] = t[j][i];
          best.error[o] = errt;
          best.step[o] = h;
        }
      }
      if (std::abs(t[i][i] - t[i - 1][i - 1]) >= kSafe * best.error[o]) done[o] = true;
    }
  }
  for (std::size_t o = 0; o < m; ++o) {
    if (!std::isfinite(best.error[o])) best.error[o] = std::abs(best.value[o]);
    // phi itself is rounded: the difference quotient cannot be better than that noise.
    best.error[o] = std::max(best.error[o], rounding[o] / best.step[o]);
  }
  return best;
}

// The first adaptive step: a fraction of the element's magnitude (so that the step never crosses
// zero, where kinks and poles sit, for elements kept away from it), never below a floor.
template <class U> double initial_step(U x) {
  constexpr double fraction = std::is_same_v<U, float> ? 0.1 : 1e-2;
  return fraction * std::max(double(std::abs(x)), 0.05);
}

// Differentiates g (which reads `leaves`, perturbed in place and restored) along every element
// and judges the analytic gradients against the differences.
template <class U>
GradCheckReport numeric_compare(const std::function<Tensor<U>()>& g,
                                const std::vector<Tensor<U>>& leaves, const Analytic& an,
                                const Settings& set) {
  GradCheckReport report;
  report.eps = set.eps.value_or(0.0);
  report.mode = an.full ? GradCheckMode::full_jacobian : GradCheckMode::projection;
  report.tolerance = set.tolerance;

  // phi(x) = sum(g(x) * R) accumulated in double, or every output element in full mode.
  const Phi phi = [&]() {
    NoGradGuard no_grad;
    Tensor<U> y = g();
    if (!y.defined() || y.shape() != an.out_shape)
      throw Error("gradcheck: the function's output shape changed from " + an.out_shape.str() +
                  " to " + (y.defined() ? y.shape().str() : std::string("undefined")));
    if (an.full)
      return std::vector<double>(std::as_const(y).data(), std::as_const(y).data() + y.size());
    double s = 0;
    for (std::size_t k = 0; k < y.size(); ++k)
      s += double(std::as_const(y).data()[k]) * an.projection[k];
    return std::vector<double>{s};
  };

  // phi is known to about machine epsilon times the magnitude of its terms.
  std::vector<double> rounding;
  {
    NoGradGuard no_grad;
    const Tensor<U> y = g();
    const double eps_u = std::numeric_limits<U>::epsilon();
    if (an.full) {
      for (std::size_t k = 0; k < y.size(); ++k)
        rounding.push_back(eps_u * std::max(std::abs(double(std::as_const(y).data()[k])), 1e-300));
    } else {
      double magnitude = 0;
      for (std::size_t k = 0; k < y.size(); ++k)
        magnitude += std::abs(double(std::as_const(y).data()[k]) * an.projection[k]);
      rounding.push_back(eps_u * std::max(magnitude, 1e-300));
    }
  }
  const std::size_t m = rounding.size();

  report.passed = true;
  for (std::size_t i = 0; i < leaves.size(); ++i) {
    Tensor<U> x = leaves[i];
    const std::vector<double>& analytic = an.grads[i];
    InputCheck c;
    c.name = i < set.names.size() ? set.names[i] : "input " + std::to_string(i);
    c.shape = x.shape();
    double diff2 = 0, a2 = 0, n2 = 0, e2 = 0, noise2 = 0, worst = -1, worst_step = 0;
    std::size_t worst_output = 0, nan_mismatches = 0, unreached_nonzero = 0;
    const bool reached = an.reached.count(i) > 0;
    for (std::size_t j = 0; j < x.size(); ++j) {
      Perturbation<U> v(x.data()[j]);
      const U saved = v.original();
      Numeric num;
      if (set.eps) {
        const double eps = *set.eps;
        if (U(saved + eps) == saved || U(saved - eps) == saved)
          throw DomainError("gradcheck: the step eps = " + format_number(eps) + " vanishes at " +
                            c.name + " element " + multi_index(x.shape(), j) + " = " +
                            format_number(saved) + " (x + eps == x in " + dtype_name<U>() +
                            "): the differences would be zero; use a larger step");
        num.value = central(phi, v, eps);
        num.step.assign(m, eps);
        for (std::size_t o = 0; o < m; ++o) num.error.push_back(rounding[o] / eps);
      } else {
        num = ridders(phi, v, initial_step(saved), rounding);
      }
      for (std::size_t o = 0; o < m; ++o) {
        const double n = num.value[o];
        const double a = analytic[o * x.size() + j];
        const double d = a - n;
        if (std::isnan(a) != std::isnan(n)) {
          if (nan_mismatches++ == 0)
            c.nan_mismatch =
                (std::isnan(a) ? "analytic NaN where the numeric gradient is " + format_number(n)
                               : "numeric NaN where the analytic gradient is " + format_number(a)) +
                " at element " + multi_index(x.shape(), j);
        }
        if (!reached && n != 0 && unreached_nonzero++ == 0)
          c.unreached_dependence =
              "the output's graph does not reach this input, yet f changes "
              "with it (numeric " +
              format_number(n) + " at element " + multi_index(x.shape(), j) +
              "): a path computes without recording (a detach or raw data)";
        diff2 += d * d;
        a2 += a * a;
        n2 += n * n;
        e2 += num.error[o] * num.error[o];
        const double noise = rounding[o] / num.step[o];
        noise2 += noise * noise;
        // NaN differences rank first: they are the worst news.
        const double badness = std::isnan(d) ? INFINITY : std::abs(d);
        if (badness > worst) {
          worst = badness;
          worst_step = num.step[o];
          worst_output = o;
          c.worst_flat_index = j;
          c.worst_analytic = a;
          c.worst_numeric = n;
        }
      }
    }
    c.worst_index = multi_index(x.shape(), c.worst_flat_index);
    if (an.full) c.worst_output = multi_index(an.out_shape, worst_output);
    c.abs_error = std::sqrt(diff2);
    const double a_norm = std::sqrt(a2), n_norm = std::sqrt(n2);
    const double denom = a_norm + n_norm;
    c.relative_error = denom > 0 ? c.abs_error / denom : (std::isnan(c.abs_error) ? NAN : 0.0);
    c.numeric_error = std::sqrt(e2);
    c.noise_floor = std::sqrt(noise2);
    // The differences' estimated error may only excuse a discrepancy when the analytic gradient
    // claims zero: a nonzero analytic gradient within that error is a gradient the differences
    // cannot see, not a pass.
    const bool analytic_zero = a_norm <= set.abs_tolerance;
    const double abs_limit = set.explicit_abs_tolerance ? set.abs_tolerance
                             : analytic_zero ? std::max(set.abs_tolerance, 10 * c.numeric_error)
                                             : set.abs_tolerance;
    // The verdict against the estimate: the discrepancy may be the tolerance plus what the
    // differences themselves are estimated to be off by, and no more.
    // That allowance only counts where the differences resolve the gradient at all.
    const bool strict = c.abs_error <= set.tolerance * denom || c.abs_error < abs_limit;
    c.resolved = strict || 10 * c.numeric_error < std::max(a_norm, n_norm);
    c.passed = c.resolved && (strict || c.abs_error <= set.tolerance * denom + 3 * c.numeric_error);
    // An unreached input's analytic gradient is exactly zero by construction; its differences
    // must be exactly zero too, and a NaN on one side only is never a rounding matter.
    c.passed = c.passed && c.nan_mismatch.empty() && c.unreached_dependence.empty();
    if (!c.passed && x.size() > 0 && worst_step > 0) {
      Perturbation<U> v(x.data()[c.worst_flat_index]);
      const U saved = v.original();
      const double at = phi()[worst_output];
      v.set(U(saved + worst_step));
      const double plus = phi()[worst_output];
      v.set(U(saved - worst_step));
      const double minus = phi()[worst_output];
      v.restore();
      c.right_difference = (plus - at) / worst_step;
      c.left_difference = (at - minus) / worst_step;
      const double gap = std::abs(c.right_difference - c.left_difference);
      c.kink = gap > 0.1 * (std::abs(c.right_difference) + std::abs(c.left_difference)) &&
               gap > std::sqrt(worst_step);
    }
    report.passed = report.passed && c.passed;
    report.inputs.push_back(std::move(c));
  }
  return report;
}

template <class T>
Settings settings_for(const GradCheckOptions& options, double tolerance, double abs_tolerance) {
  if (options.eps && !(std::isfinite(*options.eps) && *options.eps > 0))
    throw DomainError("gradcheck: eps must be a positive finite step, got " +
                      format_number(*options.eps));
  Settings set;
  set.eps = options.eps;
  set.tolerance = options.tolerance.value_or(tolerance);
  set.abs_tolerance = options.abs_tolerance.value_or(abs_tolerance);
  set.explicit_abs_tolerance = options.abs_tolerance.has_value();
  set.names = options.names;
  return set;
}

bool full_mode(const GradCheckOptions& options) {
  return options.mode == GradCheckMode::full_jacobian;
}

template <class T> void require_leaves(const std::vector<Tensor<T>>& inputs) {
  for (std::size_t i = 0; i < inputs.size(); ++i)
    if (!inputs[i].defined() || !inputs[i].is_leaf() || !inputs[i].requires_grad())
      throw Error("gradcheck: input " + std::to_string(i) +
                  " must be a defined leaf that requires a gradient");
}

// The checker proper: f reads the leaves, which are perturbed in place and restored.
template <class T>
GradCheckReport check_leaves(const std::function<Tensor<T>()>& f,
                             const std::vector<Tensor<T>>& inputs,
                             const GradCheckOptions& options) {
  const Settings set = settings_for<T>(options, Defaults<T>::tolerance, Defaults<T>::abs_tolerance);
  require_leaves(inputs);
  const Analytic an = analytic_pass(f, inputs, options.seed, full_mode(options));
  detail::LeafGradsAside<T> aside(distinct_leaves(inputs));
  return numeric_compare<T>(f, inputs, an, set);
}

template <class T>
GradCheckReport run(const TensorFunction<T>& f, const std::vector<Tensor<T>>& originals,
                    const GradCheckOptions& options) {
  std::vector<Tensor<T>> inputs;
  for (const auto& t : originals) {
    if (!t.defined())
      throw Error("gradcheck: input " + std::to_string(inputs.size()) + " is undefined");
    inputs.push_back(t.clone().set_requires_grad(true));
  }
  return check_leaves<T>([&] { return f(inputs); }, inputs, options);
}

// A float adjoint judged against double differences: f (float) gives the analytic gradient at the
// inputs, g (the same function in double) is differentiated at the same values promoted, so the
// reference is free of float's rounding and the tolerance can be float's own.
GradCheckReport run_mixed(const TensorFunction<float>& f, const TensorFunction<double>& g,
                          const std::vector<Tensor<float>>& originals,
                          const GradCheckOptions& options) {
  std::vector<Tensor<float>> inputs;
  std::vector<Tensor<double>> promoted;
  std::size_t elements = 0;
  for (const auto& t : originals) {
    if (!t.defined())
      throw Error("gradcheck: input " + std::to_string(inputs.size()) + " is undefined");
    inputs.push_back(t.clone().set_requires_grad(true));
    promoted.push_back(Tensor<double>::from_vector(
        t.shape(), std::vector<double>(std::as_const(t).data(), std::as_const(t).data() + t.size()),
        true));
    elements = std::max(elements, t.size());
  }
  const Analytic an =
      analytic_pass<float>([&] { return f(inputs); }, inputs, options.seed, full_mode(options));
  elements = std::max(elements, an.projection.size());
  Settings set =
      settings_for<float>(options, mixed_tolerance(elements), Defaults<float>::abs_tolerance);
  detail::LeafGradsAside<double> aside(distinct_leaves(promoted));
  GradCheckReport report = numeric_compare<double>([&] { return g(promoted); }, promoted, an, set);
  report.reference = "double differences";
  return report;
}

// The analytic side is a run's gradients (a one-element loss: the projection is 1); the numeric
// side perturbs the parameters in place, which each run reads.
template <class T> GradCheckReport check_replay(Replay<T>& step, const GradCheckOptions& options) {
  if (step.updates_parameters())
    throw ReplayError(
        "gradcheck: the recording updates its parameters (sgd_update): each run moves them, so "
        "its losses are not one function of fixed parameters; check a recording without it");
  const Settings set = settings_for<T>(options, Defaults<T>::tolerance, Defaults<T>::abs_tolerance);
  const std::vector<Tensor<T>>& params = step.parameters();
  Analytic an;
  an.out_shape = step.run().shape();
  an.projection = {1.0};
  an.grads.resize(params.size());
  for (std::size_t i = 0; i < params.size(); ++i) {
    const Tensor<T>& g = step.gradient(i);
    if (!g.defined()) {
      an.grads[i].assign(params[i].size(), 0.0);
      continue;
    }
    an.reached.insert(i);
    an.grads[i].assign(g.data(), g.data() + g.size());
  }
  GradCheckReport report = numeric_compare<T>([&] { return step.run().clone(); }, params, an, set);
  report.reference = "replayed runs";
  step.run();
  return report;
}

}  // namespace

double GradCheckReport::worst_relative_error() const {
  double worst = 0;
  for (const auto& c : inputs)
    if (std::isnan(c.relative_error) || c.relative_error > worst) worst = c.relative_error;
  return worst;
}

std::string GradCheckReport::str() const {
  std::ostringstream os;
  os << "gradcheck " << (passed ? "passed" : "FAILED") << " ("
     << (eps > 0 ? "eps " + format_number(eps) : std::string("adaptive steps"))
     << (reference.empty() ? "" : ", " + reference)
     << (mode == GradCheckMode::full_jacobian ? ", full Jacobian" : "") << ", tolerance "
     << format_number(tolerance) << ")\n";
  for (const auto& c : inputs) {
    os << "  " << c.name << c.shape.str() << ": relative error " << format_number(c.relative_error)
       << "  " << (c.passed ? "ok" : "FAIL") << "; worst element " << c.worst_index << ": analytic "
       << format_number(c.worst_analytic) << ", numeric " << format_number(c.worst_numeric)
       << (c.worst_output.empty() ? "" : " (output " + c.worst_output + ")")
       << "; numeric error estimate " << format_number(c.numeric_error);
    if (!c.nan_mismatch.empty()) os << "; " << c.nan_mismatch;
    if (!c.unreached_dependence.empty()) os << "; " << c.unreached_dependence;
    if (!c.resolved)
      os << "; finite differences cannot resolve this gradient: their estimated error ("
         << format_number(c.numeric_error)
         << ") is of the order of the gradient itself (f is too large for the step: remove a "
            "constant offset or scale f down)";
    else if (!c.passed)
      os << "; one-sided differences left " << format_number(c.left_difference) << ", right "
         << format_number(c.right_difference)
         << (c.kink ? " -- a kink: the function is not differentiable here, so finite differences "
                      "cannot judge the adjoint; move the input off the kink"
                    : "");
    os << "\n";
  }
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const GradCheckReport& report) {
  return os << report.str();
}

namespace detail {

GradCheckReport run_gradcheck(const TensorFunction<double>& f,
                              const std::vector<Tensor<double>>& inputs,
                              const GradCheckOptions& options) {
  return run<double>(f, inputs, options);
}

GradCheckReport run_gradcheck(const TensorFunction<float>& f,
                              const std::vector<Tensor<float>>& inputs,
                              const GradCheckOptions& options) {
  return run<float>(f, inputs, options);
}

GradCheckReport run_gradcheck_mixed(const TensorFunction<float>& f, const TensorFunction<double>& g,
                                    const std::vector<Tensor<float>>& inputs,
                                    const GradCheckOptions& options) {
  return run_mixed(f, g, inputs, options);
}

GradCheckReport run_gradcheck_leaves(const std::function<Tensor<double>()>& f,
                                     const std::vector<Tensor<double>>& leaves,
                                     const GradCheckOptions& options) {
  return check_leaves<double>(f, leaves, options);
}

GradCheckReport run_gradcheck_leaves(const std::function<Tensor<float>()>& f,
                                     const std::vector<Tensor<float>>& leaves,
                                     const GradCheckOptions& options) {
  return check_leaves<float>(f, leaves, options);
}

}  // namespace detail

namespace {

template <class T>
OpCheckResult check_op_as(const OpInfo& op, SampleFactory<T> factory, const char* dtype,
                          const std::vector<std::uint64_t>& seeds) {
  OpCheckResult row;
  row.dtype = dtype;
  // A float sample is judged against double differences of the double sample with the same
  // structure, at the float inputs' values.
  detail::DoubleReferences references;
  detail::run_op_samples<T>(
      row, op, factory, seeds,
      [&](const GradSample<T>& sample, std::size_t k, std::uint64_t seed, const Tensor<T>&,
          const std::vector<Tensor<T>>&) -> GradCheckReport {
        if constexpr (std::is_same_v<T, float>) {
          return detail::run_gradcheck_mixed(sample.fn, references.of(op, seed, k, sample).fn,
                                             sample.inputs, {});
        } else {
          (void)k;
          (void)seed;
          return gradcheck(sample.fn, sample.inputs);
        }
      });
  return row;
}

}  // namespace

std::vector<OpCheckResult> check_op(const OpInfo& op, const std::vector<std::uint64_t>& seeds,
                                    bool include_float) {
  std::vector<OpCheckResult> rows;
  rows.push_back(check_op_as<double>(op, op.samples_double, "f64", seeds));
  if (include_float) rows.push_back(check_op_as<float>(op, op.samples_float, "f32", seeds));
  return rows;
}

std::vector<OpCheckResult> check_registered_ops(const std::vector<std::uint64_t>& seeds,
                                                bool include_float) {
  std::vector<OpCheckResult> rows;
  for (const OpInfo& op : registered_ops())
    for (OpCheckResult& row : check_op(op, seeds, include_float)) rows.push_back(std::move(row));
  return rows;
}

GradCheckReport gradcheck(Replay<double>& step, const GradCheckOptions& options) {
  return check_replay(step, options);
}

GradCheckReport gradcheck(Replay<float>& step, const GradCheckOptions& options) {
  return check_replay(step, options);
}

}  // namespace tg
