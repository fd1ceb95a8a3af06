// std: sqrt(var), with var's arguments (correction 1 unless given) and var's two-pass kernel.
// Saves its output s. Adjoint: var's adjoint of G/(2s), and 0 where s = 0 (PyTorch's: a constant
// slice's std has no derivative there, and the one-sided ones would be +-inf).
#include <limits>

#include "../reduce_kernels.hpp"

namespace tg {

namespace {

template <class T> class StdNode final : public SavingNode<T, 2> {
 public:
  detail::ReducePlan plan;
  double correction = 1;
  const char* name() const override { return "std"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    const Tensor<T> s = this->get(1);
    const Tensor<T> zero = detail::map_unary("std", s, [](T v) { return T(v == T(0)); });
    // G/(2s) with s replaced by 1 where it is 0, then masked: no 0 * inf = NaN on either path.
    const Tensor<T> g_var = mul(g, (T(1) - zero) / (add(s, zero) * T(2)));
    grads[0] = detail::var_adjoint("std", g_var, this->get(0), plan, correction);
  }
};

// As var's: corrections 1, 0 (with keepdim) and 2 (over several axes), 0 for one-element slices.
// Not over slices of two, where std is |a - b| times a constant: no second derivative to check.
template <class T> std::vector<GradSample<T>> std_samples(std::uint64_t seed) {
  return samples::reduction_forms<T>(
      seed, [](const Shape& s, std::mt19937_64& rng) { return samples::uniform<T>(s, -1, 1, rng); },
      [](const Tensor<T>& x, const samples::AxisSpec& spec) {
        const double correction = samples::sample_correction(spec);
        if (spec.kind == samples::AxisSpec::all)
          return correction == 1 ? std(x) : std(x, std::vector<int>{}, false, correction);
        if (spec.kind == samples::AxisSpec::one) return std(x, spec.axis, spec.keepdim, correction);
        return std(x, spec.axes, spec.keepdim, correction);
      },
      [](const samples::AxisSpec& spec) { return spec.count != 2; });
}

TensorD std_gradient(const TensorD& x) {
  TensorD leaf = x.clone();
  leaf.set_requires_grad(true);
  std(leaf).backward();
  return leaf.grad();
}

// The square roots of var's values: math.sqrt(3.5) = 1.8708286933869707, math.sqrt(4.5) =
// 2.1213203435596424, math.sqrt(2/3) = 0.816496580927726. The gradient over all of [1,2,3]
// (s = 1) is (x - 2)/((3 - 1) s); of a constant slice 0.
OpCases std_cases() {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  auto x = [] { return TensorD::matrix({{1, 2, 3}, {4, 5, 6}}); };
  return {.forward = {{"all", [x] { return std(x()); }, Shape{}, {1.8708286933869707}},
                      {"axis 0",
                       [x] { return std(x(), 0); },
                       Shape{3},
                       {2.1213203435596424, 2.1213203435596424, 2.1213203435596424}},
                      {"axis -1 keepdim", [x] { return std(x(), -1, true); }, Shape{2, 1}, {1, 1}},
                      {"axis 1 correction 0",
                       [x] { return std(x(), 1, false, 0); },
                       Shape{2},
                       {0.816496580927726, 0.816496580927726}},
                      {"axes {1,0}",
                       [x] {
                         return std(x(), {1, 0});
                       },
                       Shape{},
                       {1.8708286933869707}},
                      {"one element", [] { return std(TensorD::vector({5})); }, Shape{}, {nan}},
                      {"constant",
                       [] {
                         return std(TensorD::vector({2, 2, 2}));
                       },
                       Shape{},
                       {0}},
                      {"gradient",
                       [] {
                         return std_gradient(TensorD::vector({1, 2, 3}));
                       },
                       Shape{3},
                       {-0.5, 0, 0.5}},
                      {"gradient 0 where std is 0",
                       [] {
                         return std_gradient(TensorD::vector({2, 2, 2}));
                       },
                       Shape{3},
                       {0, 0, 0}}},
          .errors = {{"axis 2 of [2,3]", ErrorKind::axis, "axis 2 out of range for shape [2,3]",
                      [] {
                        std(TensorD::zeros(Shape{2, 3}), 2);
                      }},
                     {"duplicate axis", ErrorKind::axis, "axis 1 repeats axis 1", [] {
                        std(TensorD::zeros(Shape{2, 3}), {1, 1});
                      }}}};
}

}  // namespace

template <class T> Tensor<T> std(const Tensor<T>& x) {
  return std(x, std::vector<int>{}, false, 1);
}

template <class T>
Tensor<T> std(const Tensor<T>& x, const std::vector<int>& axes, bool keepdim, double correction) {
  const detail::ReducePlan plan = detail::plan_reduction("std", x.shape(), axes, keepdim);
  Tensor<T> out = detail::reduce_slices("std", x, plan, std::numeric_limits<T>::quiet_NaN(),
                                        [correction](const detail::Slice<T>& s) {
                                          return std::sqrt(detail::slice_variance(s, correction));
                                        });
  if (auto* node = record<StdNode<T>>(out, {&x})) {
    node->plan = plan;
    node->correction = correction;
    node->saved[0].save_input(x);
    node->saved[1].save_output(out);
  }
  return out;
}

template Tensor<float> std(const Tensor<float>&);
template Tensor<double> std(const Tensor<double>&);
template Tensor<float> std(const Tensor<float>&, const std::vector<int>&, bool, double);
template Tensor<double> std(const Tensor<double>&, const std::vector<int>&, bool, double);

TG_DEFINE_REPLAYABLE_OP(std, "dx = var's adjoint of G/(2s), s = std(x); 0 where s = 0", std_samples,
                        std_cases);

}  // namespace tg
