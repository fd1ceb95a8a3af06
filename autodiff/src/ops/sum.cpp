// sum: of all elements (-> []), along one axis or a list of axes (removed, or kept as extent 1
// with keepdim). An empty slice sums to 0. Adjoint: G broadcast back over the summed elements.
#include <limits>

#include "../reduce_kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> class SumNode final : public Node<T> {
 public:
  detail::ReducePlan plan;
  const char* name() const override { return "sum"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    grads[0] = detail::expand_back(g, plan);
  }
};

template <class T> std::vector<GradSample<T>> sum_samples(std::uint64_t seed) {
  return samples::reduction_forms<T>(
      seed, [](const Shape& s, std::mt19937_64& rng) { return samples::uniform<T>(s, -1, 1, rng); },
      [](const Tensor<T>& x, const samples::AxisSpec& spec) {
        if (spec.kind == samples::AxisSpec::all) return sum(x);
        if (spec.kind == samples::AxisSpec::one) return sum(x, spec.axis, spec.keepdim);
        return sum(x, spec.axes, spec.keepdim);
      });
}

// x = [[1,2,3],[4,5,6]] and x3[i,j,k] = 12i + 4j + k (0..23), summed by hand: x3 over axes 0 and 2
// gives (0+1+2+3 + 12+13+14+15) + 16 j each = 60, 92, 124.
OpCases sum_form_cases() {
  constexpr double inf = std::numeric_limits<double>::infinity();
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  auto x = [] { return TensorD::matrix({{1, 2, 3}, {4, 5, 6}}); };
  auto x3 = [] {
    std::vector<double> v(24);
    for (std::size_t i = 0; i < 24; ++i) v[i] = double(i);
    return TensorD::from_vector(Shape{2, 3, 4}, v);
  };
  return {.forward =
              {{"all", [x] { return sum(x()); }, Shape{}, {21}},
               {"axis 0", [x] { return sum(x(), 0); }, Shape{3}, {5, 7, 9}},
               {"axis -1 keepdim", [x] { return sum(x(), -1, true); }, Shape{2, 1}, {6, 15}},
               {"size_t axis", [x] { return sum(x(), std::size_t(1)); }, Shape{2}, {6, 15}},
               {"axes {0,1}",
                [x] {
                  return sum(x(), {0, 1});
                },
                Shape{},
                {21}},
               {"axes {} is all, keepdim", [x] { return sum(x(), {}, true); }, Shape{1, 1}, {21}},
               {"[2,3,4] axes {0,2}",
                [x3] {
                  return sum(x3(), {0, 2});
                },
                Shape{3},
                {60, 92, 124}},
               {"[2,3,4] axes {-1,0} keepdim",
                [x3] {
                  return sum(x3(), {-1, 0}, true);
                },
                Shape{1, 3, 1},
                {60, 92, 124}},
               {"0-d", [] { return sum(TensorD::scalar(2.5)); }, Shape{}, {2.5}},
               {"0-d axes {}", [] { return sum(TensorD::scalar(2.5), {}); }, Shape{}, {2.5}},
               {"empty axis",
                [] {
                  return sum(TensorD::zeros(Shape{0, 2}), 0);
                },
                Shape{2},
                {0, 0}},
               {"inf and NaN",
                [] {
                  return sum(TensorD::matrix({{inf, 1}, {nan, 1}}), 1);
                },
                Shape{2},
                {inf, nan}}},
          .errors = {{"axis 2 of [2,3]", ErrorKind::axis, "axis 2 out of range for shape [2,3]",
                      [] {
                        sum(TensorD::zeros(Shape{2, 3}), 2);
                      }},
                     {"axis -3 of [2,3]", ErrorKind::axis, "axis -3 out of range for shape [2,3]",
                      [] {
                        sum(TensorD::zeros(Shape{2, 3}), -3);
                      }},
                     {"axis of a 0-d tensor", ErrorKind::axis, "axis 0 out of range for shape []",
                      [] { sum(TensorD::scalar(1), 0); }},
                     {"duplicate axis", ErrorKind::axis,
                      "axis -1 repeats axis 1 in [1, -1] for shape [2,3]",
                      [] {
                        sum(TensorD::zeros(Shape{2, 3}), {1, -1});
                      }},
                     {"size_t axis beyond int", ErrorKind::axis, "axis 18446744073709551615", [] {
                        sum(TensorD::zeros(Shape{2, 3}), std::size_t(-1));
                      }}}};
}

// [2,3,4] holding 0..23: x[a][l][i] = 12a + 4l + i.
TensorD sum_example_3d() {
  std::vector<double> v(24);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = double(i);
  return TensorD::from_vector(Shape{2, 3, 4}, v);
}

// By hand, for x = [[1,2,3],[4,5,6]]: 21 in all, column sums [5,7,9], row sums [6,15]. For the
// [2,3,4] example x[a][l][i] = 12a + 4l + i: along axis 0, 12 + 2(4l + i) = 12 + 2j for
// j = 0..11; along axis 1, 36a + 12 + 3i; along axis 2, 48a + 16l + 6; in all 23*24/2. The
// gradient is G repeated along the summed axis.
OpCases sum_value_cases() {
  std::vector<double> axis0(12), axis1(8), axis2(6);
  for (std::size_t j = 0; j < 12; ++j) axis0[j] = 12 + 2 * double(j);
  for (std::size_t a = 0; a < 2; ++a)
    for (std::size_t i = 0; i < 4; ++i) axis1[a * 4 + i] = 36 * double(a) + 12 + 3 * double(i);
  for (std::size_t a = 0; a < 2; ++a)
    for (std::size_t l = 0; l < 3; ++l) axis2[a * 3 + l] = 48 * double(a) + 16 * double(l) + 6;
  return {
      .forward = {{"[2,3]",
                   [] {
                     return sum(TensorD::matrix({{1, 2, 3}, {4, 5, 6}}));
                   },
                   Shape{},
                   {21}},
                  {"[2,3] axis 0",
                   [] {
                     return sum(TensorD::matrix({{1, 2, 3}, {4, 5, 6}}), 0);
                   },
                   Shape{3},
                   {5, 7, 9}},
                  {"[2,3] axis 1",
                   [] {
                     return sum(TensorD::matrix({{1, 2, 3}, {4, 5, 6}}), 1);
                   },
                   Shape{2},
                   {6, 15}},
                  {"[2]",
                   [] {
                     return sum(TensorD::vector({1.5, 2.5}));
                   },
                   Shape{},
                   {4}},
                  {"[2] axis 0",
                   [] {
                     return sum(TensorD::vector({1.5, 2.5}), 0);
                   },
                   Shape{},
                   {4}},
                  {"[2,3,4] axis 0", [] { return sum(sum_example_3d(), 0); }, Shape{3, 4}, axis0},
                  {"[2,3,4] axis 1", [] { return sum(sum_example_3d(), 1); }, Shape{2, 4}, axis1},
                  {"[2,3,4] axis 2", [] { return sum(sum_example_3d(), 2); }, Shape{2, 3}, axis2},
                  {"[2,3,4]", [] { return sum(sum_example_3d()); }, Shape{}, {276}},
                  {"gradient along axis 0",
                   [] {
                     TensorD x = TensorD::matrix({{1, 2, 3}, {4, 5, 6}}, true);
                     return grad(sum(x, 0), {x}, TensorD::vector({1, 10, 100}))[0];
                   },
                   Shape{2, 3},
                   {1, 10, 100, 1, 10, 100}},
                  {"gradient along axis 1",
                   [] {
                     TensorD x = TensorD::matrix({{1, 2, 3}, {4, 5, 6}}, true);
                     return grad(sum(x, 1), {x}, TensorD::vector({2, -1}))[0];
                   },
                   Shape{2, 3},
                   {2, 2, 2, -1, -1, -1}}},
      .errors = {{"axis 2 of [2,3]", ErrorKind::axis, "axis 2 out of range for shape [2,3]",
                  [] {
                    sum(TensorD::zeros(Shape{2, 3}, true), 2);
                  }},
                 {"an axis of a 0-d tensor", ErrorKind::axis, "axis 0 out of range for shape []",
                  [] { sum(TensorD::scalar(1), 0); }}}};
}

OpCases sum_cases() {
  OpCases cases = join_cases(sum_form_cases(), sum_value_cases());
  cases.gradient_constant_in_inputs = true;
  return cases;
}

}  // namespace

template <class T> Tensor<T> sum(const Tensor<T>& x) {
  return sum(x, std::vector<int>{}, false);
}

template <class T> Tensor<T> sum(const Tensor<T>& x, const std::vector<int>& axes, bool keepdim) {
  const detail::ReducePlan plan = detail::plan_reduction("sum", x.shape(), axes, keepdim);
  Tensor<T> out = detail::sum_slices("sum", x, plan, T(1));
  if (auto* node = record<SumNode<T>>(out, {&x})) node->plan = plan;
  return out;
}

namespace detail {

template <class T> Tensor<T> sum_axis(const Tensor<T>& x, int axis, bool keepdim) {
  const ReducePlan plan = plan_reduction("sum", x.shape(), &axis, 1, keepdim);
  Tensor<T> out = sum_slices("sum", x, plan, T(1));
  if (auto* node = record<SumNode<T>>(out, {&x})) node->plan = plan;
  return out;
}

template Tensor<float> sum_axis(const Tensor<float>&, int, bool);
template Tensor<double> sum_axis(const Tensor<double>&, int, bool);

}  // namespace detail

template Tensor<float> sum(const Tensor<float>&);
template Tensor<double> sum(const Tensor<double>&);
template Tensor<float> sum(const Tensor<float>&, const std::vector<int>&, bool);
template Tensor<double> sum(const Tensor<double>&, const std::vector<int>&, bool);

TG_DEFINE_REPLAYABLE_OP(sum, "dx = G broadcast back over the summed axes", sum_samples, sum_cases);

}  // namespace tg
