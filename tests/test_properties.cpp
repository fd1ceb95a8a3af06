// Property test: random graphs composed from the registered ops pass the finite-difference check
// (tg::gradcheck, double, default eps and tolerances). Beyond the per-op suite this checks
// composition, fan-out (a value used by several ops, or twice by one) and gradient accumulation,
// broadcasting gradients summed back, and every op's adjoint fed by a non-trivial upstream.
//
// Each graph has 1-3 inputs of random small shapes and 3-8 steps over the values made so far
// (inputs first, then each step's result). The steps compose the ops in smooth forms, so that
// central differences can judge them: denominators are 1 + b*b, logs and fractional powers take
// 1 + a*a, exp takes tanh(a), bce takes sigmoids, relu only sees inputs kept at least 0.1 from 0,
// and the softmax family's input is scaled along its last axis by a fixed ramp (1.0, 1.3, 1.6..),
// so that no input moves only along the shift direction softmax ignores (its gradient there is
// exactly zero, which finite differences can only meet with rounding noise).
#include <doctest/doctest.h>

#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "tapegrad/gradcheck.hpp"
#include "tapegrad/tapegrad.hpp"

using tg::Shape;
using tg::TensorD;

namespace {

using Values = std::vector<TensorD>;
// One step: reads the values so far, returns its result. Replayed on fresh inputs by gradcheck.
using Step = std::function<TensorD(const Values&)>;

bool broadcastable(const Shape& a, const Shape& b) {
  const std::size_t rank = std::max(a.rank(), b.rank());
  for (std::size_t i = 0; i < rank; ++i) {
    const std::size_t da = i + a.rank() >= rank ? a[i + a.rank() - rank] : 1;
    const std::size_t db = i + b.rank() >= rank ? b[i + b.rank() - rank] : 1;
    if (da != db && da != 1 && db != 1) return false;
  }
  return true;
}

// x * [1.0, 1.3, 1.6, ...] along the last axis (a constant).
TensorD ramp(const TensorD& x) {
  std::vector<double> r(x.shape().back());
  for (std::size_t i = 0; i < r.size(); ++i) r[i] = 1.0 + 0.3 * double(i);
  return x * TensorD::from_vector(Shape{r.size()}, r);
}

// ramp(x), or x itself for a scalar: a reduction of it is never constant by accident (a softmax
// row sums to 1).
TensorD weigh(const TensorD& x) {
  return x.ndim() == 0 ? x : ramp(x);
}

class GraphBuilder {
 public:
  explicit GraphBuilder(std::uint64_t seed) : rng_(seed) {}

  std::string description;
  std::vector<TensorD> inputs;
  std::vector<Step> steps;
  std::size_t fan_outs = 0;  // values read by more than one step (or twice by one)

  void build() {
    const std::size_t n_inputs = 1 + pick(3);
    for (std::size_t i = 0; i < n_inputs; ++i) {
      const Shape s = random_shape();
      TensorD x = TensorD::uniform(s, 0.1, 1.0, rng_, true);
      for (std::size_t k = 0; k < x.size(); ++k)
        if (coin()) x.data()[k] = -x.data()[k];
      inputs.push_back(x);
      values_.push_back(x);
      uses_.push_back(0);
      description += "x";
      description += std::to_string(i);
      description += s.str() + " ";
    }
    const std::size_t n_steps = 3 + pick(6);
    while (steps.size() < n_steps) add_step();
    // Fan-in at the end: the last result plus an earlier one, both reduced to scalars.
    if (values_.size() > 2 && coin()) {
      const std::size_t a = values_.size() - 1, b = pick(values_.size() - 1);
      push([a, b](const Values& x) { return tg::sum(weigh(x[a])) + tg::mean(weigh(x[b])) * 0.5; },
           "sum(ramp(" + v(a) + ")) + 0.5*mean(ramp(" + v(b) + "))", {a, b});
    }
  }

  TensorD run(const Values& in) const {
    Values v = in;
    for (const Step& step : steps) v.push_back(step(v));
    return v.back();
  }

 private:
  std::mt19937_64 rng_;
  Values values_;  // concrete values, to know shapes while building
  std::vector<int> uses_;

  std::size_t pick(std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_);
  }
  bool coin() { return pick(2) == 0; }

  Shape random_shape() {
    static const std::size_t ranks[] = {0, 1, 1, 2, 2, 2, 2, 3};
    Shape s;
    for (std::size_t i = 0, r = ranks[pick(8)]; i < r; ++i) s.push_back(1 + pick(4));
    return s;
  }

  void push(Step step, const std::string& what, std::initializer_list<std::size_t> reads) {
    for (std::size_t r : reads)
      if (++uses_[r] == 2) ++fan_outs;
    TensorD result = step(values_);
    description += "| v";
    description += std::to_string(values_.size());
    description += " = " + what + " " + result.shape().str() + " ";
    values_.push_back(result);
    uses_.push_back(0);
    steps.push_back(std::move(step));
  }

  std::size_t any() { return pick(values_.size()); }
  // A value broadcast-compatible with values_[a] (possibly a itself: fan-out).
  std::size_t partner(std::size_t a) {
    std::vector<std::size_t> ok;
    for (std::size_t i = 0; i < values_.size(); ++i)
      if (broadcastable(values_[a].shape(), values_[i].shape())) ok.push_back(i);
    return ok[pick(ok.size())];
  }
  std::size_t same_shape(std::size_t a) {
    std::vector<std::size_t> ok;
    for (std::size_t i = 0; i < values_.size(); ++i)
      if (values_[i].shape() == values_[a].shape()) ok.push_back(i);
    return ok[pick(ok.size())];
  }
  // A value with rank in [lo, hi], or none (values_.size()).
  std::size_t with_rank(std::size_t lo, std::size_t hi) {
    std::vector<std::size_t> ok;
    for (std::size_t i = 0; i < values_.size(); ++i)
      if (values_[i].ndim() >= lo && values_[i].ndim() <= hi && values_[i].size() <= 64)
        ok.push_back(i);
    return ok.empty() ? values_.size() : ok[pick(ok.size())];
  }
  static std::string v(std::size_t i) {
    std::string name = "v";
    name += std::to_string(i);
    return name;
  }

  // One random step. Each kind of step draws its operands from the generator in its own order,
  // so a seed keeps building the same graph.
  void add_step() {
    const std::size_t kind = pick(24);
    if (kind < 5) return add_arithmetic(kind);
    if (kind < 11) return add_unary(kind);
    if (kind < 16) return add_reduction_or_shape(kind);
    if (kind < 19) return add_matrix(kind);
    if (kind < 21) return add_loss(kind);
    return add_backward_or_fan_out(kind);
  }

  // a + b, a - b, a * b and two divisions, a and b broadcast together.
  void add_arithmetic(std::size_t kind) {
    switch (kind) {
      case 0: {
        const std::size_t a = any(), b = partner(a);
        return push([a, b](const Values& x) { return x[a] + x[b]; }, v(a) + " + " + v(b), {a, b});
      }
      case 1: {
        const std::size_t a = any(), b = partner(a);
        return push([a, b](const Values& x) { return x[a] - x[b]; }, v(a) + " - " + v(b), {a, b});
      }
      case 2: {
        const std::size_t a = any(), b = partner(a);
        return push([a, b](const Values& x) { return x[a] * x[b]; }, v(a) + " * " + v(b), {a, b});
      }
      case 3: {
        const std::size_t a = any(), b = partner(a);
        return push([a, b](const Values& x) { return x[a] / (1.0 + x[b] * x[b]); },
                    v(a) + " / (1 + " + v(b) + "^2)", {a, b});
      }
      case 4: {
        const std::size_t a = any(), b = partner(a);
        return push([a, b](const Values& x) { return tg::xdivy(x[a], 1.0 + tg::pow(x[b], 2.0)); },
                    "xdivy(" + v(a) + ", 1 + pow(" + v(b) + ", 2))", {a, b});
      }
    }
  }

  // Elementwise functions of one value.
  void add_unary(std::size_t kind) {
    switch (kind) {
      case 5: {
        const std::size_t a = any();
        return push([a](const Values& x) { return -x[a]; }, "-" + v(a), {a});
      }
      case 6: {
        const std::size_t a = any();
        return push([a](const Values& x) { return tg::exp(tg::tanh(x[a])); },
                    "exp(tanh(" + v(a) + "))", {a});
      }
      case 7: {
        const std::size_t a = any();
        if (coin())
          return push([a](const Values& x) { return tg::log(1.0 + x[a] * x[a]); },
                      "log(1 + " + v(a) + "^2)", {a});
        return push([a](const Values& x) { return tg::log(tg::exp(tg::tanh(x[a])) + 1.0); },
                    "log(exp(tanh(" + v(a) + ")) + 1)", {a});
      }
      case 8: {
        const std::size_t a = any();
        return push([a](const Values& x) { return tg::sigmoid(x[a]); }, "sigmoid(" + v(a) + ")",
                    {a});
      }
      case 9: {
        const std::size_t a = any();
        return push([a](const Values& x) { return tg::tanh(x[a]); }, "tanh(" + v(a) + ")", {a});
      }
      case 10: {
        const std::size_t a = any();
        static const double ps[] = {0.5, 1.5, -1.0, -0.5, 2.0, 3.0};
        const double p = ps[pick(6)];
        if (p == 2.0 || p == 3.0)
          return push([a, p](const Values& x) { return tg::pow(x[a], p); },
                      "pow(" + v(a) + ", " + std::to_string(p) + ")", {a});
        return push([a, p](const Values& x) { return tg::pow(1.0 + x[a] * x[a], p); },
                    "pow(1 + " + v(a) + "^2, " + std::to_string(p) + ")", {a});
      }
    }
  }

  // sum and mean, then the ops that only move or replicate elements.
  void add_reduction_or_shape(std::size_t kind) {
    switch (kind) {
      case 11: {
        const std::size_t a = any();
        const bool is_mean = coin();
        if (values_[a].ndim() == 0 || coin())
          return push(
              [a, is_mean](const Values& x) { return is_mean ? tg::mean(x[a]) : tg::sum(x[a]); },
              std::string(is_mean ? "mean(" : "sum(") + v(a) + ")", {a});
        const std::size_t axis = pick(values_[a].ndim());
        return push(
            [a, axis, is_mean](const Values& x) {
              return is_mean ? tg::mean(x[a], axis) : tg::sum(x[a], axis);
            },
            std::string(is_mean ? "mean(" : "sum(") + v(a) + ", axis " + std::to_string(axis) + ")",
            {a});
      }
      case 12: {
        const std::size_t a = with_rank(2, 2);
        if (a == values_.size()) return;
        return push([a](const Values& x) { return tg::transpose(x[a]); }, "transpose(" + v(a) + ")",
                    {a});
      }
      case 13: {
        const std::size_t a = any();
        const std::size_t n = values_[a].size();
        Shape to;
        switch (pick(3)) {
          case 0:
            to = Shape{n};
            break;
          case 1:
            to = Shape{1, n};
            break;
          default:
            to = Shape{n, 1};
            break;
        }
        return push([a, to](const Values& x) { return tg::reshape(x[a], to); },
                    "reshape(" + v(a) + ", " + to.str() + ")", {a});
      }
      case 14: {
        const std::size_t a = with_rank(0, 2);
        if (a == values_.size()) return;
        Shape to;
        to.push_back(1 + pick(3));  // a new leading axis
        for (std::size_t d : values_[a].shape()) to.push_back(d == 1 ? 1 + pick(3) : d);
        return push([a, to](const Values& x) { return tg::broadcast_to(x[a], to); },
                    "broadcast_to(" + v(a) + ", " + to.str() + ")", {a});
      }
      case 15: {
        const std::size_t a = with_rank(1, 4);
        if (a == values_.size()) return;
        const Shape& s = values_[a].shape();
        Shape to;
        for (std::size_t i = pick(s.rank() + 1); i < s.rank(); ++i) to.push_back(coin() ? 1 : s[i]);
        return push([a, to](const Values& x) { return tg::sum_to(x[a], to); },
                    "sum_to(" + v(a) + ", " + to.str() + ")", {a});
      }
    }
  }

  // softmax along rows, matmul and add_bias.
  void add_matrix(std::size_t kind) {
    switch (kind) {
      case 16: {
        const std::size_t a = with_rank(1, 3);
        if (a == values_.size()) return;
        const bool log_space = coin();
        return push(
            [a, log_space](const Values& x) {
              return log_space ? tg::log_softmax(ramp(x[a])) : ramp(tg::softmax(ramp(x[a])));
            },
            log_space ? "log_softmax(ramp(" + v(a) + "))" : "ramp(softmax(ramp(" + v(a) + ")))",
            {a});
      }
      case 17: {
        // matmul with whichever transpose flags make the inner dimensions agree.
        const std::size_t a = with_rank(2, 2);
        if (a == values_.size()) return;
        std::vector<std::tuple<std::size_t, bool, bool>> options;
        for (std::size_t b = 0; b < values_.size(); ++b) {
          if (values_[b].ndim() != 2) continue;
          for (int f = 0; f < 4; ++f) {
            const bool ta = f & 1, tb = f & 2;
            const std::size_t k = ta ? values_[a].dim(0) : values_[a].dim(1);
            const std::size_t kb = tb ? values_[b].dim(1) : values_[b].dim(0);
            if (k == kb) options.emplace_back(b, ta, tb);
          }
        }
        const auto [b, ta, tb] = options[pick(options.size())];  // (a, a^T) always fits
        return push([a, b = b, ta = ta,
                     tb = tb](const Values& x) { return tg::matmul(x[a], x[b], ta, tb); },
                    "matmul(" + v(a) + (ta ? "^T" : "") + ", " + v(b) + (tb ? "^T" : "") + ")",
                    {a, b});
      }
      case 18: {
        const std::size_t a = with_rank(2, 2);
        if (a == values_.size()) return;
        const std::size_t m = values_[a].dim(1);
        for (std::size_t b = 0; b < values_.size(); ++b)
          if (values_[b].shape() == Shape{m} && coin())
            return push([a, b](const Values& x) { return tg::add_bias(x[a], x[b]); },
                        "add_bias(" + v(a) + ", " + v(b) + ")", {a, b});
        return push([a](const Values& x) { return tg::add_bias(x[a], tg::mean(x[a], 0)); },
                    "add_bias(" + v(a) + ", mean(" + v(a) + ", 0))", {a, a});
      }
    }
  }

  // The losses.
  void add_loss(std::size_t kind) {
    switch (kind) {
      case 19: {
        const std::size_t a = any(), b = same_shape(a);
        switch (pick(3)) {
          case 0:
            return push([a, b](const Values& x) { return tg::mse(x[a], tg::tanh(x[b])); },
                        "mse(" + v(a) + ", tanh(" + v(b) + "))", {a, b});
          case 1:
            return push(
                [a, b](const Values& x) {
                  return tg::bce(tg::sigmoid(x[a]), tg::sigmoid(x[b] * 0.5));
                },
                "bce(sigmoid(" + v(a) + "), sigmoid(0.5*" + v(b) + "))", {a, b});
          default:
            return push(
                [a, b](const Values& x) { return tg::bce_with_logits(x[a], tg::sigmoid(x[b])); },
                "bce_with_logits(" + v(a) + ", sigmoid(" + v(b) + "))", {a, b});
        }
      }
      case 20: {
        const std::size_t a = with_rank(2, 2);
        if (a == values_.size()) return;
        if (coin()) {
          tg::Labels labels(values_[a].dim(0));
          for (auto& l : labels) l = std::int64_t(pick(values_[a].dim(1)));
          return push([a, labels](const Values& x) { return tg::softmax_ce(ramp(x[a]), labels); },
                      "softmax_ce(ramp(" + v(a) + "), labels)", {a});
        }
        const std::size_t b = same_shape(a);
        return push(
            [a, b](const Values& x) { return tg::softmax_ce(ramp(x[a]), tg::softmax(x[b])); },
            "softmax_ce(ramp(" + v(a) + "), softmax(" + v(b) + "))", {a, b});
      }
    }
  }

  // The activations' backward ops, relu, and a value read twice by one op.
  void add_backward_or_fan_out(std::size_t kind) {
    switch (kind) {
      case 21: {
        const std::size_t a = any(), b = partner(a);
        if (coin())
          return push(
              [a, b](const Values& x) { return tg::sigmoid_backward(x[a], tg::sigmoid(x[b])); },
              "sigmoid_backward(" + v(a) + ", sigmoid(" + v(b) + "))", {a, b});
        return push([a, b](const Values& x) { return tg::tanh_backward(x[a], tg::tanh(x[b])); },
                    "tanh_backward(" + v(a) + ", tanh(" + v(b) + "))", {a, b});
      }
      case 22: {
        // relu and relu_backward on inputs only: they are kept at least 0.1 from the kink.
        const std::size_t a = pick(inputs.size());
        if (coin())
          return push([a](const Values& x) { return tg::relu(x[a]); }, "relu(" + v(a) + ")", {a});
        const std::size_t g = partner(a);
        return push([a, g](const Values& x) { return tg::relu_backward(x[g], tg::relu(x[a])); },
                    "relu_backward(" + v(g) + ", relu(" + v(a) + "))", {a, g});
      }
      default: {
        // Fan-out on purpose: one value used twice by one op.
        const std::size_t a = any();
        return push([a](const Values& x) { return x[a] * tg::sigmoid(x[a]); },
                    v(a) + " * sigmoid(" + v(a) + ")", {a, a});
      }
    }
  }
};

// Central differences carry rounding noise of about 1e-16 |f| / eps per element, which the default
// eps = 1e-6 cannot push below 1e-7 relative when a graph's gradients are small next to its
// output. A graph that fails at the default is judged again at eps = 1e-5 and 1e-4 (tolerances
// unchanged): a wrong adjoint disagrees by the same amount at every eps, noise shrinks with it.
tg::GradCheckReport check_graph(const GraphBuilder& builder, const std::vector<std::string>& names,
                                int& retried) {
  const auto f = [&builder](const Values& in) { return builder.run(in); };
  tg::GradCheckReport report = tg::gradcheck(f, builder.inputs, {.names = names});
  for (double eps : {1e-5, 1e-4}) {
    if (report.passed) break;
    ++retried;
    report = tg::gradcheck(f, builder.inputs, {.eps = eps, .names = names});
  }
  return report;
}

}  // namespace

TEST_CASE("properties: 300 random graphs of composed ops pass gradcheck in double") {
  constexpr int kGraphs = 300;
  int passed = 0, with_fan_out = 0, retried = 0;
  std::size_t steps = 0, elements = 0;
  for (int g = 0; g < kGraphs; ++g) {
    GraphBuilder builder(7000 + std::uint64_t(g));
    builder.build();
    steps += builder.steps.size();
    for (const auto& x : builder.inputs) elements += x.size();
    with_fan_out += builder.fan_outs > 0;
    std::vector<std::string> names;
    for (std::size_t i = 0; i < builder.inputs.size(); ++i) {
      names.emplace_back("x");
      names.back() += std::to_string(i);
    }
    const tg::GradCheckReport report = check_graph(builder, names, retried);
    CAPTURE(g);
    CAPTURE(builder.description);
    CHECK_MESSAGE(report.passed, report);
    passed += report.passed;
  }
  MESSAGE(passed << " of " << kGraphs << " graphs passed (" << retried
                 << " checks repeated at a larger eps); " << steps << " steps, " << elements
                 << " input elements checked, " << with_fan_out << " graphs with fan-out");
  CHECK(with_fan_out > kGraphs / 2);
  CHECK(retried < kGraphs / 10);
}
