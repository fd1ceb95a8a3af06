// Everything needed to resume a training run where it stopped, in one NumPy .npz archive: the
// model's arrays, the optimizer's state and, optionally, a learning-rate schedule's, so that
//
//   save_training_state(path, model, opt, &schedule);      // after step k
//   ... a new process builds the same model, optimizer and schedule, then ...
//   load_training_state(path, model, opt, &schedule);
//
// continues exactly (bit for bit) as the first run would have from step k.
//
// Members are prefixed by their owner: "model.0.W", "optimizer.lr", "optimizer.0.exp_avg",
// "schedule.<name>" (numpy.load(path)["model.0.W"]). Every array is float64, the model's too for a
// float model: float values convert to double and back exactly.
#pragma once

#include <string>

#include "tapegrad/nn/module.hpp"
#include "tapegrad/nn/state.hpp"

namespace tg::nn {

// Written as save_npz writes: atomically, so a failed save leaves any previous file in place
// (SerializeError). `schedule` may be null: the archive then has no "schedule." members.
template <class T>
void save_training_state(const std::string& path, const Module<T>& model, const Stateful& optimizer,
                         const Stateful* schedule = nullptr);

// All or nothing: SerializeError (the archive's errors, a member outside the three prefixes,
// schedule members without a schedule to take them, a missing, extra or misshapen model array, or
// any error of the optimizer's or schedule's load_state_dict, which names the entry) before the
// model, the optimizer or the schedule is changed. The model must be built like the saved one;
// the optimizer and schedule with the same options over the same parameter list.
template <class T>
void load_training_state(const std::string& path, Module<T>& model, Stateful& optimizer,
                         Stateful* schedule = nullptr);

}  // namespace tg::nn
