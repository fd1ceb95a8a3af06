// index_add: x with source's slices added at `indices` along one axis, repeated indices
// accumulating (PyTorch's torch.index_add). index_select's adjoint, and an op of its own so that
// recorded backward stays differentiable. Adjoint: dx = G, dsource = index_select(G, axis,
// indices).
#include "../shape_kernels.hpp"

namespace tg {

namespace {

template <class T> class IndexAddNode final : public Node<T> {
 public:
  int axis = 0;
  std::vector<std::int64_t> indices;
  void release_saved() override { indices = {}; }
  const char* name() const override { return "index_add"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    if (this->needs_grad(0)) grads[0] = g;
    if (this->needs_grad(1)) grads[1] = index_select(g, axis, indices);
  }
};

template <class T> std::vector<GradSample<T>> index_add_samples(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  struct Case {
    Shape shape;
    int axis;
    std::vector<std::int64_t> indices;
  };
  const Case cases[] = {{Shape{1, 1}, 0, {0}},
                        {Shape{1, 5}, 1, {4, 0, 4}},
                        {Shape{4, 1}, -2, {3, 1}},
                        {Shape{3, 4}, 0, {2, 0, 2, 1}},
                        {Shape{6}, 0, {5, 1}},
                        {Shape{2, 3, 4}, 1, {0, 2, 0}},
                        {Shape{2, 3, 2, 3}, -1, {1, 1, 2}}};
  for (const Case& c : cases) {
    const std::size_t ax = std::size_t(c.axis < 0 ? c.axis + int(c.shape.rank()) : c.axis);
    const Shape source = detail::with_extent(c.shape, ax, c.indices.size());
    out.push_back(
        {c.shape.str() + " axis " + std::to_string(c.axis) + " " + detail::list_str(c.indices) +
             " source " + source.str(),
         {samples::uniform<T>(c.shape, -1, 1, rng), samples::uniform<T>(source, -1, 1, rng)},
         [c](const std::vector<Tensor<T>>& in) {
           return index_add(in[0], c.axis, c.indices, in[1]);
         }});
  }
  return out;
}

// By hand: x = [[1,2,3],[4,5,6]], source columns added at columns 2, 0, 2.
OpCases index_add_cases() {
  auto m23 = [] { return TensorD::matrix({{1, 2, 3}, {4, 5, 6}}); };
  OpCases cases = {
      .forward =
          {{"[2,3] axis 1 {2,0,2}",
            [m23] {
              return index_add(m23(), 1, {2, 0, 2}, TensorD::matrix({{10, 20, 30}, {40, 50, 60}}));
            },
            Shape{2, 3},
            {21, 2, 43, 54, 5, 106}},
           {"[2,3] axis -2 {}",
            [m23] {
              return index_add(m23(), -2, {}, TensorD::zeros(Shape{0, 3}));
            },
            Shape{2, 3},
            {1, 2, 3, 4, 5, 6}}},
      .errors = {{"index past the extent", ErrorKind::index,
                  "index 2 (position 0) out of range for axis 0 of extent 2",
                  [m23] {
                    index_add(m23(), 0, {2}, TensorD::zeros(Shape{1, 3}));
                  }},
                 {"negative index", ErrorKind::index, "index -1",
                  [m23] {
                    index_add(m23(), 0, {-1}, TensorD::zeros(Shape{1, 3}));
                  }},
                 {"source of the wrong shape", ErrorKind::shape, "source [2,3]",
                  [m23] { index_add(m23(), 1, {0}, m23()); }},
                 {"axis out of range", ErrorKind::axis, "axis -3 out of range for shape [2,3]",
                  [m23] { index_add(m23(), -3, {0}, m23()); }}}};
  cases.gradient_constant_in_inputs = true;
  return cases;
}

}  // namespace

template <class T>
Tensor<T> index_add(const Tensor<T>& x, int axis, const std::vector<std::int64_t>& indices,
                    const Tensor<T>& source) {
  const Shape& shape = x.shape();
  const std::size_t ax = detail::wrap_axis("index_add", axis, shape);
  const std::size_t count = indices.size();
  const Shape expected = detail::with_extent(shape, ax, count);
  if (source.shape() != expected)
    throw ShapeError("index_add: source " + source.shape().str() + " for x " + shape.str() +
                     " and " + std::to_string(count) + " indices along axis " +
                     std::to_string(axis) + " (needs " + expected.str() + ")");
  detail::require_indices("index_add", indices, ax, shape);
  Tensor<T> out = detail::new_output<T>("index_add", shape);
  detail::launch_with(indices, [in = x.data(), o = out.data(), n = x.size(), src = source.data(),
                                has_source = source.size() != 0, v = detail::axis_view(shape, ax),
                                count](const std::vector<std::int64_t>& idx) {
    std::copy(in, in + n, o);
    if (!has_source) return;
    for (std::size_t a = 0; a < v.outer; ++a)
      for (std::size_t j = 0; j < count; ++j) {
        const T* from = src + (a * count + j) * v.inner;
        T* to = o + (a * v.length + std::size_t(idx[j])) * v.inner;
        for (std::size_t i = 0; i < v.inner; ++i) to[i] += from[i];
      }
  });
  if (auto* node = record<IndexAddNode<T>>(out, {&x, &source})) {
    node->axis = int(ax);
    node->indices = indices;
  }
  return out;
}

template Tensor<float> index_add(const Tensor<float>&, int, const std::vector<std::int64_t>&,
                                 const Tensor<float>&);
template Tensor<double> index_add(const Tensor<double>&, int, const std::vector<std::int64_t>&,
                                  const Tensor<double>&);

TG_DEFINE_REPLAYABLE_OP(index_add, "dx = G, dsource = index_select(G, axis, indices)",
                        index_add_samples, index_add_cases);

}  // namespace tg
