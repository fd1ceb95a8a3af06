// Replayable tapes: a training step (forward and backward) recorded once and run again on new
// values with no graph, no shape checks and no allocation.
//
//   TensorD X = TensorD::zeros(Shape{4, 2}), y = TensorD::zeros(Shape{4, 1});
//   auto step = tg::record_step([&] { return mse(net.forward(X), y); }, net.parameters(), {X, y});
//   for (...) {
//     step.run({batch_x, batch_y});  // or write into X and y's buffers, then step.run()
//     opt.step();                    // p.grad() is this step's gradient
//   }
//
// Recording runs f eagerly while every write of tensor data the library makes (each op's kernels,
// the engine's seed, gradient accumulation and copies) is also appended to a tape, as a closure
// over raw pointers, then appends backward's kernels without running them; after the passes over
// the tape (docs/replay.md), the tape runs once: that run is the recording's step. Every buffer
// created meanwhile has its memory from the recording, which keeps it (a buffer freed while
// recording lends its block to a later one, as eager mode's allocator would, since no later kernel
// reads it; one no kernel touches after the passes goes back unwritten). A run calls the tape's
// kernels in order on the buffers' current contents: the parameters' and inputs' values as they are
// at that moment (an optimizer's in-place step is seen), everything else recomputed (a tensor f
// makes and the caller keeps, such as the logits for an accuracy, holds each run's values). The
// kernels are the eager ones in the eager order, so a run equals eager mode bit for bit, as long as
// f does the same thing for every value: a branch on a value, a shape or a label computed from data
// is fixed at recording. run_checked() detects that.
//
// Random draws (Tensor::uniform/normal/dropout_mask, nn::Dropout in training) replay as eager mode
// draws: every run draws fresh values from the same generator, in the same order, so N runs after
// the recording equal N + 1 eager steps from the same generator state. The kernel keeps a pointer
// to the generator, which must outlive the recording (nn::Dropout's is the module's own).
//
// Refused with ReplayError at recording: an op not converted to kernel capture (OpCases::replayable
// names the converted ones), a random draw from a generator that is a local variable of f (gone
// after recording), Tensor::empty (filled outside the kernels), a recording inside a recording.
// Not detected: a write through data() by f's own code (it happens once, at recording) and tensors
// or generators used by f that are neither parameters nor inputs nor created by f: those must
// outlive the recording, which reads their current values. See docs/replay.md.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "tapegrad/errors.hpp"
#include "tapegrad/tensor.hpp"

namespace tg {

namespace detail {
struct Capture;
}

// Whether a replayable tape is being recorded on this thread: code outside the library that writes
// tensor data itself (through data()) cannot be replayed and should refuse with ReplayError.
bool recording();

// Class labels, as in tapegrad/ops.hpp.
using Labels = std::vector<std::int64_t>;

// The values a run copies into the recorded inputs, in order: a braced list of tensors
// (`run({batch_x, batch_y})`) or a std::vector of them, viewed for the length of the call. Nothing
// is allocated (a std::vector built for every call would be).
template <class T> class RunValues {
 public:
  RunValues(std::initializer_list<Tensor<T>> values) : values_(values.begin(), values.size()) {}
  RunValues(const std::vector<Tensor<T>>& values) : values_(values) {}
  std::size_t size() const { return values_.size(); }
  const Tensor<T>& operator[](std::size_t i) const { return values_[i]; }

 private:
  std::span<const Tensor<T>> values_;
};

template <class T> class Replay;

// What the passes a recording runs over its tape did (docs/replay.md): of the kernels `recorded`,
// `dead` ones removed (what they wrote, no later kernel and no caller reads: a value f computes
// and never uses) and `fused` elementwise ones run together, block by block, in `groups` loops.
// A run calls recorded - dead - updates_in_gemm - fused + groups kernels.
struct TapeSummary {
  std::size_t recorded = 0, dead = 0, fused = 0, groups = 0;
  // With an SgdUpdate: the parameters' updates computed by the GEMM that computes their gradient
  // (one kernel less each).
  std::size_t updates_in_gemm = 0;
};

// A plain SGD step that a recording and each run apply after backward (record_step's last
// argument, tg::sgd_update(lr)): every parameter p -= lr * dJ/dp, as tg::nn::SGD with no momentum
// and no weight decay computes it, so that no optimizer call follows a run. A weight whose
// gradient one GEMM computes (linear's, or a matmul's, when nothing else reads the gradient) is
// updated in that GEMM: W += (-lr) X^T delta with beta = 1, one pass over W instead of a gradient
// buffer written, read and dropped. That rounds once where nn::SGD rounds twice (equal to it to
// rounding, not bit for bit); every other parameter's update is nn::SGD's, bit for bit. The
// parameters then hold no gradient after a run (there is none to hold), run_checked and
// gradcheck(step) refuse such a recording (a run moves the parameters). record_step refuses a
// learning rate that is not finite and >= 0 (DomainError) and a parameter listed twice
// (GraphError: it would be updated twice per run).
struct SgdUpdate {
  double lr = 0;
  bool enabled = false;
};
inline SgdUpdate sgd_update(double lr) {
  return {lr, true};
}

// The elements per block of a fused elementwise loop, for the recordings made after the call
// (512 by default: a few operands' blocks stay in the first level of cache; at least 1). Kernels
// over no more elements than a block are not fused. The blocking never changes a value; the test
// suite sets a small block to run it on small tensors.
void set_fusion_block(std::size_t elements);
std::size_t fusion_block();

// A recording whose buffers a new one may use too (record_step, share_buffers_with).
template <class T> struct ShareBuffers { Replay<T>* with = nullptr; };
template <class T> ShareBuffers<T> share_buffers_with(Replay<T>& replay) {
  return {&replay};
}

template <class T> class Replay {
 public:
  // See record_step.
  static Replay record(std::function<Tensor<T>()> f, const std::vector<Tensor<T>>& params,
                       const std::vector<Tensor<T>>& inputs,
                       const std::vector<std::reference_wrapper<Labels>>& labels = {},
                       ShareBuffers<T> share = {}, SgdUpdate update = {});
  Replay(Replay&&) noexcept;
  Replay& operator=(Replay&&) noexcept;
  ~Replay();

  // Runs the tape on the current values of the parameters and inputs and returns the loss (a
  // handle on the recorded buffer, overwritten by the next run). Each parameter's gradient is then
  // this run's gradient: it REPLACES what the parameter held (what eager mode gives after
  // zero_grad(); backward), as a handle on the recording's buffer set with set_grad, so tg::nn
  // optimizers work unchanged; a parameter the loss does not reach has none, as in eager mode.
  // The recording holds the parameters' and inputs' tensors as they were passed: a module whose
  // parameter is later replaced by another tensor (not written in place) needs a new recording.
  // ReplayError when another thread is running this recording (or one it shares buffers with):
  // a recording is run from one thread at a time.
  // The declared label inputs are read as they are now, after a check made before any kernel
  // runs: ShapeError when a vector's length is not the recorded one, IndexError from the op that
  // reads it (softmax_ce, nll_loss: its name, the row and the label, as in eager mode) for a label
  // out of range.
  const Tensor<T>& run();
  // Copies `values[i]` into input i first. ShapeError naming the index and both shapes when a
  // value's shape is not the recorded input's, or when the count differs. Allocates nothing.
  const Tensor<T>& run(RunValues<T> values);
  // Also assigns `labels[i]` to label input i (the caller's vector declared to record_step). The
  // labels are checked (count and length: ShapeError; range: the op's IndexError) before any
  // value or label is written. A braced list of label vectors is a std::vector built for the call,
  // which allocates: a loop that must not allocate writes into the declared vectors and calls
  // run() or run(values).
  const Tensor<T>& run(RunValues<T> values, const std::vector<Labels>& labels);

  // run(), then f and backward once more in eager mode on the same values, comparing the loss
  // and every parameter's gradient bit for bit: ReplayError naming the first that differs (f's
  // control flow, or a constant it computes from data, changed with the values). The eager pass
  // draws the run's random values again (the recorded generators are rewound to their state
  // before the run), and leaves the generators where the run did. Allocates. ReplayError, before
  // anything is written, for a recording that updates its parameters (sgd_update).
  const Tensor<T>& run_checked();
  const Tensor<T>& run_checked(RunValues<T> values);
  const Tensor<T>& run_checked(RunValues<T> values, const std::vector<Labels>& labels);

  const Tensor<T>& loss() const { return loss_; }
  // The parameters and inputs as passed to record_step.
  const std::vector<Tensor<T>>& parameters() const { return params_; }
  const std::vector<Tensor<T>>& inputs() const { return inputs_; }
  // The recorded gradient buffer of parameter i (undefined when the loss does not reach it, and
  // for every parameter of a recording that updates them).
  const Tensor<T>& gradient(std::size_t i) const { return grads_[i]; }
  // The kernels a run calls, after the passes.
  std::size_t kernels() const;
  const TapeSummary& summary() const;
  // Whether a run also applies an SGD step (record_step's SgdUpdate).
  bool updates_parameters() const { return update_.enabled; }
  // The memory the recording holds for the buffers made while recording: blocks and their bytes.
  // A block freed while recording is reused by a later buffer of the same recording, so this is
  // about eager mode's peak for one step, not the sum of every buffer the step made. Blocks it
  // shares with other recordings (share_buffers_with) count in each.
  std::size_t buffers() const;
  std::size_t bytes() const;

 private:
  Replay();
  void copy_inputs(RunValues<T> values);
  void require_checkable() const;
  // ReplayError for a recording moved from (every member that needs the tape asks).
  void require_tape() const;
  void refill(RunValues<T> values, const std::vector<Labels>& labels);

  std::function<Tensor<T>()> f_;
  std::vector<Tensor<T>> params_, inputs_;
  std::vector<const T*> input_data_;  // a value given as its own input is not copied
  std::vector<Tensor<T>> grads_;
  std::vector<std::size_t> label_sizes_;  // of the declared label inputs, as recorded
  Tensor<T> loss_;
  SgdUpdate update_;
  std::unique_ptr<detail::Capture> tape_;
  std::shared_ptr<std::atomic<bool>> running_;  // one for recordings that share buffers
};

// Records f (which must return a one-element loss) and backward from it, with `params` the
// leaves whose gradients a run sets (they must require a gradient) and `inputs` the tensors a run
// may refill. Their existing gradients are replaced, as by a run. ReplayError names the op that
// cannot be recorded; the recording is then discarded and the parameters have no gradient.
// f runs once, eagerly (its own code may read the values it computes); the tape then runs once
// after its passes, forward again and backward, and that run's loss, gradients and update are
// the recording's step.
//
// `labels` are the class-label vectors a run may change, as `inputs` are for tensors: the caller's
// own vectors, which f passes (by reference, the vector itself) to softmax_ce or nll_loss. A run
// reads them where they are, so they must outlive the recording and stay at their address (a
// member of an object that moves does not); their length is fixed at recording, their contents
// are read and range-checked at every run. ReplayError when a declared vector reaches no such op
// (f passed a copy). Labels f passes that are not declared are constants of the recording.
//
//   tg::Labels y(128);
//   auto step = tg::record_step([&] { return tg::softmax_ce(net.forward(X), y); },
//                               net.parameters(), {X}, {y});
//   step.run({batch.x}, {batch.labels});  // or write into X and y, then step.run()
//
// `share`, from share_buffers_with(other), lets the new recording use the memory of `other`'s
// buffers as scratch, as its own buffers reuse each other's: the two then hold about the memory
// of the larger one, not the sum (an epoch's full and shorter last minibatch recorded for the
// same model). The price: a run of either overwrites what the other's runs left in its buffers,
// its loss and its gradients (read them, or step the optimizer, before running the other); the
// buffers of tensors that `other`'s f made and the caller keeps are not used. The recordings
// (and any others made sharing with either) share one running flag: running one while another
// runs or records on some thread is refused with ReplayError. f must not read `other`'s loss or
// gradients. A recording made with share_buffers_with has its own parameters and inputs, and
// may be destroyed before or after `other`.
//
//   auto step = tg::record_step(f_full, net.parameters(), {x_full}, {y_full});
//   auto last = tg::record_step(f_last, net.parameters(), {x_last}, {y_last},
//                               tg::share_buffers_with(step));
//
// `update`, from sgd_update(lr), makes the optimizer's step part of the recording (see
// SgdUpdate): the recording applies it once, as the first step, and so does each run.
//
//   auto step = tg::record_step(f, net.parameters(), {x}, {y}, {}, tg::sgd_update(0.1));
//   for (...) step.run({batch.x}, {batch.labels});  // forward, backward and the SGD step
template <class F, class T = typename std::invoke_result_t<F&>::value_type>
Replay<T> record_step(F f, const std::vector<Tensor<T>>& params,
                      const std::vector<Tensor<T>>& inputs = {},
                      const std::vector<std::reference_wrapper<Labels>>& labels = {},
                      ShareBuffers<T> share = {}, SgdUpdate update = {}) {
  return Replay<T>::record(std::function<Tensor<T>()>(std::move(f)), params, inputs, labels, share,
                           update);
}

// A step recorded once per shape of its inputs (and length of its label vectors), for batches
// that come in more than one shape: an epoch's shorter last minibatch, sequences bucketed by
// length. run(values, labels) runs the recording of those shapes; values of a shape not seen yet
// are recorded first, on inputs and label vectors of the new recording's own, and that recording
// is the run's step (its loss, gradients and update). Each new recording shares the memory of the
// largest one so far (share_buffers_with), so that the set holds about the largest step's memory:
// a run of one overwrites what the others' runs left (their loss and gradients). f takes the
// recording's inputs and label vectors, and passes the labels on by reference (to softmax_ce or
// nll_loss, as record_step's declared labels).
//
//   tg::ReplayByShape<float> step(
//       [&](const std::vector<tg::TensorF>& x, std::vector<tg::Labels>& y) {
//         return tg::softmax_ce(net.forward(x[0]), y[0]);
//       },
//       net.parameters(), tg::sgd_update(0.1));
//   for (const auto& batch : batches) step.run({batch.x}, {batch.labels});
//
// At most `max_shapes` recordings (16 by default): values of one more shape are a ReplayError
// before anything is written (shapes that vary without bound are eager mode's ground). A failed
// recording (an op that cannot be recorded, a label out of range) keeps nothing. Moving the
// object keeps its recordings; it is run from one thread at a time, as a Replay.
template <class T> class ReplayByShape {
 public:
  using Step =
      std::function<Tensor<T>(const std::vector<Tensor<T>>& inputs, std::vector<Labels>& labels)>;

  ReplayByShape(Step f, std::vector<Tensor<T>> params, SgdUpdate update = {},
                std::size_t max_shapes = 16)
      : f_(std::move(f)), params_(std::move(params)), update_(update), max_shapes_(max_shapes) {
    if (!f_)
      throw ReplayError("ReplayByShape: f is empty (a std::function that holds no function)");
  }

  const Tensor<T>& run(RunValues<T> values, const std::vector<Labels>& labels = {}) {
    if (Recording* r = find(values, labels)) {
      last_ = r;
      return r->step->run(values, labels);
    }
    return record(values, labels);
  }
  // As run, with Replay::run_checked for a shape recorded before (a new shape's recording is its
  // own step: nothing to compare).
  const Tensor<T>& run_checked(RunValues<T> values, const std::vector<Labels>& labels = {}) {
    if (Recording* r = find(values, labels)) {
      last_ = r;
      return r->step->run_checked(values, labels);
    }
    return record(values, labels);
  }

  std::size_t recordings() const { return recordings_.size(); }
  // The recording the last run used; ReplayError before any.
  const Replay<T>& last() const {
    if (!last_) throw ReplayError("ReplayByShape: nothing has run yet");
    return *last_->step;
  }

 private:
  struct Recording {
    std::vector<Tensor<T>> inputs;
    std::vector<Labels> labels;
    std::unique_ptr<Replay<T>> step;
  };

  Recording* find(RunValues<T> values, const std::vector<Labels>& labels) const {
    for (const std::unique_ptr<Recording>& r : recordings_) {
      bool same = r->inputs.size() == values.size() && r->labels.size() == labels.size();
      for (std::size_t i = 0; same && i < values.size(); ++i)
        same = r->inputs[i].shape() == values[i].shape();
      for (std::size_t i = 0; same && i < labels.size(); ++i)
        same = r->labels[i].size() == labels[i].size();
      if (same) return r.get();
    }
    return nullptr;
  }

  const Tensor<T>& record(RunValues<T> values, const std::vector<Labels>& labels) {
    if (recordings_.size() >= max_shapes_) {
      std::string shapes;
      for (std::size_t i = 0; i < values.size(); ++i)
        shapes += (i ? ", " : "") + values[i].shape().str();
      throw ReplayError("ReplayByShape: inputs " + shapes + " would be a new shape after " +
                        std::to_string(recordings_.size()) +
                        " recorded (max_shapes); use eager mode for shapes that vary this much, "
                        "or allow more");
    }
    auto r = std::make_unique<Recording>();
    for (std::size_t i = 0; i < values.size(); ++i) r->inputs.push_back(values[i].detach().clone());
    r->labels = labels;
    std::vector<std::reference_wrapper<Labels>> declared(r->labels.begin(), r->labels.end());
    ShareBuffers<T> share;
    for (const std::unique_ptr<Recording>& other : recordings_)
      if (!share.with || other->step->bytes() > share.with->bytes()) share.with = other->step.get();
    Recording* own = r.get();
    r->step = std::make_unique<Replay<T>>(
        Replay<T>::record([f = f_, own] { return f(own->inputs, own->labels); }, params_, r->inputs,
                          declared, share, update_));
    recordings_.push_back(std::move(r));
    last_ = own;
    return own->step->loss();
  }

  Step f_;
  std::vector<Tensor<T>> params_;
  SgdUpdate update_;
  std::size_t max_shapes_;
  std::vector<std::unique_ptr<Recording>> recordings_;
  Recording* last_ = nullptr;
};

}  // namespace tg
