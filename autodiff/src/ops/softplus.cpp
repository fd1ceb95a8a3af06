// softplus: log(1 + e^(beta*x))/beta, and x itself where beta*x > threshold (PyTorch's switch to
// the linear regime, where the two agree to within e^-threshold). Saves its input. Adjoint:
// G*sigmoid(beta*x), and G where beta*x > threshold (PyTorch's softplus_backward), built from a
// constant mask of that regime and the engine's sigmoid, so that the recorded backward is
// differentiable (softplus'' = beta*s*(1-s) below the threshold).
#include <limits>

#include "../kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> class SoftplusNode final : public SavingNode<T, 1> {
 public:
  T beta = 1, threshold = 20;
  const char* name() const override { return "softplus"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    const Tensor<T> x = this->get(0);
    const T b = beta, t = threshold;
    // 1 in the linear regime, 0 elsewhere (also at a NaN, whose gradient sigmoid makes NaN).
    const Tensor<T> linear =
        detail::map_unary("softplus", x, [b, t](T v) { return v * b > t ? T(1) : T(0); });
    const Tensor<T> curved = detail::map_unary("softplus", linear, [](T v) { return T(1) - v; });
    grads[0] = mul(g, linear + curved * sigmoid(x * beta));
  }
};

template <class T> std::vector<GradSample<T>> softplus_samples(std::uint64_t seed) {
  // The default parameters, a steep beta, and a low threshold that some inputs pass (beta*x
  // stays at least 0.2 away from it: the switch is a step of e^-threshold in value).
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  for (const Shape& s : samples::elementwise_shapes()) {
    out.push_back({s.str(),
                   {samples::uniform<T>(s, -4, 4, rng)},
                   [](const std::vector<Tensor<T>>& in) { return softplus(in[0]); }});
    out.push_back({s.str() + " beta 3",
                   {samples::uniform<T>(s, -1.5, 1.5, rng)},
                   [](const std::vector<Tensor<T>>& in) { return softplus(in[0], 3.0); }});
    Tensor<T> x = samples::uniform<T>(s, -2, 3, rng);
    for (std::size_t i = 0; i < x.size(); ++i)
      if (std::abs(x.data()[i] - T(1)) < T(0.2)) x.data()[i] += T(0.4);
    out.push_back({s.str() + " beta 2 threshold 2", {x}, [](const std::vector<Tensor<T>>& in) {
                     return softplus(in[0], 2.0, 2.0);
                   }});
  }
  return out;
}

// Values from Python's math module: log1p(exp(beta*x))/beta, x where beta*x > threshold, and
// 1/(1+exp(-beta*x)) for the gradient (1 in the linear regime). At x = 20 the default threshold
// is not passed (20 > 20 is false): log1p(e^20) = 20 + 2.06e-9.
OpCases softplus_cases() {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  constexpr double inf = std::numeric_limits<double>::infinity();
  OpCases cases = {
      .forward = {
          {"[9] defaults",
           [] {
             return softplus(TensorD::vector({-1, 0, 1, 20, 21, -50, -inf, inf, nan}));
           },
           Shape{9},
           {0.31326168751822286, 0.6931471805599453, 1.3132616875182228, 20.000000002061153, 21,
            1.9287498479639178e-22, 0, inf, nan}},
          {"[5] beta 2 threshold 3",
           [] {
             return softplus(TensorD::vector({-1, 0, 1, 1.5, 2}), 2.0, 3.0);
           },
           Shape{5},
           {0.06346400552148625, 0.34657359027997264, 1.0634640055214863, 1.524293675786871, 2}},
          {"gradient defaults",
           [] {
             TensorD x = TensorD::vector({-1, 0, 1, 20, 21}, true);
             return grad(sum(softplus(x)), {x})[0];
           },
           Shape{5},
           {0.2689414213699951, 0.5, 0.7310585786300049, 0.9999999979388463, 1}},
          {"gradient beta 2 threshold 3",
           [] {
             TensorD x = TensorD::vector({-1, 0, 1, 1.5, 2}, true);
             return grad(sum(softplus(x, 2.0, 3.0)), {x})[0];
           },
           Shape{5},
           {0.11920292202211755, 0.5, 0.8807970779778823, 0.9525741268224334, 1}}}};
  cases.accepts_every_input = true;
  return cases;
}

}  // namespace

template <class T>
Tensor<T> softplus(const Tensor<T>& x, std::type_identity_t<T> beta,
                   std::type_identity_t<T> threshold) {
  Tensor<T> out = detail::map_unary("softplus", x, [beta, threshold](T v) {
    return v * beta > threshold ? v : std::log1p(std::exp(v * beta)) / beta;
  });
  if (auto* node = record<SoftplusNode<T>>(out, {&x})) {
    node->beta = beta;
    node->threshold = threshold;
    node->saved[0].save_input(x);
  }
  return out;
}

template Tensor<float> softplus(const Tensor<float>&, float, float);
template Tensor<double> softplus(const Tensor<double>&, double, double);

TG_DEFINE_REPLAYABLE_OP(softplus, "dx = G*sigmoid(beta*x), G where beta*x > threshold",
                        softplus_samples, softplus_cases);

}  // namespace tg
