// Learning-rate schedules with torch.optim.lr_scheduler's rules (PyTorch 1.13), driving any
// optimizer of either precision through LearningRateControl (state.hpp).
//
// As in PyTorch, a schedule records the optimizer's current rate as its base rate and sets the
// rate of epoch 0 when it is constructed; step() is called once per epoch, after that epoch's
// optimizer steps, and sets the rate of the next epoch. The epoch schedules use PyTorch's
// chainable rules (its get_lr): each epoch's rate is computed from the optimizer's current rate,
// so a change made to the rate from outside carries on, exactly as in PyTorch.
//
// A schedule keeps a reference to its optimizer, which must outlive it.
//
// Errors: an option outside its range raises tg::DomainError naming the schedule and the value
// ("StepLR: step_size must be positive, got 0"), before the optimizer's rate is changed.
//
// State: every schedule is Stateful. state_dict() holds its position (0-d float64 arrays, exact
// for the counters): "last_epoch", "base_lr" and "last_lr" for the epoch schedules, the same plus
// each child's entries under "schedulers.<i>." for SequentialLR, and "last_epoch", "last_lr",
// "best", "num_bad_epochs", "cooldown_counter" for ReduceLROnPlateau. The options (step_size,
// gamma, ...) are those of the schedule loading the state, not saved. load_state_dict checks every
// entry (names, shapes, ranges) and throws tg::nn::SerializeError naming the entry before changing
// anything; then it restores the position and sets the optimizer's rate to last_lr, which is where
// the chainable rules continue from, so a run resumed into a new optimizer and schedule continues
// exactly as the uninterrupted run.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tapegrad/nn/state.hpp"

namespace tg::nn {

namespace detail {
class StateReader;
}

// ---- epoch schedules -------------------------------------------------------------------------

class LRScheduler : public Stateful {
 public:
  ~LRScheduler() override;
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  // Moves to the next epoch and sets its rate on the optimizer.
  virtual void step();
  // The rate the last step (or the construction) set.
  double last_lr() const { return last_lr_; }
  // PyTorch's last_epoch: 0 after construction, +1 per step (-1 for a SequentialLR child that has
  // not started yet).
  std::int64_t epoch() const { return last_epoch_; }
  // The optimizer's rate when the schedule was made (PyTorch's initial_lr).
  double base_lr() const { return base_lr_; }
  const std::string& name() const { return name_; }
  const LearningRateControl& optimizer() const { return *optimizer_; }

  StateDict state_dict() const override;
  void load_state_dict(const StateDict& state) override;

 protected:
  // Records the optimizer's rate as the base rate; changes nothing.
  LRScheduler(LearningRateControl& optimizer, std::string name);
  // PyTorch's construction step, which sets the rate of epoch 0: the most-derived constructor
  // calls it once its options are checked.
  void initial_step();
  // PyTorch's get_lr: the rate of epoch() given the optimizer's current rate.
  virtual double chained_lr(double current) const = 0;
  // PyTorch's _get_closed_form_lr at epoch(), which SequentialLR uses to restart a child.
  virtual double closed_form_lr() const = 0;

 private:
  friend class SequentialLR;

  // Sets the rate on the optimizer and reads it back as last_lr, as PyTorch does.
  void apply_lr(double lr);
  void save_position(StateDict& out, const std::string& prefix) const;
  // Checks this schedule's entries under prefix and returns what restores them (the optimizer's
  // rate excluded), so that a composite checks every entry before changing any.
  std::function<void()> read_position(detail::StateReader& in, const std::string& prefix,
                                      std::int64_t min_epoch);

  LearningRateControl* optimizer_;
  std::string name_;
  double base_lr_;
  double last_lr_;
  std::int64_t last_epoch_ = -1;
  std::uint64_t creation_order_;  // which of several schedules saw the optimizer first
};

// torch.optim.lr_scheduler.StepLR: the rate is multiplied by gamma every step_size epochs,
// base_lr * gamma^floor(epoch / step_size).
class StepLR final : public LRScheduler {
 public:
  // Throws DomainError for step_size 0 or gamma not positive and finite.
  StepLR(LearningRateControl& optimizer, std::size_t step_size, double gamma = 0.1);
  std::size_t step_size() const { return step_size_; }
  double gamma() const { return gamma_; }

 private:
  double chained_lr(double current) const override;
  double closed_form_lr() const override;
  std::size_t step_size_;
  double gamma_;
};

// torch.optim.lr_scheduler.MultiStepLR: the rate is multiplied by gamma at each milestone epoch,
// base_lr * gamma^(number of milestones <= epoch). A milestone 0 applies at construction.
class MultiStepLR final : public LRScheduler {
 public:
  // Throws DomainError for milestones not strictly increasing or gamma not positive and finite.
  MultiStepLR(LearningRateControl& optimizer, std::vector<std::size_t> milestones,
              double gamma = 0.1);
  const std::vector<std::size_t>& milestones() const { return milestones_; }
  double gamma() const { return gamma_; }

 private:
  double chained_lr(double current) const override;
  double closed_form_lr() const override;
  std::vector<std::size_t> milestones_;
  double gamma_;
};

// torch.optim.lr_scheduler.ExponentialLR: base_lr * gamma^epoch.
class ExponentialLR final : public LRScheduler {
 public:
  // Throws DomainError for gamma not positive and finite.
  ExponentialLR(LearningRateControl& optimizer, double gamma);
  double gamma() const { return gamma_; }

 private:
  double chained_lr(double current) const override;
  double closed_form_lr() const override;
  double gamma_;
};

// torch.optim.lr_scheduler.CosineAnnealingLR, by PyTorch's recursive rule (its get_lr):
//   lr_e = eta_min + (lr_{e-1} - eta_min) (1 + cos(pi e / T_max)) / (1 + cos(pi (e-1) / T_max)),
// and, where that denominator is 0 (e - 1 = T_max mod 2 T_max),
//   lr_e = lr_{e-1} + (base_lr - eta_min) (1 - cos(pi / T_max)) / 2.
// This equals the closed form eta_min + (base_lr - eta_min) (1 + cos(pi e / T_max)) / 2 to
// rounding; past T_max the rate rises again, periodically, as in PyTorch.
class CosineAnnealingLR final : public LRScheduler {
 public:
  // Throws DomainError for t_max 0 or eta_min negative or not finite.
  CosineAnnealingLR(LearningRateControl& optimizer, std::size_t t_max, double eta_min = 0);
  std::size_t t_max() const { return t_max_; }
  double eta_min() const { return eta_min_; }

 private:
  double chained_lr(double current) const override;
  double closed_form_lr() const override;
  std::size_t t_max_;
  double eta_min_;
};

// torch.optim.lr_scheduler.LinearLR, a warmup: the factor on base_lr goes linearly from
// start_factor at epoch 0 to end_factor at epoch total_iters and stays there.
class LinearLR final : public LRScheduler {
 public:
  // Throws DomainError unless 0 < start_factor <= 1, 0 <= end_factor <= 1 and total_iters > 0.
  LinearLR(LearningRateControl& optimizer, double start_factor = 1.0 / 3, double end_factor = 1.0,
           std::size_t total_iters = 5);
  double start_factor() const { return start_factor_; }
  double end_factor() const { return end_factor_; }
  std::size_t total_iters() const { return total_iters_; }

 private:
  double chained_lr(double current) const override;
  double closed_form_lr() const override;
  double start_factor_;
  double end_factor_;
  std::size_t total_iters_;
};

// torch.optim.lr_scheduler.SequentialLR: child i runs from epoch milestones[i-1] (0 for the
// first) to milestones[i]. As in PyTorch:
// - every child's base rate is the optimizer's rate before the first of them was made (PyTorch's
//   initial_lr), whatever the children made of the rate since; construction sets that rate back,
//   undoes the children's construction steps and makes the first child's construction step again;
// - at milestone i the next child restarts at its epoch 0 by its closed form (so a cosine after a
//   warmup starts from the base rate, not from the warmup's last rate) and runs by its chainable
//   rule from then on.
class SequentialLR final : public LRScheduler {
 public:
  // Throws DomainError for no schedule, a null or SequentialLR child, a child driving another
  // optimizer, milestones.size() != schedulers.size() - 1, or milestones not strictly increasing
  // from 1 up.
  SequentialLR(LearningRateControl& optimizer, std::vector<std::unique_ptr<LRScheduler>> schedulers,
               std::vector<std::size_t> milestones);
  void step() override;
  std::size_t size() const { return schedulers_.size(); }
  const LRScheduler& scheduler(std::size_t i) const { return *schedulers_.at(i); }
  const std::vector<std::size_t>& milestones() const { return milestones_; }

  StateDict state_dict() const override;
  void load_state_dict(const StateDict& state) override;

 private:
  // The children set the rate; these are never reached.
  double chained_lr(double current) const override { return current; }
  double closed_form_lr() const override { return base_lr(); }
  std::vector<std::unique_ptr<LRScheduler>> schedulers_;
  std::vector<std::size_t> milestones_;
};

// ---- on a metric -----------------------------------------------------------------------------

enum class PlateauMode { min, max };
enum class ThresholdMode { rel, abs };

struct PlateauOptions {
  PlateauMode mode = PlateauMode::min;
  double factor = 0.1;
  std::size_t patience = 10;
  double threshold = 1e-4;
  ThresholdMode threshold_mode = ThresholdMode::rel;
  std::size_t cooldown = 0;
  double min_lr = 0;
  double eps = 1e-8;
};

// torch.optim.lr_scheduler.ReduceLROnPlateau: step(metric) once per epoch. A metric is better
// than the best so far when it is below best * (1 - threshold) (min, rel), below best - threshold
// (min, abs), above best * (1 + threshold) (max, rel) or above best + threshold (max, abs); the
// best starts at +inf (min) or -inf (max). After more than `patience` epochs in a row without
// improvement the rate becomes max(lr * factor, min_lr), unless that lowers it by eps or less;
// the next `cooldown` epochs then count no bad epochs. Like PyTorch 1.13's, it is not an
// LRScheduler (its step takes the metric) and cannot be a SequentialLR child.
class ReduceLROnPlateau final : public Stateful {
 public:
  // Throws DomainError unless 0 <= factor < 1, and threshold, min_lr and eps are finite and >= 0.
  explicit ReduceLROnPlateau(LearningRateControl& optimizer, const PlateauOptions& options = {});
  ReduceLROnPlateau(const ReduceLROnPlateau&) = delete;
  ReduceLROnPlateau& operator=(const ReduceLROnPlateau&) = delete;

  // Throws DomainError for a NaN metric, before changing anything.
  void step(double metric);
  double last_lr() const { return last_lr_; }
  std::int64_t epoch() const { return last_epoch_; }
  double best() const { return best_; }
  std::size_t num_bad_epochs() const { return num_bad_epochs_; }
  std::size_t cooldown_counter() const { return cooldown_counter_; }
  const PlateauOptions& options() const { return options_; }
  const LearningRateControl& optimizer() const { return *optimizer_; }

  StateDict state_dict() const override;
  void load_state_dict(const StateDict& state) override;

 private:
  bool is_better(double metric) const;

  LearningRateControl* optimizer_;
  PlateauOptions options_;
  double last_lr_;
  double best_;
  std::int64_t last_epoch_ = 0;
  std::size_t num_bad_epochs_ = 0;
  std::size_t cooldown_counter_ = 0;
};

}  // namespace tg::nn
