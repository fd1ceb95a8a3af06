// add_bias: Y[i,j] = X[i,j] + b[j] for X[n,m], b[m] (the bias broadcast over rows), the one op
// that broadcasts by definition. Adjoint: dX = G, db[j] = sum_i G[i,j].
#include "../kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> class AddBiasNode final : public Node<T> {
 public:
  const char* name() const override { return "add_bias"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    grads[0] = g;
    if (this->needs_grad(1)) grads[1] = detail::sum_rows(g);
  }
};

template <class T> std::vector<GradSample<T>> add_bias_samples(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  for (const auto& [n, m] :
       {std::pair<std::size_t, std::size_t>{1, 1}, {1, 5}, {4, 1}, {3, 4}, {5, 2}})
    out.push_back(
        {Shape{n, m}.str() + "+" + Shape{m}.str(),
         {samples::uniform<T>(Shape{n, m}, -1, 1, rng), samples::uniform<T>(Shape{m}, -1, 1, rng)},
         [](const std::vector<Tensor<T>>& in) { return add_bias(in[0], in[1]); }});
  return out;
}

// By hand: [[1,2,3],[4,5,6]] + [10,20,30] on each row. With the upstream G = [[1,2,3],[4,5,6]]:
// dX = G, db = column sums of G = [1+4, 2+5, 3+6].
OpCases add_bias_cases() {
  OpCases cases = {
      .forward =
          {{"X[2,3] + b[3]",
            [] {
              return add_bias(TensorD::matrix({{1, 2, 3}, {4, 5, 6}}),
                              TensorD::vector({10, 20, 30}));
            },
            Shape{2, 3},
            {11, 22, 33, 14, 25, 36}},
           {"dX = G",
            [] {
              TensorD x = TensorD::matrix({{1, 2, 3}, {4, 5, 6}}, true),
                      b = TensorD::vector({10, 20, 30}, true);
              return grad(add_bias(x, b), {x, b}, TensorD::matrix({{1, 2, 3}, {4, 5, 6}}))[0];
            },
            Shape{2, 3},
            {1, 2, 3, 4, 5, 6}},
           {"db = column sums of G",
            [] {
              TensorD x = TensorD::matrix({{1, 2, 3}, {4, 5, 6}}, true),
                      b = TensorD::vector({10, 20, 30}, true);
              return grad(add_bias(x, b), {x, b}, TensorD::matrix({{1, 2, 3}, {4, 5, 6}}))[1];
            },
            Shape{3},
            {5, 7, 9}}},
      .errors = {
          {"one bias entry per row instead of per column", ErrorKind::shape, "X[4,3] and b[4]",
           [] {
             add_bias(TensorD::zeros(Shape{4, 3}, true), TensorD::zeros(Shape{4}, true));
           }},
          {"bias of the wrong length", ErrorKind::shape, "X[2,3] and b[2]",
           [] {
             add_bias(TensorD::zeros(Shape{2, 3}), TensorD::zeros(Shape{2}));
           }},
          {"2-D bias", ErrorKind::shape, "X[2,3] and b[1,3]",
           [] {
             add_bias(TensorD::zeros(Shape{2, 3}), TensorD::zeros(Shape{1, 3}));
           }},
          {"1-D X", ErrorKind::shape, "X[3] and b[3]",
           [] { add_bias(TensorD::zeros(Shape{3}), TensorD::zeros(Shape{3})); }}}};
  cases.gradient_constant_in_inputs = true;
  return cases;
}

}  // namespace

template <class T> Tensor<T> add_bias(const Tensor<T>& x, const Tensor<T>& bias) {
  if (x.ndim() != 2 || bias.ndim() != 1 || bias.dim(0) != x.dim(1))
    throw ShapeError("add_bias: needs X[n,m] and a bias b[m] with one entry per column, got X" +
                     x.shape().str() + " and b" + bias.shape().str());
  const std::size_t n = x.dim(0), m = x.dim(1);
  Tensor<T> out = detail::new_output<T>("add_bias", x.shape());
  // An empty X may still have 2^40 rows: no loop over them.
  if (out.size() != 0)
    detail::launch(
        [in = x.data(), b = bias.data(), o = out.data(), n, m] {
          for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = 0; j < m; ++j) o[i * m + j] = in[i * m + j] + b[j];
        },
        [&] { return detail::writes_from(out, x, bias); });
  record<AddBiasNode<T>>(out, {&x, &bias});
  return out;
}

template Tensor<float> add_bias(const Tensor<float>&, const Tensor<float>&);
template Tensor<double> add_bias(const Tensor<double>&, const Tensor<double>&);

TG_DEFINE_REPLAYABLE_OP(add_bias, "dX = G, db = sum(G, axis 0)", add_bias_samples, add_bias_cases);

}  // namespace tg
