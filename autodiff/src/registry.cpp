#include "tapegrad/registry.hpp"

#include <algorithm>

#include "tapegrad_op_list.hpp"

namespace tg {

// Defined by TG_DEFINE_OP in each op's file. Naming every one of them here is what keeps each op
// file in a static link.
#define TG_DECLARE_OP_INFO(NAME) OpInfo op_info_##NAME();
TG_OPS(TG_DECLARE_OP_INFO)
#undef TG_DECLARE_OP_INFO

namespace {

void add_op(std::vector<OpInfo>& ops, OpInfo info) {
  if (!info.samples_double || !info.samples_float)
    throw Error("register_op: op " + info.name + " has no gradient-check sample");
  if (std::any_of(ops.begin(), ops.end(), [&](const OpInfo& o) { return o.name == info.name; }))
    throw Error("register_op: op " + info.name + " is registered twice");
  ops.push_back(std::move(info));
}

std::vector<OpInfo> builtin_ops() {
  std::vector<OpInfo> ops;
#define TG_ADD_OP(NAME) add_op(ops, op_info_##NAME());
  TG_OPS(TG_ADD_OP)
#undef TG_ADD_OP
  return ops;
}

// Built on first use (thread-safe function-local static), so it never depends on the order in
// which static initializers, here or in a user's TG_REGISTER_OP, run.
std::vector<OpInfo>& registry() {
  static std::vector<OpInfo> ops = builtin_ops();
  return ops;
}

}  // namespace

const std::vector<OpInfo>& registered_ops() {
  return registry();
}

bool register_op(OpInfo info) {
  add_op(registry(), std::move(info));
  return true;
}

}  // namespace tg
