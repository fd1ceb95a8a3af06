#include "tapegrad/op.hpp"

namespace tg::samples {

std::vector<Shape> elementwise_shapes() {
  return {Shape{1, 1}, Shape{1, 5}, Shape{4, 1}, Shape{3, 4}, Shape{6}, Shape{}};
}

std::vector<std::pair<Shape, Shape>> binary_shape_pairs() {
  return {{Shape{1, 1}, Shape{1, 1}}, {Shape{1, 5}, Shape{1, 5}}, {Shape{4, 1}, Shape{4, 1}},
          {Shape{3, 4}, Shape{3, 4}}, {Shape{3, 4}, Shape{4}},    {Shape{3, 4}, Shape{3, 1}},
          {Shape{3, 1}, Shape{1, 4}}, {Shape{2, 3}, Shape{}},     {Shape{}, Shape{2, 3}},
          {Shape{5}, Shape{2, 1, 5}}};
}

std::vector<Shape> loss_shapes() {
  return {Shape{1, 1}, Shape{1, 5}, Shape{4, 1}, Shape{3, 4}, Shape{6}};
}

std::vector<Shape> reduction_shapes() {
  return {Shape{1, 1}, Shape{1, 5}, Shape{4, 1}, Shape{3, 4}, Shape{6}, Shape{2, 3, 4}};
}

std::vector<Shape> row_shapes() {
  return {Shape{1, 1}, Shape{1, 5}, Shape{4, 1}, Shape{3, 4}, Shape{6}};
}

}  // namespace tg::samples
