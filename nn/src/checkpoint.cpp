#include "tapegrad/nn/checkpoint.hpp"

#include <algorithm>

namespace tg::nn {

namespace {

// Parameters then buffers, as torch's state_dict lists them ("0.W", ..., "1.running_mean").
// Registration keeps names unique within a module and free of '.', so the prefixed names of
// parameters and buffers never collide.
struct Entry {
  std::string name;
  const char* kind;
};

template <class T> std::vector<std::pair<Entry, Tensor<T>>> state_of(const Module<T>& model) {
  std::vector<std::pair<Entry, Tensor<T>>> state;
  for (auto& p : model.named_parameters()) state.push_back({{p.name, "parameter"}, p.tensor});
  for (auto& b : model.named_buffers()) state.push_back({{b.name, "buffer"}, b.tensor});
  return state;
}

}  // namespace

template <class T> void save_parameters(const Module<T>& model, const std::string& path) {
  std::vector<std::pair<std::string, Tensor<T>>> arrays;
  for (auto& [entry, tensor] : state_of(model)) arrays.emplace_back(entry.name, tensor);
  save_npz(path, arrays);
}

template <class T> void load_parameters(Module<T>& model, const std::string& path) {
  const auto arrays = load_npz<T>(path);
  const auto state = state_of(model);
  auto find = [&](const std::string& name) {
    return std::find_if(arrays.begin(), arrays.end(),
                        [&](const auto& a) { return a.first == name; });
  };
  for (const auto& [entry, tensor] : state) {
    const auto it = find(entry.name);
    if (it == arrays.end())
      throw SerializeError("load_parameters: " + path + " has no " + entry.kind + " " + entry.name +
                           " (model " + model.describe() + ")");
    if (it->second.shape() != tensor.shape())
      throw SerializeError("load_parameters: " + std::string(entry.kind) + " " + entry.name +
                           " in " + path + " has shape " + it->second.shape().str() +
                           ", the model's is " + tensor.shape().str());
  }
  if (arrays.size() != state.size())
    throw SerializeError("load_parameters: " + path + " holds " + std::to_string(arrays.size()) +
                         " arrays, the model has " + std::to_string(state.size()) +
                         " parameters and buffers (model " + model.describe() + ")");
  for (const auto& [entry, tensor] : state) {
    const Tensor<T>& source = find(entry.name)->second;
    Tensor<T> target = tensor;
    std::copy(source.data(), source.data() + source.size(), target.data());
  }
}

template void save_parameters(const Module<float>&, const std::string&);
template void save_parameters(const Module<double>&, const std::string&);
template void load_parameters(Module<float>&, const std::string&);
template void load_parameters(Module<double>&, const std::string&);

}  // namespace tg::nn
