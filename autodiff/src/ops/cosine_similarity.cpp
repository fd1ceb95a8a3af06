// cosine_similarity: current PyTorch's, along `axis` (removed from the result):
// a.b / (max(||a||, eps) * max(||b||, eps)), each norm clamped on its own (older PyTorch clamped
// the product ||a||*||b|| instead). a and b of the same shape (PyTorch would broadcast them).
// Adjoint, with na = max(||a||, eps), ua = a/na, ub = b/nb and c the result:
//   da = G*(ub - c*ua*[||a|| >= eps])/na, db = G*(ua - c*ub*[||b|| >= eps])/nb,
// the bracket 0 where the norm is clamped (a constant eps there, as PyTorch's clamp_min passes no
// gradient below its bound). Composed from existing ops (sum, pow, mul, reshape) with constant
// masks, so the adjoint is differentiable again.
#include <cmath>
#include <limits>
#include <string>

#include "../loss_kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> class CosineSimilarityNode final : public SavingNode<T, 2> {
 public:
  std::size_t axis = 0;
  T eps = 0;
  const char* name() const override { return "cosine_similarity"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    const Tensor<T> a = this->get(0), b = this->get(1);
    const Shape keep = detail::keep_axis(a.shape(), axis);
    const auto [inv_na, unclamped_a] = inverse_norm(a, keep);
    const auto [inv_nb, unclamped_b] = inverse_norm(b, keep);
    const Tensor<T> ua = mul(a, inv_na), ub = mul(b, inv_nb);
    const Tensor<T> c = reshape(sum(mul(ua, ub), axis), keep);
    const Tensor<T> gk = reshape(g, keep);
    if (this->needs_grad(0)) grads[0] = mul(mul(gk, inv_na), ub - mul(mul(c, unclamped_a), ua));
    if (this->needs_grad(1)) grads[1] = mul(mul(gk, inv_nb), ua - mul(mul(c, unclamped_b), ub));
  }

 private:
  // 1/max(||x||, eps) along the axis, kept as extent 1, as ops of x; and the constant mask
  // [||x|| >= eps]. A clamped norm is the constant 1/eps, and the sum there is moved off 0 so
  // that pow's derivative stays finite (it is multiplied by 0).
  std::pair<Tensor<T>, Tensor<T>> inverse_norm(const Tensor<T>& x, const Shape& keep) const {
    const Tensor<T> squares = reshape(sum(mul(x, x), axis), keep);
    Tensor<T> unclamped = detail::map_unary(
        "cosine_similarity", squares, [e = eps](T s) { return std::sqrt(s) >= e ? T(1) : T(0); });
    const Tensor<T> shift =
        detail::map_unary("cosine_similarity", unclamped, [](T m) { return T(1) - m; });
    const Tensor<T> clamped = detail::map_unary("cosine_similarity", unclamped,
                                                [e = eps](T m) { return (T(1) - m) / e; });
    return {mul(pow(squares + shift, T(-0.5)), unclamped) + clamped, unclamped};
  }
};

template <class T> std::vector<GradSample<T>> cosine_similarity_samples(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  // Not along an axis of extent 1: there the result is the constant sign(a)*sign(b), whose
  // gradient, 0, is all rounding noise.
  const std::vector<std::pair<Shape, int>> cases = {
      {Shape{3, 4}, 1}, {Shape{3, 4}, 0},     {Shape{1, 5}, 1},    {Shape{4, 1}, 0},
      {Shape{6}, 0},    {Shape{2, 3, 4}, -1}, {Shape{2, 3, 4}, 1}, {Shape{2, 3, 4}, 0}};
  for (const auto& [s, axis] : cases)
    out.push_back({s.str() + "," + s.str() + " axis " + std::to_string(axis),
                   {samples::uniform<T>(s, -1, 1, rng), samples::uniform<T>(s, -1, 1, rng)},
                   [axis](const std::vector<Tensor<T>>& in) {
                     return cosine_similarity(in[0], in[1], axis);
                   }});
  return out;
}

// Values from Python's math module: for rows u, v, sum(u*v) / (max(norm(u), eps) *
// max(norm(v), eps)) with norm = math.sqrt(sum of squares) (math.hypot agrees).
// [[1,2,3],[0,0,0]] . [[4,5,6],[1,1,1]] along axis 1: 32/(sqrt(14)*sqrt(77)) = 0.9746318461970762,
// and 0 for the zero row (its norm is clamped: 0/(1e-8*sqrt(3))). Along axis 0 of [[1,2],[3,4]]
// and [[2,0],[1,-1]]: columns (1,3).(2,1) = 5/(sqrt(10)*sqrt(5)) = 0.7071067811865475 and
// (2,4).(0,-1) = -4/(sqrt(20)*1) = -0.8944271909999159. The per-norm clamp: a = [1e-9, 0] (norm
// below eps = 1e-8), b = [1000, 0] gives 1e-6/(1e-8*1000) = 0.1 (clamping the product, 1e-6, would
// give 1), and its gradient in a is b/(eps*||b||) = [1e8, 0]: the clamped norm is a constant.
OpCases cosine_similarity_cases() {
  return {
      .forward =
          {{"[2,3] axis 1, a zero row",
            [] {
              return cosine_similarity(TensorD::matrix({{1, 2, 3}, {0, 0, 0}}),
                                       TensorD::matrix({{4, 5, 6}, {1, 1, 1}}));
            },
            Shape{2},
            {0.9746318461970762, 0}},
           {"[2,2] axis 0 and axis -2",
            [] {
              return cosine_similarity(TensorD::matrix({{1, 2}, {3, 4}}),
                                       TensorD::matrix({{2, 0}, {1, -1}}), -2);
            },
            Shape{2},
            {0.7071067811865475, -0.8944271909999159}},
           {"[2] axis 0 -> 0-d, each norm clamped on its own",
            [] {
              return cosine_similarity(TensorD::vector({1e-9, 0}), TensorD::vector({1000, 0}), 0);
            },
            Shape{},
            {0.1}},
           {"gradient through a clamped norm",
            [] {
              TensorD a = TensorD::vector({1e-9, 0}, true);
              return tg::grad(cosine_similarity(a, TensorD::vector({1000, 0}), 0), {a})[0];
            },
            Shape{2},
            {1e8, 0}},
           // d/da of a.b/(|a||b|) at a = [3,4], b = [1,0]: b/(|a||b|) - c*a/|a|^2
           // with c = 3/5: [1/5 - 0.6*3/25, -0.6*4/25] = [0.128, -0.096].
           {"gradient",
            [] {
              TensorD a = TensorD::vector({3, 4}, true);
              return tg::grad(cosine_similarity(a, TensorD::vector({1, 0}), 0), {a})[0];
            },
            Shape{2},
            {0.128, -0.096}}},
      .errors = {
          {"shapes differ", ErrorKind::shape, "[2,3] and [3,2]",
           [] {
             cosine_similarity(TensorD::zeros(Shape{2, 3}), TensorD::zeros(Shape{3, 2}));
           }},
          {"axis out of range", ErrorKind::axis, "axis 2",
           [] {
             cosine_similarity(TensorD::zeros(Shape{2, 3}), TensorD::zeros(Shape{2, 3}), 2);
           }},
          {"negative axis out of range", ErrorKind::axis, "axis -3",
           [] {
             cosine_similarity(TensorD::zeros(Shape{2, 3}), TensorD::zeros(Shape{2, 3}), -3);
           }},
          {"0-d", ErrorKind::axis, "axis 0 out of range for []",
           [] { cosine_similarity(TensorD::scalar(1), TensorD::scalar(1), 0); }},
          {"negative eps", ErrorKind::domain, "eps must not be negative", [] {
             cosine_similarity(TensorD::ones(Shape{2, 3}), TensorD::ones(Shape{2, 3}), 1, -1);
           }}}};
}

}  // namespace

template <class T>
Tensor<T> cosine_similarity(const Tensor<T>& a, const Tensor<T>& b, int axis,
                            std::type_identity_t<T> eps) {
  require_same_shape("cosine_similarity", a, b);
  const int rank = int(a.ndim());
  if (axis < -rank || axis >= rank)
    throw AxisError("cosine_similarity: axis " + std::to_string(axis) + " out of range for " +
                    a.shape().str() + " (valid " + std::to_string(-rank) + ".." +
                    std::to_string(rank - 1) + ")");
  if (!(eps >= T(0)))
    throw DomainError("cosine_similarity: eps must not be negative, got " +
                      format_number(double(eps)));
  const std::size_t ax = std::size_t(axis < 0 ? axis + rank : axis);
  Shape out_shape;
  std::size_t outer = 1, inner = 1;
  for (std::size_t d = 0; d < a.ndim(); ++d) {
    if (d != ax) out_shape.push_back(a.dim(d));
    if (d < ax) outer *= a.dim(d);
    if (d > ax) inner *= a.dim(d);
  }
  const std::size_t length = a.dim(ax);
  Tensor<T> out = detail::new_output<T>("cosine_similarity", out_shape);
  if (out.size() != 0)
    detail::launch(
        [pa = a.data(), pb = b.data(), po = out.data(), outer, inner, length, e = T(eps)] {
          for (std::size_t o = 0; o < outer; ++o)
            for (std::size_t i = 0; i < inner; ++i) {
              T dot = 0, saa = 0, sbb = 0;
              for (std::size_t l = 0; l < length; ++l) {
                const std::size_t k = (o * length + l) * inner + i;
                dot += pa[k] * pb[k];
                saa += pa[k] * pa[k];
                sbb += pb[k] * pb[k];
              }
              po[o * inner + i] = dot / (std::max(std::sqrt(saa), e) * std::max(std::sqrt(sbb), e));
            }
        });
  if (auto* node = record<CosineSimilarityNode<T>>(out, {&a, &b})) {
    node->axis = ax;
    node->eps = eps;
    node->saved[0].save_input(a);
    node->saved[1].save_input(b);
  }
  return out;
}

template Tensor<float> cosine_similarity(const Tensor<float>&, const Tensor<float>&, int, float);
template Tensor<double> cosine_similarity(const Tensor<double>&, const Tensor<double>&, int,
                                          double);

TG_DEFINE_REPLAYABLE_OP(cosine_similarity,
                        "da = G*(ub - c*ua*[|a| >= eps])/na, db = G*(ua - c*ub*[|b| >= eps])/nb; "
                        "na = max(|a|, eps), ua = a/na",
                        cosine_similarity_samples, cosine_similarity_cases);

}  // namespace tg
