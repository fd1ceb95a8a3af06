// The schedules evaluate PyTorch's expressions in PyTorch's order of operations (Python floats are
// IEEE doubles, and math.cos and float ** are the C library's cos and pow), so that a rate matches
// PyTorch's to the last bit, not only to rounding.
#include "tapegrad/nn/schedule.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <map>
#include <numbers>
#include <set>
#include <string>
#include <utility>

#include "tapegrad/errors.hpp"
#include "tapegrad/nn/serialize.hpp"

namespace tg::nn {

namespace detail {

// The entries of a state dict by name, each checked as it is read; finish() refuses the ones
// nobody read.
class StateReader {
 public:
  StateReader(const StateDict& state, std::string who) : who_(std::move(who)) {
    for (const auto& [name, value] : state)
      if (!entries_.emplace(name, &value).second) fail(name, "appears twice");
  }

  double value(const std::string& name) {
    const auto it = entries_.find(name);
    if (it == entries_.end()) fail(name, "is missing");
    used_.insert(name);
    const Tensor<double>& t = *it->second;
    if (!t.defined()) fail(name, "is an undefined tensor");
    if (t.ndim() != 0) fail(name, "has shape " + t.shape().str() + ", expected a scalar []");
    return t.data()[0];
  }

  // A counter: a whole number from `min` up to 2^53, where doubles stop being exact.
  std::int64_t whole(const std::string& name, std::int64_t min) {
    const double v = value(name);
    constexpr double kExactLimit = 9007199254740992.0;  // 2^53
    if (!(v >= static_cast<double>(min) && v <= kExactLimit && v == std::trunc(v)))
      fail(name, "is " + format_number(v, 17) + ", expected a whole number from " +
                     std::to_string(min) + " to 2^53");
    return static_cast<std::int64_t>(v);
  }

  double rate(const std::string& name) {
    const double v = value(name);
    if (!(v >= 0 && std::isfinite(v)))
      fail(name, "is " + format_number(v, 17) + ", expected a finite rate >= 0");
    return v;
  }

  // +-inf is a legitimate best before any metric has been seen.
  double not_nan(const std::string& name) {
    const double v = value(name);
    if (std::isnan(v)) fail(name, "is nan");
    return v;
  }

  void finish() const {
    for (const auto& [name, value] : entries_)
      if (!used_.contains(name)) fail(name, "is not part of this schedule's state");
  }

 private:
  [[noreturn]] void fail(const std::string& name, const std::string& problem) const {
    throw SerializeError(who_ + ": load_state_dict: entry '" + name + "' " + problem);
  }

  std::string who_;
  std::map<std::string, const Tensor<double>*> entries_;
  std::set<std::string> used_;
};

}  // namespace detail

namespace {

using detail::StateReader;

constexpr double kPi = std::numbers::pi;  // math.pi

void require(bool ok, const std::string& message) {
  if (!ok) throw DomainError(message);
}

std::string num(double v) {
  return format_number(v);
}

void require_gamma(const char* who, double gamma) {
  require(gamma > 0 && std::isfinite(gamma),
          std::string(who) + ": gamma must be positive and finite, got " + num(gamma));
}

std::string list_str(const std::vector<std::size_t>& values) {
  std::string s = "[";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(values[i]);
  }
  return s + "]";
}

void require_increasing(const char* who, const std::vector<std::size_t>& milestones,
                        std::size_t first_allowed) {
  for (std::size_t i = 0; i < milestones.size(); ++i) {
    const bool ok = i == 0 ? milestones[0] >= first_allowed : milestones[i] > milestones[i - 1];
    require(ok, std::string(who) + ": milestones must be strictly increasing" +
                    (first_allowed ? " from " + std::to_string(first_allowed) : std::string()) +
                    ", got milestone " + std::to_string(i) + " = " + std::to_string(milestones[i]) +
                    " in " + list_str(milestones));
  }
}

StateDict::value_type entry(const std::string& name, double value) {
  return {name, Tensor<double>::scalar(value)};
}

// Python's `//` for a positive divisor.
std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  const std::int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

std::atomic<std::uint64_t> schedules_made{0};

}  // namespace

// ---- LRScheduler -----------------------------------------------------------------------------

LRScheduler::LRScheduler(LearningRateControl& optimizer, std::string name)
    : optimizer_(&optimizer),
      name_(std::move(name)),
      base_lr_(optimizer.learning_rate()),
      last_lr_(base_lr_),
      creation_order_(schedules_made.fetch_add(1)) {}

LRScheduler::~LRScheduler() = default;

void LRScheduler::initial_step() {
  LRScheduler::step();
}

void LRScheduler::step() {
  ++last_epoch_;
  try {
    apply_lr(chained_lr(optimizer_->learning_rate()));
  } catch (...) {
    --last_epoch_;  // the optimizer refused the rate: nothing moved
    throw;
  }
}

void LRScheduler::apply_lr(double lr) {
  optimizer_->set_learning_rate(lr);
  last_lr_ = optimizer_->learning_rate();
}

void LRScheduler::save_position(StateDict& out, const std::string& prefix) const {
  out.push_back(entry(prefix + "last_epoch", static_cast<double>(last_epoch_)));
  out.push_back(entry(prefix + "base_lr", base_lr_));
  out.push_back(entry(prefix + "last_lr", last_lr_));
}

std::function<void()> LRScheduler::read_position(StateReader& in, const std::string& prefix,
                                                 std::int64_t min_epoch) {
  const std::int64_t last_epoch = in.whole(prefix + "last_epoch", min_epoch);
  const double base_lr = in.rate(prefix + "base_lr");
  const double last_lr = in.rate(prefix + "last_lr");
  return [this, last_epoch, base_lr, last_lr] {
    last_epoch_ = last_epoch;
    base_lr_ = base_lr;
    last_lr_ = last_lr;
  };
}

StateDict LRScheduler::state_dict() const {
  StateDict out;
  save_position(out, "");
  return out;
}

void LRScheduler::load_state_dict(const StateDict& state) {
  StateReader in(state, name_);
  const std::function<void()> restore = read_position(in, "", 0);
  in.finish();
  restore();
  optimizer_->set_learning_rate(last_lr_);
}

// ---- StepLR ----------------------------------------------------------------------------------

StepLR::StepLR(LearningRateControl& optimizer, std::size_t step_size, double gamma)
    : LRScheduler(optimizer, "StepLR"), step_size_(step_size), gamma_(gamma) {
  require(step_size > 0, "StepLR: step_size must be positive, got 0");
  require_gamma("StepLR", gamma);
  initial_step();
}

double StepLR::chained_lr(double current) const {
  const auto e = epoch();
  const auto size = static_cast<std::int64_t>(step_size_);
  if (e == 0 || e % size != 0) return current;  // e % size is 0 exactly when Python's is
  return current * gamma_;
}

double StepLR::closed_form_lr() const {
  const auto k = floor_div(epoch(), static_cast<std::int64_t>(step_size_));
  return base_lr() * std::pow(gamma_, static_cast<double>(k));
}

// ---- MultiStepLR -----------------------------------------------------------------------------

MultiStepLR::MultiStepLR(LearningRateControl& optimizer, std::vector<std::size_t> milestones,
                         double gamma)
    : LRScheduler(optimizer, "MultiStepLR"), milestones_(std::move(milestones)), gamma_(gamma) {
  require_increasing("MultiStepLR", milestones_, 0);
  require_gamma("MultiStepLR", gamma);
  initial_step();
}

double MultiStepLR::chained_lr(double current) const {
  const auto e = epoch();
  if (e < 0 ||
      !std::binary_search(milestones_.begin(), milestones_.end(), static_cast<std::size_t>(e)))
    return current;
  return current * gamma_;  // gamma^1: a milestone appears once
}

double MultiStepLR::closed_form_lr() const {
  const auto e = epoch();
  const auto passed = e < 0 ? 0
                            : std::upper_bound(milestones_.begin(), milestones_.end(),
                                               static_cast<std::size_t>(e)) -
                                  milestones_.begin();
  return base_lr() * std::pow(gamma_, static_cast<double>(passed));
}

// ---- ExponentialLR ---------------------------------------------------------------------------

ExponentialLR::ExponentialLR(LearningRateControl& optimizer, double gamma)
    : LRScheduler(optimizer, "ExponentialLR"), gamma_(gamma) {
  require_gamma("ExponentialLR", gamma);
  initial_step();
}

double ExponentialLR::chained_lr(double current) const {
  return epoch() == 0 ? current : current * gamma_;
}

double ExponentialLR::closed_form_lr() const {
  return base_lr() * std::pow(gamma_, static_cast<double>(epoch()));
}

// ---- CosineAnnealingLR -----------------------------------------------------------------------

CosineAnnealingLR::CosineAnnealingLR(LearningRateControl& optimizer, std::size_t t_max,
                                     double eta_min)
    : LRScheduler(optimizer, "CosineAnnealingLR"), t_max_(t_max), eta_min_(eta_min) {
  require(t_max > 0, "CosineAnnealingLR: T_max must be positive, got 0");
  require(eta_min >= 0 && std::isfinite(eta_min),
          "CosineAnnealingLR: eta_min must be finite and >= 0, got " + num(eta_min));
  initial_step();
}

double CosineAnnealingLR::chained_lr(double current) const {
  const auto e = epoch();
  if (e == 0) return current;
  const auto t = static_cast<std::int64_t>(t_max_);
  const double t_max = static_cast<double>(t_max_);
  // At the trough the ratio below would be 0/0: PyTorch steps up by the first step of the rise.
  if ((e - 1 - t) % (2 * t) == 0)
    return current + (base_lr() - eta_min_) * (1 - std::cos(kPi / t_max)) / 2;
  return (1 + std::cos(kPi * static_cast<double>(e) / t_max)) /
             (1 + std::cos(kPi * static_cast<double>(e - 1) / t_max)) * (current - eta_min_) +
         eta_min_;
}

double CosineAnnealingLR::closed_form_lr() const {
  const double t_max = static_cast<double>(t_max_);
  return eta_min_ +
         (base_lr() - eta_min_) * (1 + std::cos(kPi * static_cast<double>(epoch()) / t_max)) / 2;
}

// ---- LinearLR --------------------------------------------------------------------------------

LinearLR::LinearLR(LearningRateControl& optimizer, double start_factor, double end_factor,
                   std::size_t total_iters)
    : LRScheduler(optimizer, "LinearLR"),
      start_factor_(start_factor),
      end_factor_(end_factor),
      total_iters_(total_iters) {
  require(start_factor > 0 && start_factor <= 1,
          "LinearLR: start_factor must be in (0, 1], got " + num(start_factor));
  require(end_factor >= 0 && end_factor <= 1,
          "LinearLR: end_factor must be in [0, 1], got " + num(end_factor));
  require(total_iters > 0, "LinearLR: total_iters must be positive, got 0");
  initial_step();
}

double LinearLR::chained_lr(double current) const {
  const auto e = epoch();
  if (e == 0) return current * start_factor_;
  if (e > static_cast<std::int64_t>(total_iters_)) return current;
  const double slope = end_factor_ - start_factor_;
  return current * (1.0 + slope / (static_cast<double>(total_iters_) * start_factor_ +
                                   static_cast<double>(e - 1) * slope));
}

double LinearLR::closed_form_lr() const {
  const auto e = std::min(epoch(), static_cast<std::int64_t>(total_iters_));
  return base_lr() * (start_factor_ + (end_factor_ - start_factor_) * static_cast<double>(e) /
                                          static_cast<double>(total_iters_));
}

// ---- SequentialLR ----------------------------------------------------------------------------

SequentialLR::SequentialLR(LearningRateControl& optimizer,
                           std::vector<std::unique_ptr<LRScheduler>> schedulers,
                           std::vector<std::size_t> milestones)
    : LRScheduler(optimizer, "SequentialLR"),
      schedulers_(std::move(schedulers)),
      milestones_(std::move(milestones)) {
  require(!schedulers_.empty(), "SequentialLR: needs at least one schedule, got none");
  for (std::size_t i = 0; i < schedulers_.size(); ++i) {
    const LRScheduler* child = schedulers_[i].get();
    const std::string which = "SequentialLR: schedule " + std::to_string(i);
    require(child != nullptr, which + " is null");
    require(dynamic_cast<const SequentialLR*>(child) == nullptr,
            which + " is a SequentialLR, which cannot be restarted at a milestone");
    require(child->optimizer_ == &optimizer,
            which + " (" + child->name() + ") drives another optimizer");
  }
  require(milestones_.size() + 1 == schedulers_.size(),
          "SequentialLR: " + std::to_string(schedulers_.size()) + " schedules need " +
              std::to_string(schedulers_.size() - 1) + " milestones, got " +
              std::to_string(milestones_.size()) + " " + list_str(milestones_));
  require_increasing("SequentialLR", milestones_, 1);

  // PyTorch keeps the rate the first schedule attached to the optimizer found (initial_lr) and
  // gives it to every later one as its base rate.
  const auto first_made = std::min_element(
      schedulers_.begin(), schedulers_.end(),
      [](const auto& a, const auto& b) { return a->creation_order_ < b->creation_order_; });
  const double initial_lr = (*first_made)->base_lr_;
  for (auto& child : schedulers_) {
    child->base_lr_ = initial_lr;
    --child->last_epoch_;
  }
  base_lr_ = initial_lr;
  optimizer_->set_learning_rate(initial_lr);
  schedulers_[0]->initial_step();
  last_epoch_ = 0;
  last_lr_ = schedulers_[0]->last_lr();
}

void SequentialLR::step() {
  const std::int64_t e = last_epoch_ + 1;
  const auto idx = static_cast<std::size_t>(
      std::upper_bound(milestones_.begin(), milestones_.end(), static_cast<std::size_t>(e)) -
      milestones_.begin());
  LRScheduler& child = *schedulers_[idx];
  if (idx > 0 && milestones_[idx - 1] == static_cast<std::size_t>(e)) {
    // PyTorch's step(0): the child restarts at its epoch 0 by its closed form.
    const std::int64_t previous = child.last_epoch_;
    child.last_epoch_ = 0;
    try {
      child.apply_lr(child.closed_form_lr());
    } catch (...) {
      child.last_epoch_ = previous;
      throw;
    }
  } else {
    child.step();
  }
  last_epoch_ = e;
  last_lr_ = child.last_lr();
}

StateDict SequentialLR::state_dict() const {
  StateDict out;
  save_position(out, "");
  for (std::size_t i = 0; i < schedulers_.size(); ++i)
    schedulers_[i]->save_position(out, "schedulers." + std::to_string(i) + ".");
  return out;
}

void SequentialLR::load_state_dict(const StateDict& state) {
  StateReader in(state, name());
  std::vector<std::function<void()>> restore{read_position(in, "", 0)};
  // A child that has not started yet sits at epoch -1.
  for (std::size_t i = 0; i < schedulers_.size(); ++i)
    restore.push_back(
        schedulers_[i]->read_position(in, "schedulers." + std::to_string(i) + ".", -1));
  in.finish();
  for (const auto& r : restore) r();
  optimizer_->set_learning_rate(last_lr_);
}

// ---- ReduceLROnPlateau -----------------------------------------------------------------------

ReduceLROnPlateau::ReduceLROnPlateau(LearningRateControl& optimizer, const PlateauOptions& options)
    : optimizer_(&optimizer), options_(options), last_lr_(optimizer.learning_rate()) {
  const auto finite_non_negative = [](const char* what, double v) {
    require(v >= 0 && std::isfinite(v),
            std::string("ReduceLROnPlateau: ") + what + " must be finite and >= 0, got " + num(v));
  };
  require(options.factor >= 0 && options.factor < 1,
          "ReduceLROnPlateau: factor must be in [0, 1), got " + num(options.factor));
  finite_non_negative("threshold", options.threshold);
  finite_non_negative("min_lr", options.min_lr);
  finite_non_negative("eps", options.eps);
  constexpr double kInf = std::numeric_limits<double>::infinity();
  best_ = options.mode == PlateauMode::min ? kInf : -kInf;
}

bool ReduceLROnPlateau::is_better(double metric) const {
  const double threshold = options_.threshold;
  const bool rel = options_.threshold_mode == ThresholdMode::rel;
  if (options_.mode == PlateauMode::min)
    return rel ? metric < best_ * (1. - threshold) : metric < best_ - threshold;
  return rel ? metric > best_ * (threshold + 1.) : metric > best_ + threshold;
}

void ReduceLROnPlateau::step(double metric) {
  require(!std::isnan(metric),
          "ReduceLROnPlateau: metric is nan at epoch " + std::to_string(last_epoch_ + 1));
  if (is_better(metric)) {
    best_ = metric;
    num_bad_epochs_ = 0;
  } else {
    ++num_bad_epochs_;
  }
  if (cooldown_counter_ > 0) {
    --cooldown_counter_;
    num_bad_epochs_ = 0;  // bad epochs in the cooldown do not count
  }
  if (num_bad_epochs_ > options_.patience) {
    const double old_lr = optimizer_->learning_rate();
    const double new_lr = std::max(old_lr * options_.factor, options_.min_lr);
    if (old_lr - new_lr > options_.eps) optimizer_->set_learning_rate(new_lr);
    cooldown_counter_ = options_.cooldown;
    num_bad_epochs_ = 0;
  }
  ++last_epoch_;
  last_lr_ = optimizer_->learning_rate();
}

StateDict ReduceLROnPlateau::state_dict() const {
  return {entry("last_epoch", static_cast<double>(last_epoch_)), entry("last_lr", last_lr_),
          entry("best", best_), entry("num_bad_epochs", static_cast<double>(num_bad_epochs_)),
          entry("cooldown_counter", static_cast<double>(cooldown_counter_))};
}

void ReduceLROnPlateau::load_state_dict(const StateDict& state) {
  StateReader in(state, "ReduceLROnPlateau");
  const std::int64_t last_epoch = in.whole("last_epoch", 0);
  const double last_lr = in.rate("last_lr");
  const double best = in.not_nan("best");
  const auto num_bad_epochs = static_cast<std::size_t>(in.whole("num_bad_epochs", 0));
  const auto cooldown_counter = static_cast<std::size_t>(in.whole("cooldown_counter", 0));
  in.finish();
  last_epoch_ = last_epoch;
  last_lr_ = last_lr;
  best_ = best;
  num_bad_epochs_ = num_bad_epochs;
  cooldown_counter_ = cooldown_counter;
  optimizer_->set_learning_rate(last_lr_);
}

}  // namespace tg::nn
