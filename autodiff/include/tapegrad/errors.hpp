// Typed errors. Every message starts with the op's name and names the shapes or values involved,
// e.g. "matmul: inner dimensions differ: A[2,3] @ B[2,3] (3 != 2)".
#pragma once

#include <cstdio>
#include <stdexcept>
#include <string>

namespace tg {

// Numbers in messages and reports, short: printf's "%.{digits}g" ("0.5", "1e-06", "inf", "nan").
inline std::string format_number(double v, int digits = 6) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.*g", digits, v);
  return buf;
}

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Operand shapes that the op's rules do not accept (no silent broadcasting).
class ShapeError : public Error {
 public:
  using Error::Error;
};

// An axis outside 0..ndim-1.
class AxisError : public Error {
 public:
  using Error::Error;
};

// A class label outside 0..C-1.
class IndexError : public Error {
 public:
  using Error::Error;
};

// A value outside the op's domain where the op defines one (bce's probabilities in [0,1]).
class DomainError : public Error {
 public:
  using Error::Error;
};

// Misuse of the graph: backward on a non-scalar without an upstream gradient, backward through a
// released graph, backward on a tensor that does not require a gradient.
class GraphError : public Error {
 public:
  using Error::Error;
};

// Anomaly mode found a NaN or inf (see set_anomaly_mode in node.hpp).
class AnomalyError : public Error {
 public:
  using Error::Error;
};

// A replayable tape (tapegrad/replay.hpp) cannot record or replay this: an op not converted to
// kernel capture yet, a random draw from a generator local to the recorded function, a recording
// run from two threads at once, a replay whose values differ from eager mode's in check mode.
class ReplayError : public Error {
 public:
  using Error::Error;
};

}  // namespace tg
