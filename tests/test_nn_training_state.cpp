// Resumable training state: every optimizer's state_dict (what it holds, by parameter index, and
// that loading it into a fresh optimizer continues exactly), load_state_dict's checks (each
// refusal names the entry and changes nothing), and save/load_training_state's one archive for
// model, optimizer and schedule. tests/resume_training.cpp does the same across two processes.
#include <doctest/doctest.h>

#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "check_error.hpp"
#include "tapegrad/nn/layers.hpp"
#include "tapegrad/nn/module.hpp"
#include "tapegrad/nn/optim.hpp"
#include "tapegrad/nn/parameters.hpp"
#include "tapegrad/nn/serialize.hpp"
#include "tapegrad/nn/training_state.hpp"
#include "tapegrad/ops.hpp"
#include "temp_dir.hpp"

namespace nn = tg::nn;
using tg::TensorD;
using tg::TensorF;

namespace {

std::vector<std::string> names_of(const nn::StateDict& state) {
  std::vector<std::string> out;
  for (const auto& [name, tensor] : state) out.push_back(name);
  return out;
}

const TensorD& entry(const nn::StateDict& state, const std::string& name) {
  for (const auto& [n, tensor] : state)
    if (n == name) return tensor;
  FAIL("no entry " << name);
  static const TensorD none;
  return none;
}

// Same names, shapes and values, bit for bit.
void check_same_state(const nn::StateDict& a, const nn::StateDict& b) {
  REQUIRE(names_of(a) == names_of(b));
  for (std::size_t k = 0; k < a.size(); ++k) {
    INFO("entry " << a[k].first);
    CHECK(a[k].second.shape() == b[k].second.shape());
    CHECK(a[k].second.to_vector() == b[k].second.to_vector());
  }
}

nn::StateDict without(nn::StateDict state, const std::string& name) {
  std::erase_if(state, [&](const auto& e) { return e.first == name; });
  return state;
}

nn::StateDict replaced(nn::StateDict state, const std::string& name, const TensorD& value) {
  for (auto& [n, tensor] : state)
    if (n == name) tensor = value;
  return state;
}

// loss = sum(c * p) + 0.5 sum(p^2) with c = [0.5, -3]: gradient c + p, different on every step.
template <class T> void backward_mixed(tg::Tensor<T>& p) {
  const auto c = tg::Tensor<T>::vector({T(0.5), T(-3)});
  (tg::sum(tg::mul(c, p)) + tg::sum(tg::mul(p, p)) * T(0.5)).backward();
}

using MakeOptimizer = std::function<std::unique_ptr<nn::Optimizer<double>>(std::vector<TensorD>)>;

struct OptimizerKind {
  const char* name;
  MakeOptimizer make;
};

std::vector<OptimizerKind> every_optimizer() {
  return {
      {"SGD with momentum and Nesterov",
       [](std::vector<TensorD> p) {
         return std::make_unique<nn::SGD<double>>(
             std::move(p), nn::SgdOptions{.lr = 0.1, .momentum = 0.9, .nesterov = true});
       }},
      {"Adam",
       [](std::vector<TensorD> p) {
         return std::make_unique<nn::Adam<double>>(std::move(p), nn::AdamOptions{.lr = 0.1});
       }},
      {"AdamW",
       [](std::vector<TensorD> p) {
         return std::make_unique<nn::AdamW<double>>(
             std::move(p), nn::AdamWOptions{.lr = 0.1, .weight_decay = 0.1});
       }},
      {"RMSprop centered with momentum",
       [](std::vector<TensorD> p) {
         return std::make_unique<nn::RMSprop<double>>(
             std::move(p), nn::RmspropOptions{.lr = 0.01, .momentum = 0.5, .centered = true});
       }},
  };
}

// A learning-rate schedule stand-in: its state is one step counter.
class CountingSchedule : public nn::Stateful {
 public:
  double steps = 0;
  nn::StateDict state_dict() const override { return {{"steps", TensorD::scalar(steps)}}; }
  void load_state_dict(const nn::StateDict& state) override {
    if (state.size() != 1 || state[0].first != "steps" || state[0].second.ndim() != 0)
      throw nn::SerializeError("CountingSchedule.load_state_dict: expected one entry steps");
    steps = state[0].second.item();
  }
};

nn::Sequential<double> small_model(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  return nn::mlp<double>({2, 3, 1}, nn::Activation::tanh, nn::Activation::identity,
                         nn::Init::uniform(0.5), rng);
}

void train_steps(nn::Module<double>& model, nn::Optimizer<double>& opt, int steps) {
  const auto X = TensorD::matrix({{1, 2}, {-1, 0.5}, {0.25, -2}});
  const auto y = TensorD::matrix({{1}, {0}, {-1}});
  for (int s = 0; s < steps; ++s) {
    opt.zero_grad();
    tg::mse(model(X), y).backward();
    opt.step();
  }
}

}  // namespace

TEST_SUITE("nn.training_state") {
  TEST_CASE(
      "Adam's state_dict: lr, step and moments by index, only a step for an unstepped parameter") {
    // Two Adam steps on loss 0.5 p^2 from p = [1, -2] (lr 0.1; the moments as in the Adam test):
    //   m = 0.9 * 0.1 g1 + 0.1 g2 with g1 = [1, -2], g2 = [0.9, -1.9]: [0.18, -0.37];
    //   v = 0.999 * 0.001 g1^2 + 0.001 g2^2 = [0.001809, 0.007606].
    auto p = TensorD::vector({1, -2}, true);
    auto idle = TensorD::zeros({2, 2}, true);
    nn::Adam<double> opt({p, idle}, {.lr = 0.1});
    for (int s = 0; s < 2; ++s) {
      opt.zero_grad();
      (tg::sum(tg::mul(p, p)) * 0.5).backward();
      opt.step();
    }
    const nn::StateDict state = opt.state_dict();
    CHECK(names_of(state) ==
          std::vector<std::string>{"lr", "0.step", "0.exp_avg", "0.exp_avg_sq", "1.step"});
    CHECK(entry(state, "lr").ndim() == 0);
    CHECK(entry(state, "lr").item() == 0.1);
    CHECK(entry(state, "0.step").item() == 2);
    CHECK(entry(state, "1.step").item() == 0);
    const auto m = entry(state, "0.exp_avg").to_vector();
    const auto v = entry(state, "0.exp_avg_sq").to_vector();
    CHECK(m[0] == doctest::Approx(0.18).epsilon(1e-8));
    CHECK(m[1] == doctest::Approx(-0.37).epsilon(1e-8));
    CHECK(v[0] == doctest::Approx(0.001809).epsilon(1e-8));
    CHECK(v[1] == doctest::Approx(0.007606).epsilon(1e-8));
  }

  TEST_CASE("SGD's and RMSprop's state_dict entries") {
    // SGD, lr 0.1, momentum 0.9, gradient c = [0.5, -3] + p: buffer after one step = g1.
    auto p = TensorD::vector({1, -2}, true);
    auto idle = TensorD::vector({3}, true);
    nn::SGD<double> sgd({p, idle}, {.lr = 0.1, .momentum = 0.9});
    backward_mixed(p);
    sgd.step();
    nn::StateDict state = sgd.state_dict();
    CHECK(names_of(state) == std::vector<std::string>{"lr", "0.momentum_buffer"});
    CHECK(entry(state, "0.momentum_buffer").to_vector() == std::vector<double>{1.5, -5});
    nn::SGD<double> plain({p}, {.lr = 0.1});
    plain.step();
    CHECK(names_of(plain.state_dict()) == std::vector<std::string>{"lr"});

    // RMSprop: s = 0.01 g^2, a = 0.01 g after one step, g = c + p = [1.5, -5].
    auto q = TensorD::vector({1, -2}, true);
    nn::RMSprop<double> rms({q, idle}, {.momentum = 0.5, .centered = true});
    backward_mixed(q);
    rms.step();
    state = rms.state_dict();
    CHECK(names_of(state) == std::vector<std::string>{"lr", "0.step", "0.square_avg",
                                                      "0.momentum_buffer", "0.grad_avg", "1.step"});
    CHECK(entry(state, "0.square_avg").to_vector()[1] == doctest::Approx(0.25).epsilon(1e-12));
    CHECK(entry(state, "0.grad_avg").to_vector()[0] == doctest::Approx(0.015).epsilon(1e-12));
    nn::RMSprop<double> rms_plain({q});
    rms_plain.step();
    CHECK(names_of(rms_plain.state_dict()) ==
          std::vector<std::string>{"lr", "0.step", "0.square_avg"});
  }

  TEST_CASE("a state loaded into a fresh optimizer continues exactly, unstepped parameters too") {
    for (const OptimizerKind& kind : every_optimizer()) {
      INFO(kind.name);
      // `late` gets its first gradient only after the state has moved over.
      auto p = TensorD::vector({1, -2}, true);
      auto late = TensorD::vector({0.5, 0.25}, true);
      auto opt = kind.make({p, late});
      auto run = [](nn::Optimizer<double>& o, TensorD& a, TensorD* b, int steps) {
        for (int s = 0; s < steps; ++s) {
          o.zero_grad();
          backward_mixed(a);
          if (b) backward_mixed(*b);
          o.step();
        }
      };
      run(*opt, p, nullptr, 3);
      opt->set_learning_rate(0.05);  // a schedule's change travels with the state

      auto p2 = TensorD::vector({1, -2}, true);
      auto late2 = TensorD::vector({0.5, 0.25}, true);
      std::copy(p.data(), p.data() + 2, p2.data());
      auto resumed = kind.make({p2, late2});
      resumed->load_state_dict(opt->state_dict());
      CHECK(resumed->learning_rate() == 0.05);
      check_same_state(resumed->state_dict(), opt->state_dict());

      // Without the state the same start goes elsewhere, so the comparison below can fail.
      auto p3 = TensorD::vector({1, -2}, true);
      auto late3 = TensorD::vector({0.5, 0.25}, true);
      std::copy(p.data(), p.data() + 2, p3.data());
      auto fresh = kind.make({p3, late3});
      fresh->set_learning_rate(0.05);

      run(*opt, p, &late, 3);
      run(*resumed, p2, &late2, 3);
      run(*fresh, p3, &late3, 3);
      CHECK(p2.to_vector() == p.to_vector());
      CHECK(late2.to_vector() == late.to_vector());
      check_same_state(resumed->state_dict(), opt->state_dict());
      CHECK(p3.to_vector() != p.to_vector());
    }
  }

  TEST_CASE("a state loaded at 2^53 - 1 steps still loads after one more step") {
    // 2^53 is the last count a double holds exactly, and what one step from 2^53 - 1 saves.
    constexpr double kLast = 9007199254740992.0;
    auto p = TensorD::vector({1, -2}, true);
    nn::Adam<double> adam({p}, {.lr = 0.1});
    adam.load_state_dict({{"lr", TensorD::scalar(0.1)},
                          {"0.step", TensorD::scalar(kLast - 1)},
                          {"0.exp_avg", TensorD::vector({0.1, -0.2})},
                          {"0.exp_avg_sq", TensorD::vector({0.01, 0.04})}});
    backward_mixed(p);
    adam.step();
    const nn::StateDict saved = adam.state_dict();
    CHECK(entry(saved, "0.step").item() == kLast);
    nn::Adam<double> resumed({p}, {.lr = 0.1});
    resumed.load_state_dict(saved);
    CHECK(resumed.step_count(0) == std::size_t{1} << 53);
    check_same_state(resumed.state_dict(), saved);
    // Beyond 2^53 a count is no longer exact; the message shows the count in full.
    check_error<nn::SerializeError>(
        [&] { resumed.load_state_dict(replaced(saved, "0.step", TensorD::scalar(2 * kLast))); },
        {"entry 0.step holds 18014398509481984", "from 0 to 2^53"});
  }

  TEST_CASE("load_state_dict refuses a bad state naming the entry, and changes nothing") {
    auto p = TensorD::vector({1, -2}, true);
    auto idle = TensorD::vector({3}, true);
    nn::Adam<double> adam({p, idle}, {.lr = 0.1});
    backward_mixed(p);
    adam.step();
    const nn::StateDict good = adam.state_dict();
    nn::Adam<double> target({p, idle}, {.lr = 0.2});
    const nn::StateDict before = target.state_dict();
    auto refused = [&](const nn::StateDict& state, const std::vector<std::string>& parts) {
      check_error<nn::SerializeError>([&] { target.load_state_dict(state); }, parts);
      CHECK(target.learning_rate() == 0.2);
      check_same_state(target.state_dict(), before);
    };
    refused(without(good, "lr"), {"Adam.load_state_dict", "no entry lr"});
    refused(without(good, "1.step"), {"Adam.load_state_dict", "no entry 1.step"});
    refused(without(good, "0.exp_avg_sq"),
            {"no entry 0.exp_avg_sq", "parameter 0 has taken 1 steps"});
    refused(replaced(good, "0.exp_avg", TensorD::zeros({3})),
            {"entry 0.exp_avg has shape [3]", "parameter 0 has shape [2]"});
    refused(replaced(good, "lr", TensorD::vector({0.1})), {"entry lr has shape [1]", "0-d"});
    refused(replaced(good, "lr", TensorD::scalar(-1)), {"entry lr", "invalid learning rate -1"});
    refused(replaced(good, "0.step", TensorD::scalar(1.5)), {"entry 0.step holds 1.5"});
    refused(replaced(good, "0.step", TensorD::scalar(-1)), {"entry 0.step holds -1"});
    // A step count of 0 with moments present: they belong to a parameter that has stepped.
    refused(replaced(good, "0.step", TensorD::scalar(0)),
            {"unexpected entry 0.exp_avg [2]", "parameter 0 has taken 0 steps"});
    nn::StateDict extra = good;
    extra.emplace_back("2.step", TensorD::scalar(1));
    refused(extra, {"unknown entry 2.step"});
    nn::StateDict twice = good;
    twice.emplace_back("lr", TensorD::scalar(0.1));
    refused(twice, {"entry lr appears twice"});

    // SGD: a momentum buffer where there is no momentum; RMSprop: a missing grad_avg.
    nn::SGD<double> sgd_momentum({p}, {.lr = 0.1, .momentum = 0.9});
    backward_mixed(p);
    sgd_momentum.step();
    nn::SGD<double> sgd_plain({p}, {.lr = 0.1});
    check_error<nn::SerializeError>(
        [&] { sgd_plain.load_state_dict(sgd_momentum.state_dict()); },
        {"SGD.load_state_dict", "unexpected entry 0.momentum_buffer [2]", "momentum 0"});
    nn::RMSprop<double> rms_plain({p});
    rms_plain.step();
    nn::RMSprop<double> rms_centered({p}, {.centered = true});
    check_error<nn::SerializeError>([&] { rms_centered.load_state_dict(rms_plain.state_dict()); },
                                    {"RMSprop.load_state_dict", "no entry 0.grad_avg", "centered"});
    CHECK(rms_centered.step_count(0) == 0);
    nn::AdamW<double> adamw({p});
    check_error<nn::SerializeError>([&] { adamw.load_state_dict(good); },
                                    {"AdamW.load_state_dict", "unknown entry 1.step"});
  }

  TEST_CASE("float optimizers round-trip their state exactly through float64") {
    auto p = TensorF::vector({1, -2}, true);
    nn::Adam<float> opt({p}, {.lr = 0.1f});
    for (int s = 0; s < 3; ++s) {
      opt.zero_grad();
      backward_mixed(p);
      opt.step();
    }
    auto q = TensorF::vector({1, -2}, true);
    std::copy(p.data(), p.data() + 2, q.data());
    nn::Adam<float> resumed({q}, {.lr = 0.1f});
    resumed.load_state_dict(opt.state_dict());
    for (int s = 0; s < 3; ++s) {
      opt.zero_grad();
      resumed.zero_grad();
      backward_mixed(p);
      backward_mixed(q);
      opt.step();
      resumed.step();
    }
    CHECK(q.to_vector() == p.to_vector());
    check_same_state(resumed.state_dict(), opt.state_dict());
  }

  TEST_CASE("save/load_training_state: one archive, prefixed members, an exact resume") {
    TempDir dir;
    const std::string path = dir.file("run.npz");
    auto model = small_model(1);
    nn::Adam<double> opt(model.parameters(), {.lr = 0.05});
    CountingSchedule schedule;
    train_steps(model, opt, 3);
    schedule.steps = 3;
    nn::save_training_state(path, model, opt, &schedule);

    std::vector<std::string> members;
    for (const auto& [name, tensor] : nn::load_npz<double>(path)) members.push_back(name);
    CHECK(members == std::vector<std::string>{
                         "model.0.W", "model.0.b", "model.2.W", "model.2.b", "optimizer.lr",
                         "optimizer.0.step", "optimizer.0.exp_avg", "optimizer.0.exp_avg_sq",
                         "optimizer.1.step", "optimizer.1.exp_avg", "optimizer.1.exp_avg_sq",
                         "optimizer.2.step", "optimizer.2.exp_avg", "optimizer.2.exp_avg_sq",
                         "optimizer.3.step", "optimizer.3.exp_avg", "optimizer.3.exp_avg_sq",
                         "schedule.steps"});

    auto other = small_model(2);  // other initial values: the load must overwrite them
    CHECK(nn::flatten(other.parameters()) != nn::flatten(model.parameters()));
    nn::Adam<double> other_opt(other.parameters(), {.lr = 0.05});
    CountingSchedule other_schedule;
    nn::load_training_state(path, other, other_opt, &other_schedule);
    CHECK(other_schedule.steps == 3);
    CHECK(nn::flatten(other.parameters()) == nn::flatten(model.parameters()));
    check_same_state(other_opt.state_dict(), opt.state_dict());
    train_steps(model, opt, 2);
    train_steps(other, other_opt, 2);
    CHECK(nn::flatten(other.parameters()) == nn::flatten(model.parameters()));

    // Without a schedule: no schedule members.
    nn::save_training_state(path, model, opt);
    for (const auto& [name, tensor] : nn::load_npz<double>(path))
      CHECK(name.rfind("schedule.", 0) == std::string::npos);
  }

  TEST_CASE("a float model's training state round-trips exactly") {
    TempDir dir;
    std::mt19937_64 rng(3);
    auto model = nn::mlp<float>({2, 3, 1}, nn::Activation::tanh, nn::Activation::identity,
                                nn::Init::uniform(0.5), rng);
    auto other = nn::mlp<float>({2, 3, 1}, nn::Activation::tanh, nn::Activation::identity,
                                nn::Init::uniform(0.5), rng);
    nn::AdamW<float> opt(model.parameters(), {.lr = 0.05f});
    nn::AdamW<float> other_opt(other.parameters(), {.lr = 0.05f});
    const auto X = TensorF::matrix({{1, 2}, {-1, 0.5f}});
    const auto y = TensorF::matrix({{1}, {0}});
    tg::mse(model(X), y).backward();
    opt.step();
    nn::save_training_state(dir.file("f.npz"), model, opt);
    nn::load_training_state(dir.file("f.npz"), other, other_opt);
    CHECK(nn::flatten(other.parameters()) == nn::flatten(model.parameters()));
    check_same_state(other_opt.state_dict(), opt.state_dict());
  }

  TEST_CASE("a model's buffers (BatchNorm1d's running statistics) are part of its training state") {
    TempDir dir;
    auto make = [](std::uint64_t seed) {
      std::mt19937_64 rng(seed);
      nn::Sequential<double> net;
      net.emplace<nn::Linear<double>>(2, 3, nn::Init::uniform(0.5), rng);
      net.emplace<nn::BatchNorm1d<double>>(3);
      return net;
    };
    auto model = make(5), other = make(6);
    nn::SGD<double> opt(model.parameters(), {.lr = 0.1});
    nn::SGD<double> other_opt(other.parameters(), {.lr = 0.1});
    const auto X = TensorD::matrix({{1, 2}, {-1, 0.5}, {0.25, -2}});
    tg::sum(model(X)).backward();  // a training-mode forward moves the running statistics
    opt.step();
    nn::save_training_state(dir.file("bn.npz"), model, opt);
    nn::load_training_state(dir.file("bn.npz"), other, other_opt);
    const auto buffers = model.named_buffers(), loaded = other.named_buffers();
    REQUIRE(buffers.size() == loaded.size());
    REQUIRE(buffers.size() >= 2);
    for (std::size_t i = 0; i < buffers.size(); ++i) {
      CAPTURE(buffers[i].name);
      CHECK(loaded[i].name == buffers[i].name);
      CHECK(nn::flatten(std::vector<TensorD>{loaded[i].tensor}) ==
            nn::flatten(std::vector<TensorD>{buffers[i].tensor}));
    }
    // The running mean moved away from its initial zeros, so equality above is not trivial.
    CHECK(nn::flatten(std::vector<TensorD>{buffers[0].tensor}) != std::vector<double>(3, 0.0));
  }

  TEST_CASE("load_training_state is all or nothing") {
    TempDir dir;
    const std::string path = dir.file("run.npz");
    auto model = small_model(1);
    nn::Adam<double> opt(model.parameters(), {.lr = 0.05});
    train_steps(model, opt, 2);
    CountingSchedule schedule;
    schedule.steps = 2;
    nn::save_training_state(path, model, opt, &schedule);

    auto target = small_model(2);
    nn::Adam<double> target_opt(target.parameters(), {.lr = 0.01});
    train_steps(target, target_opt, 1);
    CountingSchedule target_schedule;
    const std::vector<double> params_before = nn::flatten(target.parameters());
    const nn::StateDict opt_before = target_opt.state_dict();
    auto unchanged = [&] {
      CHECK(nn::flatten(target.parameters()) == params_before);
      check_same_state(target_opt.state_dict(), opt_before);
      CHECK(target_schedule.steps == 0);
    };

    SUBCASE("schedule members and no schedule to take them") {
      check_error<nn::SerializeError>(
          [&] { nn::load_training_state(path, target, target_opt); },
          {"load_training_state", path, "schedule.steps", "no schedule was given"});
      unchanged();
    }
    SUBCASE("a model of another shape") {
      std::mt19937_64 rng(4);
      auto wide = nn::mlp<double>({2, 4, 1}, nn::Activation::tanh, nn::Activation::identity,
                                  nn::Init::uniform(0.5), rng);
      nn::Adam<double> wide_opt(wide.parameters());
      const std::vector<double> wide_before = nn::flatten(wide.parameters());
      check_error<nn::SerializeError>(
          [&] { nn::load_training_state(path, wide, wide_opt, &target_schedule); },
          {"load_training_state", "model.0.W", "[2,3]", "[2,4]"});
      CHECK(nn::flatten(wide.parameters()) == wide_before);
      CHECK(wide_opt.step_count(0) == 0);
    }
    SUBCASE("an optimizer built with other options") {
      nn::RMSprop<double> rms(target.parameters());
      check_error<nn::SerializeError>(
          [&] { nn::load_training_state(path, target, rms, &target_schedule); },
          {"RMSprop.load_state_dict"});
      unchanged();
    }
    SUBCASE("the schedule refuses after the optimizer loaded: the optimizer is put back") {
      nn::save_npz<double>(path, [&] {
        nn::StateDict arrays;
        for (const auto& [name, tensor] : nn::load_npz<double>(path))
          arrays.emplace_back(name == "schedule.steps" ? "schedule.epoch" : name, tensor);
        return arrays;
      }());
      check_error<nn::SerializeError>(
          [&] { nn::load_training_state(path, target, target_opt, &target_schedule); },
          {"CountingSchedule.load_state_dict"});
      unchanged();
    }
    SUBCASE("a member that belongs to nobody") {
      nn::StateDict arrays = nn::load_npz<double>(path);
      arrays.emplace_back("notes", TensorD::zeros({2}));
      nn::save_npz<double>(path, arrays);
      check_error<nn::SerializeError>(
          [&] { nn::load_training_state(path, target, target_opt, &target_schedule); },
          {"load_training_state", "member notes [2]"});
      unchanged();
    }
    SUBCASE("a missing and an extra model member") {
      nn::StateDict arrays = nn::load_npz<double>(path);
      arrays.emplace_back("model.4.W", TensorD::zeros({1}));
      nn::save_npz<double>(path, arrays);
      check_error<nn::SerializeError>(
          [&] { nn::load_training_state(path, target, target_opt, &target_schedule); },
          {"load_training_state", "model.4.W", "does not have"});
      unchanged();
      nn::save_npz<double>(path, without(arrays, "model.2.b"));
      check_error<nn::SerializeError>(
          [&] { nn::load_training_state(path, target, target_opt, &target_schedule); },
          {"load_training_state", "no member model.2.b"});
      unchanged();
    }
    SUBCASE("a missing file") {
      CHECK_THROWS_AS(nn::load_training_state(dir.file("none.npz"), target, target_opt),
                      nn::SerializeError);
      unchanged();
    }
  }
}
