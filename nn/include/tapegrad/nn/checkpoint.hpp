// A model's parameters and buffers to and from a NumPy .npz archive, one member per named
// parameter or buffer ("0.W.npy", "0.b.npy", "1.running_mean.npy", ...: torch's state_dict
// names), so that numpy.load(path)["0.W"] inspects a trained model.
#pragma once

#include <string>

#include "tapegrad/nn/module.hpp"
#include "tapegrad/nn/serialize.hpp"

namespace tg::nn {

// Written as save_npz writes (atomically, through a symlink, keeping the file's permission bits,
// refusing a path that is not a regular file): a failed save leaves any previous file in place
// (SerializeError).
template <class T> void save_parameters(const Module<T>& model, const std::string& path);

// Loads every parameter and buffer by name. All or nothing: a missing or extra name, or a shape
// that does not match the model's, throws SerializeError naming the parameter or buffer and both
// shapes before anything is changed.
template <class T> void load_parameters(Module<T>& model, const std::string& path);

}  // namespace tg::nn
