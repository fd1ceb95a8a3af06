// index_select: x's entries at `indices` along one axis (repeats allowed; negative indices are
// rejected, as PyTorch's index_select does). A copy. Adjoint: index_add(zeros(x.shape), axis,
// indices, G): repeated indices accumulate.
#include "../shape_kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> class IndexSelectNode final : public Node<T> {
 public:
  int axis = 0;
  std::vector<std::int64_t> indices;
  void release_saved() override { indices = {}; }
  const char* name() const override { return "index_select"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    grads[0] = index_add(Tensor<T>::zeros(this->input_shape(0)), axis, indices, g);
  }
};

template <class T> std::vector<GradSample<T>> index_select_samples(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  struct Case {
    Shape shape;
    int axis;
    std::vector<std::int64_t> indices;
  };
  const Case cases[] = {{Shape{1, 1}, 0, {0}},          {Shape{1, 5}, 1, {4, 0, 2}},
                        {Shape{4, 1}, -2, {3, 3, 1}},   {Shape{3, 4}, 0, {2, 0, 2, 1}},
                        {Shape{3, 4}, -1, {}},          {Shape{6}, 0, {5, 1}},
                        {Shape{2, 3, 4}, 1, {0, 2, 0}}, {Shape{2, 3, 2, 3}, -1, {1, 1, 2}}};
  for (const Case& c : cases)
    out.push_back(
        {c.shape.str() + " axis " + std::to_string(c.axis) + " " + detail::list_str(c.indices),
         {samples::uniform<T>(c.shape, -1, 1, rng)},
         [c](const std::vector<Tensor<T>>& in) { return index_select(in[0], c.axis, c.indices); }});
  return out;
}

// By hand: rows / columns of [[1,2,3],[4,5,6]] picked in order; the gradient of a sum counts how
// often each entry was picked.
OpCases index_select_cases() {
  auto m23 = [] { return TensorD::matrix({{1, 2, 3}, {4, 5, 6}}); };
  OpCases cases = {
      .forward =
          {{"[2,3] axis 1 {2,0,2}",
            [m23] {
              return index_select(m23(), 1, {2, 0, 2});
            },
            Shape{2, 3},
            {3, 1, 3, 6, 4, 6}},
           {"[2,3] axis -2 {1}",
            [m23] { return index_select(m23(), -2, {1}); },
            Shape{1, 3},
            {4, 5, 6}},
           {"[2,3] axis 0 {}", [m23] { return index_select(m23(), 0, {}); }, Shape{0, 3}, {}},
           {"gradient: repeated indices accumulate",
            [] {
              TensorD x = TensorD::vector({1, 2, 3}, true);
              return tg::grad(sum(index_select(x, 0, {2, 0, 2, 2})), {x})[0];
            },
            Shape{3},
            {1, 0, 3}}},
      .errors = {{"index past the extent", ErrorKind::index,
                  "index 3 (position 1) out of range for axis 1 of extent 3",
                  [m23] {
                    index_select(m23(), 1, {0, 3});
                  }},
                 {"negative index", ErrorKind::index,
                  "index -1 (position 0) out of range for axis 0 of extent 2",
                  [m23] { index_select(m23(), 0, {-1}); }},
                 {"axis out of range", ErrorKind::axis, "axis 2 out of range for shape [2,3]",
                  [m23] { index_select(m23(), 2, {0}); }},
                 {"0-d x", ErrorKind::axis, "axis 0 out of range for shape []",
                  [] { index_select(TensorD::scalar(1), 0, {0}); }}}};
  cases.gradient_constant_in_inputs = true;
  return cases;
}

}  // namespace

template <class T>
Tensor<T> index_select(const Tensor<T>& x, int axis, const std::vector<std::int64_t>& indices) {
  const Shape& shape = x.shape();
  const std::size_t ax = detail::wrap_axis("index_select", axis, shape);
  detail::require_indices("index_select", indices, ax, shape);
  const std::size_t count = indices.size();
  Tensor<T> out = detail::new_output<T>("index_select", detail::with_extent(shape, ax, count));
  if (out.size() != 0)
    detail::launch_with(indices, [v = detail::axis_view(shape, ax), in = x.data(), o = out.data(),
                                  count](const std::vector<std::int64_t>& idx) {
      for (std::size_t a = 0; a < v.outer; ++a)
        for (std::size_t j = 0; j < count; ++j) {
          const T* from = in + (a * v.length + std::size_t(idx[j])) * v.inner;
          std::copy(from, from + v.inner, o + (a * count + j) * v.inner);
        }
    });
  if (auto* node = record<IndexSelectNode<T>>(out, {&x})) {
    node->axis = int(ax);
    node->indices = indices;
  }
  return out;
}

template Tensor<float> index_select(const Tensor<float>&, int, const std::vector<std::int64_t>&);
template Tensor<double> index_select(const Tensor<double>&, int, const std::vector<std::int64_t>&);

TG_DEFINE_REPLAYABLE_OP(index_select, "dx = index_add(zeros(x.shape), axis, indices, G)",
                        index_select_samples, index_select_cases);

}  // namespace tg
