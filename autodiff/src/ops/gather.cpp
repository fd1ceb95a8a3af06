// gather: PyTorch's torch.gather. out[p] = x[p with its `axis` coordinate replaced by index[p]],
// out of index's shape; index (tg::Indices: a shape and row-major int64 values) has x's rank and
// is no larger than x off `axis`; negative values are rejected, as PyTorch's are. Adjoint:
// scatter_add(zeros(x.shape), axis, index, G): an entry picked more than once accumulates.
#include "../shape_kernels.hpp"
#include "tapegrad/grad.hpp"

namespace tg {

namespace {

template <class T> class GatherNode final : public Node<T> {
 public:
  int axis = 0;
  Indices index;
  const char* name() const override { return "gather"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    grads[0] = scatter_add(Tensor<T>::zeros(this->input_shape(0)), axis, index, g);
  }
  void release_saved() override { index = Indices(); }
};

// An index of `shape` with values in [0, extent) (repeats likely), from the sample's generator.
Indices random_index(const Shape& shape, std::size_t extent, std::mt19937_64& rng) {
  Indices index{shape, std::vector<std::int64_t>(shape.numel())};
  std::uniform_int_distribution<std::int64_t> pick(0, std::int64_t(extent) - 1);
  for (auto& v : index.values) v = pick(rng);
  return index;
}

template <class T> std::vector<GradSample<T>> gather_samples(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  struct Case {
    Shape x, index;
    int axis;
  };
  const Case cases[] = {
      {Shape{1, 1}, Shape{1, 1}, 0},       {Shape{1, 5}, Shape{1, 3}, 1},
      {Shape{4, 1}, Shape{6, 1}, -2},      {Shape{3, 4}, Shape{2, 4}, 1},
      {Shape{3, 4}, Shape{3, 2}, -1},      {Shape{5}, Shape{7}, 0},
      {Shape{2, 3, 4}, Shape{2, 5, 3}, 1}, {Shape{2, 3, 2, 3}, Shape{1, 2, 2, 4}, -1}};
  for (const Case& c : cases) {
    const std::size_t ax = std::size_t(c.axis < 0 ? c.axis + int(c.x.rank()) : c.axis);
    const Indices index = random_index(c.index, c.x[ax], rng);
    out.push_back(
        {c.x.str() + " axis " + std::to_string(c.axis) + " index " + c.index.str(),
         {samples::uniform<T>(c.x, -1, 1, rng)},
         [c, index](const std::vector<Tensor<T>>& in) { return gather(in[0], c.axis, index); }});
  }
  return out;
}

// By hand from the definition: x = [[1,2,3],[4,5,6]]; along axis 1 out[i][j] = x[i][index[i][j]],
// along axis 0 out[i][j] = x[index[i][j]][j].
OpCases gather_cases() {
  auto m23 = [] { return TensorD::matrix({{1, 2, 3}, {4, 5, 6}}); };
  OpCases cases = {
      .forward = {{"[2,3] axis 1 index [2,2]",
                   [m23] {
                     return gather(m23(), 1, Indices{Shape{2, 2}, {2, 0, 1, 1}});
                   },
                   Shape{2, 2},
                   {3, 1, 5, 5}},
                  {"[2,3] axis -2 index [1,3]",
                   [m23] {
                     return gather(m23(), -2, Indices{Shape{1, 3}, {1, 0, 1}});
                   },
                   Shape{1, 3},
                   {4, 2, 6}},
                  {"[2,3] axis 0 index [3,2] (longer along the axis)",
                   [m23] {
                     return gather(m23(), 0, Indices{Shape{3, 2}, {0, 1, 1, 1, 0, 0}});
                   },
                   Shape{3, 2},
                   {1, 5, 4, 5, 1, 2}},
                  {"gradient: entries picked twice accumulate",
                   [] {
                     TensorD x = TensorD::matrix({{1, 2}, {3, 4}}, true);
                     TensorD y = sum(gather(x, 1, Indices{Shape{2, 3}, {1, 1, 0, 0, 0, 0}}));
                     return tg::grad(y, {x})[0];
                   },
                   Shape{2, 2},
                   {1, 2, 3, 0}}},
      .errors = {
          {"index value past the extent", ErrorKind::index,
           "index 3 at position [1,0] out of range for axis 1 of extent 3",
           [m23] {
             gather(m23(), 1, Indices{Shape{2, 1}, {0, 3}});
           }},
          {"negative index value", ErrorKind::index, "index -1 at position [0,1]",
           [m23] {
             gather(m23(), 1, Indices{Shape{1, 2}, {0, -1}});
           }},
          {"index of another rank", ErrorKind::shape, "index [2] and x [2,3] differ in rank",
           [m23] {
             gather(m23(), 1, Indices{Shape{2}, {0, 1}});
           }},
          {"index larger off the axis", ErrorKind::shape,
           "index [3,1] is larger than x [2,3] along axis 0",
           [m23] {
             gather(m23(), 1, Indices{Shape{3, 1}, {0, 1, 2}});
           }},
          {"index values that do not fill its shape", ErrorKind::shape,
           "index [2,2] holds 3 values",
           [m23] {
             gather(m23(), 1, Indices{Shape{2, 2}, {0, 1, 2}});
           }},
          {"axis out of range", ErrorKind::axis, "axis 2 out of range for shape [2,3]", [m23] {
             gather(m23(), 2, Indices{Shape{2, 3}, {0, 0, 0, 0, 0, 0}});
           }}}};
  cases.gradient_constant_in_inputs = true;
  return cases;
}

}  // namespace

template <class T> Tensor<T> gather(const Tensor<T>& x, int axis, const Indices& index) {
  const Shape& shape = x.shape();
  const std::size_t ax = detail::wrap_axis("gather", axis, shape);
  detail::require_index_tensor("gather", index, ax, shape);
  Tensor<T> out = detail::new_output<T>("gather", index.shape);
  detail::launch_with(index, [in = x.data(), o = out.data(), ax, shape](const Indices& idx) {
    detail::for_each_indexed(idx, ax, shape,
                             [&](std::size_t flat, std::size_t offset) { o[flat] = in[offset]; });
  });
  if (auto* node = record<GatherNode<T>>(out, {&x})) {
    node->axis = int(ax);
    node->index = index;
  }
  return out;
}

template Tensor<float> gather(const Tensor<float>&, int, const Indices&);
template Tensor<double> gather(const Tensor<double>&, int, const Indices&);

TG_DEFINE_REPLAYABLE_OP(gather, "dx = scatter_add(zeros(x.shape), axis, index, G)", gather_samples,
                        gather_cases);

}  // namespace tg
