// div: a / b elementwise with NumPy broadcasting; IEEE-754 for b = 0 (inf/NaN, no error).
// Adjoint: da = G/b, db = -G*a/b^2, evaluated as -G*(a/b)/b (PyTorch's order): b^2 underflows to
// 0 for |b| below 1e-154 (float: 1e-19), where a/b/b is still finite.
#include <limits>

#include "../kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> class DivNode final : public SavingNode<T, 2> {
 public:
  const char* name() const override { return "div"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    Tensor<T> b = this->get(1);
    if (this->needs_grad(0)) grads[0] = div(g, b);
    if (this->needs_grad(1)) grads[1] = neg(mul(g, div(div(this->get(0), b), b)));
  }
};

template <class T> std::vector<GradSample<T>> div_samples(std::uint64_t seed) {
  // Denominators at least 0.5 from zero keep the central differences accurate.
  return samples::binary<T>(seed, -2, 2, 0.5, 2, true,
                            [](const Tensor<T>& a, const Tensor<T>& b) { return div(a, b); });
}

// By hand: da = 1/b, db = -a/b^2, summed over the copies of a broadcast b; 1/0 = inf (IEEE-754,
// no error), and so are its gradients.
OpCases div_cases() {
  constexpr double inf = std::numeric_limits<double>::infinity();
  return {
      .forward =
          {{"[4]/[4]",
            [] {
              return div(TensorD::vector({1, -2, 3, 0.5}), TensorD::vector({4, 5, -6, 2}));
            },
            Shape{4},
            {0.25, -0.4, -0.5, 0.25}},
           {"a / b is the same op",
            [] {
              return TensorD::vector({1, -2, 3, 0.5}) / TensorD::vector({4, 5, -6, 2});
            },
            Shape{4},
            {0.25, -0.4, -0.5, 0.25}},
           {"[2,3]/[2,1] divides each row",
            [] {
              return div(TensorD::matrix({{2, 4, 6}, {8, 10, 12}}),
                         TensorD::from_vector(Shape{2, 1}, {2, 4}));
            },
            Shape{2, 3},
            {1, 2, 3, 2, 2.5, 3}},
           {"3.0 / x",
            [] {
              return 3.0 / TensorD::vector({1, 2, 4});
            },
            Shape{3},
            {3, 1.5, 0.75}},
           {"x / 4.0",
            [] {
              return TensorD::vector({1, 2, 4}) / 4.0;
            },
            Shape{3},
            {0.25, 0.5, 1}},
           {"1/0 = inf",
            [] {
              return div(TensorD::vector({1, 3}), TensorD::vector({0, 2}));
            },
            Shape{2},
            {inf, 1.5}},
           // da = 1/b = [0.5, 0.25, -0.125]; db = -a/b^2 = [-1/4, 2/16, -4/64]
           {"d/da sum(a / b)",
            [] {
              TensorD a = TensorD::vector({1, -2, 4}, true), b = TensorD::vector({2, 4, -8}, true);
              return grad(sum(a / b), {a, b})[0];
            },
            Shape{3},
            {0.5, 0.25, -0.125}},
           {"d/db sum(a / b)",
            [] {
              TensorD a = TensorD::vector({1, -2, 4}, true), b = TensorD::vector({2, 4, -8}, true);
              return grad(sum(a / b), {a, b})[1];
            },
            Shape{3},
            {-0.25, 0.125, -0.0625}},
           // dx = 1/d per row: [0.5 x3, 0.25 x3]; dd[i] = -sum_j x[i,j]/d[i]^2 = [-12/4, -30/16]
           {"d/dx sum(x / d), x[2,3], d[2,1]",
            [] {
              TensorD x = TensorD::matrix({{2, 4, 6}, {8, 10, 12}}, true),
                      d = TensorD::from_vector(Shape{2, 1}, {2, 4}, true);
              return grad(sum(x / d), {x, d})[0];
            },
            Shape{2, 3},
            {0.5, 0.5, 0.5, 0.25, 0.25, 0.25}},
           {"d/dd sum(x / d), x[2,3], d[2,1]",
            [] {
              TensorD x = TensorD::matrix({{2, 4, 6}, {8, 10, 12}}, true),
                      d = TensorD::from_vector(Shape{2, 1}, {2, 4}, true);
              return grad(sum(x / d), {x, d})[1];
            },
            Shape{2, 1},
            {-3, -1.875}},
           // -3/x^2 = [-3, -0.75, -0.1875]
           {"d/dx sum(3.0 / x)",
            [] {
              TensorD x = TensorD::vector({1, 2, 4}, true);
              return grad(sum(3.0 / x), {x})[0];
            },
            Shape{3},
            {-3, -0.75, -0.1875}},
           // da = 1/b = [1/0, 0.5]; db = -a/b^2 = [-1/0, -3/4]
           {"d/da sum(a / b) at b = 0",
            [] {
              TensorD a = TensorD::vector({1, 3}, true), b = TensorD::vector({0, 2}, true);
              return grad(sum(a / b), {a, b})[0];
            },
            Shape{2},
            {inf, 0.5}},
           {"d/db sum(a / b) at b = 0",
            [] {
              TensorD a = TensorD::vector({1, 3}, true), b = TensorD::vector({0, 2}, true);
              return grad(sum(a / b), {a, b})[1];
            },
            Shape{2},
            {-inf, -0.75}},
           // a = b = 1e-170: db = -1/b = -1e170, although b^2 is 0 in double.
           {"d/db sum(a / b) at b = 1e-170",
            [] {
              TensorD a = TensorD::vector({1e-170}, true), b = TensorD::vector({1e-170}, true);
              return grad(sum(a / b), {a, b})[1];
            },
            Shape{1},
            {-1e170}}},
      .errors = {{"[2,3] / [3,2]", ErrorKind::shape, "shapes [2,3] and [3,2]",
                  [] {
                    div(TensorD::zeros(Shape{2, 3}, true), TensorD::zeros(Shape{3, 2}, true));
                  }},
                 {"a / b is the same op", ErrorKind::shape, "shapes [2,3] and [3,2]", [] {
                    (void)(TensorD::zeros(Shape{2, 3}, true) / TensorD::zeros(Shape{3, 2}, true));
                  }}}};
}

}  // namespace

template <class T> Tensor<T> div(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = detail::map_binary("div", a, b, [](T x, T y) { return x / y; });
  if (auto* node = record<DivNode<T>>(out, {&a, &b})) {
    if (node->needs_grad(1)) node->saved[0].save_input(a);
    node->saved[1].save_input(b);
  }
  return out;
}

template Tensor<float> div(const Tensor<float>&, const Tensor<float>&);
template Tensor<double> div(const Tensor<double>&, const Tensor<double>&);

TG_DEFINE_REPLAYABLE_OP(div, "da = G/b, db = -G*a/b^2", div_samples, div_cases);

}  // namespace tg
