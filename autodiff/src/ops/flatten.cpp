// flatten: x's elements as 1-D, in row-major order (a 0-d x gives [1], as PyTorch's); a copy:
// tensors are contiguous. Adjoint: reshape(G, x.shape).
#include "../shape_kernels.hpp"

namespace tg {

namespace {

template <class T> class FlattenNode final : public Node<T> {
 public:
  const char* name() const override { return "flatten"; }
  void backward(const Tensor<T>& g, Grads<T>& grads) override {
    grads[0] = reshape(g, this->input_shape(0));
  }
};

template <class T> std::vector<GradSample<T>> flatten_samples(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<GradSample<T>> out;
  for (const Shape& shape : {Shape{1, 1}, Shape{1, 5}, Shape{4, 1}, Shape{3, 4}, Shape{}, Shape{5},
                             Shape{2, 3, 4}, Shape{2, 1, 3, 2}})
    out.push_back({shape.str(),
                   {samples::uniform<T>(shape, -1, 1, rng)},
                   [](const std::vector<Tensor<T>>& in) { return flatten(in[0]); }});
  return out;
}

// Row-major order, by hand. flatten takes any tensor: no error cases.
OpCases flatten_cases() {
  OpCases cases = {
      .forward = {{"[2,2]",
                   [] {
                     return flatten(TensorD::matrix({{1, 2}, {3, 4}}));
                   },
                   Shape{4},
                   {1, 2, 3, 4}},
                  {"[]", [] { return flatten(TensorD::scalar(5)); }, Shape{1}, {5}},
                  {"[2,1,2]",
                   [] {
                     return flatten(TensorD::from_vector(Shape{2, 1, 2}, {1, 2, 3, 4}));
                   },
                   Shape{4},
                   {1, 2, 3, 4}},
                  {"[2,0]",
                   [] {
                     return flatten(TensorD::zeros(Shape{2, 0}));
                   },
                   Shape{0},
                   {}}}};
  cases.gradient_constant_in_inputs = true;
  cases.accepts_every_input = true;
  return cases;
}

}  // namespace

template <class T> Tensor<T> flatten(const Tensor<T>& x) {
  Tensor<T> out = detail::new_output<T>("flatten", Shape{x.size()});
  detail::copy_values(x, out);
  record<FlattenNode<T>>(out, {&x});
  return out;
}

template Tensor<float> flatten(const Tensor<float>&);
template Tensor<double> flatten(const Tensor<double>&);

TG_DEFINE_REPLAYABLE_OP(flatten, "dx = reshape(G, x.shape)", flatten_samples, flatten_cases);

}  // namespace tg
