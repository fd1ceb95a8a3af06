#include "tapegrad/nn/checkpoint.hpp"

#include <algorithm>

namespace tg::nn {

template <class T> void save_parameters(const Module<T>& model, const std::string& path) {
  std::vector<std::pair<std::string, Tensor<T>>> arrays;
  for (auto& p : model.named_parameters()) arrays.emplace_back(p.name, p.tensor);
  save_npz(path, arrays);
}

template <class T> void load_parameters(Module<T>& model, const std::string& path) {
  const auto arrays = load_npz<T>(path);
  const auto params = model.named_parameters();
  auto find = [&](const std::string& name) {
    return std::find_if(arrays.begin(), arrays.end(),
                        [&](const auto& a) { return a.first == name; });
  };
  for (const auto& p : params) {
    const auto it = find(p.name);
    if (it == arrays.end())
      throw SerializeError("load_parameters: " + path + " has no parameter " + p.name + " (model " +
                           model.describe() + ")");
    if (it->second.shape() != p.tensor.shape())
      throw SerializeError("load_parameters: parameter " + p.name + " in " + path + " has shape " +
                           it->second.shape().str() + ", the model's is " + p.tensor.shape().str());
  }
  if (arrays.size() != params.size())
    throw SerializeError("load_parameters: " + path + " holds " + std::to_string(arrays.size()) +
                         " arrays, the model has " + std::to_string(params.size()) +
                         " parameters (model " + model.describe() + ")");
  for (const auto& p : params) {
    const Tensor<T>& source = find(p.name)->second;
    Tensor<T> target = p.tensor;
    std::copy(source.data(), source.data() + source.size(), target.data());
  }
}

template void save_parameters(const Module<float>&, const std::string&);
template void save_parameters(const Module<double>&, const std::string&);
template void load_parameters(Module<float>&, const std::string&);
template void load_parameters(Module<double>&, const std::string&);

}  // namespace tg::nn
