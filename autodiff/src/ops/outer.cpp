// outer: out[i,j] = a[i] * b[j] for 1-D a[n], b[m] (PyTorch's outer; no other ranks). An op of
// its own rather than matmul of [n,1] by [1,m]: that would copy both operands into the reshapes.
// Adjoint: da = G @ b, db = a @ G (matmul's 2-D @ 1-D and 1-D @ 2-D products, differentiable).
#include <limits>

#include "../kernels.hpp"

namespace tg {

namespace {

template <class T> class OuterNode final : public SavingNode<T, 2> {
 public:
  const char* name() const override { return "outer"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    if (this->needs_grad(0)) grads[0] = matmul(g, this->get(1));
    if (this->needs_grad(1)) grads[1] = matmul(this->get(0), g);
  }
};

template <class T> std::vector<GradSample<T>> outer_samples(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  const std::pair<std::size_t, std::size_t> lengths[] = {{1, 1}, {1, 4}, {3, 1}, {3, 4}, {5, 2}};
  for (const auto& [n, m] : lengths) {
    const Shape sa{n}, sb{m};
    out.push_back({sa.str() + "x" + sb.str(),
                   {samples::uniform<T>(sa, -1, 1, rng), samples::uniform<T>(sb, -1, 1, rng)},
                   [](const std::vector<Tensor<T>>& in) { return outer(in[0], in[1]); }});
  }
  return out;
}

// Products of small integers, by hand; IEEE: inf*0 is NaN, inf*-2 is -inf.
OpCases outer_cases() {
  constexpr double inf = std::numeric_limits<double>::infinity();
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  return {.forward = {{"[2]x[3]",
                       [] {
                         return outer(TensorD::vector({1, -2}), TensorD::vector({3, 4, 5}));
                       },
                       Shape{2, 3},
                       {3, 4, 5, -6, -8, -10}},
                      {"[1]x[1]",
                       [] { return outer(TensorD::vector({1.5}), TensorD::vector({-2})); },
                       Shape{1, 1},
                       {-3}},
                      {"inf",
                       [] {
                         return outer(TensorD::vector({inf}), TensorD::vector({0, -2}));
                       },
                       Shape{1, 2},
                       {nan, -inf}},
                      {"[0]x[2]",
                       [] {
                         return outer(TensorD::zeros(Shape{0}), TensorD::vector({1, 2}));
                       },
                       Shape{0, 2},
                       {}}},
          .errors = {{"2-D operand", ErrorKind::shape, "[2,2] and [3]",
                      [] {
                        outer(TensorD::zeros(Shape{2, 2}), TensorD::zeros(Shape{3}));
                      }},
                     {"0-d operand", ErrorKind::shape, "[3] and []",
                      [] { outer(TensorD::zeros(Shape{3}), TensorD::scalar(1)); }}}};
}

}  // namespace

template <class T> Tensor<T> outer(const Tensor<T>& a, const Tensor<T>& b) {
  if (a.ndim() != 1 || b.ndim() != 1)
    throw ShapeError("outer: both operands must be 1-D, got " + a.shape().str() + " and " +
                     b.shape().str());
  const std::size_t n = a.size(), m = b.size();
  Tensor<T> out = detail::new_output<T>("outer", Shape{n, m});
  detail::launch([pa = a.data(), pb = b.data(), o = out.data(), n, m] {
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < m; ++j) o[i * m + j] = pa[i] * pb[j];
  });
  if (auto* node = record<OuterNode<T>>(out, {&a, &b})) {
    // Each operand is needed only for the other's gradient.
    if (node->needs_grad(1)) node->saved[0].save_input(a);
    if (node->needs_grad(0)) node->saved[1].save_input(b);
  }
  return out;
}

template Tensor<float> outer(const Tensor<float>&, const Tensor<float>&);
template Tensor<double> outer(const Tensor<double>&, const Tensor<double>&);

TG_DEFINE_REPLAYABLE_OP(outer, "da = G @ b, db = a @ G", outer_samples, outer_cases);

}  // namespace tg
