#include "tapegrad/gradcheck.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <sstream>

#include "tapegrad/registry.hpp"

namespace tg {

namespace {

template <class T>
struct Defaults;
template <>
struct Defaults<double> {
  static constexpr double eps = 1e-6, tolerance = 1e-7, abs_tolerance = 1e-12;
};
template <>
struct Defaults<float> {
  static constexpr double eps = 1e-3, tolerance = 1e-2, abs_tolerance = 1e-5;
};

std::string multi_index(const Shape& shape, std::size_t flat) {
  if (shape.rank() == 0) return "[]";
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

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// Puts the leaves' gradients aside for the check and back afterwards, even on an exception.
template <class T>
class GradientsAside {
 public:
  explicit GradientsAside(const std::vector<Tensor<T>>& leaves) : leaves_(leaves) {
    for (const auto& t : leaves_) {
      saved_.push_back(t.impl()->grad);
      t.impl()->grad.reset();
    }
  }
  ~GradientsAside() {
    for (std::size_t i = 0; i < leaves_.size(); ++i) leaves_[i].impl()->grad = saved_[i];
  }

 private:
  const std::vector<Tensor<T>>& leaves_;
  std::vector<std::shared_ptr<TensorImpl<T>>> saved_;
};

// Sets one input element for the duration of a scope; the original value is put back on every
// path, an exception from f included, so that a failed check never leaves a parameter moved.
template <class T>
class Perturbation {
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

template <class T>
const char* dtype_name() {
  return sizeof(T) == sizeof(float) ? "float" : "double";
}

// The checker proper: f reads the leaves, which are perturbed in place and restored.
template <class T>
GradCheckReport check_leaves(const std::function<Tensor<T>()>& f,
                             const std::vector<Tensor<T>>& inputs,
                             const GradCheckOptions& options) {
  if (options.eps && !(std::isfinite(*options.eps) && *options.eps > 0))
    throw DomainError("gradcheck: eps must be a positive finite step, got " + fmt(*options.eps));
  GradCheckReport report;
  report.eps = options.eps.value_or(Defaults<T>::eps);
  report.tolerance = options.tolerance.value_or(Defaults<T>::tolerance);
  const double abs_tolerance = options.abs_tolerance.value_or(Defaults<T>::abs_tolerance);
  const double eps = report.eps;
  for (std::size_t i = 0; i < inputs.size(); ++i)
    if (!inputs[i].defined() || !inputs[i].is_leaf() || !inputs[i].requires_grad())
      throw Error("gradcheck: input " + std::to_string(i) +
                  " must be a defined leaf that requires a gradient");
  GradientsAside<T> aside(inputs);

  // Analytic: one backward pass, seeded with the projection R (1 for a scalar output).
  Tensor<T> out = f();
  if (!out.defined()) throw Error("gradcheck: the function returned an undefined tensor");
  Tensor<T> projection = Tensor<T>::ones(out.shape());
  if (out.size() != 1) {
    std::mt19937_64 rng(options.seed);
    projection = Tensor<T>::uniform(out.shape(), T(-1), T(1), rng);
  }
  if (out.requires_grad()) out.backward(projection);

  // phi(x) = sum(f(x) * R), accumulated in double.
  auto phi = [&]() {
    NoGradGuard no_grad;
    Tensor<T> y = f();
    if (y.shape() != projection.shape())
      throw Error("gradcheck: the function's output shape changed from " +
                  projection.shape().str() + " to " + y.shape().str());
    double s = 0;
    for (std::size_t k = 0; k < y.size(); ++k)
      s += double(y.data()[k]) * double(projection.data()[k]);
    return s;
  };

  // The rounding noise of a central difference: phi is known to about machine epsilon times the
  // magnitude of its terms, so (phi+ - phi-) / 2eps is noisy by about epsilon * magnitude / eps
  // per element. Below that, finite differences cannot tell a gradient from zero.
  double magnitude = 0;
  {
    NoGradGuard no_grad;
    const Tensor<T> y = f();
    for (std::size_t k = 0; k < y.size(); ++k)
      magnitude += std::abs(double(y.data()[k]) * double(projection.data()[k]));
  }
  const double element_noise = std::numeric_limits<T>::epsilon() * std::max(magnitude, 1.0) / eps;

  report.passed = true;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    Tensor<T> x = inputs[i];
    const Tensor<T> analytic = x.grad();
    InputCheck c;
    c.name = i < options.names.size() ? options.names[i] : "input " + std::to_string(i);
    c.shape = x.shape();
    double diff2 = 0, a2 = 0, n2 = 0, worst = -1;
    for (std::size_t j = 0; j < x.size(); ++j) {
      Perturbation<T> v(x.data()[j]);
      const T saved = v.original();
      const T up = T(saved + eps), down = T(saved - eps);
      if (up == saved || down == saved)
        throw DomainError("gradcheck: the step eps = " + fmt(eps) + " vanishes at " + c.name +
                          " element " + multi_index(x.shape(), j) + " = " + fmt(saved) +
                          " (x + eps == x in " + dtype_name<T>() +
                          "): the differences would be zero; use a larger step");
      v.set(up);
      const double plus = phi();
      v.set(down);
      const double minus = phi();
      v.restore();
      const double n = (plus - minus) / (2 * eps);
      const double a = analytic.data()[j];
      const double d = a - n;
      diff2 += d * d;
      a2 += a * a;
      n2 += n * n;
      // NaN differences rank first: they are the worst news.
      const double badness = std::isnan(d) ? INFINITY : std::abs(d);
      if (badness > worst) {
        worst = badness;
        c.worst_flat_index = j;
        c.worst_analytic = a;
        c.worst_numeric = n;
      }
    }
    c.worst_index = multi_index(x.shape(), c.worst_flat_index);
    c.abs_error = std::sqrt(diff2);
    const double denom = std::sqrt(a2) + std::sqrt(n2);
    c.relative_error = denom > 0 ? c.abs_error / denom : (std::isnan(c.abs_error) ? NAN : 0.0);
    // Without an explicit abs_tolerance, anything within ten times the noise floor of the
    // numerical gradient (as a norm over the input's elements) passes too.
    c.noise_floor = element_noise * std::sqrt(double(std::max<std::size_t>(x.size(), 1)));
    // The noise may only excuse a discrepancy when the analytic gradient claims zero: a nonzero
    // analytic gradient within the noise is a gradient the differences cannot see, not a pass.
    const double a_norm = std::sqrt(a2), n_norm = std::sqrt(n2);
    const bool analytic_zero = a_norm <= abs_tolerance;
    const double abs_limit = options.abs_tolerance ? *options.abs_tolerance
                             : analytic_zero       ? std::max(abs_tolerance, 10 * c.noise_floor)
                                                   : abs_tolerance;
    c.passed = c.relative_error < report.tolerance || c.abs_error < abs_limit;
    c.resolved = c.passed || 10 * c.noise_floor < std::max(a_norm, n_norm);
    if (!c.passed && x.size() > 0) {
      Perturbation<T> v(x.data()[c.worst_flat_index]);
      const T saved = v.original();
      const double at = phi();
      v.set(T(saved + eps));
      const double plus = phi();
      v.set(T(saved - eps));
      const double minus = phi();
      v.restore();
      c.right_difference = (plus - at) / eps;
      c.left_difference = (at - minus) / eps;
      const double gap = std::abs(c.right_difference - c.left_difference);
      c.kink = gap > 0.1 * (std::abs(c.right_difference) + std::abs(c.left_difference)) &&
               gap > std::sqrt(eps);
    }
    report.passed = report.passed && c.passed;
    report.inputs.push_back(std::move(c));
  }
  return report;
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

}  // namespace

double GradCheckReport::worst_relative_error() const {
  double worst = 0;
  for (const auto& c : inputs)
    if (std::isnan(c.relative_error) || c.relative_error > worst) worst = c.relative_error;
  return worst;
}

std::string GradCheckReport::str() const {
  std::ostringstream os;
  os << "gradcheck " << (passed ? "passed" : "FAILED") << " (eps " << fmt(eps) << ", tolerance "
     << fmt(tolerance) << ")\n";
  for (const auto& c : inputs) {
    os << "  " << c.name << c.shape.str() << ": relative error " << fmt(c.relative_error) << "  "
       << (c.passed ? "ok" : "FAIL") << "; worst element " << c.worst_index << ": analytic "
       << fmt(c.worst_analytic) << ", numeric " << fmt(c.worst_numeric);
    if (!c.resolved)
      os << "; finite differences cannot resolve this gradient: their rounding noise ("
         << fmt(c.noise_floor)
         << ") is of the order of the gradient itself (f is too large for the step: remove a "
            "constant offset or scale f down)";
    else if (!c.passed)
      os << "; one-sided differences left " << fmt(c.left_difference) << ", right "
         << fmt(c.right_difference)
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
OpCheckResult check_op(const OpInfo& op, SampleFactory<T> factory, const char* dtype,
                       const std::vector<std::uint64_t>& seeds) {
  OpCheckResult row;
  row.op = op.name;
  row.dtype = dtype;
  row.adjoint = op.adjoint;
  row.passed = true;
  for (const std::uint64_t seed : seeds) {
    for (const GradSample<T>& sample : factory(seed)) {
      ++row.samples_run;
      if (std::find(row.shapes.begin(), row.shapes.end(), sample.label) == row.shapes.end())
        row.shapes.push_back(sample.label);
      // The sample must exercise the op itself, not something that bypasses it.
      std::vector<Tensor<T>> probe;
      for (const auto& t : sample.inputs) probe.push_back(t.clone().set_requires_grad(true));
      const Tensor<T> out = sample.fn(probe);
      if (op.name != out.op_name()) {
        row.passed = false;
        if (row.failure.empty())
          row.failure =
              "sample " + sample.label + " is computed by " + out.op_name() + ", not " + op.name;
        continue;
      }
      const GradCheckReport report = gradcheck(sample.fn, sample.inputs);
      const double err = report.worst_relative_error();
      if (std::isnan(err) || err >= row.worst_relative_error) {
        row.worst_relative_error = err;
        row.worst_sample = sample.label;
      }
      if (!report.passed) {
        if (row.failure.empty()) row.failure = "sample " + sample.label + ": " + report.str();
        row.passed = false;
      }
    }
  }
  if (row.samples_run == 0) {
    row.passed = false;
    row.failure = "op " + op.name + " has no gradient-check sample";
  }
  return row;
}

}  // namespace

std::vector<OpCheckResult> check_registered_ops(const std::vector<std::uint64_t>& seeds,
                                                bool include_float) {
  std::vector<OpCheckResult> rows;
  for (const OpInfo& op : registered_ops()) {
    rows.push_back(check_op<double>(op, op.samples_double, "f64", seeds));
    if (include_float) rows.push_back(check_op<float>(op, op.samples_float, "f32", seeds));
  }
  return rows;
}

}  // namespace tg
