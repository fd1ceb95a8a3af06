// concat: tensors of equal shape off `axis` joined along it (PyTorch's torch.cat), a copy.
// Adjoint: input i gets slice(G, axis, offset_i, offset_i + extent_i).
//
// A node has at most kMaxOpInputs inputs (node.hpp); more tensors are joined in groups of that
// many, and the groups' results joined again (a tree of concat nodes), which leaves the engine's
// fixed-size nodes as they are at the cost of one more copy per level (none for up to
// kMaxOpInputs tensors, one for up to kMaxOpInputs^2). stack is concat of unsqueezed copies and
// records concat nodes.
#include "../shape_kernels.hpp"

namespace tg {

namespace {

template <class T> class ConcatNode final : public Node<T> {
 public:
  int axis = 0;
  std::array<std::int64_t, kMaxOpInputs + 1> offsets{};
  const char* name() const override { return "concat"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    for (std::size_t i = 0; i < this->num_inputs(); ++i)
      if (this->needs_grad(i)) grads[i] = slice(g, axis, offsets[i], offsets[i + 1]);
  }
};

template <class T> std::vector<GradSample<T>> concat_samples(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  struct Case {
    std::vector<Shape> shapes;
    int axis;
  };
  const Case cases[] = {{{Shape{1, 1}, Shape{1, 1}}, 0},
                        {{Shape{1, 5}, Shape{1, 2}}, 1},
                        {{Shape{4, 1}, Shape{2, 1}, Shape{1, 1}}, 0},
                        {{Shape{3, 4}, Shape{3, 1}, Shape{3, 2}}, -1},
                        {{Shape{3, 4}}, 0},
                        {{Shape{5}, Shape{0}, Shape{2}}, 0},
                        {{Shape{2, 3, 4}, Shape{2, 1, 4}}, -2},
                        {{Shape{2, 3, 2, 1}, Shape{2, 3, 2, 3}}, 3}};
  for (const Case& c : cases) {
    std::vector<Tensor<T>> inputs;
    std::string label;
    for (const Shape& s : c.shapes) {
      inputs.push_back(samples::uniform<T>(s, -1, 1, rng));
      if (!label.empty()) label += ',';
      label += s.str();
    }
    out.push_back({label + " axis " + std::to_string(c.axis), inputs,
                   [axis = c.axis](const std::vector<Tensor<T>>& in) { return concat(in, axis); }});
  }
  // stack joins unsqueezed copies with concat.
  out.push_back(
      {"stack [2,3],[2,3] axis 1",
       {samples::uniform<T>(Shape{2, 3}, -1, 1, rng), samples::uniform<T>(Shape{2, 3}, -1, 1, rng)},
       [](const std::vector<Tensor<T>>& in) { return stack(in, 1); }});
  // More tensors than a node takes: the tree of concat nodes. Each input is used twice, as the
  // gradient check takes at most three inputs.
  out.push_back(
      {"[1,2],[2,2],[1,2] each twice, axis 0",
       {samples::uniform<T>(Shape{1, 2}, -1, 1, rng), samples::uniform<T>(Shape{2, 2}, -1, 1, rng),
        samples::uniform<T>(Shape{1, 2}, -1, 1, rng)},
       [](const std::vector<Tensor<T>>& in) {
         return concat({in[0], in[1], in[2], in[2], in[0], in[1]}, 0);
       }});
  return out;
}

// By hand: the rows (axis 0) or the row pieces (axis 1) one after the other.
OpCases concat_cases() {
  auto a = [] { return TensorD::matrix({{1, 2}, {3, 4}}); };
  auto b = [] { return TensorD::matrix({{5}, {6}}); };
  OpCases cases = {
      .forward = {{"[2,2],[2,1] axis 1",
                   [a, b] {
                     return concat({a(), b()}, 1);
                   },
                   Shape{2, 3},
                   {1, 2, 5, 3, 4, 6}},
                  {"[2,2],[1,2] axis -2",
                   [a] {
                     return concat({a(), TensorD::matrix({{7, 8}})}, -2);
                   },
                   Shape{3, 2},
                   {1, 2, 3, 4, 7, 8}},
                  {"five 1-D tensors (two levels)",
                   [] {
                     return concat(
                         {TensorD::vector({1}), TensorD::vector({2, 3}), TensorD::vector({4}),
                          TensorD::zeros(Shape{0}), TensorD::vector({5, 6})},
                         0);
                   },
                   Shape{6},
                   {1, 2, 3, 4, 5, 6}},
                  {"stack [2],[2] axis 1",
                   [] {
                     return stack({TensorD::vector({1, 2}), TensorD::vector({3, 4})}, 1);
                   },
                   Shape{2, 2},
                   {1, 3, 2, 4}},
                  {"stack [2],[2],[2],[2] axis -2",
                   [] {
                     return stack({TensorD::vector({1, 2}), TensorD::vector({3, 4}),
                                   TensorD::vector({5, 6}), TensorD::vector({7, 8})},
                                  -2);
                   },
                   Shape{4, 2},
                   {1, 2, 3, 4, 5, 6, 7, 8}}},
      .errors = {
          {"no tensors", ErrorKind::shape, "no tensors", [] { concat(std::vector<TensorD>{}, 0); }},
          {"extents differ off the axis", ErrorKind::shape,
           "tensor 1 [1,3] and tensor 0 [2,2] differ along axis 1",
           [a] {
             concat({a(), TensorD::matrix({{1, 2, 3}})}, 0);
           }},
          {"ranks differ", ErrorKind::shape, "tensor 1 [2] and tensor 0 [2,2] differ in rank",
           [a] {
             concat({a(), TensorD::vector({1, 2})}, 0);
           }},
          {"0-d tensor", ErrorKind::shape, "tensor 0 [] is 0-d",
           [] {
             concat({TensorD::scalar(1), TensorD::scalar(2)}, 0);
           }},
          {"axis out of range", ErrorKind::axis, "axis 2 out of range for shape [2,2]", [a] {
             concat({a(), a()}, 2);
           }}}};
  cases.gradient_constant_in_inputs = true;
  return cases;
}

// Joins `tensors` (checked) into `out_shape` and records one node; at most kMaxOpInputs of them.
template <class T>
Tensor<T> concat_node(const std::vector<const Tensor<T>*>& tensors, std::size_t axis,
                      const Shape& out_shape) {
  Tensor<T> out = detail::new_output<T>("concat", out_shape);
  const detail::AxisView v = detail::axis_view(out_shape, axis);
  T* o = out.data();
  std::size_t offset = 0;
  for (const Tensor<T>* t : tensors) {
    const std::size_t length = t->dim(axis), block = length * v.inner;
    if (block != 0)
      detail::launch([v, in = t->data(), o, block, offset] {
        for (std::size_t a = 0; a < v.outer; ++a)
          std::copy(in + a * block, in + (a + 1) * block, o + (a * v.length + offset) * v.inner);
      });
    offset += length;
  }
  ConcatNode<T>* node = nullptr;
  switch (tensors.size()) {
    case 1:
      node = record<ConcatNode<T>>(out, {tensors[0]});
      break;
    case 2:
      node = record<ConcatNode<T>>(out, {tensors[0], tensors[1]});
      break;
    default:
      static_assert(kMaxOpInputs == 3, "concat records up to kMaxOpInputs inputs by hand");
      node = record<ConcatNode<T>>(out, {tensors[0], tensors[1], tensors[2]});
  }
  if (node) {
    node->axis = int(axis);
    for (std::size_t i = 0; i < tensors.size(); ++i)
      node->offsets[i + 1] = node->offsets[i] + std::int64_t(tensors[i]->dim(axis));
  }
  return out;
}

}  // namespace

template <class T> Tensor<T> concat(const std::vector<Tensor<T>>& tensors, int axis) {
  if (tensors.empty()) throw ShapeError("concat: no tensors to join (needs at least one)");
  const Shape& first = tensors[0].shape();
  for (std::size_t i = 0; i < tensors.size(); ++i)
    if (tensors[i].ndim() == 0)
      throw ShapeError("concat: tensor " + std::to_string(i) + " " + tensors[i].shape().str() +
                       " is 0-d (a scalar has no axis to join along)");
  const std::size_t ax = detail::wrap_axis("concat", axis, first);
  Shape out_shape = first;
  out_shape[ax] = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const Shape& s = tensors[i].shape();
    if (s.rank() != first.rank())
      throw ShapeError("concat: tensor " + std::to_string(i) + " " + s.str() + " and tensor 0 " +
                       first.str() + " differ in rank");
    for (std::size_t d = 0; d < s.rank(); ++d)
      if (d != ax && s[d] != first[d])
        throw ShapeError("concat: tensor " + std::to_string(i) + " " + s.str() + " and tensor 0 " +
                         first.str() + " differ along axis " + std::to_string(d) + " (only axis " +
                         std::to_string(ax) + " may)");
    if (__builtin_add_overflow(out_shape[ax], s[ax], &out_shape[ax]))
      throw ShapeError("concat: the joined extent along axis " + std::to_string(ax) + " overflows");
  }
  out_shape.checked_bytes(sizeof(T), "concat");
  // Groups of kMaxOpInputs, level by level, until one node takes them all.
  std::vector<Tensor<T>> level = tensors;
  while (level.size() > kMaxOpInputs) {
    std::vector<Tensor<T>> next;
    for (std::size_t i = 0; i < level.size(); i += kMaxOpInputs) {
      std::vector<const Tensor<T>*> group;
      Shape joined = first;
      joined[ax] = 0;
      for (std::size_t k = i; k < std::min(level.size(), i + kMaxOpInputs); ++k) {
        group.push_back(&level[k]);
        joined[ax] += level[k].dim(ax);
      }
      next.push_back(group.size() == 1 ? level[i] : concat_node(group, ax, joined));
    }
    level = std::move(next);
  }
  std::vector<const Tensor<T>*> group;
  for (const Tensor<T>& t : level) group.push_back(&t);
  return concat_node(group, ax, out_shape);
}

template <class T> Tensor<T> stack(const std::vector<Tensor<T>>& tensors, int axis) {
  if (tensors.empty()) throw ShapeError("stack: no tensors to join (needs at least one)");
  const Shape& first = tensors[0].shape();
  for (std::size_t i = 1; i < tensors.size(); ++i)
    if (tensors[i].shape() != first)
      throw ShapeError("stack: tensor " + std::to_string(i) + " " + tensors[i].shape().str() +
                       " and tensor 0 " + first.str() + " differ (they must have the same shape)");
  detail::wrap_axis("stack", axis, first.rank() + 1, first);
  if (first.rank() == Shape::kMaxRank)
    throw ShapeError("stack: tensors " + first.str() + " already have the maximum rank " +
                     std::to_string(Shape::kMaxRank));
  std::vector<Tensor<T>> unsqueezed;
  for (const Tensor<T>& t : tensors) unsqueezed.push_back(unsqueeze(t, axis));
  return concat(unsqueezed, axis);
}

template Tensor<float> concat(const std::vector<Tensor<float>>&, int);
template Tensor<double> concat(const std::vector<Tensor<double>>&, int);
template Tensor<float> stack(const std::vector<Tensor<float>>&, int);
template Tensor<double> stack(const std::vector<Tensor<double>>&, int);

TG_DEFINE_REPLAYABLE_OP(concat, "dx_i = slice(G, axis, offset_i, offset_i + x_i.shape[axis])",
                        concat_samples, concat_cases);

}  // namespace tg
