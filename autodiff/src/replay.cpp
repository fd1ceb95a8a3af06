#include "tapegrad/replay.hpp"

#include <algorithm>
#include <cstring>
#include <string>
#include <unordered_set>
#include <utility>

#include "launch.hpp"
#include "tapegrad/registry.hpp"

namespace tg {

namespace detail {

thread_local constinit Capture* t_capture = nullptr;

namespace {

// Sets this thread's recording while alive and restores the previous one, also on an exception.
class CaptureScope {
 public:
  explicit CaptureScope(Capture* capture) : previous_(std::exchange(t_capture, capture)) {}
  ~CaptureScope() { t_capture = previous_; }
  CaptureScope(const CaptureScope&) = delete;
  CaptureScope& operator=(const CaptureScope&) = delete;

 private:
  Capture* previous_;
};

// Names of the ops marked replayable, read from the registry once. Cases may build tensors, which
// must not land in the recording that asked.
const std::unordered_set<std::string>& replayable_ops() {
  static const std::unordered_set<std::string> names = [] {
    CaptureScope none(nullptr);
    std::unordered_set<std::string> out;
    for (const OpInfo& info : registered_ops())
      if (info.cases && info.cases().replayable) out.insert(info.name);
    return out;
  }();
  return names;
}

}  // namespace

// Stacks grow downward on the targets the library builds for: the recorded function's locals lie
// above this frame and below the recorded frame.
void capture_generator(Capture* capture, const char* who, std::mt19937_64& rng) {
  const volatile char here = 0;
  const auto address = reinterpret_cast<std::uintptr_t>(&rng);
  if (capture->recorded_frame && address > reinterpret_cast<std::uintptr_t>(&here) &&
      address < capture->recorded_frame)
    throw ReplayError(std::string(who) +
                      ": the generator is a local variable of the recorded function, which "
                      "replays would draw from after it is gone; declare it outside, so that it "
                      "outlives the recording");
  if (std::find(capture->generators.begin(), capture->generators.end(), &rng) ==
      capture->generators.end())
    capture->generators.push_back(&rng);
}

template <class T>
void capture_storage(Capture* capture, const char* who, const std::shared_ptr<T[]>& storage) {
  // The factories that write through launch; any other name is an op, or a caller of make_impl
  // outside the library (named "tensor" by default) whose writes a recording cannot see.
  static const std::unordered_set<std::string> factories = {
      "zeros", "ones",    "full",   "scalar",      "from_vector",
      "clone", "uniform", "normal", "dropout_mask"};
  if (!factories.contains(who) && !replayable_ops().contains(who))
    throw ReplayError(std::string(who) +
                      ": this op cannot be recorded for replay yet (its kernels are not captured); "
                      "run it in eager mode");
  capture->storages.push_back(storage);
}

template void capture_storage(Capture*, const char*, const std::shared_ptr<float[]>&);
template void capture_storage(Capture*, const char*, const std::shared_ptr<double[]>&);

}  // namespace detail

bool recording() {
  return detail::t_capture != nullptr;
}

namespace {

template <class T> bool same_bits(const Tensor<T>& a, const Tensor<T>& b) {
  return a.shape() == b.shape() &&
         std::memcmp(std::as_const(a).data(), std::as_const(b).data(), a.size() * sizeof(T)) == 0;
}

template <class T> std::string first_difference(const Tensor<T>& replayed, const Tensor<T>& eager) {
  if (replayed.shape() != eager.shape())
    return "shape " + replayed.shape().str() + " replayed, " + eager.shape().str() + " eager";
  for (std::size_t i = 0; i < replayed.size(); ++i) {
    const T r = std::as_const(replayed).data()[i], e = std::as_const(eager).data()[i];
    if (std::memcmp(&r, &e, sizeof(T)) != 0)
      return "at flat index " + std::to_string(i) + ": " + format_number(double(r), 17) +
             " replayed, " + format_number(double(e), 17) + " eager";
  }
  return "nowhere";
}

// Calls f, telling the recording where f's frames begin: what f declares lies below `frame`.
template <class T>
[[gnu::noinline]] Tensor<T> call_recorded(const std::function<Tensor<T>()>& f,
                                          detail::Capture& capture) {
  const volatile char frame = 0;
  capture.recorded_frame = reinterpret_cast<std::uintptr_t>(&frame);
  Tensor<T> loss = f();
  capture.recorded_frame = 0;  // backward declares nothing of f's
  return loss;
}

// Every label input declared to record_step must reach an op that reads labels (softmax_ce,
// nll_loss) by reference: one that does not was copied on the way, and a run would not see it.
void require_labels_read(const detail::LabelInputs& labels) {
  for (std::size_t i = 0; i < labels.inputs.size(); ++i)
    if (!labels.read[i])
      throw ReplayError("record_step: label input " + std::to_string(i) + " (" +
                        std::to_string(labels.inputs[i]->size()) +
                        " labels) was not passed to softmax_ce or nll_loss while recording; pass "
                        "the declared vector itself, not a copy");
}

// The declared labels a run is about to read, at(i) for input i: each vector's length as
// recorded (ShapeError), then each op's range check (the op's IndexError), before anything runs.
template <class At>
void check_labels(const detail::LabelInputs& labels, const std::vector<std::size_t>& sizes, At at) {
  for (std::size_t i = 0; i < sizes.size(); ++i)
    if (at(i).size() != sizes[i])
      throw ShapeError("replay: label input " + std::to_string(i) + " has " +
                       std::to_string(at(i).size()) + " labels, recorded with " +
                       std::to_string(sizes[i]));
  for (const detail::LabelInputs::Check& c : labels.checks) c.check(at(c.input));
}

class RunningFlag {
 public:
  explicit RunningFlag(std::atomic<bool>& flag) : flag_(flag) {
    if (flag_.exchange(true, std::memory_order_acquire))
      throw ReplayError(
          "replay: run() called while another run of this recording is in progress (a recording "
          "is run from one thread at a time)");
  }
  ~RunningFlag() { flag_.store(false, std::memory_order_release); }
  RunningFlag(const RunningFlag&) = delete;
  RunningFlag& operator=(const RunningFlag&) = delete;

 private:
  std::atomic<bool>& flag_;
};

}  // namespace

template <class T> Replay<T>::Replay() : running_(std::make_unique<std::atomic<bool>>(false)) {}
template <class T> Replay<T>::Replay(Replay&&) noexcept = default;
template <class T> Replay<T>& Replay<T>::operator=(Replay&&) noexcept = default;
template <class T> Replay<T>::~Replay() = default;

template <class T>
Replay<T> Replay<T>::record(std::function<Tensor<T>()> f, const std::vector<Tensor<T>>& params,
                            const std::vector<Tensor<T>>& inputs,
                            const std::vector<std::reference_wrapper<Labels>>& labels) {
  if (detail::t_capture)
    throw ReplayError(
        "record_step: called while recording on this thread (a recording cannot "
        "contain another)");
  for (std::size_t i = 0; i < params.size(); ++i)
    if (!params[i].requires_grad() || !params[i].is_leaf())
      throw GraphError("record_step: parameter " + std::to_string(i) + " " +
                       params[i].shape().str() + " is not a leaf that requires a gradient");
  for (const Tensor<T>& x : inputs) (void)x.shape();  // an undefined input throws here
  Replay r;
  r.f_ = std::move(f);
  r.params_ = params;
  r.inputs_ = inputs;
  for (const Tensor<T>& x : inputs) r.input_data_.push_back(x.impl()->data);
  // A run replaces the gradients: so does the recording, which is the first run.
  for (Tensor<T>& p : r.params_) p.zero_grad();
  r.tape_ = std::make_unique<detail::Capture>();
  for (Labels& l : labels) r.tape_->labels.inputs.push_back(&l);
  r.tape_->labels.read.assign(labels.size(), false);
  try {
    detail::CaptureScope scope(r.tape_.get());
    Tensor<T> loss = call_recorded(r.f_, *r.tape_);
    if (!loss.defined() || loss.size() != 1)
      throw ReplayError("record_step: f must return a one-element loss, got " +
                        (loss.defined() ? loss.shape().str() : std::string("an undefined tensor")));
    loss.backward();
    r.loss_ = loss.detach();
    require_labels_read(r.tape_->labels);
  } catch (...) {
    for (Tensor<T>& p : r.params_) p.zero_grad();
    throw;
  }
  for (const Tensor<T>& p : r.params_) r.grads_.push_back(p.has_grad() ? p.grad() : Tensor<T>());
  for (const Labels* l : r.tape_->labels.inputs) r.label_sizes_.push_back(l->size());
  return r;
}

template <class T> const Tensor<T>& Replay<T>::run() {
  RunningFlag running(*running_);
  check_labels(tape_->labels, label_sizes_,
               [&](std::size_t i) -> const Labels& { return *tape_->labels.inputs[i]; });
  for (const std::function<void()>& kernel : tape_->kernels) kernel();
  for (std::size_t i = 0; i < params_.size(); ++i) params_[i].set_grad(grads_[i]);
  return loss_;
}

template <class T> void Replay<T>::copy_inputs(const std::vector<Tensor<T>>& values) {
  if (values.size() != inputs_.size())
    throw ShapeError("replay: " + std::to_string(values.size()) + " input values for " +
                     std::to_string(inputs_.size()) + " recorded inputs");
  for (std::size_t i = 0; i < values.size(); ++i)
    if (values[i].shape() != inputs_[i].shape())
      throw ShapeError("replay: input " + std::to_string(i) + " has shape " +
                       values[i].shape().str() + ", recorded with shape " +
                       inputs_[i].shape().str());
  for (std::size_t i = 0; i < values.size(); ++i) {
    const T* from = std::as_const(values[i]).data();
    if (from != input_data_[i]) std::memmove(inputs_[i].data(), from, values[i].size() * sizeof(T));
  }
}

template <class T> const Tensor<T>& Replay<T>::run(const std::vector<Tensor<T>>& values) {
  copy_inputs(values);
  return run();
}

// The labels are checked first, then the values' shapes (copy_inputs): nothing is written unless
// both pass.
template <class T>
void Replay<T>::refill(const std::vector<Tensor<T>>& values, const std::vector<Labels>& labels) {
  if (labels.size() != label_sizes_.size())
    throw ShapeError("replay: " + std::to_string(labels.size()) + " label vectors for " +
                     std::to_string(label_sizes_.size()) + " recorded label inputs");
  check_labels(tape_->labels, label_sizes_,
               [&](std::size_t i) -> const Labels& { return labels[i]; });
  copy_inputs(values);
  for (std::size_t i = 0; i < labels.size(); ++i) *tape_->labels.inputs[i] = labels[i];
}

template <class T>
const Tensor<T>& Replay<T>::run(const std::vector<Tensor<T>>& values,
                                const std::vector<Labels>& labels) {
  refill(values, labels);
  return run();
}

template <class T>
const Tensor<T>& Replay<T>::run_checked(const std::vector<Tensor<T>>& values,
                                        const std::vector<Labels>& labels) {
  refill(values, labels);
  return run_checked();
}

template <class T> const Tensor<T>& Replay<T>::run_checked(const std::vector<Tensor<T>>& values) {
  copy_inputs(values);
  return run_checked();
}

template <class T> const Tensor<T>& Replay<T>::run_checked() {
  // The eager pass must draw what the run drew: the generators go back to their state before it,
  // and the eager pass leaves them where the run did.
  std::vector<std::mt19937_64> before_run;
  for (const std::mt19937_64* generator : tape_->generators) before_run.push_back(*generator);
  run();
  for (std::size_t i = 0; i < before_run.size(); ++i) *tape_->generators[i] = before_run[i];
  RunningFlag running(*running_);
  for (Tensor<T>& p : params_) p.zero_grad();
  auto restore = [&] {
    for (std::size_t i = 0; i < params_.size(); ++i) params_[i].set_grad(grads_[i]);
  };
  try {
    const Tensor<T> eager = f_();
    if (!same_bits(loss_, eager))
      throw ReplayError("replay check: the loss differs from eager mode's, " +
                        first_difference(loss_, eager) +
                        "; f's control flow or a value it computes depends on the values, which a "
                        "recording fixes");
    eager.backward();
    for (std::size_t i = 0; i < params_.size(); ++i) {
      const bool eager_has = params_[i].has_grad();
      if (eager_has != grads_[i].defined())
        throw ReplayError("replay check: parameter " + std::to_string(i) + " " +
                          params_[i].shape().str() + (eager_has ? " gets" : " gets no") +
                          " gradient in eager mode but" + (eager_has ? " none" : " one") +
                          " in the replay");
      if (eager_has && !same_bits(grads_[i], params_[i].grad()))
        throw ReplayError("replay check: the gradient of parameter " + std::to_string(i) + " " +
                          params_[i].shape().str() + " differs from eager mode's " +
                          first_difference(grads_[i], params_[i].grad()) +
                          "; f's control flow or a value it computes depends on the values, "
                          "which a recording fixes");
    }
  } catch (...) {
    restore();
    throw;
  }
  restore();
  return loss_;
}

template <class T> std::size_t Replay<T>::kernels() const {
  return tape_->kernels.size();
}
template <class T> std::size_t Replay<T>::buffers() const {
  return tape_->storages.size();
}

template class Replay<float>;
template class Replay<double>;

}  // namespace tg
