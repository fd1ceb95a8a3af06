// mul: a * b elementwise with NumPy broadcasting. Adjoint: da = G*b, db = G*a.
#include "../kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> class MulNode final : public SavingNode<T, 2> {
 public:
  const char* name() const override { return "mul"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    if (this->needs_grad(0)) grads[0] = mul(g, this->get(1));
    if (this->needs_grad(1)) grads[1] = mul(g, this->get(0));
  }
};

template <class T> std::vector<GradSample<T>> mul_samples(std::uint64_t seed) {
  return samples::binary<T>(seed, -2, 2, -2, 2, false,
                            [](const Tensor<T>& a, const Tensor<T>& b) { return mul(a, b); });
}

// By hand. [3,1] * [1,4] is the outer product; the gradient of each factor is G times the other,
// summed over the copies: dc[i] = sum_j r[j] = 100, dr[j] = sum_i c[i] = 6, and for a 0-d s
// times x[2,2], d/ds = sum(x) = 10.
OpCases mul_cases() {
  return {
      .forward =
          {{"[4]*[4]",
            [] {
              return mul(TensorD::vector({1, -2, 3, 0.5}), TensorD::vector({4, 5, -6, 2}));
            },
            Shape{4},
            {4, -10, -18, 1}},
           {"a * b is the same op",
            [] {
              return TensorD::vector({1, -2, 3, 0.5}) * TensorD::vector({4, 5, -6, 2});
            },
            Shape{4},
            {4, -10, -18, 1}},
           {"[3,1]*[1,4], the outer product",
            [] {
              return mul(TensorD::from_vector(Shape{3, 1}, {1, 2, 3}),
                         TensorD::from_vector(Shape{1, 4}, {10, 20, 30, 40}));
            },
            Shape{3, 4},
            {10, 20, 30, 40, 20, 40, 60, 80, 30, 60, 90, 120}},
           {"x times a 0-d tensor",
            [] {
              return mul(TensorD::vector({1, 2, 4}), TensorD::scalar(2.0));
            },
            Shape{3},
            {2, 4, 8}},
           {"a 0-d tensor times x",
            [] {
              return mul(TensorD::scalar(2.0), TensorD::vector({1, 2, 4}));
            },
            Shape{3},
            {2, 4, 8}},
           {"d/da sum(a * b) = b",
            [] {
              TensorD a = TensorD::vector({1, -2, 4}, true), b = TensorD::vector({2, 4, -8}, true);
              return grad(sum(a * b), {a, b})[0];
            },
            Shape{3},
            {2, 4, -8}},
           {"d/db sum(a * b) = a",
            [] {
              TensorD a = TensorD::vector({1, -2, 4}, true), b = TensorD::vector({2, 4, -8}, true);
              return grad(sum(a * b), {a, b})[1];
            },
            Shape{3},
            {1, -2, 4}},
           {"d/dc sum(c * r), c[3,1], r[1,4]",
            [] {
              TensorD c = TensorD::from_vector(Shape{3, 1}, {1, 2, 3}, true),
                      r = TensorD::from_vector(Shape{1, 4}, {10, 20, 30, 40}, true);
              return grad(sum(c * r), {c, r})[0];
            },
            Shape{3, 1},
            {100, 100, 100}},
           {"d/dr sum(c * r), c[3,1], r[1,4]",
            [] {
              TensorD c = TensorD::from_vector(Shape{3, 1}, {1, 2, 3}, true),
                      r = TensorD::from_vector(Shape{1, 4}, {10, 20, 30, 40}, true);
              return grad(sum(c * r), {c, r})[1];
            },
            Shape{1, 4},
            {6, 6, 6, 6}},
           {"d/dx sum(x * s), x[2,2], s = 3 0-d",
            [] {
              TensorD x = TensorD::matrix({{1, 2}, {3, 4}}, true), s = TensorD::scalar(3, true);
              return grad(sum(x * s), {x, s})[0];
            },
            Shape{2, 2},
            {3, 3, 3, 3}},
           {"d/ds sum(x * s), x[2,2], s 0-d",
            [] {
              TensorD x = TensorD::matrix({{1, 2}, {3, 4}}, true), s = TensorD::scalar(3, true);
              return grad(sum(x * s), {x, s})[1];
            },
            Shape{},
            {10}}},
      .errors = {{"[2,3] * [3,2]", ErrorKind::shape, "shapes [2,3] and [3,2]",
                  [] {
                    mul(TensorD::zeros(Shape{2, 3}, true), TensorD::zeros(Shape{3, 2}, true));
                  }},
                 {"a * b is the same op", ErrorKind::shape, "shapes [2,3] and [3,2]", [] {
                    (void)(TensorD::zeros(Shape{2, 3}, true) * TensorD::zeros(Shape{3, 2}, true));
                  }}}};
}

}  // namespace

template <class T> Tensor<T> mul(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = detail::map_binary("mul", a, b, [](T x, T y) { return x * y; });
  if (auto* node = record<MulNode<T>>(out, {&a, &b})) {
    if (node->needs_grad(1)) node->saved[0].save_input(a);
    if (node->needs_grad(0)) node->saved[1].save_input(b);
  }
  return out;
}

template Tensor<float> mul(const Tensor<float>&, const Tensor<float>&);
template Tensor<double> mul(const Tensor<double>&, const Tensor<double>&);

TG_DEFINE_REPLAYABLE_OP(mul, "da = G*b, db = G*a", mul_samples, mul_cases);

}  // namespace tg
