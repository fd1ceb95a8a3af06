// Data loading: IDX files (the MNIST family, plain or gzip'd), numeric CSV and its table taken
// apart into features and labels, one-hot targets and a seeded, shuffling minibatch iterator.
//
//   auto images = tg::nn::read_idx("train-images-idx3-ubyte.gz");      // [60000, 28, 28] ubyte
//   auto X = tg::nn::idx_images<float>(images, 1.0f / 255);            // [60000, 784]
//   auto y = tg::nn::idx_labels(tg::nn::read_idx("train-labels-idx1-ubyte.gz"));
//   std::mt19937_64 rng(42);
//   tg::nn::Minibatches batches(X, y, 128, rng);  // Minibatches<float, Labels>
//   for (int epoch = 0; epoch < 10; ++epoch)
//     for (const auto& b : batches)  // each range-for loop is one epoch, freshly shuffled
//       train_step(b.x, b.y);        // b.x [128, 784] (the last batch may be smaller), b.y Labels
//
// Every malformed input raises a typed error (DataError for files) whose message starts with the
// function's name and names the file and what is wrong; nothing is ever read out of bounds, and
// no buffer is sized from a header before the data behind it has been seen.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "tapegrad/errors.hpp"
#include "tapegrad/ops.hpp"
#include "tapegrad/tensor.hpp"

namespace tg::nn {

// A data file that cannot be opened or does not hold what its format promises (bad magic,
// unknown type code, truncated, trailing bytes, a non-numeric CSV field, ...).
class DataError : public tg::Error {
 public:
  using Error::Error;
};

// ---- IDX ------------------------------------------------------------------------------------
// IDX element types; the enumerator values are the type codes of the file's third magic byte.
enum class IdxType : std::uint8_t {
  u8 = 0x08,   // unsigned byte
  i8 = 0x09,   // signed byte
  i16 = 0x0B,  // short, 2 bytes
  i32 = 0x0C,  // int, 4 bytes
  f32 = 0x0D,  // float, 4 bytes
  f64 = 0x0E,  // double, 8 bytes
};
std::size_t idx_element_size(IdxType type);  // 1, 1, 2, 4, 4, 8
const char* idx_type_name(IdxType type);     // "ubyte", "sbyte", "short", "int", "float", "double"

// The contents of an IDX file: its element type, its extents and its elements, row-major, kept
// in their own type (an MNIST training set is 47 MB of bytes, not 376 MB of doubles) but in host
// byte order. value(i) / to_vector<T>() convert.
struct IdxArray {
  std::string path;  // the file it came from (for messages)
  IdxType type = IdxType::u8;
  std::vector<std::size_t> shape;
  std::vector<std::uint8_t> bytes;  // size() * idx_element_size(type) bytes, host byte order

  std::size_t size() const;           // number of elements: the product of the extents
  std::string shape_str() const;      // "[60000,28,28]"
  double value(std::size_t i) const;  // element i (flat, row-major) as a double; i < size()
  // All elements converted to T (float or double).
  template <class T> std::vector<T> to_vector() const;
};

// Reads an IDX file, gzip'd (detected by the 1f 8b magic) or plain. Throws DataError naming the
// file when it cannot be opened or is not a regular file (a FIFO, a device), the magic is wrong,
// the type code is unknown, the file (or the decompressed stream) holds fewer bytes than the header
// promises or more (trailing garbage), or the gzip stream is corrupt, e.g. "read_idx: t.idx:
// truncated: header promises 7840000 bytes of data, file has 1200". A header whose shape no buffer
// could hold (more than 2^63 bytes, an extent of 0 counted as 1, so that an empty [0, 2^32-1,
// 2^32-1] is refused too) throws ShapeError naming the file and the shape.
IdxArray read_idx(const std::string& path);

// [n, rows, cols] (any rank >= 2: [n, d1, ..., dk]) -> a [n, d1*...*dk] matrix of value * scale
// (e.g. scale = 1/255 for pixels). ShapeError for rank < 2 and for a shape no buffer could hold
// (checked as read_idx does: an IdxArray may be made by hand).
template <class T> Tensor<T> idx_images(const IdxArray& images, T scale = T(1));

// [n] integer-typed array -> n labels. ShapeError for another rank, DataError for a float type.
Labels idx_labels(const IdxArray& labels);

// ---- CSV ------------------------------------------------------------------------------------
// A numeric CSV file -> [rows, cols]. `has_header` skips the first line. Fields may be surrounded
// by blanks or double quotes; blank lines are skipped; \r\n line ends and a UTF-8 BOM are fine.
// Throws DataError naming the file for: a missing file or one that is not a regular file, no data
// rows ("empty file"), a row whose field count differs from the first row's (naming the line
// number), a field that is not a number (naming line and column, 1-based, counting the header
// line).
template <class T>
Tensor<T> read_csv(const std::string& path, bool has_header = false, char delimiter = ',');

// ---- taking a table apart --------------------------------------------------------------------
// Columns are indexed from 0; a negative index counts from the end, as Python's (-1 is the last
// column). Both functions copy the values out of the table into fresh tensors outside any graph:
// they prepare data, they are not ops.

// The columns of table[rows, cols] in the order given (repeats allowed): [rows, columns.size()].
// ShapeError unless the table is 2-d; IndexError for a column outside -cols..cols-1, naming it
// and the table's shape.
template <class T>
Tensor<T> select_columns(const Tensor<T>& table, const std::vector<std::int64_t>& columns);

template <class T> struct FeaturesAndLabels {
  Tensor<T> features;  // [rows, cols - 1]: every other column, in order
  Labels labels;       // one per row
};

// Splits table[rows, cols] (e.g. from read_csv) into the label column and the others:
//
//   auto [X, y] = tg::nn::split_features_labels(tg::nn::read_csv<double>("iris.csv", true), -1);
//
// Each label must be a finite, non-negative integer below 2^63 (what a Labels element holds);
// any other value throws DomainError naming its row and column (indexed from 0, as the table is)
// and the value: "split_features_labels: row 3, column 2 holds 1.5, not a class label".
// ShapeError unless the table is 2-d with at least two columns (features and the label);
// IndexError for a label column outside -cols..cols-1, naming it and the table's shape.
template <class T>
FeaturesAndLabels<T> split_features_labels(const Tensor<T>& table, std::int64_t label_column);

// ---- targets --------------------------------------------------------------------------------
// [n, classes] with a 1 at (i, labels[i]) and 0 elsewhere. A label outside 0..classes-1 throws
// IndexError naming the label and its row; a [n, classes] too large for any buffer (n = 0
// included) throws ShapeError naming the shape, before anything is allocated.
template <class T> Tensor<T> one_hot(const Labels& labels, std::size_t classes);

// ---- minibatches ----------------------------------------------------------------------------
struct MinibatchOptions {
  bool shuffle = true;     // a new random order every epoch (else the rows in order)
  bool drop_last = false;  // drop the last batch when it would be smaller than batch_size
};

// Iterates over (x, y) minibatches of a data set whose samples are the rows (axis 0) of X and
// the elements of the labels y (Y = Labels) or the rows of the targets Y (Y = Tensor<T>).
//
// Interface: a range. Each range-for loop (each call of begin()) starts a new epoch, which first
// reshuffles the sample order with the caller's generator: an epoch loop is just
//
//   tg::nn::Minibatches batches(X, labels, 128, rng, {.drop_last = true});
//   for (int epoch = 0; epoch < epochs; ++epoch)
//     for (const auto& b : batches) step(b.x, b.y);
//
// Every sample appears exactly once per epoch (only in full batches with drop_last). The order
// depends only on the generator's state (a portable Fisher-Yates with its own unbiased bounded
// draw: the same seed gives the same batches with any standard library). The generator is held
// by reference and must outlive this object.
//
// A batch holds a copy of the selected rows (memcpy per run of consecutive rows): x is
// [b, X.shape[1:]...], y holds b labels or is [b, Y.shape[1:]...]. The iterator gathers each batch
// into the previous one's buffers when nothing else holds them, so that an epoch allocates about
// one batch instead of one per step; keeping a batch (a copy of b, of b.x, or a graph that saved
// b.x) makes the next one go to fresh buffers, so a batch kept is never overwritten and stays
// valid while the iteration goes on.
//
// X and a target tensor Y are shared, not copied: do not modify them while iterating. Labels are
// taken by value: pass them with std::move (or as a temporary) when the caller has no further use
// for them, and the data set's labels are not held twice.
// Errors: ShapeError when X or Y is 0-d or the sample counts differ, DomainError for batch_size 0.
template <class T, class Y = Labels> class Minibatches {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>);
  static_assert(std::is_same_v<Y, Labels> || std::is_same_v<Y, Tensor<T>>,
                "targets are Labels or a Tensor<T> of the same element type");

 public:
  struct Batch {
    Tensor<T> x;
    Y y;
  };

  Minibatches(const Tensor<T>& X, Y y, std::size_t batch_size, std::mt19937_64& rng,
              MinibatchOptions options = {});

  // Samples in the data set. (Deliberately not size(): a range's size() counts its elements,
  // here the batches, which batches_per_epoch() gives.)
  std::size_t samples() const { return n_; }
  std::size_t batch_size() const { return batch_size_; }
  // ceil(n / batch_size), or floor(n / batch_size) with drop_last. Any batch_size up to SIZE_MAX:
  // one at least n gives one batch holding every row (none with drop_last unless it equals n).
  std::size_t batches_per_epoch() const;
  std::size_t epochs_started() const { return epochs_; }
  // The sample order of the current epoch (the identity before the first epoch).
  const std::vector<std::size_t>& order() const { return order_; }
  // The data set's labels (or target rows), in data-set order: with order(), what a loop that
  // gathers batches into buffers of its own needs.
  const Y& targets() const { return y_; }

  // Starts a new epoch (reshuffling when shuffle is set); begin() calls it.
  void new_epoch();
  // Batch k (0 <= k < batches_per_epoch()) of the current epoch, freshly copied.
  Batch batch(std::size_t k) const;
  // The same batch gathered into `out`, reusing out.x's (and a target tensor out.y's) buffer when
  // it has the batch's shape and `out` holds the only handle on it; otherwise that member becomes
  // a fresh tensor, so that no other handle ever sees its data change. Labels are overwritten in
  // place (a copy of a std::vector is independent anyway).
  void batch(std::size_t k, Batch& out) const;

  class iterator {
   public:
    using value_type = Batch;
    using difference_type = std::ptrdiff_t;
    using iterator_concept = std::input_iterator_tag;

    iterator() = default;
    const Batch& operator*() const {
      if (cached_ != k_) {
        owner_->batch(k_, batch_);
        cached_ = k_;
      }
      return batch_;
    }
    const Batch* operator->() const { return &**this; }
    iterator& operator++() {
      ++k_;
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& it, std::default_sentinel_t) {
      return it.k_ >= it.owner_->batches_per_epoch();
    }

   private:
    friend class Minibatches;
    explicit iterator(const Minibatches* owner) : owner_(owner) {}
    const Minibatches* owner_ = nullptr;
    std::size_t k_ = 0;
    mutable std::size_t cached_ = static_cast<std::size_t>(-1);
    mutable Batch batch_;
  };

  // A new epoch: reshuffles, then iterates over its batches.
  iterator begin() {
    new_epoch();
    return iterator(this);
  }
  std::default_sentinel_t end() const { return {}; }

 private:
  Tensor<T> x_;
  Y y_;
  std::size_t n_ = 0;
  std::size_t batch_size_ = 0;
  std::mt19937_64* rng_ = nullptr;
  MinibatchOptions options_;
  std::vector<std::size_t> order_;
  std::size_t epochs_ = 0;
};

// Class template argument deduction picks Y from the second argument:
// Minibatches(X, labels, ...) is a Minibatches<T, Labels>, Minibatches(X, Y, ...) a
// Minibatches<T, Tensor<T>>.

}  // namespace tg::nn
