// permute: the axes of x reordered, out.shape[i] = x.shape[dims[i]] (a copy: tensors are
// contiguous). Adjoint: permute(G, inverse of dims). transpose(x, d0, d1), the N-d swap of two
// axes, is permute with d0 and d1 exchanged and records a permute node.
#include "../shape_kernels.hpp"

namespace tg {

namespace {

std::string dims_str(const std::vector<int>& dims) {
  return detail::list_str(std::vector<std::int64_t>(dims.begin(), dims.end()));
}

template <class T> class PermuteNode final : public Node<T> {
 public:
  std::vector<int> inverse;
  const char* name() const override { return "permute"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override { grads[0] = permute(g, inverse); }
};

template <class T> std::vector<GradSample<T>> permute_samples(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  const std::pair<Shape, std::vector<int>> cases[] = {{Shape{1, 1}, {1, 0}},
                                                      {Shape{1, 5}, {1, 0}},
                                                      {Shape{4, 1}, {-1, 0}},
                                                      {Shape{3, 4}, {1, 0}},
                                                      {Shape{5}, {0}},
                                                      {Shape{}, {}},
                                                      {Shape{2, 3, 4}, {2, 0, 1}},
                                                      {Shape{2, 3, 4}, {0, -1, 1}},
                                                      {Shape{2, 1, 3, 2}, {3, 1, 0, 2}}};
  for (const auto& [shape, dims] : cases)
    out.push_back({shape.str() + " dims " + dims_str(dims),
                   {samples::uniform<T>(shape, -1, 1, rng)},
                   [dims](const std::vector<Tensor<T>>& in) { return permute(in[0], dims); }});
  // The N-d transpose is permute: checked through it as well.
  out.push_back({"[2,3,4] transpose(0,-1)",
                 {samples::uniform<T>(Shape{2, 3, 4}, -1, 1, rng)},
                 [](const std::vector<Tensor<T>>& in) { return transpose(in[0], 0, -1); }});
  return out;
}

// Worked out by hand from out[i,j,k] = x[index with axes reordered]: x = arange(24) as [2,3,4]
// has x[a,b,c] = 12a + 4b + c; permute(x, {2,0,1})[c,a,b] = x[a,b,c].
OpCases permute_cases() {
  std::vector<double> p201, t02;
  for (int c = 0; c < 4; ++c)
    for (int a = 0; a < 2; ++a)
      for (int b = 0; b < 3; ++b) p201.push_back(12 * a + 4 * b + c);
  for (int c = 0; c < 4; ++c)
    for (int b = 0; b < 3; ++b)
      for (int a = 0; a < 2; ++a) t02.push_back(12 * a + 4 * b + c);
  auto arange24 = [] {
    std::vector<double> v(24);
    for (int i = 0; i < 24; ++i) v[i] = i;
    return TensorD::from_vector(Shape{2, 3, 4}, v);
  };
  OpCases cases = {
      .forward = {{"[2,3] {1,0}",
                   [] {
                     return permute(TensorD::matrix({{1, 2, 3}, {4, 5, 6}}), {1, 0});
                   },
                   Shape{3, 2},
                   {1, 4, 2, 5, 3, 6}},
                  {"[2,3,4] {2,0,1}",
                   [arange24] {
                     return permute(arange24(), {2, 0, 1});
                   },
                   Shape{4, 2, 3}, p201},
                  {"[2,3,4] {-1,0,1}",
                   [arange24] {
                     return permute(arange24(), {-1, 0, 1});
                   },
                   Shape{4, 2, 3}, p201},
                  {"[2,3,4] transpose(0,2)", [arange24] { return transpose(arange24(), 0, 2); },
                   Shape{4, 3, 2}, t02},
                  {"[] {}", [] { return permute(TensorD::scalar(7), {}); }, Shape{}, {7}},
                  {"[0,2] {1,0}",
                   [] {
                     return permute(TensorD::zeros(Shape{0, 2}), {1, 0});
                   },
                   Shape{2, 0},
                   {}}},
      .errors = {
          {"too few dims", ErrorKind::shape, "dims [0] for shape [2,3]",
           [] {
             permute(TensorD::zeros(Shape{2, 3}), {0});
           }},
          {"dim out of range", ErrorKind::axis, "dim 2 in dims [0,2] out of range for shape [2,3]",
           [] {
             permute(TensorD::zeros(Shape{2, 3}), {0, 2});
           }},
          {"negative dim out of range", ErrorKind::axis, "dim -3 in dims [-3,0]",
           [] {
             permute(TensorD::zeros(Shape{2, 3}), {-3, 0});
           }},
          {"repeated dim", ErrorKind::axis, "dims [1,-1] repeat axis 1 of shape [2,3]", [] {
             permute(TensorD::zeros(Shape{2, 3}), {1, -1});
           }}}};
  cases.gradient_constant_in_inputs = true;
  return cases;
}

}  // namespace

template <class T> Tensor<T> permute(const Tensor<T>& x, const std::vector<int>& dims) {
  const Shape& shape = x.shape();
  const std::size_t rank = shape.rank();
  if (dims.size() != rank)
    throw ShapeError("permute: " + std::to_string(dims.size()) + " dims " + dims_str(dims) +
                     " for shape " + shape.str() + " of rank " + std::to_string(rank) +
                     " (needs one per axis)");
  std::array<std::size_t, Shape::kMaxRank> from{};
  std::array<bool, Shape::kMaxRank> taken{};
  for (std::size_t i = 0; i < rank; ++i) {
    const int d = dims[i], r = int(rank);
    if (d < -r || d >= r)
      throw AxisError("permute: dim " + std::to_string(d) + " in dims " + dims_str(dims) +
                      " out of range for shape " + shape.str() + " (valid: " + std::to_string(-r) +
                      ".." + std::to_string(r - 1) + ")");
    from[i] = std::size_t(d < 0 ? d + r : d);
    if (taken[from[i]])
      throw AxisError("permute: dims " + dims_str(dims) + " repeat axis " +
                      std::to_string(from[i]) + " of shape " + shape.str() +
                      " (needs a permutation)");
    taken[from[i]] = true;
  }
  Shape out_shape;
  for (std::size_t i = 0; i < rank; ++i) out_shape.push_back(shape[from[i]]);
  Tensor<T> out = detail::new_output<T>("permute", out_shape);
  const detail::Strides x_strides = detail::row_major_strides(shape);
  detail::Strides strides{};  // x's stride along each output axis
  for (std::size_t i = 0; i < rank; ++i) strides[i] = x_strides[from[i]];
  if (rank == 0) {
    detail::launch([in = x.data(), o = out.data()] { o[0] = in[0]; });
  } else if (out.size() != 0) {
    detail::launch([in = x.data(), o = out.data(), size = out.size(), rank, out_shape, strides] {
      const std::size_t last = rank - 1, inner = out_shape[last], step = strides[last];
      std::array<std::size_t, Shape::kMaxRank> idx{};
      std::size_t offset = 0;
      for (std::size_t flat = 0; flat < size; flat += inner) {
        for (std::size_t j = 0; j < inner; ++j) o[flat + j] = in[offset + j * step];
        for (std::size_t d = last; d-- > 0;) {
          offset += strides[d];
          if (++idx[d] < out_shape[d]) break;
          offset -= strides[d] * out_shape[d];
          idx[d] = 0;
        }
      }
    });
  }
  if (auto* node = record<PermuteNode<T>>(out, {&x})) {
    node->inverse.assign(rank, 0);
    for (std::size_t i = 0; i < rank; ++i) node->inverse[from[i]] = int(i);
  }
  return out;
}

template <class T> Tensor<T> transpose(const Tensor<T>& x, int d0, int d1) {
  const Shape& shape = x.shape();
  // A 0-d tensor takes axis 0 or -1, as PyTorch's does, and comes back as it is.
  const std::size_t rank = shape.rank() == 0 ? 1 : shape.rank();
  const std::size_t a = detail::wrap_axis("transpose", d0, rank, shape);
  const std::size_t b = detail::wrap_axis("transpose", d1, rank, shape);
  std::vector<int> dims(shape.rank());
  for (std::size_t i = 0; i < dims.size(); ++i) dims[i] = int(i);
  if (shape.rank() != 0) std::swap(dims[a], dims[b]);
  return permute(x, dims);
}

template Tensor<float> permute(const Tensor<float>&, const std::vector<int>&);
template Tensor<double> permute(const Tensor<double>&, const std::vector<int>&);
template Tensor<float> transpose(const Tensor<float>&, int, int);
template Tensor<double> transpose(const Tensor<double>&, int, int);

TG_DEFINE_REPLAYABLE_OP(permute, "dx = permute(G, inverse(dims))", permute_samples, permute_cases);

}  // namespace tg
