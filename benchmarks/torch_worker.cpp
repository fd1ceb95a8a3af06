// The libtorch C++ implementation (Debian's libtorch-dev), a worker process of tapegrad_bench:
// the same graphs with autograd, written the way a libtorch user writes them (addmm for a dense
// layer, as torch::nn::Linear does; torch's fused losses; torch::optim::SGD; randperm +
// index_select minibatches).
//
//   bench_torch_worker --threads N     (speaks the protocol of bench_common.hpp on stdin/stdout)
//
// Kept in its own executable and translation unit: <torch/torch.h> takes about 16 s to compile,
// and a separate process keeps torch's OpenMP threads and allocator away from the others.
#include <torch/torch.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include "bench_common.hpp"

namespace bench {
namespace {

torch::Tensor from(const std::vector<double>& v, std::vector<int64_t> shape, torch::Dtype dt) {
  auto t = torch::from_blob(const_cast<double*>(v.data()), shape, torch::kDouble);
  return t.to(dt, /*non_blocking=*/false, /*copy=*/true);
}

void append(std::vector<double>& out, const torch::Tensor& t) {
  const auto d = t.detach().to(torch::kDouble).contiguous();
  const double* p = d.data_ptr<double>();
  out.insert(out.end(), p, p + d.numel());
}

class TorchMlp final : public Runner {
 public:
  TorchMlp(const Problem& p, torch::Dtype dt) : p_(p.without_data()) {
    const auto L = int64_t(p.layers());
    for (int64_t l = 0; l < L; ++l) {
      const auto in = int64_t(p.sizes[l]), out = int64_t(p.sizes[l + 1]);
      W_.push_back(from(p.W[l], {in, out}, dt).requires_grad_(true));
      b_.push_back(from(p.b[l], {out}, dt).requires_grad_(true));
      params_.push_back(W_.back());
      params_.push_back(b_.back());
    }
    X_ = from(p.X, {int64_t(p.n), int64_t(p.sizes[0])}, dt);
    if (!p.Y.empty()) Y_ = from(p.Y, {int64_t(p.n), int64_t(p.sizes.back())}, dt);
    if (!p.labels.empty())
      labels_ =
          torch::from_blob(const_cast<int64_t*>(p.labels.data()), {int64_t(p.n)}, torch::kLong)
              .clone();
    opt_ = std::make_unique<torch::optim::SGD>(params_, torch::optim::SGDOptions(p.lr));
  }

  void run() override {
    switch (p_.mode) {
      case Mode::step:
        step(X_, Y_, labels_);
        break;
      case Mode::grad: {
        opt_->zero_grad();
        auto J = loss(forward(X_), Y_, labels_);
        J.backward();
        if (capture_) loss_ = J.item<double>();
        break;
      }
      case Mode::epoch:
        epoch(p_.n);
        break;
      case Mode::chain:
        break;
    }
  }

  void warmup() override {
    if (p_.mode == Mode::epoch)
      epoch(std::min(p_.n, 10 * p_.batch));
    else
      Runner::warmup();
  }

  void run_partial(std::size_t units) override {
    if (p_.mode == Mode::epoch)
      epoch(std::min(p_.n, units * p_.batch));
    else
      Runner::run_partial(units);
  }

  std::vector<double> dump() override {
    capture_ = true;
    run();
    capture_ = false;
    std::vector<double> out{loss_};
    for (const auto& p : params_) append(out, p.grad());
    for (const auto& p : params_) append(out, p);
    return out;
  }

 private:
  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor h = x;
    for (std::size_t l = 0; l < W_.size(); ++l) {
      h = torch::addmm(b_[l], h, W_[l]);
      const Act a = l + 1 == W_.size() ? p_.output : p_.hidden;
      if (a == Act::sigmoid)
        h = torch::sigmoid(h);
      else if (a == Act::relu)
        h = torch::relu(h);
    }
    return h;
  }

  torch::Tensor loss(const torch::Tensor& h, const torch::Tensor& y, const torch::Tensor& labels) {
    switch (p_.loss) {
      case Loss::mse:
        return torch::mse_loss(h, y);
      case Loss::half_mse:
        return 0.5 * torch::mse_loss(h, y);
      case Loss::regularized_ce: {
        auto J = torch::binary_cross_entropy(h, y) * double(h.size(1));
        torch::Tensor penalty = W_[0].square().sum();
        for (std::size_t l = 1; l < W_.size(); ++l) penalty = penalty + W_[l].square().sum();
        return J + p_.lambda / (2.0 * double(h.size(0))) * penalty;
      }
      case Loss::softmax_ce:
        return torch::nn::functional::cross_entropy(h, labels);
    }
    return {};
  }

  void step(const torch::Tensor& x, const torch::Tensor& y, const torch::Tensor& labels) {
    opt_->zero_grad();
    auto J = loss(forward(x), y, labels);
    J.backward();
    opt_->step();
    if (capture_) loss_ = J.item<double>();
  }

  void epoch(std::size_t count) {
    const auto n = int64_t(p_.n);
    const auto order =
        p_.shuffle ? torch::randperm(n, torch::kLong) : torch::arange(n, torch::kLong);
    for (int64_t start = 0; start < int64_t(count); start += int64_t(p_.batch)) {
      const auto idx = order.slice(0, start, std::min<int64_t>(start + int64_t(p_.batch), count));
      step(X_.index_select(0, idx), torch::Tensor(), labels_.index_select(0, idx));
    }
  }

  const Problem p_;
  std::vector<torch::Tensor> W_, b_, params_;
  torch::Tensor X_, Y_, labels_;
  std::unique_ptr<torch::optim::SGD> opt_;
  bool capture_ = false;
  double loss_ = 0;
};

class TorchChain final : public Runner {
 public:
  TorchChain(const Problem& p, torch::Dtype dt)
      : ops_(p.ops),
        x_(torch::full({1}, 0.5, torch::TensorOptions().dtype(dt)).requires_grad_(true)),
        c_(torch::full({1}, 0.99, torch::TensorOptions().dtype(dt))) {}
  void run() override {
    x_.mutable_grad() = torch::Tensor();  // set_to_none, the cheapest reset
    torch::Tensor y = x_;
    for (std::size_t i = 0; i < ops_; ++i) y = y * c_;
    y.backward();
    if (capture_) value_ = y.item<double>();
  }
  std::vector<double> dump() override {
    capture_ = true;
    run();
    capture_ = false;
    return {value_, x_.grad().item<double>()};
  }

 private:
  std::size_t ops_;
  torch::Tensor x_, c_;
  bool capture_ = false;
  double value_ = 0;
};

}  // namespace
}  // namespace bench

int main(int argc, char** argv) {
  int threads = 1;
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = std::atoi(argv[++i]);
  torch::set_num_threads(threads);
  bench::set_blas_threads(threads);
  torch::manual_seed(5);
  const bench::Factory factory = [](const bench::Problem& p,
                                    bool f32) -> std::unique_ptr<bench::Runner> {
    const auto dt = f32 ? torch::kFloat : torch::kDouble;
    if (p.mode == bench::Mode::chain) return std::make_unique<bench::TorchChain>(p, dt);
    return std::make_unique<bench::TorchMlp>(p, dt);
  };
  return bench::worker_main("libtorch", TORCH_VERSION, factory, threads);
}
