// var: sum((x - mean)^2) / (N - correction) of all elements (-> []), along one axis or a list of
// axes, N the slice's size and correction 1 (Bessel's) unless given. Two passes (the mean, then
// the deviations with a compensating term), so a large common offset costs no digits.
// N - correction <= 0 divides by 0 (PyTorch's max(0, N - correction)): inf, or NaN where the
// deviations are all 0; an empty slice is NaN. Adjoint: G*2(x - mean)/(N - correction).
#include <limits>

#include "../reduce_kernels.hpp"

namespace tg {

namespace {

template <class T> class VarNode final : public SavingNode<T, 1> {
 public:
  detail::ReducePlan plan;
  double correction = 1;
  const char* name() const override { return "var"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    grads[0] = detail::var_adjoint("var", g, this->get(0), plan, correction);
  }
};

// Corrections 1 (the default), 0 (with keepdim) and 2 (over several axes), and 0 where a slice
// has one element (a correction of 1 would make it NaN).
template <class T> std::vector<GradSample<T>> var_samples(std::uint64_t seed) {
  return samples::reduction_forms<T>(
      seed, [](const Shape& s, std::mt19937_64& rng) { return samples::uniform<T>(s, -1, 1, rng); },
      [](const Tensor<T>& x, const samples::AxisSpec& spec) {
        const double correction = samples::sample_correction(spec);
        if (spec.kind == samples::AxisSpec::all)
          return correction == 1 ? var(x) : var(x, std::vector<int>{}, false, correction);
        if (spec.kind == samples::AxisSpec::one) return var(x, spec.axis, spec.keepdim, correction);
        return var(x, spec.axes, spec.keepdim, correction);
      });
}

TensorD var_gradient(const TensorD& x, double correction) {
  TensorD leaf = x.clone();
  leaf.set_requires_grad(true);
  var(leaf, std::vector<int>{}, false, correction).backward();
  return leaf.grad();
}

// By hand: x = [[1,2,3],[4,5,6]] has mean 3.5 and squared deviations 17.5 (/5 = 3.5); each
// column's two values are 3 apart (2 * 1.5^2 = 4.5), each row's three 1 apart (2, /2 = 1, /3 for
// correction 0). The gradient over all of [1,2,3] is 2(x - 2)/2.
OpCases var_cases() {
  constexpr double inf = std::numeric_limits<double>::infinity();
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  auto x = [] { return TensorD::matrix({{1, 2, 3}, {4, 5, 6}}); };
  return {.forward = {{"all", [x] { return var(x()); }, Shape{}, {3.5}},
                      {"axis 0", [x] { return var(x(), 0); }, Shape{3}, {4.5, 4.5, 4.5}},
                      {"axis -1 keepdim", [x] { return var(x(), -1, true); }, Shape{2, 1}, {1, 1}},
                      {"axis 1 correction 0",
                       [x] { return var(x(), 1, false, 0); },
                       Shape{2},
                       {2.0 / 3, 2.0 / 3}},
                      {"all, correction 0 through axes {}",
                       [x] { return var(x(), {}, false, 0); },
                       Shape{},
                       {17.5 / 6}},
                      {"axes {0,1} keepdim",
                       [x] {
                         return var(x(), {0, 1}, true);
                       },
                       Shape{1, 1},
                       {3.5}},
                      {"large offset",
                       [] {
                         return var(TensorD::vector({1e9 + 1, 1e9 + 2, 1e9 + 3}));
                       },
                       Shape{},
                       {1}},
                      {"one element", [] { return var(TensorD::vector({5})); }, Shape{}, {nan}},
                      {"0-d", [] { return var(TensorD::scalar(5)); }, Shape{}, {nan}},
                      {"N - correction < 0",
                       [] {
                         return var(TensorD::vector({1, 3}), std::vector<int>{}, false, 3);
                       },
                       Shape{},
                       {inf}},
                      {"empty", [] { return var(TensorD::zeros(Shape{0})); }, Shape{}, {nan}},
                      {"gradient",
                       [] {
                         return var_gradient(TensorD::vector({1, 2, 3}), 1);
                       },
                       Shape{3},
                       {-1, 0, 1}},
                      {"gradient correction 0",
                       [] {
                         return var_gradient(TensorD::vector({1, 2, 3}), 0);
                       },
                       Shape{3},
                       {-2.0 / 3, 0, 2.0 / 3}},
                      {"gradient with N - correction <= 0",
                       [] {
                         return var_gradient(TensorD::vector({1, 3, 2}), 3);
                       },
                       Shape{3},
                       {-inf, inf, nan}}},
          .errors = {{"axis 2 of [2,3]", ErrorKind::axis, "axis 2 out of range for shape [2,3]",
                      [] {
                        var(TensorD::zeros(Shape{2, 3}), 2);
                      }},
                     {"duplicate axis", ErrorKind::axis, "axis -2 repeats axis 0", [] {
                        var(TensorD::zeros(Shape{2, 3}), {0, -2});
                      }}}};
}

}  // namespace

template <class T> Tensor<T> var(const Tensor<T>& x) {
  return var(x, std::vector<int>{}, false, 1);
}

template <class T>
Tensor<T> var(const Tensor<T>& x, const std::vector<int>& axes, bool keepdim, double correction) {
  const detail::ReducePlan plan = detail::plan_reduction("var", x.shape(), axes, keepdim);
  Tensor<T> out = detail::reduce_slices(
      "var", x, plan, std::numeric_limits<T>::quiet_NaN(),
      [correction](const detail::Slice<T>& s) { return detail::slice_variance(s, correction); });
  if (auto* node = record<VarNode<T>>(out, {&x})) {
    node->plan = plan;
    node->correction = correction;
    node->saved[0].save_input(x);
  }
  return out;
}

template Tensor<float> var(const Tensor<float>&);
template Tensor<double> var(const Tensor<double>&);
template Tensor<float> var(const Tensor<float>&, const std::vector<int>&, bool, double);
template Tensor<double> var(const Tensor<double>&, const std::vector<int>&, bool, double);

TG_DEFINE_REPLAYABLE_OP(var, "dx = G*2(x - mean)/(N - correction), broadcast back over the slice",
                        var_samples, var_cases);

}  // namespace tg
