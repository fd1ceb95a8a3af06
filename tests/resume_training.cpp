// Resuming in a fresh process continues a run bit for bit: for every optimizer configuration
// below, in float and in double, 10 steps in one go must leave exactly the same parameters,
// optimizer state and schedule position as 5 steps, save_training_state, then, in another
// process, a model built from other initial values, load_training_state and 5 more steps.
//
//   resume_training straight DIR   10 steps, saved as DIR/<config>.straight.npz
//   resume_training first DIR      5 steps, saved as DIR/<config>.half.npz
//   resume_training second DIR     loads DIR/<config>.half.npz, 5 steps, DIR/<config>.resumed.npz
//   resume_training compare DIR    every member of straight and resumed equal, bit for bit
//
// tests/resume_training.cmake runs the four phases as separate processes in a temporary
// directory. Each configuration has a parameter that gets its first gradient only at step 7, so
// that state saved for a parameter that has not stepped yet is carried over too, and the learning
// rate changes with the step count, so that the optimizer's lr and the schedule's position are.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "tapegrad/nn/module.hpp"
#include "tapegrad/nn/optim.hpp"
#include "tapegrad/nn/schedule.hpp"
#include "tapegrad/nn/serialize.hpp"
#include "tapegrad/nn/training_state.hpp"
#include "tapegrad/ops.hpp"

namespace nn = tg::nn;

namespace {

constexpr int kSteps = 10;
constexpr int kSaveAfter = 5;
constexpr int kLateStep = 7;  // the step at which the late parameter gets its first gradient

// An MLP plus an output offset that takes part only from step kLateStep on.
template <class T> class Net final : public nn::Module<T> {
 public:
  explicit Net(std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    mlp_ = nn::mlp<T>({3, 5, 2}, nn::Activation::tanh, nn::Activation::identity,
                      nn::Init::uniform(0.5), rng);
    offset_ = tg::Tensor<T>::uniform({2}, T(-1), T(1), rng, true);
  }
  tg::Tensor<T> forward(const tg::Tensor<T>& x) override {
    const tg::Tensor<T> y = mlp_(x);
    return use_offset ? tg::add_bias(y, offset_) : y;
  }
  std::vector<nn::NamedParameter<T>> named_parameters() const override {
    auto params = mlp_.named_parameters();
    params.push_back({"offset", offset_, true});
    return params;
  }
  std::string describe() const override { return "Net(" + mlp_.describe() + " + offset)"; }
  bool use_offset = false;

 private:
  nn::Sequential<T> mlp_;
  tg::Tensor<T> offset_;
};

// The schedule: two steps of linear warmup from half the rate, then a cosine down to a tenth of
// it, the library's SequentialLR, so that the schedule's saved position (its own and its
// children's) is part of what must resume exactly.
std::unique_ptr<nn::LRScheduler> make_schedule(nn::LearningRateControl& optimizer, double base) {
  std::vector<std::unique_ptr<nn::LRScheduler>> phases;
  phases.push_back(std::make_unique<nn::LinearLR>(optimizer, 0.5, 1.0, 2));
  phases.push_back(std::make_unique<nn::CosineAnnealingLR>(optimizer, 8, base / 10));
  return std::make_unique<nn::SequentialLR>(optimizer, std::move(phases),
                                            std::vector<std::size_t>{2});
}

template <class T> struct Config {
  std::string name;
  double base_lr;
  std::function<std::unique_ptr<nn::Optimizer<T>>(std::vector<tg::Tensor<T>>)> make;
};

template <class T> std::vector<Config<T>> configs(const std::string& type) {
  using P = std::vector<tg::Tensor<T>>;
  return {
      {"sgd_momentum_" + type, 0.1,
       [](P p) {
         return std::make_unique<nn::SGD<T>>(
             std::move(p), nn::SgdOptions{.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01});
       }},
      {"sgd_nesterov_" + type, 0.1,
       [](P p) {
         return std::make_unique<nn::SGD<T>>(
             std::move(p), nn::SgdOptions{.lr = 0.1, .momentum = 0.5, .nesterov = true});
       }},
      {"adam_" + type, 0.05,
       [](P p) {
         return std::make_unique<nn::Adam<T>>(std::move(p),
                                              nn::AdamOptions{.lr = 0.05, .weight_decay = 0.01});
       }},
      {"adamw_" + type, 0.05,
       [](P p) {
         return std::make_unique<nn::AdamW<T>>(std::move(p),
                                               nn::AdamWOptions{.lr = 0.05, .weight_decay = 0.1});
       }},
      {"rmsprop_" + type, 0.01,
       [](P p) {
         return std::make_unique<nn::RMSprop<T>>(
             std::move(p), nn::RmspropOptions{.lr = 0.01, .momentum = 0.5, .centered = true});
       }},
  };
}

// The same data in every process.
template <class T> void data(tg::Tensor<T>& X, tg::Tensor<T>& Y) {
  std::mt19937_64 rng(42);
  X = tg::Tensor<T>::uniform({8, 3}, T(-1), T(1), rng);
  Y = tg::Tensor<T>::uniform({8, 2}, T(-1), T(1), rng);
}

template <class T>
void train(Net<T>& net, nn::Optimizer<T>& opt, nn::LRScheduler& schedule, int steps) {
  tg::Tensor<T> X, Y;
  data(X, Y);
  for (int s = 0; s < steps; ++s) {
    net.use_offset = schedule.epoch() + 1 >= kLateStep;
    opt.zero_grad();
    tg::mse(net(X), Y).backward();
    opt.step();
    schedule.step();
  }
}

template <class T>
void run_phase(const std::string& phase, const std::string& dir, const std::string& type) {
  for (const Config<T>& config : configs<T>(type)) {
    const std::string base = dir + "/" + config.name;
    // The resumed run starts from other initial values: the load must replace them all.
    Net<T> net(phase == "second" ? 2 : 1);
    auto opt = config.make(net.parameters());
    const auto schedule_owner = make_schedule(*opt, config.base_lr);
    nn::LRScheduler& schedule = *schedule_owner;
    if (phase == "straight") {
      train(net, *opt, schedule, kSteps);
      nn::save_training_state(base + ".straight.npz", net, *opt, &schedule);
    } else if (phase == "first") {
      train(net, *opt, schedule, kSaveAfter);
      nn::save_training_state(base + ".half.npz", net, *opt, &schedule);
    } else {
      nn::load_training_state(base + ".half.npz", net, *opt, &schedule);
      train(net, *opt, schedule, kSteps - kSaveAfter);
      nn::save_training_state(base + ".resumed.npz", net, *opt, &schedule);
    }
  }
}

// Every member equal bit for bit; returns the number of differences (printed).
template <class T> int compare(const std::string& dir, const std::string& type) {
  int differences = 0;
  for (const Config<T>& config : configs<T>(type)) {
    const std::string base = dir + "/" + config.name;
    const auto straight = nn::load_npz<double>(base + ".straight.npz");
    const auto resumed = nn::load_npz<double>(base + ".resumed.npz");
    if (straight.size() != resumed.size()) {
      std::cerr << config.name << ": " << straight.size() << " members straight, " << resumed.size()
                << " resumed\n";
      ++differences;
      continue;
    }
    std::size_t values = 0;
    for (std::size_t k = 0; k < straight.size(); ++k) {
      const auto& [name, a] = straight[k];
      const auto& [resumed_name, b] = resumed[k];
      values += a.size();
      if (name != resumed_name || a.shape() != b.shape() ||
          std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) != 0) {
        std::cerr << config.name << ": member " << name << a.shape().str() << " differs from "
                  << resumed_name << b.shape().str() << "\n";
        ++differences;
      }
    }
    std::cout << config.name << ": " << straight.size() << " members, " << values
              << " values compared\n";
  }
  return differences;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string usage = "usage: resume_training straight|first|second|compare DIR";
  if (argc != 3) {
    std::cerr << usage << "\n";
    return 2;
  }
  const std::string phase = argv[1], dir = argv[2];
  try {
    if (phase == "compare") {
      const int differences = compare<float>(dir, "float") + compare<double>(dir, "double");
      if (differences) std::cerr << differences << " members differ\n";
      return differences ? 1 : 0;
    }
    if (phase != "straight" && phase != "first" && phase != "second") {
      std::cerr << usage << "\n";
      return 2;
    }
    run_phase<float>(phase, dir, "float");
    run_phase<double>(phase, dir, "double");
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "resume_training " << phase << ": " << e.what() << "\n";
    return 1;
  }
}
