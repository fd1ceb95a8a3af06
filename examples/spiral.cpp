// Everyday training from a CSV file: three interleaved spirals, a small ReLU network with dropout,
// AdamW with warmup then a cosine, gradient clipping, a saved run and a confusion matrix.
//
//   ./build/examples/spiral [dir]     (writes spiral.csv and spiral_run.npz; default: a temp dir)
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <tapegrad/nn/clip.hpp>
#include <tapegrad/nn/data.hpp>
#include <tapegrad/nn/layers.hpp>
#include <tapegrad/nn/metrics.hpp>
#include <tapegrad/nn/optim.hpp>
#include <tapegrad/nn/schedule.hpp>
#include <tapegrad/nn/train.hpp>
#include <tapegrad/nn/training_state.hpp>

namespace nn = tg::nn;

// Each row draws a class k and a radius r; class k's arm is the curve (r sin t, r cos t) with
// t = 4(k + r) radians, so the three arms wind out of the centre side by side, and the noise on t
// blurs their borders. The rows are independent draws: the last fifth is a fair test set.
void write_spirals(const std::string& path, std::size_t rows, std::mt19937_64& rng) {
  std::uniform_int_distribution<int> label(0, 2);
  std::uniform_real_distribution<double> radius(0.0, 1.0);
  std::normal_distribution<double> noise(0.0, 0.2);
  std::ofstream csv(path);
  csv << "x1,x2,label\n";
  for (std::size_t i = 0; i < rows; ++i) {
    const int k = label(rng);
    const double r = radius(rng), t = 4.0 * (k + r) + noise(rng);
    csv << r * std::sin(t) << ',' << r * std::cos(t) << ',' << k << '\n';
  }
}

int main(int argc, char** argv) {
  const std::filesystem::path dir = argc > 1 ? argv[1] : std::filesystem::temp_directory_path();
  std::mt19937_64 rng(7);
  const std::string csv = (dir / "spiral.csv").string(), run = (dir / "spiral_run.npz").string();
  write_spirals(csv, 900, rng);
  auto [X, y] = nn::split_features_labels(nn::read_csv<float>(csv, true), -1);
  const std::size_t n = y.size(), n_train = n * 4 / 5;
  const tg::TensorF X_train = tg::slice(X, 0, 0, n_train), X_test = tg::slice(X, 0, n_train, n);
  const tg::Labels y_train(y.begin(), y.begin() + n_train), y_test(y.begin() + n_train, y.end());

  // He initialisation keeps ReLU activations from shrinking layer by layer; a little dropout
  // keeps the boundary smooth where the noisy arms touch.
  nn::Sequential<float> net;
  net.emplace<nn::Linear<float>>(2, 64, nn::Init::he_uniform(), rng);
  net.emplace<nn::ActivationLayer<float>>(nn::Activation::relu);
  net.emplace<nn::Dropout<float>>(0.05, rng());
  net.emplace<nn::Linear<float>>(64, 64, nn::Init::he_uniform(), rng);
  net.emplace<nn::ActivationLayer<float>>(nn::Activation::relu);
  net.emplace<nn::Linear<float>>(64, 3, nn::Init::he_uniform(), rng);
  std::printf("%s", nn::summary(net, {1, 2}).c_str());

  // Warmup first: Adam's moment estimates are noise for the first steps, so full-size steps would
  // be taken in random directions. Then a cosine settles the weights as the rate goes to zero.
  const std::size_t epochs = 100, warmup = 5;
  nn::AdamW<float> opt(net.parameters(), {.lr = 1e-2, .weight_decay = 1e-2});
  std::vector<std::unique_ptr<nn::LRScheduler>> phases;
  phases.push_back(std::make_unique<nn::LinearLR>(opt, 0.1, 1.0, warmup));
  phases.push_back(std::make_unique<nn::CosineAnnealingLR>(opt, epochs - warmup));
  nn::SequentialLR schedule(opt, std::move(phases), {warmup});

  nn::Minibatches<float> batches(X_train, y_train, 32, rng);
  nn::ProgressLog log(epochs, nullptr);  // silent: keeps the history; we print every 20th epoch
  for (std::size_t epoch = 0; epoch < epochs; ++epoch) {
    net.train();  // dropout on
    log.begin_epoch();
    double loss_sum = 0;
    for (const auto& b : batches) {
      opt.zero_grad();
      tg::TensorF J = tg::softmax_ce(net(b.x), b.y);
      J.backward();
      nn::clip_grad_norm_(opt.parameters(), 5.0);  // one unlucky batch cannot throw the net off
      opt.step();
      loss_sum += J.item() * double(b.y.size());
    }
    schedule.step();  // once per epoch, as torch's schedules count
    net.eval();       // dropout off: measure the network that will be used
    const auto& e = log.end_epoch(loss_sum / double(n_train), n_train,
                                  nn::accuracy(nn::predict(net, X_train), y_train),
                                  nn::accuracy(nn::predict(net, X_test), y_test));
    if (e.epoch % 20 == 0)
      std::printf("epoch %3zu  loss %.4f  train %.3f  test %.3f\n", e.epoch, e.loss, e.accuracy,
                  e.test_accuracy);
  }
  // Model, optimizer and schedule in one file: load_training_state resumes exactly from here.
  nn::save_training_state(run, net, opt, &schedule);

  const tg::Labels predicted = nn::predict(net, X_test);
  const double accuracy = nn::accuracy(predicted, y_test);
  std::printf("test accuracy %.4f\n%s", accuracy,
              nn::confusion_matrix(predicted, y_test, 3).str().c_str());
  return accuracy >= 0.95 ? 0 : 1;
}
