#include "tapegrad/nn/parameters.hpp"

namespace tg::nn {

template <class T> std::vector<double> flatten(const std::vector<Tensor<T>>& params) {
  std::vector<double> out;
  for (const auto& p : params) out.insert(out.end(), p.data(), p.data() + p.size());
  return out;
}

template <class T> std::vector<double> flatten_gradients(const std::vector<Tensor<T>>& params) {
  std::vector<double> out;
  for (const auto& p : params) {
    // A parameter that does not require a gradient has none: zeros, as for one with no path.
    if (!p.requires_grad()) {
      out.insert(out.end(), p.size(), 0.0);
      continue;
    }
    const Tensor<T> g = p.grad();
    out.insert(out.end(), g.data(), g.data() + g.size());
  }
  return out;
}

template <class T>
void unflatten(const std::vector<double>& values, const std::vector<Tensor<T>>& params) {
  std::size_t total = 0;
  for (const auto& p : params) total += p.size();
  if (values.size() != total)
    throw ShapeError("unflatten: " + std::to_string(values.size()) + " values for " +
                     std::to_string(params.size()) + " parameters with " + std::to_string(total) +
                     " elements");
  std::size_t k = 0;
  for (auto p : params)
    for (std::size_t i = 0; i < p.size(); ++i) p.data()[i] = T(values[k++]);
}

template <class T>
std::function<double(const std::vector<double>&, std::vector<double>&)> vector_objective(
    std::vector<Tensor<T>> params, std::function<Tensor<T>()> loss) {
  return [params = std::move(params), loss = std::move(loss)](const std::vector<double>& x,
                                                              std::vector<double>& gradient) {
    unflatten(x, params);
    for (auto p : params) p.zero_grad();
    Tensor<T> value = loss();
    value.backward();
    gradient = flatten_gradients(params);
    return double(value.item());
  };
}

template <class T>
GradCheckReport gradcheck_model(const Module<T>& model, const std::function<Tensor<T>()>& loss,
                                const GradCheckOptions& options) {
  GradCheckOptions named = options;
  std::vector<Tensor<T>> leaves;
  for (auto& p : model.named_parameters()) {
    leaves.push_back(p.tensor);
    if (options.names.empty()) named.names.push_back(p.name);
  }
  return gradcheck_leaves(loss, leaves, named);
}

#define TG_NN_PARAMS_INSTANTIATE(T)                                                             \
  template std::vector<double> flatten(const std::vector<Tensor<T>>&);                          \
  template std::vector<double> flatten_gradients(const std::vector<Tensor<T>>&);                \
  template void unflatten(const std::vector<double>&, const std::vector<Tensor<T>>&);           \
  template std::function<double(const std::vector<double>&, std::vector<double>&)>              \
      vector_objective(std::vector<Tensor<T>>, std::function<Tensor<T>()>);                     \
  template GradCheckReport gradcheck_model(const Module<T>&, const std::function<Tensor<T>()>&, \
                                           const GradCheckOptions&);
TG_NN_PARAMS_INSTANTIATE(float)
TG_NN_PARAMS_INSTANTIATE(double)

}  // namespace tg::nn
