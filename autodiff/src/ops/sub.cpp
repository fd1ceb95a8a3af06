// sub: a - b with NumPy broadcasting. Adjoint: da = G, db = -G.
#include "../kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> class SubNode final : public Node<T> {
 public:
  const char* name() const override { return "sub"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    grads[0] = g;
    if (this->needs_grad(1)) grads[1] = neg(g);
  }
};

template <class T> std::vector<GradSample<T>> sub_samples(std::uint64_t seed) {
  return samples::binary<T>(seed, -2, 2, -2, 2, false,
                            [](const Tensor<T>& a, const Tensor<T>& b) { return sub(a, b); });
}

// By hand: [1,-2,3,0.5] - [4,5,-6,2]; a [3] row subtracted from each row; d/db of a - b is -G.
OpCases sub_cases() {
  OpCases cases = {
      .forward =
          {{"[4]-[4]",
            [] {
              return sub(TensorD::vector({1, -2, 3, 0.5}), TensorD::vector({4, 5, -6, 2}));
            },
            Shape{4},
            {-3, -7, 9, -1.5}},
           {"a - b is the same op",
            [] {
              return TensorD::vector({1, -2, 3, 0.5}) - TensorD::vector({4, 5, -6, 2});
            },
            Shape{4},
            {-3, -7, 9, -1.5}},
           {"[2,3]-[3]",
            [] {
              return TensorD::matrix({{2, 4, 6}, {8, 10, 12}}) - TensorD::vector({1, 2, 3});
            },
            Shape{2, 3},
            {1, 2, 3, 7, 8, 9}},
           {"1.0 - x",
            [] {
              return 1.0 - TensorD::vector({1, 2, 4});
            },
            Shape{3},
            {0, -1, -3}},
           {"x - 1.0",
            [] {
              return TensorD::vector({1, 2, 4}) - 1.0;
            },
            Shape{3},
            {0, 1, 3}},
           {"d/da sum(a - b)",
            [] {
              TensorD a = TensorD::vector({1, -2, 4}, true), b = TensorD::vector({2, 4, -8}, true);
              return grad(sum(a - b), {a, b})[0];
            },
            Shape{3},
            {1, 1, 1}},
           {"d/db sum(a - b)",
            [] {
              TensorD a = TensorD::vector({1, -2, 4}, true), b = TensorD::vector({2, 4, -8}, true);
              return grad(sum(a - b), {a, b})[1];
            },
            Shape{3},
            {-1, -1, -1}},
           {"d/dx sum(1.0 - x)",
            [] {
              TensorD x = TensorD::vector({1, 2, 4}, true);
              return grad(sum(1.0 - x), {x})[0];
            },
            Shape{3},
            {-1, -1, -1}}},
      .errors = {{"[2,3] - [3,2]", ErrorKind::shape, "shapes [2,3] and [3,2]",
                  [] {
                    sub(TensorD::zeros(Shape{2, 3}, true), TensorD::zeros(Shape{3, 2}, true));
                  }},
                 {"a - b is the same op", ErrorKind::shape, "shapes [2,3] and [3,2]", [] {
                    (void)(TensorD::zeros(Shape{2, 3}, true) - TensorD::zeros(Shape{3, 2}, true));
                  }}}};
  cases.gradient_constant_in_inputs = true;
  return cases;
}

}  // namespace

template <class T> Tensor<T> sub(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = detail::map_binary("sub", a, b, [](T x, T y) { return x - y; });
  record<SubNode<T>>(out, {&a, &b});
  return out;
}

template Tensor<float> sub(const Tensor<float>&, const Tensor<float>&);
template Tensor<double> sub(const Tensor<double>&, const Tensor<double>&);

TG_DEFINE_REPLAYABLE_OP(sub, "da = G, db = -G", sub_samples, sub_cases);

}  // namespace tg
