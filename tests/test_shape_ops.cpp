// The shape functions that are other ops put together and so have no registry entry of their
// own: transpose(x, d0, d1) (a permute), split and chunk (slices), stack (unsqueeze and concat).
// Their forward values are worked out by hand; their errors name the function, not the op it
// runs.
#include <doctest/doctest.h>

#include <vector>

#include "check_error.hpp"
#include "tapegrad/tapegrad.hpp"

using tg::Shape;
using tg::TensorD;

namespace {

TensorD arange(const Shape& shape) {
  std::vector<double> v(shape.numel());
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = double(i);
  return TensorD::from_vector(shape, v);
}

std::vector<Shape> shapes_of(const std::vector<TensorD>& pieces) {
  std::vector<Shape> s;
  for (const auto& p : pieces) s.push_back(p.shape());
  return s;
}

}  // namespace

TEST_CASE("transpose(x, d0, d1) swaps two axes of an N-d tensor") {
  // x[a,b,c] = 12a + 4b + c; transpose(x, 1, -1)[a,c,b] = x[a,b,c].
  const TensorD x = arange(Shape{2, 3, 4});
  const TensorD t = tg::transpose(x, 1, -1);
  REQUIRE(t.shape() == Shape{2, 4, 3});
  for (std::size_t a = 0; a < 2; ++a)
    for (std::size_t b = 0; b < 3; ++b)
      for (std::size_t c = 0; c < 4; ++c) CHECK(t.at({a, c, b}) == double(12 * a + 4 * b + c));
  CHECK(tg::transpose(x, 1, 1).to_vector() == x.to_vector());
  CHECK(tg::transpose(TensorD::scalar(3), 0, -1).shape() == Shape{});
  CHECK(tg::transpose(TensorD::matrix({{1, 2}, {3, 4}}), 0, 1).to_vector() ==
        std::vector<double>{1, 3, 2, 4});
  check_error<tg::AxisError>([&] { (void)tg::transpose(x, 0, 3); },
                             {"transpose:", "axis 3", "[2,3,4]"});
  check_error<tg::AxisError>([&] { (void)tg::transpose(x, -4, 0); },
                             {"transpose:", "axis -4", "[2,3,4]"});
  check_error<tg::AxisError>([] { (void)tg::transpose(TensorD::scalar(1), 1, 0); },
                             {"transpose:", "axis 1", "[]"});
}

TEST_CASE("split: pieces of the given extents, each its own slice node") {
  const TensorD x = arange(Shape{5, 2});
  const std::vector<TensorD> pieces = tg::split(x, {2, 0, 3}, 0);
  CHECK(shapes_of(pieces) == std::vector<Shape>{Shape{2, 2}, Shape{0, 2}, Shape{3, 2}});
  CHECK(pieces[0].to_vector() == std::vector<double>{0, 1, 2, 3});
  CHECK(pieces[2].to_vector() == std::vector<double>{4, 5, 6, 7, 8, 9});
  const std::vector<TensorD> cols = tg::split(x, {1, 1}, -1);
  CHECK(cols[1].to_vector() == std::vector<double>{1, 3, 5, 7, 9});
  check_error<tg::ShapeError>(
      [&] {
        (void)tg::split(x, {2, 2}, 0);
      },
      {"split:", "[2,2]", "add up to 4", "extent 5", "[5,2]"});
  check_error<tg::ShapeError>([&] { (void)tg::split(x, {}, 0); }, {"split:", "no sizes", "[5,2]"});
  // Sizes whose sum wraps around to the extent (2^64 - 1 + 6 = 5) are still wrong.
  check_error<tg::ShapeError>(
      [&] {
        (void)tg::split(x, {~std::size_t(0), 6}, 0);
      },
      {"split:", "overflow", "[5,2]"});
  check_error<tg::AxisError>([&] { (void)tg::split(x, {5}, 2); }, {"split:", "axis 2", "[5,2]"});
}

TEST_CASE("split: the pieces' gradients land in x's positions, unused pieces give zeros") {
  TensorD x = TensorD::vector({1, 2, 3, 4, 5}, true);
  const std::vector<TensorD> pieces = tg::split(x, {2, 3}, 0);
  CHECK(pieces[0].op_name() == std::string("slice"));
  // d/dx of 2*sum(p0) + sum(p1 * p1): 2 on the first two, 2x on the rest.
  const TensorD y = tg::sum(pieces[0]) * 2.0 + tg::sum(pieces[1] * pieces[1]);
  CHECK(tg::grad(y, {x})[0].to_vector() == std::vector<double>{2, 2, 6, 8, 10});
  TensorD z = TensorD::vector({1, 2, 3}, true);
  CHECK(tg::grad(tg::sum(tg::split(z, {1, 2}, 0)[1]), {z})[0].to_vector() ==
        std::vector<double>{0, 1, 1});
}

TEST_CASE("chunk: PyTorch's piece sizes, ceil(extent/n), fewer pieces when they run out") {
  // torch.chunk's rule worked by hand: 7 in 3 -> 3,3,1; 6 in 4 -> 2,2,2 (three pieces);
  // 2 in 5 -> 1,1; an empty axis in 3 -> three empty pieces.
  auto extents = [](const std::vector<TensorD>& pieces, std::size_t axis) {
    std::vector<std::size_t> e;
    for (const auto& p : pieces) e.push_back(p.dim(axis));
    return e;
  };
  CHECK(extents(tg::chunk(arange(Shape{2, 7}), 3, 1), 1) == std::vector<std::size_t>{3, 3, 1});
  CHECK(extents(tg::chunk(arange(Shape{6}), 4, 0), 0) == std::vector<std::size_t>{2, 2, 2});
  CHECK(extents(tg::chunk(arange(Shape{2, 3}), 5, 0), 0) == std::vector<std::size_t>{1, 1});
  CHECK(extents(tg::chunk(TensorD::zeros(Shape{0, 2}), 3, 0), 0) ==
        std::vector<std::size_t>{0, 0, 0});
  const std::vector<TensorD> pieces = tg::chunk(arange(Shape{2, 7}), 3, -1);
  CHECK(pieces[2].to_vector() == std::vector<double>{6, 13});
  CHECK(pieces[1].to_vector() == std::vector<double>{3, 4, 5, 10, 11, 12});
  check_error<tg::DomainError>([] { (void)tg::chunk(arange(Shape{4}), 0, 0); },
                               {"chunk:", "0 chunks", "[4]"});
  check_error<tg::AxisError>([] { (void)tg::chunk(arange(Shape{4}), 2, 1); },
                             {"chunk:", "axis 1", "[4]"});
  check_error<tg::AxisError>([] { (void)tg::chunk(TensorD::scalar(1), 1, 0); },
                             {"chunk:", "axis 0", "[]"});
}

TEST_CASE("stack: a new axis, concat of unsqueezed copies, with its own errors") {
  const TensorD a = TensorD::matrix({{1, 2}, {3, 4}});
  const TensorD b = TensorD::matrix({{5, 6}, {7, 8}});
  const TensorD s0 = tg::stack({a, b}, 0);
  CHECK(s0.shape() == Shape{2, 2, 2});
  CHECK(s0.to_vector() == std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8});
  const TensorD s2 = tg::stack({a, b}, -1);
  CHECK(s2.shape() == Shape{2, 2, 2});
  CHECK(s2.to_vector() == std::vector<double>{1, 5, 2, 6, 3, 7, 4, 8});
  CHECK(tg::stack({TensorD::scalar(1), TensorD::scalar(2)}, 0).to_vector() ==
        std::vector<double>{1, 2});
  // Seven tensors: more than a node takes, so a tree of concat nodes.
  std::vector<TensorD> many;
  for (int i = 0; i < 7; ++i) many.push_back(TensorD::vector({double(i), double(10 + i)}, true));
  const TensorD s = tg::stack(many, 1);
  CHECK(s.shape() == Shape{2, 7});
  CHECK(s.to_vector() == std::vector<double>{0, 1, 2, 3, 4, 5, 6, 10, 11, 12, 13, 14, 15, 16});
  const std::vector<TensorD> grads = tg::grad(tg::sum(s * s), many);
  for (int i = 0; i < 7; ++i)
    CHECK(grads[i].to_vector() == std::vector<double>{2.0 * i, 2.0 * (10 + i)});
  check_error<tg::ShapeError>(
      [&] {
        (void)tg::stack({a, TensorD::vector({1, 2})}, 0);
      },
      {"stack:", "tensor 1 [2]", "tensor 0 [2,2]"});
  check_error<tg::ShapeError>([] { (void)tg::stack(std::vector<TensorD>{}, 0); },
                              {"stack:", "no tensors"});
  check_error<tg::AxisError>([&] { (void)tg::stack({a, b}, 3); }, {"stack:", "axis 3", "[2,2]"});
  check_error<tg::AxisError>([&] { (void)tg::stack({a, b}, -4); }, {"stack:", "axis -4", "[2,2]"});
}

TEST_CASE("concat of many tensors: the tree of nodes gives each its own gradient") {
  std::vector<TensorD> parts;
  for (int i = 0; i < 10; ++i) parts.push_back(TensorD::vector({double(i)}, true));
  const TensorD c = tg::concat(parts, 0);
  REQUIRE(c.shape() == Shape{10});
  for (std::size_t i = 0; i < 10; ++i) CHECK(c.at({i}) == double(i));
  // d/dx_i sum(c^3) = 3 x_i^2.
  const std::vector<TensorD> grads = tg::grad(tg::sum(c * c * c), parts);
  for (int i = 0; i < 10; ++i) CHECK(grads[i].item() == 3.0 * i * i);
}
