// The per-op loop shared by the first- and second-order suites (gradcheck.cpp, gradgradcheck.cpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <string>
#include <vector>

#include "tapegrad/gradcheck.hpp"
#include "tapegrad/registry.hpp"

namespace tg {

namespace detail {

// The double sample with the structure of float sample k of an op at a seed: the per-op suites
// take a float adjoint's differences from it (the factories are one template, so sample k has
// the same label and inputs in both types). Cached per seed.
class DoubleReferences {
 public:
  const GradSample<double>& of(const OpInfo& op, std::uint64_t seed, std::size_t k,
                               const GradSample<float>& sample) {
    if (samples_.empty() || seed_ != seed) {
      samples_ = op.samples_double(seed);
      seed_ = seed;
    }
    if (k >= samples_.size() || samples_[k].label != sample.label ||
        samples_[k].inputs.size() != sample.inputs.size())
      throw Error("float sample " + sample.label +
                  " has no double sample of the same structure to take differences from");
    return samples_[k];
  }

 private:
  std::uint64_t seed_ = 0;
  std::vector<GradSample<double>> samples_;
};

}  // namespace detail

namespace detail {

// The per-op loop shared by the first- and second-order suites: every sample of every seed, the
// distinct labels, the probe that the sample's output is the op's own node, the worst error, the
// first failure (a failing report or what a sample raised), and a row that fails without samples.
// `check(sample, k, seed, out, probe)` returns the sample's report (k: its index for the seed;
// out: the sample's output recorded on `probe`, fresh leaves holding the sample's inputs).
template <class T, class Row, class Check>
void run_op_samples(Row& row, const OpInfo& op, SampleFactory<T> factory,
                    const std::vector<std::uint64_t>& seeds, Check&& check) {
  row.op = op.name;
  row.adjoint = op.adjoint;
  row.passed = true;
  auto fail = [&](const std::string& why) {
    row.passed = false;
    if (row.failure.empty()) row.failure = why;
  };
  if (!factory) {
    fail("op " + op.name + " has no sample factory");
    return;
  }
  for (const std::uint64_t seed : seeds) {
    const std::vector<GradSample<T>> samples = factory(seed);
    for (std::size_t k = 0; k < samples.size(); ++k) {
      const GradSample<T>& sample = samples[k];
      ++row.samples_run;
      if (std::find(row.shapes.begin(), row.shapes.end(), sample.label) == row.shapes.end())
        row.shapes.push_back(sample.label);
      try {
        std::vector<Tensor<T>> probe;
        for (const auto& t : sample.inputs) probe.push_back(t.clone().set_requires_grad(true));
        const Tensor<T> out = sample.fn(probe);
        // The sample must exercise the op itself, not something that bypasses it.
        if (op.name != out.op_name()) {
          fail("sample " + sample.label + " is computed by " + out.op_name() + ", not " + op.name);
          continue;
        }
        const GradCheckReport report = check(sample, k, seed, out, probe);
        const double err = report.worst_relative_error();
        if (std::isnan(err) || err >= row.worst_relative_error) {
          row.worst_relative_error = err;
          row.worst_sample = sample.label;
        }
        if (!report.passed) fail("sample " + sample.label + ": " + report.str());
      } catch (const std::exception& e) {
        fail("sample " + sample.label + " raised: " + e.what());
      }
    }
  }
  if (row.samples_run == 0) fail("op " + op.name + " has no gradient-check sample");
}

}  // namespace detail

}  // namespace tg
