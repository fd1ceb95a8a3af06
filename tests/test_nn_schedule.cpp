// Learning-rate schedules: each one's rates over 12 epochs driving SGD (float and double) against
// PyTorch's rules replayed independently, and against the closed forms written out here; the
// options refused; a run stopped after 5 epochs and resumed from the saved state into a new
// optimizer and schedule equals the uninterrupted run exactly.
//
// The exact sequences were worked out with python3 using math only, by replaying PyTorch's
// chainable rule for each schedule on one float rate starting from 0.1, e.g. for StepLR(3, 0.1):
//   lr = 0.1; out = []
//   for e in range(12): lr = lr if e == 0 or e % 3 else lr * 0.1; out.append(lr)
//   print([repr(x) for x in out])
// and for CosineAnnealingLR(5, eta_min=0.01):
//   e == 0: lr;  (e-1-5) % 10 == 0: lr + (0.1-0.01)*(1-math.cos(math.pi/5))/2;
//   else: (1+math.cos(math.pi*e/5))/(1+math.cos(math.pi*(e-1)/5))*(lr-0.01)+0.01
// (LinearLR: e == 0: lr*s;  e > n: lr;  else lr*(1.+(end-s)/(n*s+(e-1)*(end-s)))). They differ
// from the closed forms in the last bits (0.010000000000000002 for 0.1 * 0.1), which is why they
// are compared exactly and the closed forms to 1e-12.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <numbers>
#include <string>
#include <utility>
#include <vector>

#include "check_error.hpp"
#include "tapegrad/nn/optim.hpp"
#include "tapegrad/nn/schedule.hpp"
#include "tapegrad/nn/serialize.hpp"
#include "tapegrad/ops.hpp"
#include "temp_dir.hpp"

namespace {

using tg::DomainError;
using tg::TensorD;
using tg::nn::CosineAnnealingLR;
using tg::nn::ExponentialLR;
using tg::nn::LearningRateControl;
using tg::nn::LinearLR;
using tg::nn::LRScheduler;
using tg::nn::MultiStepLR;
using tg::nn::PlateauMode;
using tg::nn::PlateauOptions;
using tg::nn::ReduceLROnPlateau;
using tg::nn::SequentialLR;
using tg::nn::SerializeError;
using tg::nn::SGD;
using tg::nn::StateDict;
using tg::nn::StepLR;
using tg::nn::ThresholdMode;

constexpr double kPi = std::numbers::pi;
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kBaseLr = 0.1;
constexpr int kEpochs = 12;

using Factory = std::function<std::unique_ptr<LRScheduler>(LearningRateControl&)>;

std::unique_ptr<LRScheduler> warmup_then_cosine(LearningRateControl& opt) {
  std::vector<std::unique_ptr<LRScheduler>> parts;
  parts.push_back(std::make_unique<LinearLR>(opt));  // 1/3 -> 1 over 5 epochs
  parts.push_back(std::make_unique<CosineAnnealingLR>(opt, 7, 0.001));
  return std::make_unique<SequentialLR>(opt, std::move(parts), std::vector<std::size_t>{5});
}

struct ScheduleCase {
  const char* name;
  Factory make;
  std::vector<double> torch_rule;                // PyTorch's chainable rule, replayed in Python
  std::function<double(int epoch)> closed_form;  // the textbook formula
};

std::vector<ScheduleCase> schedule_cases() {
  return {
      {"StepLR(3, 0.1)",
       [](auto& opt) { return std::make_unique<StepLR>(opt, 3, 0.1); },
       {0.1, 0.1, 0.1, 0.010000000000000002, 0.010000000000000002, 0.010000000000000002,
        0.0010000000000000002, 0.0010000000000000002, 0.0010000000000000002, 0.00010000000000000003,
        0.00010000000000000003, 0.00010000000000000003},
       [](int e) { return kBaseLr * std::pow(0.1, e / 3); }},
      {"MultiStepLR({2, 5, 9}, 0.3)",
       [](auto& opt) {
         return std::make_unique<MultiStepLR>(opt, std::vector<std::size_t>{2, 5, 9}, 0.3);
       },
       {0.1, 0.1, 0.03, 0.03, 0.03, 0.009, 0.009, 0.009, 0.009, 0.0026999999999999997,
        0.0026999999999999997, 0.0026999999999999997},
       [](int e) { return kBaseLr * std::pow(0.3, (e >= 2) + (e >= 5) + (e >= 9)); }},
      {"ExponentialLR(0.9)",
       [](auto& opt) { return std::make_unique<ExponentialLR>(opt, 0.9); },
       {0.1, 0.09000000000000001, 0.08100000000000002, 0.07290000000000002, 0.06561000000000002,
        0.05904900000000002, 0.05314410000000002, 0.04782969000000002, 0.043046721000000024,
        0.03874204890000002, 0.03486784401000002, 0.03138105960900001},
       [](int e) { return kBaseLr * std::pow(0.9, e); }},
      // Past T_max = 5 the rate rises again (PyTorch's cosine is periodic, 2 T_max).
      {"CosineAnnealingLR(5, 0.01)",
       [](auto& opt) { return std::make_unique<CosineAnnealingLR>(opt, 5, 0.01); },
       {0.1, 0.09140576474687263, 0.06890576474687263, 0.04109423525312736, 0.018594235253127367,
        0.01, 0.018594235253127367, 0.04109423525312739, 0.06890576474687267, 0.09140576474687269,
        0.10000000000000006, 0.09140576474687272},
       [](int e) { return 0.01 + (kBaseLr - 0.01) * (1 + std::cos(kPi * e / 5)) / 2; }},
      {"LinearLR(1/3, 1, 5)",
       [](auto& opt) { return std::make_unique<LinearLR>(opt); },
       {0.03333333333333333, 0.04666666666666667, 0.060000000000000005, 0.07333333333333335,
        0.08666666666666668, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1},
       [](int e) { return kBaseLr * (1.0 / 3 + (1 - 1.0 / 3) * std::min(e, 5) / 5); }},
      // The warmup's rule up to epoch 4; at the milestone the cosine starts from its epoch 0 at
      // the base rate 0.1 (not from where the warmup was) and runs by its own rule, so epoch e
      // has the cosine's rate at e - 5.
      {"SequentialLR(LinearLR, CosineAnnealingLR(7, 0.001), {5})",
       warmup_then_cosine,
       {0.03333333333333333, 0.04666666666666667, 0.060000000000000005, 0.07333333333333335,
        0.08666666666666668, 0.1, 0.09509795896116975, 0.08136274519200731, 0.061514786230837566,
        0.03948521376916245, 0.019637254807992697, 0.005902041038830259},
       [](int e) {
         if (e < 5) return kBaseLr * (1.0 / 3 + (1 - 1.0 / 3) * e / 5);
         return 0.001 + (kBaseLr - 0.001) * (1 + std::cos(kPi * (e - 5) / 7)) / 2;
       }},
  };
}

std::vector<double> torch_rule_of(const std::string& name) {
  for (const ScheduleCase& c : schedule_cases())
    if (name == c.name) return c.torch_rule;
  FAIL("no schedule case " << name);
  return {};
}

// loss = sum(c * p) with c = [0.5, 3]: each SGD step moves p by -lr * c.
template <class T> void backward_linear(tg::Tensor<T>& p) {
  tg::sum(tg::mul(tg::Tensor<T>::vector({T(0.5), T(3)}), p)).backward();
}

// One epoch as a training loop runs it: the optimizer's steps, then the schedule's.
template <class T> double run_epoch(SGD<T>& opt, tg::Tensor<T>& p, LRScheduler& schedule) {
  const double lr = opt.learning_rate();
  opt.zero_grad();
  backward_linear(p);
  opt.step();
  schedule.step();
  return lr;
}

bool same_bits(const StateDict& a, const StateDict& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].first != b[i].first || a[i].second.to_vector() != b[i].second.to_vector())
      return false;
  return true;
}

StateDict with_entry(StateDict state, const std::string& name, TensorD value) {
  for (auto& [n, v] : state)
    if (n == name) v = std::move(value);
  return state;
}

StateDict without_entry(StateDict state, const std::string& name) {
  std::erase_if(state, [&](const auto& e) { return e.first == name; });
  return state;
}

}  // namespace

TEST_SUITE("nn.schedule") {
  TEST_CASE_TEMPLATE("schedules: 12 epochs driving SGD follow PyTorch's rules exactly", T, float,
                     double) {
    for (const ScheduleCase& c : schedule_cases()) {
      INFO(c.name);
      auto p = tg::Tensor<T>::vector({T(1), T(-2)}, true);
      SGD<T> opt({p}, {.lr = kBaseLr});
      const auto schedule = c.make(opt);
      CHECK(schedule->base_lr() == kBaseLr);
      CHECK(schedule->epoch() == 0);
      // The rate each epoch trains with, and where p should land: p -= lr * c per step.
      double p0 = 1, p1 = -2;
      for (int e = 0; e < kEpochs; ++e) {
        INFO("epoch " << e);
        CHECK(schedule->last_lr() == opt.learning_rate());
        const double lr = run_epoch(opt, p, *schedule);
        CHECK(lr == c.torch_rule[static_cast<std::size_t>(e)]);
        CHECK(std::abs(lr - c.closed_form(e)) <= 1e-12 * kBaseLr);
        CHECK(schedule->epoch() == e + 1);
        p0 -= lr * 0.5;
        p1 -= lr * 3;
      }
      const double tol = std::is_same_v<T, float> ? 1e-6 : 1e-14;
      CHECK(static_cast<double>(p.data()[0]) == doctest::Approx(p0).epsilon(tol));
      CHECK(static_cast<double>(p.data()[1]) == doctest::Approx(p1).epsilon(tol));
    }
  }

  TEST_CASE("CosineAnnealingLR: the recursive rule stays within 1e-12 of the closed form") {
    // Four periods of T_max = 50 (both branches of the rule, 0 at every trough).
    for (const double eta_min : {0.0, 0.002}) {
      SGD<double> opt({TensorD::vector({1}, true)}, {.lr = kBaseLr});
      CosineAnnealingLR schedule(opt, 50, eta_min);
      for (int e = 0; e <= 400; ++e) {
        INFO("eta_min " << eta_min << " epoch " << e);
        const double closed = eta_min + (kBaseLr - eta_min) * (1 + std::cos(kPi * e / 50)) / 2;
        CHECK(std::abs(schedule.last_lr() - closed) <= 1e-12 * kBaseLr);
        schedule.step();
      }
    }
  }

  TEST_CASE("schedules: construction sets epoch 0's rate, and the rule continues from any rate") {
    SGD<double> opt({TensorD::vector({1}, true)}, {.lr = 0.3});
    LinearLR warmup(opt, 0.5, 1.0, 2);
    CHECK(warmup.base_lr() == 0.3);
    CHECK(opt.learning_rate() == 0.3 * 0.5);
    // PyTorch's rules read the optimizer's rate: a rate set from outside carries on.
    SGD<double> opt2({TensorD::vector({1}, true)}, {.lr = 0.3});
    ExponentialLR decay(opt2, 0.5);
    opt2.set_learning_rate(0.8);
    decay.step();
    CHECK(opt2.learning_rate() == 0.4);
    CHECK(decay.last_lr() == 0.4);
  }

  TEST_CASE("MultiStepLR: a milestone 0 applies at construction, as PyTorch's") {
    SGD<double> opt({TensorD::vector({1}, true)}, {.lr = 1});
    MultiStepLR schedule(opt, {0, 2}, 0.5);
    CHECK(opt.learning_rate() == 0.5);
    schedule.step();
    CHECK(opt.learning_rate() == 0.5);
    schedule.step();
    CHECK(opt.learning_rate() == 0.25);
  }

  TEST_CASE("SequentialLR: the base rate is the one the first-made child found, in any order") {
    // A second warmup made first sees 0.1 and sets 0.05; the first warmup, made next, sees 0.05
    // and would take it as its base. PyTorch gives every child the rate the first one found.
    SGD<double> opt({TensorD::vector({1}, true)}, {.lr = kBaseLr});
    auto rewarm = std::make_unique<LinearLR>(opt, 0.5, 1.0, 2);
    auto warmup = std::make_unique<LinearLR>(opt);
    CHECK(warmup->base_lr() == kBaseLr * 0.5);
    std::vector<std::unique_ptr<LRScheduler>> parts;
    parts.push_back(std::move(warmup));
    parts.push_back(std::move(rewarm));
    SequentialLR schedule(opt, std::move(parts), {5});
    CHECK(schedule.base_lr() == kBaseLr);
    CHECK(schedule.scheduler(0).base_lr() == kBaseLr);
    CHECK(schedule.scheduler(1).base_lr() == kBaseLr);
    CHECK(schedule.scheduler(1).epoch() == -1);  // not started
    // Epochs 0-4: LinearLR(1/3, 1, 5) from 0.1; from epoch 5 the second warmup from 0.1:
    // 0.1 * (0.5 + 0.5 * min(e - 5, 2) / 2).
    const std::vector<double> linear = torch_rule_of("LinearLR(1/3, 1, 5)");
    for (int e = 0; e < kEpochs; ++e) {
      INFO("epoch " << e);
      if (e < 5)
        CHECK(opt.learning_rate() == linear[static_cast<std::size_t>(e)]);
      else
        CHECK(opt.learning_rate() ==
              doctest::Approx(kBaseLr * (0.5 + 0.5 * std::min(e - 5, 2) / 2)).epsilon(1e-12));
      CHECK(schedule.last_lr() == opt.learning_rate());
      schedule.step();
    }
    CHECK(schedule.scheduler(0).epoch() == 4);
    CHECK(schedule.scheduler(1).epoch() == 7);  // epochs 5..12 are its 0..7
  }

  TEST_CASE("SequentialLR: three phases, each restarting at its milestone") {
    // lr 1: StepLR(2, 0.5) for epochs 0-2, then ExponentialLR(0.1) from epoch 3 (its epoch 0:
    // base 1), then StepLR(1, 0.5) from epoch 5 (its epoch 0: base 1, then halving):
    //   1, 1, 0.5 | 1, 0.1 | 1, 0.5, 0.25
    SGD<double> opt({TensorD::vector({1}, true)}, {.lr = 1});
    std::vector<std::unique_ptr<LRScheduler>> parts;
    parts.push_back(std::make_unique<StepLR>(opt, 2, 0.5));
    parts.push_back(std::make_unique<ExponentialLR>(opt, 0.1));
    parts.push_back(std::make_unique<StepLR>(opt, 1, 0.5));
    SequentialLR schedule(opt, std::move(parts), {3, 5});
    const std::vector<double> expected = {1, 1, 0.5, 1, 0.1, 1, 0.5, 0.25};
    for (std::size_t e = 0; e < expected.size(); ++e) {
      INFO("epoch " << e);
      CHECK(opt.learning_rate() == expected[e]);
      schedule.step();
    }
  }

  TEST_CASE("ReduceLROnPlateau: min mode, relative threshold, cooldown and min_lr by hand") {
    // lr 1, factor 0.5, patience 2, threshold 0.1 (better: below 0.9 * best), cooldown 1,
    // min_lr 0.2:
    //  epoch 1: 10 better (best 10)          7: 20 bad 1, cooldown 1 -> 0, bad reset to 0
    //        2: 9.5 >= 9 bad 1               8-9: 20 bad 1, 2
    //        3: 8.9 < 9 better (best 8.9)    10: 20 bad 3 > 2: lr 0.25, cooldown 1
    //        4: 9 bad 1 (>= 8.01)            11: 1 better (best 1), cooldown -> 0
    //        5: 8.5 bad 2                    12-13: 5 bad 1, 2
    //        6: 8.1 bad 3 > 2: lr 0.5,       14: bad 3: lr max(0.125, 0.2) = 0.2, cooldown 1
    //           cooldown 1, bad 0            15: bad, cooldown -> 0, bad 0
    //                                        16-18: bad 1, 2, 3: max(0.1, 0.2) = 0.2 is no
    //                                           decrease (0 <= eps): lr stays 0.2
    SGD<double> opt({TensorD::vector({1}, true)}, {.lr = 1});
    ReduceLROnPlateau plateau(opt, {.mode = PlateauMode::min,
                                    .factor = 0.5,
                                    .patience = 2,
                                    .threshold = 0.1,
                                    .cooldown = 1,
                                    .min_lr = 0.2});
    CHECK(plateau.best() == kInf);
    const std::vector<double> metrics = {10, 9.5, 8.9, 9, 8.5, 8.1, 20, 20, 20,
                                         20, 1,   5,   5, 5,   5,   5,  5,  5};
    const std::vector<double> lrs = {1,    1,    1,    1,    1,   0.5, 0.5, 0.5, 0.5,
                                     0.25, 0.25, 0.25, 0.25, 0.2, 0.2, 0.2, 0.2, 0.2};
    for (std::size_t i = 0; i < metrics.size(); ++i) {
      INFO("epoch " << i + 1);
      plateau.step(metrics[i]);
      CHECK(opt.learning_rate() == lrs[i]);
      CHECK(plateau.last_lr() == lrs[i]);
      CHECK(plateau.epoch() == static_cast<std::int64_t>(i + 1));
    }
    CHECK(plateau.best() == 1);
    CHECK(plateau.cooldown_counter() == 1);  // set again by the reduction that changed nothing
    CHECK(plateau.num_bad_epochs() == 0);
  }

  TEST_CASE("ReduceLROnPlateau: max mode with an absolute threshold, and eps") {
    // lr 1, factor 0.1, patience 0, better: above best + 0.5.
    //   1 better (best 1); 1.4 not (<= 1.5): lr 0.1; 2 better (best 2); 2.5 not: lr 0.01.
    SGD<float> opt({tg::TensorF::vector({1}, true)}, {.lr = 1});
    ReduceLROnPlateau plateau(opt, {.mode = PlateauMode::max,
                                    .factor = 0.1,
                                    .patience = 0,
                                    .threshold = 0.5,
                                    .threshold_mode = ThresholdMode::abs});
    CHECK(plateau.best() == -kInf);
    const std::vector<double> metrics = {1, 1.4, 2, 2.5};
    const std::vector<double> lrs = {1, 0.1, 0.1, 0.1 * 0.1};
    for (std::size_t i = 0; i < metrics.size(); ++i) {
      plateau.step(metrics[i]);
      CHECK(opt.learning_rate() == lrs[i]);
    }
    // A reduction by eps or less is skipped: 1e-8 -> 1e-9 lowers the rate by 9e-9 <= 1e-8.
    SGD<double> small({TensorD::vector({1}, true)}, {.lr = 1e-8});
    ReduceLROnPlateau tiny(small, {.patience = 0});
    tiny.step(1);
    tiny.step(1);
    CHECK(small.learning_rate() == 1e-8);
    CHECK(tiny.num_bad_epochs() == 0);
  }

  TEST_CASE("schedules: options out of range are DomainErrors naming the schedule and value") {
    SGD<double> opt({TensorD::vector({1}, true)}, {.lr = 0.5});
    check_error<DomainError>([&] { StepLR s(opt, 0); }, {"StepLR", "step_size", "0"});
    check_error<DomainError>([&] { StepLR s(opt, 2, -0.5); }, {"StepLR", "gamma", "-0.5"});
    check_error<DomainError>([&] { StepLR s(opt, 2, 0); }, {"StepLR", "gamma", "0"});
    check_error<DomainError>([&] { StepLR s(opt, 2, std::nan("")); }, {"StepLR", "gamma", "nan"});
    check_error<DomainError>([&] { ExponentialLR s(opt, 0); }, {"ExponentialLR", "gamma", "0"});
    check_error<DomainError>([&] { ExponentialLR s(opt, kInf); },
                             {"ExponentialLR", "gamma", "inf"});
    check_error<DomainError>(
        [&] {
          MultiStepLR s(opt, {2, 5, 3});
        },
        {"MultiStepLR", "milestones", "increasing", "[2, 5, 3]"});
    check_error<DomainError>(
        [&] {
          MultiStepLR s(opt, {4, 4});
        },
        {"MultiStepLR", "milestones", "[4, 4]"});
    check_error<DomainError>([&] { MultiStepLR s(opt, {4}, -1); }, {"MultiStepLR", "gamma", "-1"});
    check_error<DomainError>([&] { CosineAnnealingLR s(opt, 0); },
                             {"CosineAnnealingLR", "T_max", "0"});
    check_error<DomainError>([&] { CosineAnnealingLR s(opt, 10, -0.1); },
                             {"CosineAnnealingLR", "eta_min", "-0.1"});
    check_error<DomainError>([&] { LinearLR s(opt, 0); }, {"LinearLR", "start_factor", "0"});
    check_error<DomainError>([&] { LinearLR s(opt, 1.5); }, {"LinearLR", "start_factor", "1.5"});
    check_error<DomainError>([&] { LinearLR s(opt, 0.5, 1.25); },
                             {"LinearLR", "end_factor", "1.25"});
    check_error<DomainError>([&] { LinearLR s(opt, 0.5, 1, 0); }, {"LinearLR", "total_iters", "0"});
    check_error<DomainError>([&] { ReduceLROnPlateau s(opt, {.factor = 1}); },
                             {"ReduceLROnPlateau", "factor", "1"});
    check_error<DomainError>([&] { ReduceLROnPlateau s(opt, {.factor = -0.1}); },
                             {"ReduceLROnPlateau", "factor", "-0.1"});
    check_error<DomainError>([&] { ReduceLROnPlateau s(opt, {.threshold = std::nan("")}); },
                             {"ReduceLROnPlateau", "threshold", "nan"});
    check_error<DomainError>([&] { ReduceLROnPlateau s(opt, {.min_lr = -1}); },
                             {"ReduceLROnPlateau", "min_lr", "-1"});
    check_error<DomainError>([&] { ReduceLROnPlateau s(opt, {.eps = kInf}); },
                             {"ReduceLROnPlateau", "eps", "inf"});
    CHECK(opt.learning_rate() == 0.5);  // a refused schedule leaves the rate alone

    ReduceLROnPlateau plateau(opt, {.patience = 0});
    plateau.step(1);
    check_error<DomainError>([&] { plateau.step(std::nan("")); },
                             {"ReduceLROnPlateau", "metric", "nan", "epoch 2"});
    CHECK(plateau.epoch() == 1);
    CHECK(plateau.num_bad_epochs() == 0);
    CHECK(opt.learning_rate() == 0.5);
  }

  TEST_CASE("SequentialLR: a misassembled sequence is a DomainError") {
    SGD<double> opt({TensorD::vector({1}, true)}, {.lr = 0.5});
    SGD<double> other({TensorD::vector({1}, true)}, {.lr = 0.5});
    using Parts = std::vector<std::unique_ptr<LRScheduler>>;
    const auto two = [&](LearningRateControl& second) {
      Parts parts;
      parts.push_back(std::make_unique<LinearLR>(opt));
      parts.push_back(std::make_unique<ExponentialLR>(second, 0.9));
      return parts;
    };
    check_error<DomainError>([&] { SequentialLR s(opt, Parts{}, {}); },
                             {"SequentialLR", "at least one"});
    check_error<DomainError>([&] { SequentialLR s(opt, two(opt), {}); },
                             {"SequentialLR", "2 schedules need 1 milestones, got 0"});
    check_error<DomainError>([&] { SequentialLR s(opt, two(opt), {0}); },
                             {"SequentialLR", "milestones", "from 1", "[0]"});
    check_error<DomainError>([&] { SequentialLR s(opt, two(other), {3}); },
                             {"SequentialLR", "schedule 1", "ExponentialLR", "another optimizer"});
    check_error<DomainError>(
        [&] {
          Parts parts = two(opt);
          parts.push_back(std::make_unique<StepLR>(opt, 2));
          SequentialLR s(opt, std::move(parts), {4, 4});
        },
        {"SequentialLR", "milestones", "increasing", "[4, 4]"});
    check_error<DomainError>(
        [&] {
          Parts parts = two(opt);
          parts[1] = nullptr;
          SequentialLR s(opt, std::move(parts), {3});
        },
        {"SequentialLR", "schedule 1", "null"});
    check_error<DomainError>(
        [&] {
          Parts parts;
          parts.push_back(
              std::make_unique<SequentialLR>(opt, two(opt), std::vector<std::size_t>{3}));
          SequentialLR s(opt, std::move(parts), {});
        },
        {"SequentialLR", "schedule 0", "is a SequentialLR"});
  }

  TEST_CASE_TEMPLATE("schedules: 5 epochs, saved, resumed into a new optimizer: 10 epochs exactly",
                     T, float, double) {
    for (const ScheduleCase& c : schedule_cases()) {
      INFO(c.name);
      // Straight through.
      auto p = tg::Tensor<T>::vector({T(1), T(-2)}, true);
      SGD<T> opt({p}, {.lr = kBaseLr});
      const auto schedule = c.make(opt);
      std::vector<double> straight;
      for (int e = 0; e < 10; ++e) straight.push_back(run_epoch(opt, p, *schedule));

      // Stopped after 5 epochs: the parameters and the schedule's state are what is saved.
      auto q = tg::Tensor<T>::vector({T(1), T(-2)}, true);
      std::vector<double> resumed;
      StateDict state;
      {
        SGD<T> opt1({q}, {.lr = kBaseLr});
        const auto first = c.make(opt1);
        for (int e = 0; e < 5; ++e) resumed.push_back(run_epoch(opt1, q, *first));
        state = first->state_dict();
      }
      auto r = tg::Tensor<T>::from_vector(q.shape(), q.to_vector(), true);
      SGD<T> opt2({r}, {.lr = kBaseLr});
      const auto second = c.make(opt2);
      second->load_state_dict(state);
      CHECK(same_bits(second->state_dict(), state));
      for (int e = 5; e < 10; ++e) resumed.push_back(run_epoch(opt2, r, *second));

      CHECK(resumed == straight);
      CHECK(r.to_vector() == p.to_vector());
      CHECK(same_bits(second->state_dict(), schedule->state_dict()));
      CHECK(opt2.learning_rate() == opt.learning_rate());
    }
  }

  TEST_CASE("SequentialLR: the state names each child's position, and survives an .npz file") {
    SGD<double> opt({TensorD::vector({1}, true)}, {.lr = kBaseLr});
    const auto schedule = warmup_then_cosine(opt);
    for (int e = 0; e < 7; ++e) schedule->step();
    const StateDict state = schedule->state_dict();
    std::vector<std::string> names;
    for (const auto& [name, value] : state) {
      names.push_back(name);
      CHECK(value.ndim() == 0);
    }
    CHECK(names == std::vector<std::string>{"last_epoch", "base_lr", "last_lr",
                                            "schedulers.0.last_epoch", "schedulers.0.base_lr",
                                            "schedulers.0.last_lr", "schedulers.1.last_epoch",
                                            "schedulers.1.base_lr", "schedulers.1.last_lr"});
    CHECK(state[0].second.item() == 7);
    CHECK(state[3].second.item() == 4);  // the warmup stopped at its epoch 4
    CHECK(state[6].second.item() == 2);  // the cosine is at its epoch 7 - 5

    TempDir dir;
    const std::string path = dir.file("schedule.npz");
    tg::nn::save_npz(path, state);
    SGD<double> opt2({TensorD::vector({1}, true)}, {.lr = kBaseLr});
    const auto resumed = warmup_then_cosine(opt2);
    resumed->load_state_dict(tg::nn::load_npz<double>(path));
    CHECK(opt2.learning_rate() == opt.learning_rate());
    for (int e = 7; e < kEpochs; ++e) {
      schedule->step();
      resumed->step();
      CHECK(opt2.learning_rate() == opt.learning_rate());
    }
  }

  TEST_CASE("ReduceLROnPlateau: counters, best and rate resume exactly") {
    const std::vector<double> metrics = {5, 4, 4.5, 4.2, 4.1, 4.3, 3, 3.5, 3.4, 3.6};
    const PlateauOptions options{.factor = 0.5, .patience = 1, .cooldown = 2};
    SGD<float> opt({tg::TensorF::vector({1}, true)}, {.lr = 1});
    ReduceLROnPlateau straight(opt, options);
    std::vector<double> lrs;
    for (const double m : metrics) {
      straight.step(m);
      lrs.push_back(opt.learning_rate());
    }
    CHECK(lrs.back() < 1);  // the sequence reduces the rate at least once

    SGD<float> opt1({tg::TensorF::vector({1}, true)}, {.lr = 1});
    ReduceLROnPlateau first(opt1, options);
    std::vector<double> resumed;
    for (std::size_t i = 0; i < 5; ++i) {
      first.step(metrics[i]);
      resumed.push_back(opt1.learning_rate());
    }
    SGD<float> opt2({tg::TensorF::vector({1}, true)}, {.lr = 1});
    ReduceLROnPlateau second(opt2, options);
    second.load_state_dict(first.state_dict());
    CHECK(second.best() == first.best());
    CHECK(second.num_bad_epochs() == first.num_bad_epochs());
    CHECK(second.cooldown_counter() == first.cooldown_counter());
    CHECK(opt2.learning_rate() == opt1.learning_rate());
    for (std::size_t i = 5; i < metrics.size(); ++i) {
      second.step(metrics[i]);
      resumed.push_back(opt2.learning_rate());
    }
    CHECK(resumed == lrs);
    CHECK(same_bits(second.state_dict(), straight.state_dict()));
  }

  TEST_CASE("schedules: a bad state is a SerializeError naming the entry, and changes nothing") {
    SGD<double> opt({TensorD::vector({1}, true)}, {.lr = kBaseLr});
    StepLR schedule(opt, 2);
    for (int e = 0; e < 3; ++e) schedule.step();
    const StateDict good = schedule.state_dict();
    SGD<double> opt2({TensorD::vector({1}, true)}, {.lr = 0.7});
    StepLR target(opt2, 2);
    const StateDict before = target.state_dict();
    const auto refused = [&](const StateDict& bad, std::vector<std::string> parts) {
      check_error<SerializeError>([&] { target.load_state_dict(bad); }, parts);
      CHECK(same_bits(target.state_dict(), before));
      CHECK(opt2.learning_rate() == 0.7);
    };
    refused(without_entry(good, "base_lr"), {"StepLR", "'base_lr'", "missing"});
    StateDict extra = good;
    extra.emplace_back("momentum", TensorD::scalar(0.9));
    refused(extra, {"StepLR", "'momentum'", "not part"});
    StateDict twice = good;
    twice.push_back(good[0]);
    refused(twice, {"StepLR", "'last_epoch'", "twice"});
    refused(with_entry(good, "last_lr", TensorD::vector({0.1, 0.2})),
            {"StepLR", "'last_lr'", "[2]", "scalar"});
    refused(with_entry(good, "last_epoch", TensorD::scalar(2.5)),
            {"StepLR", "'last_epoch'", "2.5", "whole number"});
    refused(with_entry(good, "last_epoch", TensorD::scalar(-1)), {"StepLR", "'last_epoch'", "-1"});
    refused(with_entry(good, "last_lr", TensorD::scalar(-0.1)), {"StepLR", "'last_lr'", "-0.1"});
    refused(with_entry(good, "base_lr", TensorD::scalar(kInf)), {"StepLR", "'base_lr'", "inf"});
    refused(with_entry(good, "base_lr", TensorD()), {"StepLR", "'base_lr'", "undefined"});
    target.load_state_dict(good);
    CHECK(same_bits(target.state_dict(), good));
    CHECK(opt2.learning_rate() == schedule.last_lr());

    // A composite checks every child's entries before restoring any.
    SGD<double> opt3({TensorD::vector({1}, true)}, {.lr = kBaseLr});
    const auto sequence = warmup_then_cosine(opt3);
    for (int e = 0; e < 6; ++e) sequence->step();
    const StateDict seq_good = sequence->state_dict();
    SGD<double> opt4({TensorD::vector({1}, true)}, {.lr = kBaseLr});
    const auto seq_target = warmup_then_cosine(opt4);
    const StateDict seq_before = seq_target->state_dict();
    const double lr_before = opt4.learning_rate();
    check_error<SerializeError>(
        [&] {
          seq_target->load_state_dict(
              with_entry(seq_good, "schedulers.1.last_epoch", TensorD::scalar(-2)));
        },
        {"SequentialLR", "'schedulers.1.last_epoch'", "-2"});
    check_error<SerializeError>(
        [&] { seq_target->load_state_dict(without_entry(seq_good, "schedulers.1.last_lr")); },
        {"SequentialLR", "'schedulers.1.last_lr'", "missing"});
    CHECK(same_bits(seq_target->state_dict(), seq_before));
    CHECK(opt4.learning_rate() == lr_before);

    SGD<double> opt5({TensorD::vector({1}, true)}, {.lr = kBaseLr});
    ReduceLROnPlateau plateau(opt5);
    const StateDict plateau_good = plateau.state_dict();
    check_error<SerializeError>(
        [&] {
          plateau.load_state_dict(with_entry(plateau_good, "best", TensorD::scalar(std::nan(""))));
        },
        {"ReduceLROnPlateau", "'best'", "nan"});
    check_error<SerializeError>(
        [&] {
          plateau.load_state_dict(with_entry(plateau_good, "num_bad_epochs", TensorD::scalar(0.5)));
        },
        {"ReduceLROnPlateau", "'num_bad_epochs'", "0.5"});
    check_error<SerializeError>(
        [&] { plateau.load_state_dict(without_entry(plateau_good, "cooldown_counter")); },
        {"ReduceLROnPlateau", "'cooldown_counter'", "missing"});
    CHECK(same_bits(plateau.state_dict(), plateau_good));
  }
}
