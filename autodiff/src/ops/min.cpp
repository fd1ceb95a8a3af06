// min: the smallest value (PyTorch's amin) of all elements (-> []), along one axis or a list of
// axes; a NaN in a slice makes its result NaN; an empty slice is an IndexError. Adjoint: G split
// equally among the elements equal to the result (ties share it; NaN everywhere in a slice whose
// result is NaN, PyTorch's G/count * mask with count 0), a constant weight so the adjoint is
// linear in G. Also argmin (not differentiable, so not an op of its own): first index on ties.
#include <limits>

#include "../reduce_kernels.hpp"

namespace tg {

namespace {

template <class T> class MinNode final : public SavingNode<T, 2> {
 public:
  detail::ReducePlan plan;
  const char* name() const override { return "min"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    const Tensor<T> w = detail::tie_weights(
        "min", this->get(0), plan, this->get(1), [](T v) { return v; }, [](T) { return T(1); });
    grads[0] = mul(detail::expand_back(g, plan), w);
  }
};

// Inputs at distinct, spread levels: no tie within a difference step (the tie rule is a forward
// case below).
template <class T> std::vector<GradSample<T>> min_samples(std::uint64_t seed) {
  return samples::reduction_forms<T>(
      seed, [](const Shape& s, std::mt19937_64& rng) { return samples::spread<T>(s, -1, 1, rng); },
      [](const Tensor<T>& x, const samples::AxisSpec& spec) {
        if (spec.kind == samples::AxisSpec::all) return min(x);
        if (spec.kind == samples::AxisSpec::one) return min(x, spec.axis, spec.keepdim);
        return min(x, spec.axes, spec.keepdim);
      });
}

TensorD min_gradient(const TensorD& x, const std::vector<int>& axes) {
  TensorD leaf = x.clone();
  leaf.set_requires_grad(true);
  TensorD out = min(leaf, axes, false);
  out.backward(TensorD::ones(out.shape()));
  return leaf.grad();
}

// Values by hand. Gradients of sum(min): 1 on the minimum, 1/k on each of k tied minima, NaN over
// a slice holding a NaN.
OpCases min_cases() {
  constexpr double inf = std::numeric_limits<double>::infinity();
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  auto x = [] { return TensorD::matrix({{1, 5, -3}, {4, 2, 6}}); };
  OpCases cases = {
      .forward = {{"all", [x] { return min(x()); }, Shape{}, {-3}},
                  {"axis 0", [x] { return min(x(), 0); }, Shape{3}, {1, 2, -3}},
                  {"axis -1 keepdim", [x] { return min(x(), -1, true); }, Shape{2, 1}, {-3, 2}},
                  {"axes {1,0}",
                   [x] {
                     return min(x(), {1, 0});
                   },
                   Shape{},
                   {-3}},
                  {"0-d", [] { return min(TensorD::scalar(-7)); }, Shape{}, {-7}},
                  {"NaN wins",
                   [] {
                     return min(TensorD::matrix({{1, nan, 3}, {-inf, inf, 0}}), 1);
                   },
                   Shape{2},
                   {nan, -inf}},
                  {"inf",
                   [] {
                     return min(TensorD::vector({inf, inf}));
                   },
                   Shape{},
                   {inf}},
                  {"gradient on the minimum",
                   [x] { return min_gradient(x(), {1}); },
                   Shape{2, 3},
                   {0, 0, 1, 0, 1, 0}},
                  {"gradient split among ties",
                   [] {
                     return min_gradient(TensorD::matrix({{1, 2, 1}, {3, 3, 3}}), {1});
                   },
                   Shape{2, 3},
                   {0.5, 0, 0.5, 1.0 / 3, 1.0 / 3, 1.0 / 3}},
                  {"gradient split among ties over all",
                   [] {
                     return min_gradient(TensorD::matrix({{0, 2}, {1, 0}}), {});
                   },
                   Shape{2, 2},
                   {0.5, 0, 0, 0.5}},
                  {"gradient NaN over a NaN slice",
                   [] {
                     return min_gradient(TensorD::matrix({{1, nan}, {1, 2}}), {1});
                   },
                   Shape{2, 2},
                   {nan, nan, 1, 0}}},
      .errors = {
          {"axis 2 of [2,3]", ErrorKind::axis, "axis 2 out of range for shape [2,3]",
           [] {
             min(TensorD::zeros(Shape{2, 3}), 2);
           }},
          {"duplicate axis", ErrorKind::axis, "axis 1 repeats axis -1",
           [] {
             min(TensorD::zeros(Shape{2, 3}), {-1, 1});
           }},
          {"empty", ErrorKind::index, "empty tensor [0]", [] { min(TensorD::zeros(Shape{0})); }},
          {"empty axis", ErrorKind::index, "axis 0 of [0,3] is empty", [] {
             min(TensorD::zeros(Shape{0, 3}), 0);
           }}}};
  cases.gradient_constant_in_inputs = true;
  return cases;
}

}  // namespace

template <class T> Tensor<T> min(const Tensor<T>& x) {
  return min(x, std::vector<int>{}, false);
}

template <class T> Tensor<T> min(const Tensor<T>& x, const std::vector<int>& axes, bool keepdim) {
  const detail::ReducePlan plan = detail::plan_reduction("min", x.shape(), axes, keepdim);
  detail::require_nonempty_slices("min", x.shape(), axes, plan);
  Tensor<T> out = detail::reduce_slices("min", x, plan, T(0), [](const detail::Slice<T>& s) {
    return detail::slice_extreme(s, false);
  });
  if (auto* node = record<MinNode<T>>(out, {&x})) {
    node->plan = plan;
    node->saved[0].save_input(x);
    node->saved[1].save_output(out);
  }
  return out;
}

template <class T> Indices argmin(const Tensor<T>& x) {
  return detail::arg_extreme("argmin", x, {}, false, false);
}

template <class T> Indices argmin(const Tensor<T>& x, int axis, bool keepdim) {
  return detail::arg_extreme("argmin", x, {axis}, keepdim, false);
}

template Tensor<float> min(const Tensor<float>&);
template Tensor<double> min(const Tensor<double>&);
template Tensor<float> min(const Tensor<float>&, const std::vector<int>&, bool);
template Tensor<double> min(const Tensor<double>&, const std::vector<int>&, bool);
template Indices argmin(const Tensor<float>&);
template Indices argmin(const Tensor<double>&);
template Indices argmin(const Tensor<float>&, int, bool);
template Indices argmin(const Tensor<double>&, int, bool);

TG_DEFINE_REPLAYABLE_OP(min, "dx = G/k on each of the k elements equal to the min, 0 elsewhere",
                        min_samples, min_cases);

}  // namespace tg
