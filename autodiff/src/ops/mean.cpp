// mean: sum / count, of all elements (-> []), along one axis or a list of axes (removed, or kept
// as extent 1 with keepdim). A reduction over no element has no mean: ShapeError (PyTorch gives
// NaN with a warning). Adjoint: G / count broadcast back.
#include <limits>

#include "../reduce_kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> class MeanNode final : public Node<T> {
 public:
  detail::ReducePlan plan;
  const char* name() const override { return "mean"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    grads[0] = detail::expand_back(g * (T(1) / T(plan.count)), plan);
  }
};

template <class T> std::vector<GradSample<T>> mean_samples(std::uint64_t seed) {
  return samples::reduction_forms<T>(
      seed, [](const Shape& s, std::mt19937_64& rng) { return samples::uniform<T>(s, -1, 1, rng); },
      [](const Tensor<T>& x, const samples::AxisSpec& spec) {
        if (spec.kind == samples::AxisSpec::all) return mean(x);
        if (spec.kind == samples::AxisSpec::one) return mean(x, spec.axis, spec.keepdim);
        return mean(x, spec.axes, spec.keepdim);
      });
}

// x = [[1,2,3],[4,5,6]]: means by hand; x3[i,j,k] = 12i + 4j + k over axes 0 and 2 gives
// (60, 92, 124) / 8.
OpCases mean_form_cases() {
  auto x = [] { return TensorD::matrix({{1, 2, 3}, {4, 5, 6}}); };
  auto x3 = [] {
    std::vector<double> v(24);
    for (std::size_t i = 0; i < 24; ++i) v[i] = double(i);
    return TensorD::from_vector(Shape{2, 3, 4}, v);
  };
  return {.forward = {{"all", [x] { return mean(x()); }, Shape{}, {3.5}},
                      {"axis 0", [x] { return mean(x(), 0); }, Shape{3}, {2.5, 3.5, 4.5}},
                      {"axis -1 keepdim", [x] { return mean(x(), -1, true); }, Shape{2, 1}, {2, 5}},
                      {"[2,3,4] axes {0,2}",
                       [x3] {
                         return mean(x3(), {0, 2});
                       },
                       Shape{3},
                       {7.5, 11.5, 15.5}},
                      {"[2,3,4] axes {2,0} keepdim",
                       [x3] {
                         return mean(x3(), {2, 0}, true);
                       },
                       Shape{1, 3, 1},
                       {7.5, 11.5, 15.5}},
                      {"0-d", [] { return mean(TensorD::scalar(-2)); }, Shape{}, {-2}}},
          .errors = {{"axis 2 of [2,3]", ErrorKind::axis, "axis 2 out of range for shape [2,3]",
                      [] {
                        mean(TensorD::zeros(Shape{2, 3}), 2);
                      }},
                     {"duplicate axis", ErrorKind::axis, "axis 0 repeats axis -2",
                      [] {
                        mean(TensorD::zeros(Shape{2, 3}), {-2, 0});
                      }},
                     {"empty", ErrorKind::shape, "[0]", [] { mean(TensorD::zeros(Shape{0})); }},
                     {"empty axis", ErrorKind::shape, "axis 1 of [2,0] is empty",
                      [] {
                        mean(TensorD::zeros(Shape{2, 0}), 1);
                      }},
                     {"empty axes", ErrorKind::shape, "axes [1, 0] of [2,0] hold no element", [] {
                        mean(TensorD::zeros(Shape{2, 0}), {1, 0});
                      }}}};
}

// [2,3,4] holding 0..23: x[a][l][i] = 12a + 4l + i.
TensorD mean_example_3d() {
  std::vector<double> v(24);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = double(i);
  return TensorD::from_vector(Shape{2, 3, 4}, v);
}

// By hand, for x = [[1,2,3],[4,5,6]]: 21/6, [5,7,9]/2, [6,15]/3. For the [2,3,4] example
// x[a][l][i] = 12a + 4l + i: along axis 1 (36a + 12 + 3i)/3 = 12a + 4 + i, along axis 2
// (48a + 16l + 6)/4 = 12a + 4l + 1.5. The gradient is G/count repeated along the averaged axis:
// 1/6 each, and [3, -6]/3 along axis 1. An empty reduction has no mean.
OpCases mean_value_cases() {
  return {.forward = {{"[2,3]",
                       [] {
                         return mean(TensorD::matrix({{1, 2, 3}, {4, 5, 6}}));
                       },
                       Shape{},
                       {3.5}},
                      {"[2,3] axis 0",
                       [] {
                         return mean(TensorD::matrix({{1, 2, 3}, {4, 5, 6}}), 0);
                       },
                       Shape{3},
                       {2.5, 3.5, 4.5}},
                      {"[2,3] axis 1",
                       [] {
                         return mean(TensorD::matrix({{1, 2, 3}, {4, 5, 6}}), 1);
                       },
                       Shape{2},
                       {2, 5}},
                      {"[2,3,4] axis 1",
                       [] { return mean(mean_example_3d(), 1); },
                       Shape{2, 4},
                       {4, 5, 6, 7, 16, 17, 18, 19}},
                      {"[2,3,4] axis 2",
                       [] { return mean(mean_example_3d(), 2); },
                       Shape{2, 3},
                       {1.5, 5.5, 9.5, 13.5, 17.5, 21.5}},
                      {"gradient of the mean of all",
                       [] {
                         TensorD x = TensorD::matrix({{1, 2, 3}, {4, 5, 6}}, true);
                         return grad(mean(x), {x})[0];
                       },
                       Shape{2, 3}, std::vector<double>(6, 1.0 / 6.0)},
                      {"gradient along axis 1",
                       [] {
                         TensorD x = TensorD::matrix({{1, 2, 3}, {4, 5, 6}}, true);
                         return grad(mean(x, 1), {x}, TensorD::vector({3, -6}))[0];
                       },
                       Shape{2, 3},
                       {1, 1, 1, -2, -2, -2}}},
          .errors = {{"axis 2 of [2,3]", ErrorKind::axis, "axis 2 out of range for shape [2,3]",
                      [] {
                        mean(TensorD::zeros(Shape{2, 3}, true), 2);
                      }},
                     {"empty [0]", ErrorKind::shape, "empty tensor [0]",
                      [] { mean(TensorD::zeros(Shape{0})); }},
                     {"empty [2,0]", ErrorKind::shape, "empty tensor [2,0]",
                      [] {
                        mean(TensorD::zeros(Shape{2, 0}));
                      }},
                     {"empty axis", ErrorKind::shape, "axis 1 of [2,0] is empty", [] {
                        mean(TensorD::zeros(Shape{2, 0}), 1);
                      }}}};
}

OpCases mean_cases() {
  OpCases cases = join_cases(mean_form_cases(), mean_value_cases());
  cases.gradient_constant_in_inputs = true;
  return cases;
}

}  // namespace

template <class T> Tensor<T> mean(const Tensor<T>& x) {
  return mean(x, std::vector<int>{}, false);
}

template <class T> Tensor<T> mean(const Tensor<T>& x, const std::vector<int>& axes, bool keepdim) {
  const detail::ReducePlan plan = detail::plan_reduction("mean", x.shape(), axes, keepdim);
  if (plan.count == 0) {
    if (axes.empty()) throw ShapeError("mean: empty tensor " + x.shape().str() + " has no mean");
    if (axes.size() == 1)
      throw ShapeError("mean: axis " + std::to_string(axes[0]) + " of " + x.shape().str() +
                       " is empty and has no mean");
    throw ShapeError("mean: axes " + detail::axes_str(axes) + " of " + x.shape().str() +
                     " hold no element and have no mean");
  }
  Tensor<T> out = detail::sum_slices("mean", x, plan, T(1) / T(plan.count));
  if (auto* node = record<MeanNode<T>>(out, {&x})) node->plan = plan;
  return out;
}

template Tensor<float> mean(const Tensor<float>&);
template Tensor<double> mean(const Tensor<double>&);
template Tensor<float> mean(const Tensor<float>&, const std::vector<int>&, bool);
template Tensor<double> mean(const Tensor<double>&, const std::vector<int>&, bool);

TG_DEFINE_REPLAYABLE_OP(mean, "dx = G / count broadcast back over the averaged axes", mean_samples,
                        mean_cases);

}  // namespace tg
