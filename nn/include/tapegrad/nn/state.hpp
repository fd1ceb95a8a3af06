// Training state beyond the parameters, for resuming a run where it stopped: an optimizer's
// moments, momentum buffers and step counts, a learning-rate schedule's position. Each is a list
// of named float64 arrays (exact for float and double values and for counts below 2^53), so that
// it is saved beside the model's parameters in one .npz archive that NumPy can read.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "tapegrad/tensor.hpp"

namespace tg::nn {

using StateDict = std::vector<std::pair<std::string, Tensor<double>>>;

// An optimizer or a schedule whose state can be saved and restored. load_state_dict throws
// SerializeError (serialize.hpp) naming the entry for a missing, extra or misshapen entry, before
// changing anything.
class Stateful {
 public:
  virtual ~Stateful() = default;
  virtual StateDict state_dict() const = 0;
  virtual void load_state_dict(const StateDict& state) = 0;
};

// What a learning-rate schedule drives: any optimizer, in either precision.
class LearningRateControl {
 public:
  virtual ~LearningRateControl() = default;
  virtual double learning_rate() const = 0;
  // Throws DomainError for a negative or NaN rate.
  virtual void set_learning_rate(double lr) = 0;
};

}  // namespace tg::nn
