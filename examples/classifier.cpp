// The digit-classifier course notes (docs/tutorials.md) scaled to real data, then the same task
// with today's defaults, on Fashion-MNIST (Debian's dataset-fashion-mnist: 60,000 training and
// 10,000 test images).
//
// The sigmoid variant, the course notes' network and regularized cross-entropy
//   J = -(1/m) sum_{i,k} [y log h + (1-y) log(1-h)] + lambda/(2m) sum of squared non-bias weights:
// Part 1: 784-256-128-10, sigmoid hidden units and outputs, minibatch Adam; reports the test
//         accuracy (target >= 0.88) and saves the model to classifier_model.npz (readable with
//         numpy.load).
// Part 2: the course notes' own setup: 400-25-10 sigmoid, lambda = 1, weights uniform in
//         [-0.12, 0.12], trained with L-BFGS on the unrolled parameter vector, full batch, on a
//         5000-image subset with the centre 20x20 crop of each image (400 inputs, like the course
//         notes' 20x20 digits).
// The modern variant: 784-512-256-10 with ReLU hidden units, dropout 0.1, He initialisation,
// softmax cross-entropy, AdamW (lr 2e-3, weight decay 0.05), one epoch of linear warmup then a
// cosine decay of the learning rate towards zero, float32, 18 epochs; target test accuracy
// >= 0.895. Saved to classifier_model_modern.npz.
//
// Each variant trained by minibatches writes its history next to its model: FILE.history.csv
// and, drawn by gnuplot, FILE.history.png.
//
// Both variants train by replay (tapegrad/replay.hpp): each batch size's first step is recorded,
// every later one runs the recording, with the same numbers as eager mode bit for bit. --eager
// trains eagerly instead, for comparison. --limit N trains on the first N training images only (a
// quick check of the code: the accuracy targets then do not decide the exit status).
//
//   ./build/examples/classifier [--variant sigmoid|modern|both] [--epochs N] [--data DIR]
//                               [--out FILE] [--skip-lbfgs] [--eager] [--limit N]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "tapegrad/nn/checkpoint.hpp"
#include "tapegrad/nn/data.hpp"
#include "tapegrad/nn/layers.hpp"
#include "tapegrad/nn/losses.hpp"
#include "tapegrad/nn/metrics.hpp"
#include "tapegrad/nn/module.hpp"
#include "tapegrad/nn/optim.hpp"
#include "tapegrad/nn/parameters.hpp"
#include "tapegrad/nn/schedule.hpp"
#include "tapegrad/nn/train.hpp"
#include "tapegrad/replay.hpp"
#include "tapegrad/tapegrad.hpp"

namespace nn = tg::nn;
using tg::TensorF;

namespace {

struct Split {
  TensorF images;  // [n, 784], scaled to [0, 1]
  tg::Labels labels;
};

Split load(const std::string& dir, const std::string& prefix) {
  const auto images = nn::read_idx(dir + "/" + prefix + "-images-idx3-ubyte.gz");
  const auto labels = nn::read_idx(dir + "/" + prefix + "-labels-idx1-ubyte.gz");
  return {nn::idx_images<float>(images, 1.0f / 255.0f), nn::idx_labels(labels)};
}

// The first `count` images and labels (all of them for 0 or more than there are).
Split first_images(Split all, std::size_t count) {
  if (count == 0 || count >= all.labels.size()) return all;
  Split out{TensorF::empty({count, 784}),
            tg::Labels(all.labels.begin(), all.labels.begin() + count)};
  std::memcpy(out.images.data(), std::as_const(all.images).data(), count * 784 * sizeof(float));
  return out;
}

// The model's predictions without recording a graph, in evaluation mode (dropout off); the model
// goes back to training mode afterwards.
double test_accuracy(nn::Module<float>& net, const Split& test) {
  tg::NoGradGuard no_grad;
  net.eval();
  const double acc = nn::accuracy(net(test.images), test.labels);
  net.train();
  return acc;
}

// What a variant's loss reads of a minibatch: its labels (softmax_ce), or them one-hot (the
// sigmoid variant's cost, whose targets are a tensor).
enum class Targets { labels, one_hot };

// Where the minibatches of one size are copied for their training steps and, when training by
// replay, the step recorded on these buffers. An epoch has two batch sizes, the full one and a
// shorter last one (60000 = 468 * 128 + 96), so two of these, each with its own recording.
struct BatchSlot {
  TensorF x;     // [b, 784]
  tg::Labels y;  // b labels, for Targets::labels a declared label input of the recording
  TensorF Y;     // [b, 10]: y one-hot, for Targets::one_hot
  std::optional<tg::Replay<float>> step;
  TensorF logits;  // the recorded step's scores: a buffer of the recording, rewritten by each run
};

// How a variant trains: by replay (a recording per batch size, on shared memory, each run once
// per batch) or
// eagerly (the graph built and walked for every batch), on the same buffers either way.
struct Training {
  bool replay = true;
  Targets targets = Targets::labels;
  // By batch size. A std::map, whose elements never move: a recording reads its label vector
  // where it was when recorded.
  std::map<std::size_t, BatchSlot> slots{};

  BatchSlot& slot(std::size_t b) {
    auto [it, added] = slots.try_emplace(b);
    if (added) {
      it->second.x = TensorF::zeros({b, 784});
      it->second.y.assign(b, 0);
      if (targets == Targets::one_hot) it->second.Y = TensorF::zeros({b, 10});
    }
    return it->second;
  }
};

// Rows order[first, first + b) of the training set into the slot, as Minibatches::batch would copy
// them into a fresh batch.
void fill(BatchSlot& s, const Split& train, const std::vector<std::size_t>& order,
          std::size_t first, Targets targets) {
  const std::size_t b = s.y.size(), d = 784;
  const float* images = std::as_const(train.images).data();
  float* x = s.x.data();
  for (std::size_t j = 0; j < b; ++j) {
    const std::size_t row = order[first + j];
    std::memcpy(x + j * d, images + row * d, d * sizeof(float));
    s.y[j] = train.labels[row];
  }
  if (targets == Targets::one_hot) {
    float* Y = s.Y.data();
    std::fill_n(Y, b * 10, 0.0f);
    for (std::size_t j = 0; j < b; ++j) Y[j * 10 + std::size_t(s.y[j])] = 1.0f;
  }
}

// One epoch of minibatch steps with loss(scores, slot): the mean loss and the training accuracy
// over the epoch's samples. By replay, the first batch of each size records the step (recording
// runs it once, forward and backward, drawing the dropout masks an eager step would draw), and
// every later batch of that size runs the recording: the same kernels on the same values, so the
// same numbers as eagerly, bit for bit.
struct EpochResult {
  double loss = 0, accuracy = 0;
};
template <class Loss>
EpochResult train_epoch(nn::Module<float>& net, nn::Optimizer<float>& opt,
                        nn::Minibatches<float>& batches, const Split& train, Training& training,
                        Loss loss) {
  batches.new_epoch();
  const std::vector<std::size_t>& order = batches.order();
  const std::size_t n = batches.samples(), B = batches.batch_size();
  double total = 0, correct = 0;
  for (std::size_t first = 0; first < n; first += B) {
    BatchSlot& s = training.slot(std::min(B, n - first));
    fill(s, train, order, first, training.targets);
    TensorF J, scores;
    if (!training.replay) {
      opt.zero_grad();
      scores = net(s.x);
      J = loss(scores, s);
      J.backward();
    } else if (!s.step) {
      std::vector<TensorF> inputs{s.x};
      std::vector<std::reference_wrapper<tg::Labels>> labels;
      if (training.targets == Targets::one_hot)
        inputs.push_back(s.Y);
      else
        labels.push_back(s.y);
      // The batch sizes' recordings run one after the other: they share their buffers' memory.
      tg::ShareBuffers<float> share;
      for (auto& [size, other] : training.slots)
        if (other.step) share = tg::share_buffers_with(*other.step);
      s.step.emplace(tg::record_step(
          [&net, &s, loss] {
            s.logits = net(s.x);
            return loss(s.logits, s);
          },
          net.parameters(), inputs, labels, share));
      s.logits = s.logits.detach();  // the buffer, without the recording's graph
      J = s.step->loss();
      scores = s.logits;
    } else {
      J = s.step->run();
      scores = s.logits;
    }
    opt.step();
    const double b = double(s.y.size());
    total += J.item() * b;
    correct += nn::accuracy(scores, s.y) * b;
  }
  return {total / double(n), correct / double(n)};
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The history as CSV and as a picture. A missing gnuplot costs the picture, not the run.
void save_history(const nn::ProgressLog& log, const std::string& model_path,
                  const std::string& title) {
  log.write_csv(model_path + ".history.csv");
  try {
    log.write_png(model_path + ".history.png", title);
    std::printf("saved the history to %s.history.csv and .png\n", model_path.c_str());
  } catch (const tg::Error& e) {
    std::printf("saved the history to %s.history.csv (no picture: %s)\n", model_path.c_str(),
                e.what());
  }
}

// The course notes' cost for a batch from the output pre-activations z (h = sigmoid(z)), through
// bce_with_logits so that a float sigmoid saturating at exactly 1 cannot make log(0); m is the
// number of samples the penalty is spread over.
TensorF cost(const TensorF& z, const TensorF& Y, const nn::Module<float>& net, double lambda,
             double m) {
  const float classes = float(z.dim(1));
  return tg::bce_with_logits(z, Y) * classes + nn::l2_penalty(net) * float(lambda / (2 * m));
}

bool part1(const Split& train, const Split& test, std::size_t epochs, const std::string& out,
           bool replay) {
  std::printf("== Part 1: 784-256-128-10 sigmoid MLP, regularized cross-entropy, Adam ==\n");
  std::mt19937_64 rng(1);
  // The output layer's sigmoid lives inside the cost (bce_with_logits), so the net ends in z.
  auto net = nn::mlp<float>({784, 256, 128, 10}, nn::Activation::sigmoid, nn::Activation::identity,
                            nn::Init::xavier_uniform(), rng);
  nn::Adam<float> adam(net.parameters(), {.lr = 1e-3});
  // lambda over the whole training set (the course notes' m = all samples): each minibatch
  // carries the penalty lambda/(2 * 60000) * sum W^2, so that an epoch adds up to their J.
  const double lambda = 1.0, m = double(train.labels.size());
  nn::Minibatches<float> batches(train.images, train.labels, 128, rng);
  Training training{.replay = replay, .targets = Targets::one_hot};
  nn::ProgressLog log(epochs, &std::cout);
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t epoch = 0; epoch < epochs; ++epoch) {
    log.begin_epoch();
    const EpochResult r = train_epoch(
        net, adam, batches, train, training,
        [&](const TensorF& z, const BatchSlot& s) { return cost(z, s.Y, net, lambda, m); });
    log.end_epoch(r.loss, train.labels.size(), r.accuracy, test_accuracy(net, test));
  }
  const double acc = test_accuracy(net, test);
  std::printf("test accuracy %.4f (target 0.88): %s, %.1f s of training %s\n", acc,
              acc >= 0.88 ? "met" : "NOT met", seconds_since(start),
              replay ? "by replay" : "eagerly");
  nn::save_parameters(net, out);
  std::printf("saved the model to %s\n", out.c_str());
  save_history(log, out, "784-256-128-10 sigmoid MLP, Adam: Fashion-MNIST");
  return acc >= 0.88;
}

// 784-512-256-10: Linear, ReLU, Dropout per hidden layer; the last layer's logits go to
// softmax_ce. ReLU rather than GELU: GELU's erf (forward and backward) makes an epoch about twice
// as long here, and in the same time ReLU trains enough more epochs to do at least as well.
// Dropout 0.1: at 0.2 the network underfits in this many epochs.
nn::Sequential<float> modern_net(std::mt19937_64& rng) {
  const std::vector<std::size_t> sizes{784, 512, 256, 10};
  nn::Sequential<float> net;
  for (std::size_t i = 0; i + 1 < sizes.size(); ++i) {
    // He initialisation: the variance that keeps a rectifier's activations from shrinking.
    net.emplace<nn::Linear<float>>(sizes[i], sizes[i + 1], nn::Init::he_uniform(), rng);
    if (i + 2 < sizes.size()) {
      net.emplace<nn::ActivationLayer<float>>(nn::Activation::relu);
      net.emplace<nn::Dropout<float>>(0.1, rng());
    }
  }
  return net;
}

// Linear warmup over the first epoch (from a tenth of the rate: Adam's first moments are still
// noise), then a cosine from the full rate down to zero at the end of the run.
std::unique_ptr<nn::LRScheduler> warmup_cosine(nn::LearningRateControl& opt, std::size_t epochs) {
  const std::size_t warmup = epochs > 1 ? 1 : 0;
  if (warmup == 0) return std::make_unique<nn::CosineAnnealingLR>(opt, epochs);
  std::vector<std::unique_ptr<nn::LRScheduler>> parts;
  parts.push_back(std::make_unique<nn::LinearLR>(opt, 0.1, 1.0, warmup));
  parts.push_back(std::make_unique<nn::CosineAnnealingLR>(opt, epochs - warmup));
  return std::make_unique<nn::SequentialLR>(opt, std::move(parts),
                                            std::vector<std::size_t>{warmup});
}

bool modern(const Split& train, const Split& test, std::size_t epochs, const std::string& out,
            bool replay) {
  std::printf("\n== Modern: 784-512-256-10 ReLU MLP, dropout, AdamW, warmup + cosine ==\n");
  std::mt19937_64 rng(3);
  auto net = modern_net(rng);
  std::printf("%s", nn::summary(net, {1, 784}).c_str());
  nn::AdamW<float> opt(net.parameters(), {.lr = 2e-3, .weight_decay = 0.05});
  const auto schedule = warmup_cosine(opt, epochs);
  nn::Minibatches<float> batches(train.images, train.labels, 128, rng);
  Training training{.replay = replay, .targets = Targets::labels};
  nn::ProgressLog log(epochs, &std::cout);
  const auto start = std::chrono::steady_clock::now();
  net.train();
  for (std::size_t epoch = 0; epoch < epochs; ++epoch) {
    log.begin_epoch();
    const EpochResult r =
        train_epoch(net, opt, batches, train, training,
                    [](const TensorF& z, const BatchSlot& s) { return tg::softmax_ce(z, s.y); });
    schedule->step();
    log.end_epoch(r.loss, train.labels.size(), r.accuracy, test_accuracy(net, test));
  }
  const double acc = test_accuracy(net, test);
  std::printf("test accuracy %.4f (target 0.895): %s, %.1f s of training %s\n", acc,
              acc >= 0.895 ? "met" : "NOT met", seconds_since(start),
              replay ? "by replay" : "eagerly");
  net.eval();
  std::printf("test set, rows the true class, columns the predicted one:\n%s",
              nn::confusion_matrix(nn::predict(net, test.images), test.labels, 10).str().c_str());
  nn::save_parameters(net, out);
  std::printf("saved the model to %s\n", out.c_str());
  save_history(log, out,
               "784-512-256-10 ReLU MLP, dropout 0.1, AdamW, warmup + cosine: Fashion-MNIST");
  return acc >= 0.895;
}

// The centre 20x20 of each 28x28 image: 400 inputs, the course notes' input size.
TensorF crop20(const TensorF& images, std::size_t count) {
  TensorF out = TensorF::empty({count, 400});
  for (std::size_t i = 0; i < count; ++i)
    for (std::size_t r = 0; r < 20; ++r)
      std::memcpy(out.data() + i * 400 + r * 20, images.data() + i * 784 + (r + 4) * 28 + 4,
                  20 * sizeof(float));
  return out;
}

void part2(const Split& train, const Split& test) {
  std::printf("\n== Part 2: the course notes' network: 400-25-10 sigmoid, lambda 1, L-BFGS ==\n");
  const std::size_t n = std::min<std::size_t>(5000, train.labels.size());
  TensorF X = crop20(train.images, n);
  tg::Labels y(train.labels.begin(), train.labels.begin() + n);
  TensorF Y = nn::one_hot<float>(y, 10);
  std::mt19937_64 rng(2);
  auto net = nn::mlp<float>({400, 25, 10}, nn::Activation::sigmoid, nn::Activation::identity,
                            nn::Init::uniform(0.12), rng);
  const auto start = std::chrono::steady_clock::now();
  // L-BFGS on the unrolled parameter vector (nn::flatten / nn::unflatten underneath).
  const auto result = nn::lbfgs_minimize<float>(
      [&] { return nn::regularized_cross_entropy_with_logits(net(X), Y, net, 1.0); },
      net.parameters(), {.max_iterations = 200});
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  tg::NoGradGuard no_grad;
  const double train_acc = nn::accuracy(net(X), y);
  const double test_acc = nn::accuracy(net(crop20(test.images, test.labels.size())), test.labels);
  std::printf("J = %.6f after %zu iterations (%zu evaluations, %.1f s; %s)\n", result.value,
              result.iterations, result.evaluations, seconds, result.reason.c_str());
  std::printf("training accuracy %.4f on the %zu-image subset, test accuracy %.4f\n", train_acc, n,
              test_acc);
}

}  // namespace

// FILE.npz -> FILE_modern.npz (FILE -> FILE_modern without the extension).
std::string modern_path(const std::string& out) {
  const std::string ext = ".npz";
  if (out.size() > ext.size() && out.compare(out.size() - ext.size(), ext.size(), ext) == 0)
    return out.substr(0, out.size() - ext.size()) + "_modern" + ext;
  return out + "_modern";
}

int main(int argc, char** argv) {
  std::size_t epochs = 0;  // 0: each variant's own (20 and 18)
  std::string dir = "/usr/share/datasets/fashion-mnist", out = "classifier_model.npz";
  std::string variant = "both";
  bool lbfgs = true, replay = true;
  std::size_t limit = 0;  // 0: every training image
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--epochs" && i + 1 < argc)
      epochs = std::stoul(argv[++i]);
    else if (a == "--variant" && i + 1 < argc &&
             (std::strcmp(argv[i + 1], "sigmoid") == 0 || std::strcmp(argv[i + 1], "modern") == 0 ||
              std::strcmp(argv[i + 1], "both") == 0))
      variant = argv[++i];
    else if (a == "--data" && i + 1 < argc)
      dir = argv[++i];
    else if (a == "--out" && i + 1 < argc)
      out = argv[++i];
    else if (a == "--skip-lbfgs")
      lbfgs = false;
    else if (a == "--eager")
      replay = false;
    else if (a == "--limit" && i + 1 < argc)
      limit = std::stoul(argv[++i]);
    else {
      std::fprintf(stderr,
                   "usage: %s [--variant sigmoid|modern|both] [--epochs N] [--data DIR] "
                   "[--out FILE] [--skip-lbfgs] [--eager] [--limit N]\n",
                   argv[0]);
      return 2;
    }
  }
  try {
    const Split train = first_images(load(dir, "train"), limit), test = load(dir, "t10k");
    std::printf("Fashion-MNIST: %zu training and %zu test images from %s, trained %s\n",
                train.labels.size(), test.labels.size(), dir.c_str(),
                replay ? "by replay (--eager: without)" : "eagerly");
    bool met = true;
    if (variant != "modern") {
      met = part1(train, test, epochs ? epochs : 20, out, replay) && met;
      if (lbfgs) part2(train, test);
    }
    if (variant != "sigmoid")
      met = modern(train, test, epochs ? epochs : 18, modern_path(out), replay) && met;
    // A shortened training set cannot reach the targets: such a run checks the code, not them.
    return met || limit ? 0 : 1;
  } catch (const tg::Error& e) {
    std::fprintf(stderr,
                 "classifier: %s\n(install the data with: apt-get install "
                 "dataset-fashion-mnist)\n",
                 e.what());
    return 1;
  }
}
