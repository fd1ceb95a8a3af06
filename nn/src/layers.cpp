#include "tapegrad/nn/layers.hpp"

#include <cmath>
#include <utility>

#include "tapegrad/ops.hpp"
#include "tapegrad/replay.hpp"

namespace tg::nn {

namespace {
std::string number(double v) {
  return format_number(v);
}
}  // namespace

// ---- Dropout ------------------------------------------------------------------------------

template <class T> Dropout<T>::Dropout(double p, std::uint64_t seed) : p_(p), rng_(seed) {
  if (!(p >= 0 && p <= 1))
    throw DomainError("Dropout: probability p must be in [0, 1], got " + number(p));
}

template <class T> Tensor<T> Dropout<T>::forward(const Tensor<T>& x) {
  if (!this->is_training() || p_ == 0) return x;
  // Under a recording the mask's kernel draws from rng_ on every run: rng_ lives as long as the
  // module, which a recording of its forward must not outlive anyway.
  return mul(x, Tensor<T>::dropout_mask(x.shape(), p_, rng_));
}

template <class T> std::string Dropout<T>::describe() const {
  return "Dropout(p=" + number(p_) + ")";
}

// ---- LayerNorm ----------------------------------------------------------------------------

template <class T>
LayerNorm<T>::LayerNorm(std::size_t features, double eps, bool elementwise_affine)
    : features_(features), eps_(eps), affine_(elementwise_affine) {
  if (elementwise_affine) {
    this->register_parameter("weight", Tensor<T>::ones(Shape{features}, true), false);
    this->register_parameter("bias", Tensor<T>::zeros(Shape{features}, true), true);
  }
}

template <class T> Tensor<T> LayerNorm<T>::forward(const Tensor<T>& x) {
  if (x.ndim() == 0 || x.dim(x.ndim() - 1) != features_)
    throw ShapeError("LayerNorm(" + std::to_string(features_) + "): expects an input [..., " +
                     std::to_string(features_) + "], got " + x.shape().str());
  const int last = int(x.ndim()) - 1;
  const Tensor<T> centered = sub(x, mean(x, last, true));
  const Tensor<T> variance = var(x, last, true, 0.0);
  Tensor<T> y = div(centered, sqrt(variance + T(eps_)));
  if (affine_)
    y = add(mul(y, this->registered_parameter("weight")), this->registered_parameter("bias"));
  return y;
}

template <class T> std::string LayerNorm<T>::describe() const {
  return "LayerNorm(" + std::to_string(features_) + ", eps=" + number(eps_) +
         (affine_ ? "" : ", elementwise_affine=false") + ")";
}

// ---- BatchNorm1d --------------------------------------------------------------------------

template <class T>
BatchNorm1d<T>::BatchNorm1d(std::size_t features, double eps, double momentum, bool affine,
                            bool track_running_stats)
    : features_(features),
      eps_(eps),
      momentum_(momentum),
      affine_(affine),
      track_running_stats_(track_running_stats) {
  if (affine) {
    this->register_parameter("weight", Tensor<T>::ones(Shape{features}, true), false);
    this->register_parameter("bias", Tensor<T>::zeros(Shape{features}, true), true);
  }
  if (track_running_stats) {
    this->register_buffer("running_mean", Tensor<T>::zeros(Shape{features}));
    this->register_buffer("running_var", Tensor<T>::ones(Shape{features}));
    this->register_buffer("num_batches_tracked", Tensor<T>::scalar(T(0)));
  }
}

template <class T>
void BatchNorm1d<T>::update_running_stats(const Tensor<T>& batch_mean,
                                          const Tensor<T>& batch_biased_var, std::size_t n) {
  // Written through data(), which a replayable tape does not capture: a replay would leave the
  // running statistics where the recording left them.
  if (recording())
    throw ReplayError("BatchNorm1d(" + std::to_string(features_) +
                      "): updating the running statistics in training mode cannot be replayed; "
                      "record the step in eval mode, or train this model eagerly");
  const double unbias = double(n) / double(n - 1);
  T* running_mean = this->registered_buffer("running_mean").data();
  T* running_var = this->registered_buffer("running_var").data();
  const T* m = batch_mean.data();
  const T* v = batch_biased_var.data();
  for (std::size_t c = 0; c < features_; ++c) {
    running_mean[c] = T((1 - momentum_) * double(running_mean[c]) + momentum_ * double(m[c]));
    running_var[c] =
        T((1 - momentum_) * double(running_var[c]) + momentum_ * unbias * double(v[c]));
  }
  T* count = this->registered_buffer("num_batches_tracked").data();
  count[0] += T(1);
}

template <class T> Tensor<T> BatchNorm1d<T>::forward(const Tensor<T>& x) {
  const std::string name = "BatchNorm1d(" + std::to_string(features_) + ")";
  if (x.ndim() != 2 || x.dim(1) != features_)
    throw ShapeError(name + ": expects an input [N, " + std::to_string(features_) + "], got " +
                     x.shape().str());
  const bool batch_statistics = this->is_training() || !track_running_stats_;
  Tensor<T> y;
  if (batch_statistics) {
    if (x.dim(0) < 2)
      throw ShapeError(name + ": expected more than 1 value per channel when training, got input " +
                       x.shape().str());
    const Tensor<T> batch_mean = mean(x, 0, true);
    const Tensor<T> batch_var = var(x, 0, true, 0.0);
    if (this->is_training() && track_running_stats_)
      update_running_stats(batch_mean.detach(), batch_var.detach(), x.dim(0));
    y = div(sub(x, batch_mean), sqrt(batch_var + T(eps_)));
  } else {
    // Copies: a later training step updates the buffers in place, which would otherwise invalidate
    // this graph's saved tensors.
    const Tensor<T> running_mean = this->registered_buffer("running_mean").clone();
    const Tensor<T> running_var = this->registered_buffer("running_var").clone();
    y = div(sub(x, running_mean), sqrt(running_var + T(eps_)));
  }
  if (affine_)
    y = add(mul(y, this->registered_parameter("weight")), this->registered_parameter("bias"));
  return y;
}

template <class T> std::string BatchNorm1d<T>::describe() const {
  std::string s = "BatchNorm1d(" + std::to_string(features_) + ", eps=" + number(eps_) +
                  ", momentum=" + number(momentum_);
  if (!affine_) s += ", affine=false";
  if (!track_running_stats_) s += ", track_running_stats=false";
  return s + ")";
}

template class Dropout<float>;
template class Dropout<double>;
template class LayerNorm<float>;
template class LayerNorm<double>;
template class BatchNorm1d<float>;
template class BatchNorm1d<double>;

}  // namespace tg::nn
