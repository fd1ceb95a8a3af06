// norm: the p-norm for p = 1 (sum |x|), 2 (sqrt(sum x^2), scaled by max |x| so that 1e200 does not
// overflow and 1e-200 does not underflow) or inf (max |x|), of all elements (-> []), along one axis
// or a list of axes; other p: DomainError. An empty slice has norm 0 (p = inf: IndexError, as
// max). Adjoint, PyTorch's subgradients: p = 1: G*sign(x), 0 at 0; p = 2: G*x/n, 0 where n = 0;
// p = inf: G*sign(x) split equally among the elements whose |x| is the norm (or NaN: a NaN's
// gradient is NaN, the others' 0).
#include <limits>

#include "../reduce_kernels.hpp"

namespace tg {

namespace {

template <class T> T sign_of(T v) {
  return v > T(0) ? T(1) : v < T(0) ? T(-1) : v == T(0) ? T(0) : v;
}

template <class T> class NormNode final : public SavingNode<T, 2> {
 public:
  detail::ReducePlan plan;
  double p = 2;
  const char* name() const override { return "norm"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    const Tensor<T> x = this->get(0);
    const Tensor<T> gx = detail::expand_back(g, plan);
    // The 2-norm of one element is |x|: sign(x) exactly, where x/|x| would round.
    if (p == 1 || (p == 2 && plan.count == 1)) {
      grads[0] = mul(gx, detail::map_unary("norm", x, [](T v) { return sign_of(v); }));
    } else if (p == 2) {
      const Tensor<T> n = detail::as_kept(this->get(1), plan);
      const Tensor<T> zero = detail::map_unary("norm", n, [](T v) { return T(v == T(0)); });
      grads[0] = mul(gx, x * ((T(1) - zero) / add(n, zero)));
    } else {
      grads[0] = mul(gx, detail::tie_weights(
                             "norm", x, plan, this->get(1), [](T v) { return std::abs(v); },
                             [](T v) { return sign_of(v); }, true));
    }
  }
};

template <class T> T slice_norm(const detail::Slice<T>& s, double p) {
  if (p == 1) {
    T total = 0;
    for (std::size_t i = 0; i < s.size; ++i) total += std::abs(s[i]);
    return total;
  }
  T top = 0;
  for (std::size_t i = 0; i < s.size; ++i) {
    const T a = std::abs(s[i]);
    if (a != a) return a;
    top = std::max(top, a);
  }
  if (p != 2 || top == T(0) || std::isinf(top)) return top;
  T total = 0;
  for (std::size_t i = 0; i < s.size; ++i) {
    const T scaled = s[i] / top;
    total += scaled * scaled;
  }
  return top * std::sqrt(total);
}

// p = 1 away from the kink at 0; p = inf with |x| at distinct, spread levels (no tie to cross).
template <class T> std::vector<GradSample<T>> norm_samples(std::uint64_t seed) {
  std::vector<GradSample<T>> out;
  for (const double p : {2.0, 1.0, std::numeric_limits<double>::infinity()}) {
    auto make = [p](const Shape& s, std::mt19937_64& rng) {
      if (p == 2) return samples::uniform<T>(s, -1, 1, rng);
      if (p == 1) return samples::away_from_zero<T>(s, 0.2, 1, rng);
      Tensor<T> x = samples::spread<T>(s, 0.2, 1, rng);
      std::bernoulli_distribution flip(0.5);
      for (std::size_t i = 0; i < x.size(); ++i)
        if (flip(rng)) x.data()[i] = -x.data()[i];
      return x;
    };
    auto fn = [p](const Tensor<T>& x, const samples::AxisSpec& spec) {
      if (spec.kind == samples::AxisSpec::all) return p == 2 ? norm(x) : norm(x, p);
      if (spec.kind == samples::AxisSpec::one) return norm(x, p, spec.axis, spec.keepdim);
      return norm(x, p, spec.axes, spec.keepdim);
    };
    for (GradSample<T>& sample : samples::reduction_forms<T>(seed++, make, fn)) {
      sample.label += " p=" + format_number(p);
      out.push_back(std::move(sample));
    }
  }
  return out;
}

TensorD norm_gradient(const TensorD& x, double p) {
  TensorD leaf = x.clone();
  leaf.set_requires_grad(true);
  norm(leaf, p).backward();
  return leaf.grad();
}

// By hand: [3, -4] has norms 7, 5 and 4; [[3,4],[-6,8]] rows 5 and 10; 1e200 * [3, 4] is 5e200
// without overflow. Gradients: sign(x) for p = 1; x/5 for p = 2; at the largest |x| for inf,
// shared between ties.
OpCases norm_cases() {
  constexpr double inf = std::numeric_limits<double>::infinity();
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  auto v = [] { return TensorD::vector({3, -4}); };
  auto m = [] { return TensorD::matrix({{3, 4}, {-6, 8}}); };
  return {
      .forward =
          {{"p=2", [v] { return norm(v()); }, Shape{}, {5}},
           {"p=1", [v] { return norm(v(), 1); }, Shape{}, {7}},
           {"p=inf", [v] { return norm(v(), inf); }, Shape{}, {4}},
           {"p=2 axis 1", [m] { return norm(m(), 2, 1); }, Shape{2}, {5, 10}},
           {"p=1 axis 0 keepdim", [m] { return norm(m(), 1, 0, true); }, Shape{1, 2}, {9, 12}},
           {"p=inf axes {0,1}",
            [m] {
              return norm(m(), inf, {0, 1});
            },
            Shape{},
            {8}},
           {"p=2 huge",
            [] {
              return norm(TensorD::vector({3e200, 4e200}));
            },
            Shape{},
            {5e200}},
           {"p=2 tiny, times 1e200",
            [] {
              return norm(TensorD::vector({3e-200, 4e-200})) * 1e200;
            },
            Shape{},
            {5}},
           {"p=2 inf",
            [] {
              return norm(TensorD::vector({inf, 1}));
            },
            Shape{},
            {inf}},
           {"p=2 NaN",
            [] {
              return norm(TensorD::vector({inf, nan}));
            },
            Shape{},
            {nan}},
           {"p=2 empty", [] { return norm(TensorD::zeros(Shape{0})); }, Shape{}, {0}},
           {"p=2 0-d", [] { return norm(TensorD::scalar(-2)); }, Shape{}, {2}},
           {"gradient p=2", [v] { return norm_gradient(v(), 2); }, Shape{2}, {0.6, -0.8}},
           {"gradient p=2 at 0",
            [] {
              return norm_gradient(TensorD::vector({0, 0}), 2);
            },
            Shape{2},
            {0, 0}},
           {"gradient p=1",
            [] {
              return norm_gradient(TensorD::vector({3, 0, -1}), 1);
            },
            Shape{3},
            {1, 0, -1}},
           {"gradient p=inf",
            [] {
              return norm_gradient(TensorD::vector({3, -4, 1}), inf);
            },
            Shape{3},
            {0, -1, 0}},
           {"gradient p=inf NaN",
            [] {
              return norm_gradient(TensorD::vector({3, nan, -5}), inf);
            },
            Shape{3},
            {0, nan, 0}},
           {"gradient p=inf ties",
            [] {
              return norm_gradient(TensorD::vector({4, -4, 1, 4}), inf);
            },
            Shape{4},
            {1.0 / 3, -1.0 / 3, 0, 1.0 / 3}}},
      .errors = {{"p = 3", ErrorKind::domain, "p = 3", [] { norm(TensorD::zeros(Shape{2}), 3); }},
                 {"axis 2 of [2,3]", ErrorKind::axis, "axis 2 out of range for shape [2,3]",
                  [] {
                    norm(TensorD::zeros(Shape{2, 3}), 2, 2);
                  }},
                 {"duplicate axis", ErrorKind::axis, "axis 0 repeats axis 0",
                  [] {
                    norm(TensorD::zeros(Shape{2, 3}), 1, {0, 0});
                  }},
                 {"p=inf empty", ErrorKind::index, "empty tensor [0]",
                  [] { norm(TensorD::zeros(Shape{0}), inf); }}}};
}

}  // namespace

template <class T> Tensor<T> norm(const Tensor<T>& x, double p) {
  return norm(x, p, std::vector<int>{}, false);
}

template <class T>
Tensor<T> norm(const Tensor<T>& x, double p, const std::vector<int>& axes, bool keepdim) {
  if (!(p == 1 || p == 2 || p == std::numeric_limits<double>::infinity()))
    throw DomainError("norm: p = " + format_number(p) + " is not supported (1, 2 or inf)");
  const detail::ReducePlan plan = detail::plan_reduction("norm", x.shape(), axes, keepdim);
  if (std::isinf(p)) detail::require_nonempty_slices("norm", x.shape(), axes, plan);
  Tensor<T> out = detail::reduce_slices(
      "norm", x, plan, T(0), [p](const detail::Slice<T>& s) { return slice_norm(s, p); });
  if (auto* node = record<NormNode<T>>(out, {&x})) {
    node->plan = plan;
    node->p = p;
    node->saved[0].save_input(x);
    node->saved[1].save_output(out);
  }
  return out;
}

template Tensor<float> norm(const Tensor<float>&, double);
template Tensor<double> norm(const Tensor<double>&, double);
template Tensor<float> norm(const Tensor<float>&, double, const std::vector<int>&, bool);
template Tensor<double> norm(const Tensor<double>&, double, const std::vector<int>&, bool);

TG_DEFINE_REPLAYABLE_OP(
    norm,
    "p=1: dx = G*sign(x); p=2: dx = G*x/n (0 where n = 0); p=inf: G*sign(x) split among "
    "the largest |x|",
    norm_samples, norm_cases);

}  // namespace tg
