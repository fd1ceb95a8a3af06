// pow_tensor: a^b elementwise with NumPy broadcasting, for a tensor exponent (the function is
// tg::pow(a, b); pow(x, p) with a constant p is the op pow). IEEE-754 / C pow outside the domain:
// a negative base with a fractional b gives NaN, 0^b for b < 0 gives inf, x^0 = 1 and 1^y = 1
// even for a NaN. Adjoint (PyTorch's pow_backward_self and pow_backward_exponent):
// da = G*b*a^(b-1), selected to exactly 0 where b == 0 (whatever G: a^0 is constant in a);
// db = G*a^b*log(a), its factor 0 where a == 0 and b >= 0 (the limit of a^b log a at a -> 0+,
// where the formula gives 0 * -inf = NaN; for b < 0 it stays -inf). As in PyTorch, the db factor
// is multiplied by G, not selected: an infinite G there gives NaN.
#include <limits>

#include "../kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> bool any_zero(const Tensor<T>& t) {
  const T* d = t.data();
  for (std::size_t i = 0; i < t.size(); ++i)
    if (d[i] == T(0)) return true;
  return false;
}

template <class T> class PowTensorNode final : public SavingNode<T, 3> {
 public:
  const char* name() const override { return "pow_tensor"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    const Tensor<T> a = this->get(0), b = this->get(1);
    const Tensor<T> zero = Tensor<T>::scalar(T(0));
    if (this->needs_grad(0)) {
      Tensor<T> da = mul(g, mul(b, pow(a, b - T(1))));
      // Where b == 0, b*a^(b-1) is 0*inf = NaN at a = 0: the mask is b itself (nonzero = keep).
      // Under a recording the mask always applies (it keeps da's bits where b != 0), so that the
      // tape is right for a zero that only a later run's values hold; so does keep's below.
      if (detail::active_capture() || any_zero(b)) da = where(b.detach(), da, zero);
      grads[0] = da;
    }
    if (this->needs_grad(1)) {
      Tensor<T> factor = mul(this->get(2), log(a));
      // Kept where not (a == 0 and b >= 0); a constant of the graph, as b's mask above.
      const Tensor<T> keep = detail::map_binary(
          "pow_tensor", a, b, [](T x, T y) { return x == T(0) && y >= T(0) ? T(0) : T(1); });
      if (detail::active_capture() || any_zero(keep)) factor = where(keep, factor, zero);
      grads[1] = mul(g, factor);
    }
  }
};

template <class T> std::vector<GradSample<T>> pow_tensor_samples(std::uint64_t seed) {
  // Positive bases (away from 0, where log a and a^(b-1) blow up), exponents of both signs.
  return samples::binary<T>(seed, 0.5, 2, -2, 2, false,
                            [](const Tensor<T>& a, const Tensor<T>& b) { return pow(a, b); });
}

// Values from Python's math module (math.pow, math.log) or by hand, as noted.
OpCases pow_tensor_cases() {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  constexpr double inf = std::numeric_limits<double>::infinity();
  return {.forward =
              {{"[4] 2^3, 4^0.5, 9^-0.5, 0.5^2",
                [] {
                  return pow(TensorD::vector({2, 4, 9, 0.5}), TensorD::vector({3, 0.5, -0.5, 2}));
                },
                Shape{4},
                {8, 2, 0.3333333333333333, 0.25}},
               {"edges: 0^0, 0^2, 0^-1, (-8)^(1/3), (-2)^3, NaN^0, 1^NaN, NaN^1, 2^inf, 0.5^inf",
                // C pow (and math.pow where it does not raise): 1, 0, inf, NaN, -8, 1, 1, NaN,
                // inf, 0.
                [] {
                  return pow(TensorD::vector({0, 0, 0, -8, -2, nan, 1, nan, 2, 0.5}),
                             TensorD::vector({0, 2, -1, 1.0 / 3, 3, 0, nan, 1, inf, inf}));
                },
                Shape{10},
                {1, 0, inf, nan, -8, 1, 1, nan, inf, 0}},
               {"a [2,1] with b [3] broadcasts to [2,3]",
                [] {
                  return pow(TensorD::from_vector({2, 1}, {2, 3}), TensorD::vector({0, 1, 2}));
                },
                Shape{2, 3},
                {1, 2, 4, 1, 3, 9}},
               {"gradient to a: b*a^(b-1)",
                // 3*2^2 = 12, 0.5*4^-0.5 = 0.25, and (-2)^3: 3*(-2)^2 = 12.
                [] {
                  TensorD a = TensorD::vector({2, 4, -2}, true);
                  TensorD b = TensorD::vector({3, 0.5, 3}, true);
                  return tg::grad(sum(pow(a, b)), {a, b})[0];
                },
                Shape{3},
                {12, 0.25, 12}},
               {"gradient to b: a^b*log(a), NaN for a negative base",
                // 8 ln 2, 2 ln 4 (math.log), (-8)*log(-2) = NaN.
                [] {
                  TensorD a = TensorD::vector({2, 4, -2}, true);
                  TensorD b = TensorD::vector({3, 0.5, 3}, true);
                  return tg::grad(sum(pow(a, b)), {a, b})[1];
                },
                Shape{3},
                {5.545177444479562, 2.772588722239781, nan}},
               {"gradient to a at a = 0: 0 for b = 2, 0 for b = 0, -inf for b = -1",
                // 2*0^1 = 0; b = 0 is exactly 0 (0*0^-1 would be NaN); -1*0^-2 = -inf.
                [] {
                  TensorD a = TensorD::vector({0, 0, 0}, true);
                  TensorD b = TensorD::vector({2, 0, -1}, true);
                  return tg::grad(sum(pow(a, b)), {a, b})[0];
                },
                Shape{3},
                {0, 0, -inf}},
               {"gradient to b at a = 0: 0 where b >= 0, -inf for b = -1",
                // b = 2 and b = 0: 0 (0^b*log 0 would be NaN); b = -1: inf*log 0 = -inf.
                [] {
                  TensorD a = TensorD::vector({0, 0, 0}, true);
                  TensorD b = TensorD::vector({2, 0, -1}, true);
                  return tg::grad(sum(pow(a, b)), {a, b})[1];
                },
                Shape{3},
                {0, 0, -inf}},
               {"gradient to a where b = 0 is 0 even for an infinite G",
                // G = c = inf at the element with b = 0; the other has da = 2*3^1 = 6.
                [] {
                  TensorD a = TensorD::vector({2, 3}, true);
                  TensorD b = TensorD::vector({0, 2});
                  TensorD c = TensorD::vector({inf, 1});
                  return tg::grad(sum(pow(a, b) * c), {a})[0];
                },
                Shape{2},
                {0, 6}},
               {"gradients summed over broadcasting: a [2,1], b [3]",
                // da row a=2: 0 + 1 + 2*2 = 5; row a=3: 0 + 1 + 2*3 = 7.
                [] {
                  TensorD a = TensorD::from_vector({2, 1}, {2, 3}, true);
                  TensorD b = TensorD::vector({0, 1, 2}, true);
                  return tg::grad(sum(pow(a, b)), {a, b})[0];
                },
                Shape{2, 1},
                {5, 7}},
               {"db summed over broadcasting: a [2,1], b [3]",
                // column b: 2^b ln 2 + 3^b ln 3 (math.log) for b = 0, 1, 2.
                [] {
                  TensorD a = TensorD::from_vector({2, 1}, {2, 3}, true);
                  TensorD b = TensorD::vector({0, 1, 2}, true);
                  return tg::grad(sum(pow(a, b)), {a, b})[1];
                },
                Shape{3},
                {1.791759469228055, 4.68213122712422, 12.660099320252769}}},
          .errors = {{"[2,3] with [4]", ErrorKind::shape, "[2,3] and [4]", [] {
                        pow(TensorD::zeros({2, 3}), TensorD::zeros({4}));
                      }}}};
}

}  // namespace

template <class T> Tensor<T> pow(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out =
      detail::map_binary("pow_tensor", a, b, [](T x, T y) { return T(std::pow(x, y)); });
  if (auto* node = record<PowTensorNode<T>>(out, {&a, &b})) {
    node->saved[0].save_input(a);
    node->saved[1].save_input(b);
    if (node->needs_grad(1)) node->saved[2].save_output(out);
  }
  return out;
}

template Tensor<float> pow(const Tensor<float>&, const Tensor<float>&);
template Tensor<double> pow(const Tensor<double>&, const Tensor<double>&);

TG_DEFINE_REPLAYABLE_OP(
    pow_tensor, "da = G*b*a^(b-1) (0 where b = 0), db = G*a^b*log(a) (0 where a = 0 and b >= 0)",
    pow_tensor_samples, pow_tensor_cases);

}  // namespace tg
