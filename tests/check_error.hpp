// The tests' one helper for typed errors: runs f and expects exactly an E whose message contains
// every one of `parts` (the op or function, the shapes, the path, ...).
#pragma once

#include <doctest/doctest.h>

#include <exception>
#include <functional>
#include <string>
#include <vector>

template <class E>
void check_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
    FAIL("no exception thrown");
  } catch (const E& e) {
    const std::string msg = e.what();
    for (const std::string& p : parts) {
      INFO("message: \"" << msg << "\" should contain \"" << p << "\"");
      CHECK(msg.find(p) != std::string::npos);
    }
  } catch (const std::exception& e) {
    FAIL("wrong exception type, message: " << e.what());
  }
}
