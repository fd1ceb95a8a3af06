// Layers whose behaviour depends on the training mode or that keep statistics: Dropout,
// LayerNorm, BatchNorm1d, with torch.nn's semantics and defaults. Each is built from the engine's
// ops, so its backward pass is the ops' own.
//
//   tg::nn::Sequential<double> net;
//   net.emplace<tg::nn::Linear<double>>(4, 8, tg::nn::Init::he_normal(), rng)
//       .emplace<tg::nn::BatchNorm1d<double>>(8)
//       .emplace<tg::nn::ActivationLayer<double>>(tg::nn::Activation::relu)
//       .emplace<tg::nn::Dropout<double>>(0.5, 42);
//   net.train();  ... fit ...
//   net.eval();   // Dropout passes through, BatchNorm1d uses its running statistics
#pragma once

#include <cstdint>
#include <random>
#include <string>

#include "tapegrad/nn/module.hpp"

namespace tg::nn {

// Inverted dropout: in training, each element is zeroed with probability p and the kept ones are
// scaled by 1/(1-p) (p = 1 zeroes everything), so that evaluation is the identity. The output is
// x times a constant mask, so the gradient is the mask. DomainError for p outside [0, 1].
// The masks come from the module's own generator (seeded by `seed`), one after another: a replayed
// step (tg::record_step) draws a fresh mask from it on every run, as an eager step does, so the
// module must outlive a recording of it. In evaluation mode it records nothing.
template <class T> class Dropout final : public Module<T> {
 public:
  explicit Dropout(double p = 0.5, std::uint64_t seed = 0);
  Tensor<T> forward(const Tensor<T>& x) override;
  std::string describe() const override;
  double p() const { return p_; }

 private:
  double p_;
  std::mt19937_64 rng_;
};

// (x - mean) / sqrt(var + eps) over the last axis (of extent `features`), with the biased
// variance, then times "weight" (ones) plus "bias" (zeros) when elementwise_affine. Behaves the
// same in training and evaluation. ShapeError for an input whose last extent is not `features`.
template <class T> class LayerNorm final : public Module<T> {
 public:
  explicit LayerNorm(std::size_t features, double eps = 1e-5, bool elementwise_affine = true);
  Tensor<T> forward(const Tensor<T>& x) override;
  std::string describe() const override;

 private:
  std::size_t features_;
  double eps_;
  bool affine_;
};

// Batch normalization of x[N, C] per feature (column). In training: by the batch's mean and biased
// variance, and (with track_running_stats) the buffers "running_mean" (zeros) and "running_var"
// (ones) move by `momentum` toward the batch mean and the batch's unbiased variance, and
// "num_batches_tracked" counts the batches. In evaluation: by the running statistics (by the
// batch's when not tracking). Then times "weight" (ones) plus "bias" (zeros) when affine.
// ShapeError for an input that is not [N, C], and for N = 1 in training (one value per feature
// has no variance to normalize by).
template <class T> class BatchNorm1d final : public Module<T> {
 public:
  explicit BatchNorm1d(std::size_t features, double eps = 1e-5, double momentum = 0.1,
                       bool affine = true, bool track_running_stats = true);
  Tensor<T> forward(const Tensor<T>& x) override;
  std::string describe() const override;

 private:
  void update_running_stats(const Tensor<T>& batch_mean, const Tensor<T>& batch_biased_var,
                            std::size_t n);

  std::size_t features_;
  double eps_, momentum_;
  bool affine_, track_running_stats_;
};

}  // namespace tg::nn
