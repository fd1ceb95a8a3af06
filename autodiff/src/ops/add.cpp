// add: a + b with NumPy broadcasting. Adjoint: da = G, db = G (the engine sums each back to its
// input's shape).
#include "../kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> class AddNode final : public Node<T> {
 public:
  const char* name() const override { return "add"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    grads[0] = g;
    grads[1] = g;
  }
};

template <class T> std::vector<GradSample<T>> add_samples(std::uint64_t seed) {
  return samples::binary<T>(seed, -2, 2, -2, 2, false,
                            [](const Tensor<T>& a, const Tensor<T>& b) { return add(a, b); });
}

// By hand. The gradient of a broadcast input is G summed over its copies: 3 for a row added to
// each of 3 rows, 4 for a 0-d scalar added to each of 4 elements.
OpCases add_cases() {
  OpCases cases = {
      .forward =
          {{"[4]+[4]",
            [] {
              return add(TensorD::vector({1, -2, 3, 0.5}), TensorD::vector({4, 5, -6, 2}));
            },
            Shape{4},
            {5, 3, -3, 2.5}},
           {"a + b is the same op",
            [] {
              return TensorD::vector({1, -2, 3, 0.5}) + TensorD::vector({4, 5, -6, 2});
            },
            Shape{4},
            {5, 3, -3, 2.5}},
           {"[3,4]+[4] adds the row to each row",
            [] {
              return add(TensorD::from_vector(Shape{3, 4}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}),
                         TensorD::vector({100, 200, 300, 400}));
            },
            Shape{3, 4},
            {100, 201, 302, 403, 104, 205, 306, 407, 108, 209, 310, 411}},
           {"x + 0.5",
            [] {
              return TensorD::vector({1, 2, 4}) + 0.5;
            },
            Shape{3},
            {1.5, 2.5, 4.5}},
           {"0.5 + x",
            [] {
              return 0.5 + TensorD::vector({1, 2, 4});
            },
            Shape{3},
            {1.5, 2.5, 4.5}},
           {"d/da sum(a + b)",
            [] {
              TensorD a = TensorD::vector({1, -2, 4}, true), b = TensorD::vector({2, 4, -8}, true);
              return grad(sum(a + b), {a, b})[0];
            },
            Shape{3},
            {1, 1, 1}},
           {"d/db sum(a + b)",
            [] {
              TensorD a = TensorD::vector({1, -2, 4}, true), b = TensorD::vector({2, 4, -8}, true);
              return grad(sum(a + b), {a, b})[1];
            },
            Shape{3},
            {1, 1, 1}},
           {"d/dx sum(x + v), x[3,4], v[4]",
            [] {
              TensorD x = TensorD::zeros(Shape{3, 4}, true),
                      v = TensorD::vector({100, 200, 300, 400}, true);
              return grad(sum(x + v), {x, v})[0];
            },
            Shape{3, 4}, std::vector<double>(12, 1.0)},
           {"d/dv sum(x + v), x[3,4], v[4]: summed over the rows",
            [] {
              TensorD x = TensorD::zeros(Shape{3, 4}, true),
                      v = TensorD::vector({100, 200, 300, 400}, true);
              return grad(sum(x + v), {x, v})[1];
            },
            Shape{4},
            {3, 3, 3, 3}},
           {"d/ds sum(x + s), x[2,2], s 0-d",
            [] {
              TensorD x = TensorD::matrix({{1, 2}, {3, 4}}, true), s = TensorD::scalar(3, true);
              return grad(sum(x + s), {s})[0];
            },
            Shape{},
            {4}}},
      .errors = {
          {"[2,3] + [3,2]: no broadcasting rule fits", ErrorKind::shape, "shapes [2,3] and [3,2]",
           [] {
             add(TensorD::zeros(Shape{2, 3}, true), TensorD::zeros(Shape{3, 2}, true));
           }},
          {"a + b is the same op", ErrorKind::shape, "shapes [2,3] and [3,2]", [] {
             (void)(TensorD::zeros(Shape{2, 3}, true) + TensorD::zeros(Shape{3, 2}, true));
           }}}};
  cases.gradient_constant_in_inputs = true;
  return cases;
}

}  // namespace

template <class T> Tensor<T> add(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = detail::map_binary("add", a, b, [](T x, T y) { return x + y; });
  record<AddNode<T>>(out, {&a, &b});
  return out;
}

template Tensor<float> add(const Tensor<float>&, const Tensor<float>&);
template Tensor<double> add(const Tensor<double>&, const Tensor<double>&);

TG_DEFINE_REPLAYABLE_OP(add, "da = G, db = G (summed back to each input's shape)", add_samples,
                        add_cases);

}  // namespace tg
