// where: a where the mask is nonzero, b elsewhere, with NumPy broadcasting of all three (a NaN in
// the mask counts as nonzero, as a NaN converts to true). Adjoint: da = G where the mask is
// nonzero, else 0; db = G where it is zero, else 0; the mask gets none. Selected, never multiplied
// (PyTorch's where(cond, grad, 0)): the branch not taken gets exactly 0 even where G is infinite
// or NaN, and a NaN in it never reaches the other branch's gradient.
#include <algorithm>
#include <array>
#include <limits>
#include <random>
#include <string>

#include "../kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

// The shape all three broadcast to; a ShapeError naming the three shapes when they do not.
Shape where_shape(const Shape& mask, const Shape& a, const Shape& b) {
  const std::size_t rank = std::max({mask.rank(), a.rank(), b.rank()});
  Shape out;
  for (std::size_t i = 0; i < rank; ++i) {
    std::size_t extent = 1;
    for (const Shape* s : {&mask, &a, &b}) {
      const std::size_t lead = rank - s->rank();
      const std::size_t d = i >= lead ? (*s)[i - lead] : 1;
      if (d == 1) continue;
      if (extent != 1 && d != extent)
        throw ShapeError("where: shapes " + mask.str() + " (mask), " + a.str() + " (a) and " +
                         b.str() + " (b) cannot be broadcast together (dimension " +
                         std::to_string(i) + ": " + std::to_string(extent) + " vs " +
                         std::to_string(d) + ")");
      extent = d;
    }
    out.push_back(extent);
  }
  return out;
}

template <class T>
Tensor<T> select_kernel(const Tensor<T>& mask, const Tensor<T>& a, const Tensor<T>& b) {
  const Shape shape = where_shape(mask.shape(), a.shape(), b.shape());
  Tensor<T> out = detail::new_output<T>("where", shape);
  T* o = out.data();
  const T* pm = mask.data();
  const T* pa = a.data();
  const T* pb = b.data();
  const std::size_t n = out.size();
  if (mask.size() == n && a.size() == n && b.size() == n) {
    detail::launch([=] {
      for (std::size_t i = 0; i < n; ++i) o[i] = pm[i] != T(0) ? pa[i] : pb[i];
    });
    return out;
  }
  if (n == 0) return out;
  detail::launch([=, sm = detail::broadcast_strides(mask.shape(), shape),
                  sa = detail::broadcast_strides(a.shape(), shape),
                  sb = detail::broadcast_strides(b.shape(), shape)] {
    const std::size_t rank = shape.rank();
    std::array<std::size_t, Shape::kMaxRank> idx{};
    std::size_t om = 0, oa = 0, ob = 0;
    for (std::size_t flat = 0; flat < n; ++flat) {
      o[flat] = pm[om] != T(0) ? pa[oa] : pb[ob];
      // Advance the multi-index, innermost first, moving each operand's offset along.
      for (std::size_t d = rank; d-- > 0;) {
        om += sm[d];
        oa += sa[d];
        ob += sb[d];
        if (++idx[d] < shape[d]) break;
        om -= sm[d] * shape[d];
        oa -= sa[d] * shape[d];
        ob -= sb[d] * shape[d];
        idx[d] = 0;
      }
    }
  });
  return out;
}

template <class T> class WhereNode final : public SavingNode<T, 1> {
 public:
  const char* name() const override { return "where"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    const Tensor<T> mask = this->get(0);
    const Tensor<T> zero = Tensor<T>::scalar(T(0));
    if (this->needs_grad(0)) grads[0] = where(mask, g, zero);
    if (this->needs_grad(1)) grads[1] = where(mask, zero, g);
  }
};

// A fixed random mask of 0 and 1 (both present when it has two entries or more).
template <class T> Tensor<T> random_mask(const Shape& shape, std::mt19937_64& rng) {
  Tensor<T> m = Tensor<T>::zeros(shape);
  T* d = m.data();
  std::bernoulli_distribution one(0.5);
  for (std::size_t i = 0; i < m.size(); ++i) d[i] = one(rng) ? T(1) : T(0);
  if (m.size() >= 2) {
    d[0] = T(1);
    d[m.size() - 1] = T(0);
  }
  return m;
}

template <class T> std::vector<GradSample<T>> where_samples(std::uint64_t seed) {
  // The masks come from a generator of their own: a float sample and its double reference
  // (built from the same seed) must select alike whatever the inputs' draws consume.
  std::mt19937_64 rng(seed), mask_rng(seed + 1);
  // a's and b's shapes, and the mask's: the output's, or one that broadcasts as well.
  struct Shapes {
    Shape a, b, mask;
  };
  std::vector<Shapes> list;
  for (const auto& [sa, sb] : samples::binary_shape_pairs())
    list.push_back({sa, sb, broadcast_shapes(sa, sb, "where")});
  list.push_back({Shape{3, 4}, Shape{3, 4}, Shape{3, 1}});
  list.push_back({Shape{3, 1}, Shape{1, 4}, Shape{4}});
  list.push_back({Shape{4}, Shape{3, 1}, Shape{2, 1, 1}});
  list.push_back({Shape{2, 3}, Shape{2, 3}, Shape{}});
  list.push_back({Shape{2, 1, 1, 3}, Shape{2, 1}, Shape{1, 2, 1, 1}});
  std::vector<GradSample<T>> out;
  for (const Shapes& s : list) {
    const Tensor<T> mask = random_mask<T>(s.mask, mask_rng);
    out.push_back({s.mask.str() + "?" + s.a.str() + ":" + s.b.str(),
                   {samples::uniform<T>(s.a, -2, 2, rng), samples::uniform<T>(s.b, -2, 2, rng)},
                   [mask](const std::vector<Tensor<T>>& in) { return where(mask, in[0], in[1]); }});
  }
  return out;
}

// Values by hand: the selected element of a or b. Gradients of sum(where(m, a, b) * c) are c
// where the element came from that input, 0 elsewhere, summed over broadcast dimensions.
OpCases where_cases() {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  constexpr double inf = std::numeric_limits<double>::infinity();
  OpCases cases = {
      .forward =
          {{"[5] any nonzero mask value selects a, NaN in the branch not taken stays out",
            [] {
              return where(TensorD::vector({1, 0, -2.5, nan, 0}),
                           TensorD::vector({1, 2, 3, 4, nan}),
                           TensorD::vector({-1, nan, -3, -4, -5}));
            },
            Shape{5},
            {1, nan, 3, 4, -5}},
           {"mask [2,1], a [3], b 0-d broadcast to [2,3]",
            [] {
              return where(TensorD::from_vector({2, 1}, {1, 0}), TensorD::vector({1, 2, 3}),
                           TensorD::scalar(9));
            },
            Shape{2, 3},
            {1, 2, 3, 9, 9, 9}},
           {"mask [3], a [2,1], b [2,3]",
            [] {
              return where(TensorD::vector({0, 1, 0}), TensorD::from_vector({2, 1}, {7, 8}),
                           TensorD::from_vector({2, 3}, {1, 2, 3, 4, 5, 6}));
            },
            Shape{2, 3},
            {1, 7, 3, 4, 8, 6}},
           {"0-d mask",
            [] {
              return where(TensorD::scalar(0), TensorD::vector({1, 2}), TensorD::vector({3, 4}));
            },
            Shape{2},
            {3, 4}},
           {"gradient to a [2,1] under mask [3]: G summed over the columns it was selected in",
            // c = [[1,2,3],[4,5,6]] is G; the mask takes a in column 1 only: a gets 2 and 5.
            [] {
              TensorD a = TensorD::from_vector({2, 1}, {7, 8}, true);
              TensorD b = TensorD::from_vector({2, 3}, {1, 2, 3, 4, 5, 6}, true);
              TensorD c = TensorD::from_vector({2, 3}, {1, 2, 3, 4, 5, 6});
              return tg::grad(sum(where(TensorD::vector({0, 1, 0}), a, b) * c), {a, b})[0];
            },
            Shape{2, 1},
            {2, 5}},
           {"gradient to b [2,3] under mask [3]: G where the mask is zero",
            [] {
              TensorD a = TensorD::from_vector({2, 1}, {7, 8}, true);
              TensorD b = TensorD::from_vector({2, 3}, {1, 2, 3, 4, 5, 6}, true);
              TensorD c = TensorD::from_vector({2, 3}, {1, 2, 3, 4, 5, 6});
              return tg::grad(sum(where(TensorD::vector({0, 1, 0}), a, b) * c), {a, b})[1];
            },
            Shape{2, 3},
            {1, 0, 3, 4, 0, 6}},
           {"an infinite or NaN G where b was not taken gives b exactly 0",
            // G = c = [inf, nan, 1]; the mask takes a at elements 0 and 1, b at 2.
            [] {
              TensorD a = TensorD::vector({1, 2, 3}, true);
              TensorD b = TensorD::vector({4, 5, 6}, true);
              TensorD c = TensorD::vector({inf, nan, 1});
              return tg::grad(sum(where(TensorD::vector({1, 1, 0}), a, b) * c), {a, b})[1];
            },
            Shape{3},
            {0, 0, 1}},
           {"a NaN in the branch not taken leaves the gradient of the taken one finite",
            [] {
              TensorD a = TensorD::vector({1, nan}, true);
              TensorD b = TensorD::vector({nan, 2}, true);
              return tg::grad(sum(where(TensorD::vector({1, 0}), a, b)), {a, b})[0];
            },
            Shape{2},
            {1, 0}}},
      .errors = {{"mask [2] with a [3]", ErrorKind::shape, "[2] (mask), [3] (a) and [3] (b)",
                  [] { where(TensorD::zeros({2}), TensorD::zeros({3}), TensorD::zeros({3})); }},
                 {"b [4,2] with mask and a [3,1]", ErrorKind::shape, "[4,2] (b)", [] {
                    where(TensorD::zeros({3, 1}), TensorD::zeros({3, 1}), TensorD::zeros({4, 2}));
                  }}}};
  cases.gradient_constant_in_inputs = true;
  return cases;
}

}  // namespace

template <class T> Tensor<T> where(const Tensor<T>& mask, const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = select_kernel(mask, a, b);
  // The mask is not an input of the node: no gradient flows into it, whatever it requires.
  if (auto* node = record<WhereNode<T>>(out, {&a, &b})) node->saved[0].save_input(mask.detach());
  return out;
}

template Tensor<float> where(const Tensor<float>&, const Tensor<float>&, const Tensor<float>&);
template Tensor<double> where(const Tensor<double>&, const Tensor<double>&, const Tensor<double>&);

TG_DEFINE_REPLAYABLE_OP(
    where, "da = G*[mask != 0], db = G*[mask == 0] (selected; no gradient to the mask)",
    where_samples, where_cases);

}  // namespace tg
