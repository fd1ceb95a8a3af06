// One archive for a model, its optimizer and its schedule; see training_state.hpp.
#include "tapegrad/nn/training_state.hpp"

#include <algorithm>
#include <utility>
#include <vector>

#include "tapegrad/nn/serialize.hpp"

namespace tg::nn {

namespace {

constexpr const char* kModel = "model.";
constexpr const char* kOptimizer = "optimizer.";
constexpr const char* kSchedule = "schedule.";

// The model's arrays that make up its state, by name. The single place where they are gathered,
// for saving and for loading alike: arrays that are not parameters (running statistics, say)
// belong here too.
template <class T>
std::vector<std::pair<std::string, Tensor<T>>> model_arrays(const Module<T>& model) {
  std::vector<std::pair<std::string, Tensor<T>>> arrays;
  for (auto& p : model.named_parameters()) arrays.emplace_back(p.name, p.tensor);
  return arrays;
}

template <class T> Tensor<double> to_double(const Tensor<T>& t) {
  const T* d = t.data();
  return Tensor<double>::from_vector(t.shape(), std::vector<double>(d, d + t.size()));
}

void append_prefixed(StateDict& out, const char* prefix, const StateDict& state) {
  for (const auto& [name, tensor] : state) out.emplace_back(prefix + name, tensor);
}

bool starts_with(const std::string& s, const char* prefix) {
  return s.rfind(prefix, 0) == 0;
}

}  // namespace

template <class T>
void save_training_state(const std::string& path, const Module<T>& model, const Stateful& optimizer,
                         const Stateful* schedule) {
  StateDict arrays;
  for (const auto& [name, tensor] : model_arrays(model))
    arrays.emplace_back(kModel + name, to_double(tensor));
  append_prefixed(arrays, kOptimizer, optimizer.state_dict());
  if (schedule) append_prefixed(arrays, kSchedule, schedule->state_dict());
  save_npz(path, arrays);
}

template <class T>
void load_training_state(const std::string& path, Module<T>& model, Stateful& optimizer,
                         Stateful* schedule) {
  const std::string who = "load_training_state: " + path;
  StateDict archive = load_npz<double>(path);
  StateDict model_state, optimizer_state, schedule_state;
  for (auto& [name, tensor] : archive) {
    if (starts_with(name, kModel))
      model_state.emplace_back(name.substr(std::char_traits<char>::length(kModel)), tensor);
    else if (starts_with(name, kOptimizer))
      optimizer_state.emplace_back(name.substr(std::char_traits<char>::length(kOptimizer)), tensor);
    else if (starts_with(name, kSchedule))
      schedule_state.emplace_back(name.substr(std::char_traits<char>::length(kSchedule)), tensor);
    else
      throw SerializeError(who + " has a member " + name + " " + tensor.shape().str() +
                           " that belongs to neither the model (\"model.\"), the optimizer "
                           "(\"optimizer.\") nor a schedule (\"schedule.\")");
  }
  if (!schedule && !schedule_state.empty())
    throw SerializeError(who + " holds a schedule's state (member schedule." +
                         schedule_state.front().first + ") but no schedule was given to load it");

  // The model: every array present with its shape, nothing extra.
  const auto targets = model_arrays(model);
  std::vector<const Tensor<double>*> sources;
  for (const auto& [name, target] : targets) {
    const auto it = std::find_if(model_state.begin(), model_state.end(),
                                 [&](const auto& e) { return e.first == name; });
    if (it == model_state.end())
      throw SerializeError(who + " has no member model." + name + " (the model's " +
                           target.shape().str() + ", model " + model.describe() + ")");
    if (it->second.shape() != target.shape())
      throw SerializeError(who + ": member model." + name + " has shape " +
                           it->second.shape().str() + ", the model's is " + target.shape().str());
    sources.push_back(&it->second);
  }
  for (const auto& [name, tensor] : model_state)
    if (std::none_of(targets.begin(), targets.end(),
                     [&](const auto& t) { return t.first == name; }))
      throw SerializeError(who + " has a member model." + name + " " + tensor.shape().str() +
                           " that the model (" + model.describe() + ") does not have");
  if (model_state.size() != targets.size())  // the same name twice
    throw SerializeError(who + " holds " + std::to_string(model_state.size()) +
                         " model arrays, the model has " + std::to_string(targets.size()));

  // Each load_state_dict checks before it changes anything; the optimizer's is undone if the
  // schedule's then refuses, so that nothing changes unless everything loads.
  const StateDict optimizer_before = optimizer.state_dict();
  optimizer.load_state_dict(optimizer_state);
  if (schedule) {
    try {
      schedule->load_state_dict(schedule_state);
    } catch (...) {
      optimizer.load_state_dict(optimizer_before);
      throw;
    }
  }
  for (std::size_t k = 0; k < targets.size(); ++k) {
    Tensor<T> target = targets[k].second;
    const double* source = sources[k]->data();
    T* out = target.data();
    for (std::size_t j = 0; j < target.size(); ++j) out[j] = static_cast<T>(source[j]);
  }
}

template void save_training_state(const std::string&, const Module<float>&, const Stateful&,
                                  const Stateful*);
template void save_training_state(const std::string&, const Module<double>&, const Stateful&,
                                  const Stateful*);
template void load_training_state(const std::string&, Module<float>&, Stateful&, Stateful*);
template void load_training_state(const std::string&, Module<double>&, Stateful&, Stateful*);

}  // namespace tg::nn
