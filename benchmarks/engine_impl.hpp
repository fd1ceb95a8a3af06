// The engine under test: the benchmark networks written the way a user of tapegrad writes them
// (tg::nn::Sequential of Linear and activation layers, the engine's loss ops, tg::nn::SGD,
// tg::nn::Minibatches), gradients from the generic reverse pass.
#pragma once

#include <memory>

#include "bench_common.hpp"

namespace bench {

std::unique_ptr<Runner> make_engine(const Problem& problem, bool f32);

}  // namespace bench
