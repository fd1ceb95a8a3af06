// The engine under test: the benchmark networks written the way a user of tapegrad writes them
// (tg::nn::Sequential of Linear and activation layers, the engine's loss ops, tg::nn::SGD,
// tg::nn::Minibatches), gradients from the generic reverse pass; and the same step replayed.
#pragma once

#include <memory>

#include "bench_common.hpp"

namespace bench {

std::unique_ptr<Runner> make_engine(const Problem& problem, bool f32);
// The same networks, each step recorded once as a replayable tape (tg::record_step) with its SGD
// step (tg::sgd_update), and replayed; an epoch with one recording per batch shape.
std::unique_ptr<Runner> make_replay(const Problem& problem, bool f32);

}  // namespace bench
