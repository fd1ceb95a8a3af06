// The library's own ops (its op files, listed by the build in tapegrad_op_list.hpp) and a lookup
// in the registry, for the suites that hold every op of the library to a rule.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "tapegrad/registry.hpp"
#include "tapegrad_op_list.hpp"

inline std::vector<std::string> library_op_names() {
  return {
#define TG_OP_NAME(NAME) #NAME,
      TG_OPS(TG_OP_NAME)
#undef TG_OP_NAME
  };
}

// The registered op of that name, or nullptr.
inline const tg::OpInfo* find_registered_op(const std::string& name) {
  const std::vector<tg::OpInfo>& ops = tg::registered_ops();
  const auto op =
      std::find_if(ops.begin(), ops.end(), [&](const tg::OpInfo& o) { return o.name == name; });
  return op == ops.end() ? nullptr : &*op;
}
