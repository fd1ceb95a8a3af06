#include "engine_impl.hpp"

#include <algorithm>
#include <random>
#include <stdexcept>
#include <utility>

#include "tapegrad/nn/data.hpp"
#include "tapegrad/nn/losses.hpp"
#include "tapegrad/nn/module.hpp"
#include "tapegrad/nn/optim.hpp"
#include "tapegrad/replay.hpp"
#include "tapegrad/tapegrad.hpp"

namespace bench {

namespace {

namespace nn = tg::nn;

nn::Activation to_nn(Act a) {
  switch (a) {
    case Act::sigmoid:
      return nn::Activation::sigmoid;
    case Act::relu:
      return nn::Activation::relu;
    case Act::identity:
      return nn::Activation::identity;
  }
  return nn::Activation::identity;
}

// One copy, converted in place (a temporary std::vector<T> first would double the peak memory of
// a 60,000-image data set).
template <class T> tg::Tensor<T> tensor(const tg::Shape& shape, const std::vector<double>& values) {
  tg::Tensor<T> t = tg::Tensor<T>::empty(shape);
  std::copy(values.begin(), values.end(), t.data());
  return t;
}

template <class T> class EngineMlp final : public Runner {
 public:
  // With `replay`, the step (or gradient) is recorded once with tg::record_step, with the same
  // plain SGD step (tg::sgd_update: each weight's update in the GEMM of its gradient), and each
  // unit runs the recording.
  EngineMlp(const Problem& p, bool replay) : p_(p.without_data()) {
    const std::size_t L = p.layers();
    for (std::size_t l = 0; l < L; ++l) {
      const std::size_t in = p.sizes[l], out = p.sizes[l + 1];
      net_.template emplace<nn::Linear<T>>(tensor<T>({in, out}, p.W[l]), tensor<T>({out}, p.b[l]));
      const Act a = l + 1 == L ? p.output : p.hidden;
      if (a != Act::identity) net_.template emplace<nn::ActivationLayer<T>>(to_nn(a));
    }
    X_ = tensor<T>({p.n, p.sizes[0]}, p.X);
    if (!p.Y.empty()) Y_ = tensor<T>({p.n, p.sizes.back()}, p.Y);
    opt_ = std::make_unique<nn::SGD<T>>(net_.parameters(), nn::SgdOptions{.lr = p.lr});
    // An epoch's labels live in its Minibatches alone (one copy of them, as in the reference).
    if (p.mode == Mode::epoch)
      batches_ = std::make_unique<nn::Minibatches<T>>(X_, p.labels, p.batch, rng_,
                                                      nn::MinibatchOptions{.shuffle = p.shuffle});
    else
      labels_ = p.labels;
    if (replay) {
      record();
      // The recording applied its SGD step: the weights go back to where every implementation
      // starts (copied from the problem's, not saved beside them: that would count in the peak
      // memory measured).
      std::size_t i = 0;
      for (std::size_t l = 0; l < L; ++l) {
        std::copy(p.W[l].begin(), p.W[l].end(), net_.parameters()[i++].data());
        std::copy(p.b[l].begin(), p.b[l].end(), net_.parameters()[i++].data());
      }
    }
  }

  void run() override {
    if (replay_ && p_.mode == Mode::epoch) return replay_epoch(batches_->batches_per_epoch());
    if (replay_) {
      note_gradients(X_, labels_);
      const tg::Tensor<T>& J = replay_->run();  // with the SGD step, but for a gradient
      if (capture_) loss_ = double(J.item());
      return;
    }
    switch (p_.mode) {
      case Mode::step:
        step(X_, labels_);
        break;
      case Mode::grad: {
        net_.zero_grad();
        tg::Tensor<T> J = loss(net_(X_), labels_);
        J.backward();
        if (capture_) loss_ = double(J.item());
        break;
      }
      case Mode::epoch:
        for (const auto& b : *batches_) step(b.x, b.y);
        break;
      case Mode::chain:
        break;
    }
  }

  void warmup() override {
    if (p_.mode == Mode::epoch)
      run_partial(10);
    else
      Runner::warmup();
  }

  void run_partial(std::size_t units) override {
    // Units run here, not through Runner::run_partial: scripts/hot-functions.sh collects inside
    // the functions named *run_partial*, and a second one nested in the first turns it off.
    if (p_.mode != Mode::epoch) {
      for (std::size_t i = 0; i < units; ++i) run();
      return;
    }
    if (replay_) return replay_epoch(units);
    std::size_t k = 0;
    for (auto it = batches_->begin(); it != batches_->end() && k < units; ++it, ++k)
      step(it->x, it->y);
  }

  std::vector<double> dump() override {
    capture_ = true;
    run();
    capture_ = false;
    std::vector<double> out{loss_};
    const auto params = net_.parameters();
    if (!noted_gradients_.empty()) {
      for (const auto& g : noted_gradients_) out.insert(out.end(), g.begin(), g.end());
    } else {
      for (const auto& p : params) {
        const auto g = p.grad();
        out.insert(out.end(), g.data(), g.data() + g.size());
      }
    }
    for (const auto& p : params) out.insert(out.end(), p.data(), p.data() + p.size());
    return out;
  }

 private:
  // The step (or gradient) on the whole data set is recorded on X_ and labels_ themselves. An
  // epoch of minibatches has two batch shapes, the full one and a shorter last one: one recording
  // for each (the second on the first's memory, made when the first such batch comes, as its
  // step), on input buffers of its own that each batch is gathered into (the rows the epoch's
  // order names, as Minibatches::batch copies them, without its allocations), then run and
  // followed by the optimizer's step, as an eager step. The label
  // vectors are declared label inputs, read by softmax_ce at every run: members of this object,
  // which never moves. The epoch's labels are the Minibatches' own.
  // A replay that applies the SGD step holds no gradients afterwards: for the cross-check
  // (dump), the gradients are eager mode's at the weights the last unit starts from; the loss
  // and the updated parameters are the replay's.
  void note_gradients(const tg::Tensor<T>& x, const tg::Labels& y) {
    if (!capture_ || !replay_->updates_parameters()) return;
    net_.zero_grad();
    loss(net_(x), y).backward();
    noted_gradients_.clear();
    for (const auto& p : net_.parameters()) noted_gradients_.push_back(p.grad().to_vector());
    net_.zero_grad();
  }

  // A training step's recording includes its SGD step (tg::sgd_update), which the recording
  // applies once.
  void record() {
    if (p_.mode == Mode::step || p_.mode == Mode::grad) {
      replay_ = record_on(X_, labels_);
      return;
    }
    if (p_.loss != Loss::softmax_ce)
      throw std::runtime_error("replay: epochs are recorded for softmax_ce with labels only");
    const std::size_t first = std::min(batches_->batch_size(), batches_->samples());
    batch_x_ = tg::Tensor<T>::zeros({first, p_.sizes[0]});
    batch_y_.assign(first, 0);
    replay_ = record_on(batch_x_, batch_y_);
  }

  std::unique_ptr<tg::Replay<T>> record_on(tg::Tensor<T>& x, tg::Labels& y,
                                           tg::Replay<T>* share_with = nullptr) {
    std::vector<std::reference_wrapper<tg::Labels>> labels;
    if (p_.loss == Loss::softmax_ce) labels.push_back(y);
    const tg::SgdUpdate update =
        p_.mode == Mode::grad ? tg::SgdUpdate{} : tg::sgd_update(double(p_.lr));
    return std::make_unique<tg::Replay<T>>(
        tg::record_step([this, &x, &y] { return loss(net_(x), y); }, net_.parameters(), {x}, labels,
                        tg::ShareBuffers<T>{share_with}, update));
  }

  // The first `units` minibatches of a new epoch, replayed.
  void replay_epoch(std::size_t units) {
    batches_->new_epoch();
    const std::vector<std::size_t>& order = batches_->order();
    const std::size_t n = batches_->samples(), B = batches_->batch_size(), d = p_.sizes[0];
    const std::size_t batches = std::min(units, batches_->batches_per_epoch());
    const T* X = std::as_const(X_).data();
    const tg::Labels& labels = batches_->targets();
    for (std::size_t k = 0; k < batches; ++k) {
      const std::size_t start = k * B, b = std::min(B, n - start);
      const bool full = b == batch_y_.size();
      if (!full && !last_x_.defined()) {
        last_x_ = tg::Tensor<T>::zeros({b, d});
        last_y_.assign(b, 0);
      }
      T* x = (full ? batch_x_ : last_x_).data();
      tg::Labels& y = full ? batch_y_ : last_y_;
      for (std::size_t j = 0; j < b; ++j) {
        std::copy_n(X + order[start + j] * d, d, x + j * d);
        y[j] = labels[order[start + j]];
      }
      if (k + 1 == batches) note_gradients(full ? batch_x_ : last_x_, y);
      if (!full && !replay_last_) {
        // The last batch's step is recorded on its first batch, as a user records each batch
        // shape when it first comes: the recording is that batch's step (with its SGD update).
        replay_last_ = record_on(last_x_, last_y_, replay_.get());
        if (capture_) loss_ = double(replay_last_->loss().item());
        continue;
      }
      const tg::Tensor<T>& J = (full ? replay_ : replay_last_)->run();  // and the SGD step
      if (capture_) loss_ = double(J.item());
    }
  }

  tg::Tensor<T> loss(const tg::Tensor<T>& out, const tg::Labels& labels) {
    switch (p_.loss) {
      case Loss::mse:
        return tg::mse(out, Y_);
      case Loss::half_mse:
        return tg::mse(out, Y_) * T(0.5);
      case Loss::regularized_ce:
        return nn::regularized_cross_entropy(out, Y_, net_, p_.lambda);
      case Loss::softmax_ce:
        return tg::softmax_ce(out, labels);
    }
    return {};
  }

  void step(const tg::Tensor<T>& x, const tg::Labels& labels) {
    opt_->zero_grad();
    tg::Tensor<T> J = loss(net_(x), labels);
    J.backward();
    opt_->step();
    if (capture_) loss_ = double(J.item());
  }

  const Problem p_;
  nn::Sequential<T> net_;
  tg::Tensor<T> X_, Y_;
  tg::Labels labels_;
  std::unique_ptr<nn::SGD<T>> opt_;
  std::mt19937_64 rng_{5};
  std::unique_ptr<nn::Minibatches<T>> batches_;
  tg::Tensor<T> batch_x_, last_x_;  // replayed epochs: the full and the last batch's inputs
  tg::Labels batch_y_, last_y_;
  std::unique_ptr<tg::Replay<T>> replay_, replay_last_;
  bool capture_ = false;
  double loss_ = 0;
  std::vector<std::vector<T>> noted_gradients_;
};

// The per-op overhead: `ops` multiplications of a one-element tensor by a constant, then backward;
// with `replay`, the chain and its backward recorded once and replayed (the cost of a kernel call).
template <class T> class EngineChain final : public Runner {
 public:
  EngineChain(const Problem& p, bool replay)
      : ops_(p.ops),
        x_(tg::Tensor<T>::full({1}, T(0.5), true)),
        c_(tg::Tensor<T>::full({1}, T(0.99))) {
    if (replay)
      replay_ = std::make_unique<tg::Replay<T>>(tg::record_step([this] { return chain(); }, {x_}));
  }
  void run() override {
    if (replay_) {
      const tg::Tensor<T>& y = replay_->run();
      if (capture_) value_ = double(y.item());
      return;
    }
    x_.zero_grad();
    const tg::Tensor<T> y = chain();
    y.backward();
    if (capture_) value_ = double(y.item());
  }
  std::vector<double> dump() override {
    capture_ = true;
    run();
    capture_ = false;
    return {value_, double(x_.grad().item())};
  }

 private:
  tg::Tensor<T> chain() const {
    tg::Tensor<T> y = x_;
    for (std::size_t i = 0; i < ops_; ++i) y = y * c_;
    return y;
  }

  std::size_t ops_;
  tg::Tensor<T> x_, c_;
  std::unique_ptr<tg::Replay<T>> replay_;
  bool capture_ = false;
  double value_ = 0;
};

template <class T> std::unique_ptr<Runner> make(const Problem& p, bool replay) {
  if (p.mode == Mode::chain) return std::make_unique<EngineChain<T>>(p, replay);
  return std::make_unique<EngineMlp<T>>(p, replay);
}

}  // namespace

std::unique_ptr<Runner> make_engine(const Problem& problem, bool f32) {
  return f32 ? make<float>(problem, false) : make<double>(problem, false);
}

std::unique_ptr<Runner> make_replay(const Problem& problem, bool f32) {
  return f32 ? make<float>(problem, true) : make<double>(problem, true);
}

}  // namespace bench
