// doctest assertions for gradient checks: a failing check fails the test case with the whole
// report (every input, the worst element with both values, the error estimate) as its message.
//
//   #include <tapegrad/doctest.hpp>
//   TG_CHECK_GRADIENTS([](const auto& in) { return tg::sum(tg::tanh(in[0]) * in[1]); }, {x, y});
//   TG_CHECK_GRADIENTS(f, {W, b}, {.names = {"W", "b"}});
//   TG_CHECK_SECOND_ORDER(f, {x, y});
//   TG_REQUIRE_GRADIENTS(...)   // stops the test case on failure
//
// The arguments are those of tg::gradcheck / tg::gradgradcheck (the macros take them as one
// variadic list, so commas in a lambda body or a braced list need no extra parentheses). Include
// this header after <doctest/doctest.h> or instead of it; the engine itself does not use doctest.
#pragma once

#include <doctest/doctest.h>

#include "tapegrad/gradcheck.hpp"
#include "tapegrad/gradgradcheck.hpp"

#define TG_GRADIENT_ASSERT_IMPL(ASSERT, CHECKER, ...)              \
  do {                                                             \
    const ::tg::GradCheckReport tg_report_ = CHECKER(__VA_ARGS__); \
    ASSERT(tg_report_.passed, tg_report_.str());                   \
  } while (false)

#define TG_CHECK_GRADIENTS(...) TG_GRADIENT_ASSERT_IMPL(CHECK_MESSAGE, ::tg::gradcheck, __VA_ARGS__)
#define TG_REQUIRE_GRADIENTS(...) \
  TG_GRADIENT_ASSERT_IMPL(REQUIRE_MESSAGE, ::tg::gradcheck, __VA_ARGS__)
#define TG_CHECK_SECOND_ORDER(...) \
  TG_GRADIENT_ASSERT_IMPL(CHECK_MESSAGE, ::tg::gradgradcheck, __VA_ARGS__)
#define TG_REQUIRE_SECOND_ORDER(...) \
  TG_GRADIENT_ASSERT_IMPL(REQUIRE_MESSAGE, ::tg::gradgradcheck, __VA_ARGS__)
