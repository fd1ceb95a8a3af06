// The one check of class labels that nn's functions taking Labels share, so that every one of
// them words a bad label the same way.
#pragma once

#include <cstddef>
#include <optional>

#include "tapegrad/ops.hpp"

namespace tg::nn::detail {

// Throws IndexError for a label outside 0..classes-1 (any negative label when the class count is
// unknown), naming `fn`, the label and its row: "accuracy: label 3 at row 2 is out of range for 3
// classes (valid 0..2)". `what` names the labels in the message ("label", "predicted label").
void check_labels(const char* fn, const char* what, const Labels& labels,
                  std::optional<std::size_t> classes);

}  // namespace tg::nn::detail
