#include "tapegrad/registry.hpp"

#include <algorithm>

namespace tg {

namespace {
std::vector<OpInfo>& registry() {
  static std::vector<OpInfo> ops;
  return ops;
}
}  // namespace

const std::vector<OpInfo>& registered_ops() {
  return registry();
}

bool register_op(OpInfo info) {
  auto& ops = registry();
  if (!info.samples_double || !info.samples_float)
    throw Error("register_op: op " + info.name + " has no gradient-check sample");
  if (std::any_of(ops.begin(), ops.end(), [&](const OpInfo& o) { return o.name == info.name; }))
    throw Error("register_op: op " + info.name + " is registered twice");
  ops.push_back(std::move(info));
  return true;
}

}  // namespace tg
