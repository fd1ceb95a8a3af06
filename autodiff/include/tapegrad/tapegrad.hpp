// Everything a user of the engine needs: tensors, ops, backward, the gradient checker.
#pragma once

#include "tapegrad/errors.hpp"
#include "tapegrad/grad.hpp"
#include "tapegrad/gradcheck.hpp"
#include "tapegrad/ops.hpp"
#include "tapegrad/shape.hpp"
#include "tapegrad/tensor.hpp"
