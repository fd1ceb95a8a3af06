// One head of self-attention over short sequences, with layer normalization: a graph the engine's
// batched matmul, N-d transpose, keepdim reductions (mean, var), sqrt, softmax and argmax make
// possible. Each sequence holds T tokens of D features; the label is the position of the token
// whose first feature is largest. The model is gradient-checked against differences, then
// trained with Adam until it finds the position far above chance (1/T).
//
//   h      = layer_norm(X) = (X - mean(X)) / sqrt(var(X) + 1e-5) * gamma + beta   (over features)
//   Q,K,V  = h Wq, h Wk, h Wv                                     [B,T,D] @ [D,d] -> [B,T,d]
//   A      = softmax(Q K^T / sqrt(d))                             [B,T,T], rows over positions
//   logits = (X + (A V) Wo) w     (a pre-norm residual block)    [B,T,1] -> [B,T]
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include <tapegrad/gradcheck.hpp>
#include <tapegrad/nn/optim.hpp>
#include <tapegrad/tapegrad.hpp>

namespace {

using tg::Shape;
using tg::TensorD;

constexpr std::size_t kTokens = 5, kFeatures = 4, kHead = 4;

struct Params {
  TensorD gamma, beta, wq, wk, wv, wo, w;
  std::vector<TensorD> all() const { return {gamma, beta, wq, wk, wv, wo, w}; }
};

Params init(std::mt19937_64& rng) {
  auto weight = [&](std::size_t rows, std::size_t cols) {
    const double a = std::sqrt(6.0 / double(rows + cols));  // Glorot uniform
    return TensorD::uniform(Shape{rows, cols}, -a, a, rng, true);
  };
  return {TensorD::ones(Shape{kFeatures}, true),
          TensorD::zeros(Shape{kFeatures}, true),
          weight(kFeatures, kHead),
          weight(kFeatures, kHead),
          weight(kFeatures, kHead),
          weight(kHead, kFeatures),
          weight(kFeatures, 1)};
}

TensorD layer_norm(const TensorD& x, const TensorD& gamma, const TensorD& beta) {
  const TensorD centred = x - tg::mean(x, -1, true);
  const TensorD variance = tg::var(x, -1, true, /*correction=*/0);  // as torch's layer_norm
  return centred / tg::sqrt(variance + 1e-5) * gamma + beta;
}

// Scores for each position of each sequence: [B,T].
TensorD scores(const std::vector<TensorD>& p, const TensorD& x) {
  const TensorD h = layer_norm(x, p[0], p[1]);
  const TensorD q = tg::matmul(h, p[2]), k = tg::matmul(h, p[3]), v = tg::matmul(h, p[4]);
  const TensorD attention =
      tg::softmax(tg::matmul(q, tg::transpose(k, 1, 2)) / std::sqrt(double(kHead)));
  const TensorD mixed = x + tg::matmul(tg::matmul(attention, v), p[5]);
  return tg::reshape(tg::matmul(mixed, p[6]), Shape{x.dim(0), kTokens});
}

struct Batch {
  TensorD x;  // [B,T,D]
  tg::Labels labels;
};

Batch make_batch(std::size_t n, std::mt19937_64& rng) {
  Batch b{TensorD::normal(Shape{n, kTokens, kFeatures}, 0, 1, rng), tg::Labels(n)};
  const TensorD first = tg::slice(b.x, 2, 0, 1);  // the first feature of every token: [B,T,1]
  b.labels = tg::argmax(tg::reshape(first, Shape{n, kTokens}), 1);
  return b;
}

double accuracy(const std::vector<TensorD>& p, const Batch& b) {
  tg::NoGradGuard no_grad;
  const tg::Labels predicted = tg::argmax(scores(p, b.x), 1);
  std::size_t right = 0;
  for (std::size_t i = 0; i < predicted.size(); ++i) right += predicted[i] == b.labels[i];
  return double(right) / double(predicted.size());
}

}  // namespace

int main() {
  std::mt19937_64 rng(7);
  const Params params = init(rng);

  // The whole model's gradient against differences, on a batch of 3 sequences.
  const Batch small = make_batch(3, rng);
  const tg::GradCheckReport report = tg::gradcheck_leaves(
      [&] { return tg::softmax_ce(scores(params.all(), small.x), small.labels); }, params.all(),
      {.names = {"gamma", "beta", "Wq", "Wk", "Wv", "Wo", "w"}});
  std::printf("%s\n", report.str().c_str());

  const Batch test = make_batch(1000, rng);
  tg::nn::Adam<double> adam(params.all(), {.lr = 0.01});
  const double before = accuracy(params.all(), test);
  for (int step = 1; step <= 1500; ++step) {
    const Batch b = make_batch(64, rng);
    adam.zero_grad();
    const TensorD loss = tg::softmax_ce(scores(params.all(), b.x), b.labels);
    loss.backward();
    adam.step();
    if (step % 300 == 0)
      std::printf("step %4d  loss %.4f  test accuracy %.3f\n", step, loss.item(),
                  accuracy(params.all(), test));
  }
  const double after = accuracy(params.all(), test);
  std::printf("test accuracy: %.3f before training, %.3f after (chance %.3f)\n", before, after,
              1.0 / kTokens);
  return report.passed && after >= 0.9 ? 0 : 1;
}
