// scatter_add: PyTorch's torch.scatter_add. x with src[p] added at x[p with its `axis` coordinate
// replaced by index[p]], repeats accumulating; src has index's shape (PyTorch also takes a larger
// src and ignores the rest; here that is a ShapeError). gather's adjoint, and an op of its own so
// that recorded backward stays differentiable. Adjoint: dx = G, dsrc = gather(G, axis, index).
#include "../shape_kernels.hpp"

namespace tg {

namespace {

template <class T> class ScatterAddNode final : public Node<T> {
 public:
  int axis = 0;
  Indices index;
  const char* name() const override { return "scatter_add"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    if (this->needs_grad(0)) grads[0] = g;
    if (this->needs_grad(1)) grads[1] = gather(g, axis, index);
  }
  void release_saved() override { index = Indices(); }
};

template <class T> std::vector<GradSample<T>> scatter_add_samples(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  struct Case {
    Shape x, index;
    int axis;
  };
  const Case cases[] = {{Shape{1, 1}, Shape{1, 1}, 0},
                        {Shape{1, 5}, Shape{1, 3}, 1},
                        {Shape{4, 1}, Shape{6, 1}, -2},
                        {Shape{3, 4}, Shape{2, 4}, 1},
                        {Shape{5}, Shape{7}, 0},
                        {Shape{2, 3, 4}, Shape{2, 5, 3}, 1},
                        {Shape{2, 3, 2, 3}, Shape{1, 2, 2, 4}, -1}};
  for (const Case& c : cases) {
    const std::size_t ax = std::size_t(c.axis < 0 ? c.axis + int(c.x.rank()) : c.axis);
    Indices index{c.index, std::vector<std::int64_t>(c.index.numel())};
    std::uniform_int_distribution<std::int64_t> pick(0, std::int64_t(c.x[ax]) - 1);
    for (auto& v : index.values) v = pick(rng);
    out.push_back({c.x.str() + " axis " + std::to_string(c.axis) + " index " + c.index.str(),
                   {samples::uniform<T>(c.x, -1, 1, rng), samples::uniform<T>(c.index, -1, 1, rng)},
                   [c, index](const std::vector<Tensor<T>>& in) {
                     return scatter_add(in[0], c.axis, index, in[1]);
                   }});
  }
  return out;
}

// By hand: x = [[1,2,3],[4,5,6]]; along axis 1, x[i][index[i][j]] += src[i][j].
OpCases scatter_add_cases() {
  auto m23 = [] { return TensorD::matrix({{1, 2, 3}, {4, 5, 6}}); };
  OpCases cases = {
      .forward = {{"[2,3] axis 1 index [2,2]",
                   [m23] {
                     return scatter_add(m23(), 1, Indices{Shape{2, 2}, {2, 2, 0, 1}},
                                        TensorD::matrix({{10, 20}, {30, 40}}));
                   },
                   Shape{2, 3},
                   {1, 2, 33, 34, 45, 6}},
                  {"[2,3] axis 0 index [1,2]",
                   [m23] {
                     return scatter_add(m23(), 0, Indices{Shape{1, 2}, {1, 0}},
                                        TensorD::matrix({{10, 20}}));
                   },
                   Shape{2, 3},
                   {1, 22, 3, 14, 5, 6}}},
      .errors = {
          {"index value past the extent", ErrorKind::index,
           "index 2 at position [0,0] out of range for axis 0 of extent 2",
           [m23] {
             scatter_add(m23(), 0, Indices{Shape{1, 1}, {2}}, TensorD::zeros(Shape{1, 1}));
           }},
          {"src of another shape than index", ErrorKind::shape, "src [2,3] for index [1,1]",
           [m23] {
             scatter_add(m23(), 0, Indices{Shape{1, 1}, {0}}, m23());
           }},
          {"index of another rank", ErrorKind::shape, "index [1] and x [2,3] differ in rank",
           [m23] {
             scatter_add(m23(), 0, Indices{Shape{1}, {0}}, TensorD::zeros(Shape{1}));
           }},
          {"axis out of range", ErrorKind::axis, "axis -3 out of range for shape [2,3]", [m23] {
             scatter_add(m23(), -3, Indices{Shape{1, 1}, {0}}, TensorD::zeros(Shape{1, 1}));
           }}}};
  cases.gradient_constant_in_inputs = true;
  return cases;
}

}  // namespace

template <class T>
Tensor<T> scatter_add(const Tensor<T>& x, int axis, const Indices& index, const Tensor<T>& src) {
  const Shape& shape = x.shape();
  const std::size_t ax = detail::wrap_axis("scatter_add", axis, shape);
  if (src.shape() != index.shape)
    throw ShapeError("scatter_add: src " + src.shape().str() + " for index " + index.shape.str() +
                     " (they must have the same shape)");
  detail::require_index_tensor("scatter_add", index, ax, shape);
  Tensor<T> out = detail::new_output<T>("scatter_add", shape);
  detail::launch_with(index, [in = x.data(), o = out.data(), n = x.size(), s = src.data(), ax,
                              shape](const Indices& idx) {
    std::copy(in, in + n, o);
    detail::for_each_indexed(idx, ax, shape,
                             [&](std::size_t flat, std::size_t offset) { o[offset] += s[flat]; });
  });
  if (auto* node = record<ScatterAddNode<T>>(out, {&x, &src})) {
    node->axis = int(ax);
    node->index = index;
  }
  return out;
}

template Tensor<float> scatter_add(const Tensor<float>&, int, const Indices&, const Tensor<float>&);
template Tensor<double> scatter_add(const Tensor<double>&, int, const Indices&,
                                    const Tensor<double>&);

TG_DEFINE_REPLAYABLE_OP(scatter_add, "dx = G, dsrc = gather(G, axis, index)", scatter_add_samples,
                        scatter_add_cases);

}  // namespace tg
