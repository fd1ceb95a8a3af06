// logsumexp: log(sum(exp(x))) of all elements (-> []), along one axis or a list of axes,
// evaluated as m + log(sum(exp(x - m))) with m the slice's max, so that +-800 stays finite; all
// -inf (or an empty slice) gives -inf, a +inf gives +inf, a NaN gives NaN. Saves its output r.
// Adjoint: G*exp(x - r) (the softmax over the slice), NaN where x and r are both infinite.
#include <limits>

#include "../reduce_kernels.hpp"

namespace tg {

namespace {

template <class T> class LogSumExpNode final : public SavingNode<T, 2> {
 public:
  detail::ReducePlan plan;
  const char* name() const override { return "logsumexp"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    const Tensor<T> r = detail::as_kept(this->get(1), plan);
    grads[0] = mul(detail::expand_back(g, plan), exp(sub(this->get(0), r)));
  }
};

template <class T> T slice_logsumexp(const detail::Slice<T>& s) {
  T top = s[0];
  for (std::size_t i = 1; i < s.size; ++i) top = s[i] > top || s[i] != s[i] ? s[i] : top;
  if (top != top || std::isinf(top)) return top;  // the shift would make inf - inf = NaN
  return top + std::log(detail::sum_exp_shifted([&s](std::size_t i) { return s[i]; }, s.size, top));
}

template <class T> std::vector<GradSample<T>> logsumexp_samples(std::uint64_t seed) {
  return samples::reduction_forms<T>(
      seed, [](const Shape& s, std::mt19937_64& rng) { return samples::uniform<T>(s, -3, 3, rng); },
      [](const Tensor<T>& x, const samples::AxisSpec& spec) {
        if (spec.kind == samples::AxisSpec::all) return logsumexp(x);
        if (spec.kind == samples::AxisSpec::one) return logsumexp(x, spec.axis, spec.keepdim);
        return logsumexp(x, spec.axes, spec.keepdim);
      });
}

TensorD logsumexp_gradient(const TensorD& x) {
  TensorD leaf = x.clone();
  leaf.set_requires_grad(true);
  logsumexp(leaf).backward();
  return leaf.grad();
}

// Values from Python's math module: math.log(math.exp(1) + math.exp(2) + math.exp(3)) =
// 3.40760596444438; log(e^0 + e^1) = 1.3132616875182228; log(2) = 0.6931471805599453, so
// [800, 800] gives 800.6931471805599 and [-800, -800] -800 + log 2; [800, 0] gives 800 (e^-800
// underflows). The gradient of [1, 2, 3] is the softmax: exp(i - 3.40760596444438).
OpCases logsumexp_cases() {
  constexpr double inf = std::numeric_limits<double>::infinity();
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  auto x = [] { return TensorD::matrix({{1, 2, 3}, {0, 1, -inf}}); };
  return {.forward = {{"all of [1,2,3]",
                       [] {
                         return logsumexp(TensorD::vector({1, 2, 3}));
                       },
                       Shape{},
                       {3.40760596444438}},
                      {"axis 1",
                       [x] { return logsumexp(x(), 1); },
                       Shape{2},
                       {3.40760596444438, 1.3132616875182228}},
                      {"axis -1 keepdim",
                       [x] { return logsumexp(x(), -1, true); },
                       Shape{2, 1},
                       {3.40760596444438, 1.3132616875182228}},
                      {"axes {0,1} of [[0],[0]]",
                       [] {
                         return logsumexp(TensorD::matrix({{0}, {0}}), {0, 1});
                       },
                       Shape{},
                       {0.6931471805599453}},
                      {"+800",
                       [] {
                         return logsumexp(TensorD::vector({800, 800}));
                       },
                       Shape{},
                       {800.6931471805599}},
                      {"-800",
                       [] {
                         return logsumexp(TensorD::vector({-800, -800}));
                       },
                       Shape{},
                       {-799.3068528194401}},
                      {"800 and 0",
                       [] {
                         return logsumexp(TensorD::vector({800, 0}));
                       },
                       Shape{},
                       {800}},
                      {"all -inf",
                       [] {
                         return logsumexp(TensorD::vector({-inf, -inf}));
                       },
                       Shape{},
                       {-inf}},
                      {"+inf",
                       [] {
                         return logsumexp(TensorD::vector({-inf, inf, 1}));
                       },
                       Shape{},
                       {inf}},
                      {"NaN",
                       [] {
                         return logsumexp(TensorD::vector({inf, nan}));
                       },
                       Shape{},
                       {nan}},
                      {"empty axis",
                       [] {
                         return logsumexp(TensorD::zeros(Shape{2, 0}), 1);
                       },
                       Shape{2},
                       {-inf, -inf}},
                      {"0-d", [] { return logsumexp(TensorD::scalar(-2)); }, Shape{}, {-2}},
                      {"gradient is the softmax",
                       [] {
                         return logsumexp_gradient(TensorD::vector({1, 2, 3}));
                       },
                       Shape{3},
                       {0.09003057317038048, 0.2447284710547977, 0.665240955774822}},
                      {"gradient at +800",
                       [] {
                         return logsumexp_gradient(TensorD::vector({800, 800}));
                       },
                       Shape{2},
                       {0.5, 0.5}}},
          .errors = {{"axis 2 of [2,3]", ErrorKind::axis, "axis 2 out of range for shape [2,3]",
                      [] {
                        logsumexp(TensorD::zeros(Shape{2, 3}), 2);
                      }},
                     {"duplicate axis", ErrorKind::axis, "axis 0 repeats axis 0", [] {
                        logsumexp(TensorD::zeros(Shape{2, 3}), {0, 0});
                      }}}};
}

}  // namespace

template <class T> Tensor<T> logsumexp(const Tensor<T>& x) {
  return logsumexp(x, std::vector<int>{}, false);
}

template <class T>
Tensor<T> logsumexp(const Tensor<T>& x, const std::vector<int>& axes, bool keepdim) {
  const detail::ReducePlan plan = detail::plan_reduction("logsumexp", x.shape(), axes, keepdim);
  Tensor<T> out =
      detail::reduce_slices("logsumexp", x, plan, -std::numeric_limits<T>::infinity(),
                            [](const detail::Slice<T>& s) { return slice_logsumexp(s); });
  if (auto* node = record<LogSumExpNode<T>>(out, {&x})) {
    node->plan = plan;
    node->saved[0].save_input(x);
    node->saved[1].save_output(out);
  }
  return out;
}

template Tensor<float> logsumexp(const Tensor<float>&);
template Tensor<double> logsumexp(const Tensor<double>&);
template Tensor<float> logsumexp(const Tensor<float>&, const std::vector<int>&, bool);
template Tensor<double> logsumexp(const Tensor<double>&, const std::vector<int>&, bool);

TG_DEFINE_REPLAYABLE_OP(logsumexp,
                        "dx = G*exp(x - r), r = logsumexp(x), broadcast back over the slice",
                        logsumexp_samples, logsumexp_cases);

}  // namespace tg
