// pow: x^p elementwise for a constant exponent p; IEEE-754 outside the domain (a negative base
// with a fractional p gives NaN). Adjoint: G*p*x^(p-1); exactly 0 for p = 0 (whatever G).
#include <limits>

#include "../kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> class PowNode final : public SavingNode<T, 1> {
 public:
  T exponent = 1;
  const char* name() const override { return "pow"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    // x^p is constant for p = 0: its gradient is 0 whatever G (PyTorch's zeros_like(x)), where
    // p * x^(p-1) would be 0 * inf = NaN at x = 0 and G * 0 would be NaN for an infinite G.
    if (exponent == T(0)) {
      grads[0] = detail::zeros_output<T>("pow", this->input_shape(0));
      return;
    }
    grads[0] = mul(g, pow(this->get(0), exponent - T(1)) * exponent);
  }
};

template <class T> std::vector<GradSample<T>> pow_samples(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  for (const double p : {2.0, 3.0, -1.0, 0.5, 1.5, 0.0}) {
    const bool integral = p == std::floor(p);
    for (const Shape& s : samples::elementwise_shapes()) {
      // Fractional powers need positive bases; integral ones are checked on both signs.
      Tensor<T> x = integral ? samples::away_from_zero<T>(s, 0.3, 2, rng)
                             : samples::uniform<T>(s, 0.3, 2, rng);
      out.push_back({s.str() + " ^" + format_number(p), {x}, [p](const std::vector<Tensor<T>>& in) {
                       return pow(in[0], T(p));
                     }});
    }
  }
  return out;
}

// PyTorch's pow and pow_backward (torch.pow(x, p).sum().backward()) at x = [0, 2, -2], by hand:
//   p = 0: 1 everywhere (0^0 = 1), gradient zeros_like(x): 0 even at x = 0, where
//          p*x^(p-1) = 0 * 0^-1 = 0 * inf would be NaN;
//   p = 0.5: [0, sqrt 2, NaN], gradient 0.5*x^-0.5 = [inf, 0.3535533905932738, NaN];
//   p = 1: [0, 2, -2], gradient 1*x^0 = [1, 1, 1];
//   p = 2: [0, 4, 4], gradient [0, 4, -4];  p = 3: [0, 8, -8], gradient 3x^2 = [0, 12, 12];
//   p = -1: [inf, 0.5, -0.5], gradient -x^-2 = [-inf, -0.25, -0.25];
// the same when backward is recorded. x^0 is constant: its gradient is 0 whatever the upstream,
// also an infinite one, where multiplying by 0 would give NaN. Away from 0: x^0.5 of [4, 9, 0.25]
// with gradient 0.5/sqrt(x) = [0.5/2, 0.5/3, 0.5/0.5]; x^-1 of [4, -0.5, 2] with gradient
// -1/x^2 = [-1/16, -4, -1/4]; for a negative base and p = 0.5 a NaN value and gradient, the other
// entries G * 0.5 * x^-0.5 = [2*0.5/2, 2*0.5/0.5, 2*0.5/3]. pow takes any input: no error cases.
OpCases pow_cases() {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  constexpr double inf = std::numeric_limits<double>::infinity();
  struct AtZero {
    double p;
    std::vector<double> value, gradient;
  };
  const AtZero at_zero[] = {
      {0, {1, 1, 1}, {0, 0, 0}},    {0.5, {0, std::sqrt(2.0), nan}, {inf, 0.3535533905932738, nan}},
      {1, {0, 2, -2}, {1, 1, 1}},   {2, {0, 4, 4}, {0, 4, -4}},
      {3, {0, 8, -8}, {0, 12, 12}}, {-1, {inf, 0.5, -0.5}, {-inf, -0.25, -0.25}}};
  OpCases cases;
  for (const AtZero& c : at_zero) {
    const std::string name = "x^" + format_number(c.p) + " at x = 0, 2, -2";
    const double p = c.p;
    cases.forward.push_back({name,
                             [p] {
                               return pow(TensorD::vector({0, 2, -2}), p);
                             },
                             Shape{3}, c.value});
    for (const bool recorded : {false, true})
      cases.forward.push_back({"gradient of " + name + (recorded ? ", recorded" : ""),
                               [p, recorded] {
                                 TensorD x = TensorD::vector({0, 2, -2}, true);
                                 return grad(sum(pow(x, p)), {x}, {.create_graph = recorded})[0];
                               },
                               Shape{3}, c.gradient});
  }
  const std::vector<ForwardCase> away_from_zero = {
      {"gradient of x^0 for an infinite upstream",
       [] {
         TensorD x = TensorD::vector({0, 3}, true);
         return grad(pow(x, 0.0), {x}, TensorD::vector({inf, -inf}))[0];
       },
       Shape{2},
       {0, 0}},
      {"x^0.5",
       [] {
         return pow(TensorD::vector({4, 9, 0.25}), 0.5);
       },
       Shape{3},
       {2, 3, 0.5}},
      {"gradient of x^0.5",
       [] {
         TensorD x = TensorD::vector({4, 9, 0.25}, true);
         return grad(sum(pow(x, 0.5)), {x})[0];
       },
       Shape{3},
       {0.25, 1.0 / 6.0, 1}},
      {"x^2",
       [] {
         return pow(TensorD::vector({-3, 0, 1.5}), 2.0);
       },
       Shape{3},
       {9, 0, 2.25}},
      {"gradient of x^2",
       [] {
         TensorD x = TensorD::vector({-3, 0, 1.5}, true);
         return grad(sum(pow(x, 2.0)), {x})[0];
       },
       Shape{3},
       {-6, 0, 3}},
      {"x^-1",
       [] {
         return pow(TensorD::vector({4, -0.5, 2}), -1.0);
       },
       Shape{3},
       {0.25, -2, 0.5}},
      {"gradient of x^-1",
       [] {
         TensorD x = TensorD::vector({4, -0.5, 2}, true);
         return grad(sum(pow(x, -1.0)), {x})[0];
       },
       Shape{3},
       {-0.0625, -4, -0.25}},
      {"x^0.5 of a negative base is NaN",
       [] {
         return pow(TensorD::vector({-4, 4, 0.25, 9}), 0.5);
       },
       Shape{4},
       {nan, 2, 0.5, 3}},
      {"gradient of x^0.5 is NaN at a negative base only",
       [] {
         TensorD x = TensorD::vector({-4, 4, 0.25, 9}, true);
         return grad(pow(x, 0.5), {x}, TensorD::vector({2, 2, 2, 2}))[0];
       },
       Shape{4},
       {nan, 0.5, 2, 1.0 / 3}}};
  cases.forward.insert(cases.forward.end(), away_from_zero.begin(), away_from_zero.end());
  cases.accepts_every_input = true;
  return cases;
}

}  // namespace

template <class T> Tensor<T> pow(const Tensor<T>& x, T exponent) {
  Tensor<T> out;
  if (exponent == T(2))
    out = detail::map_unary("pow", x, [](T v) { return v * v; });
  else
    out = detail::map_unary("pow", x, [exponent](T v) { return std::pow(v, exponent); });
  if (auto* node = record<PowNode<T>>(out, {&x})) {
    node->exponent = exponent;
    if (exponent != T(0)) node->saved[0].save_input(x);  // x^0's adjoint needs no x
  }
  return out;
}

template Tensor<float> pow(const Tensor<float>&, float);
template Tensor<double> pow(const Tensor<double>&, double);

TG_DEFINE_REPLAYABLE_OP(pow, "dx = G*p*x^(p-1) (0 for p = 0)", pow_samples, pow_cases);

}  // namespace tg
