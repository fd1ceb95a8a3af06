// Saving and loading tensors in NumPy's formats, so that a model trained here can be inspected
// from NumPy (numpy.load) and arrays prepared in NumPy can be loaded here.
//
// .npy: save_npy writes format version 1.0 exactly as np.save (NumPy >= 1.24) does for the same
// array, byte for byte (header dict, growth padding, data aligned to 64 bytes); descr '<f8' for
// double and '<f4' for float. load_npy reads versions 1.0, 2.0 and 3.0 with descr '<f8' or '<f4'
// (converted to T), C order only, any rank up to Shape::kMaxRank.
//
// .npz: save_npz writes a ZIP archive of `<name>.npy` members, stored (uncompressed), like
// numpy.savez; load_npz reads stored and deflate-compressed members (numpy.savez_compressed) and
// ZIP64 archives, in archive order, returning the names without the ".npy" suffix.
//
// Every problem with a file (missing, wrong magic, unsupported dtype, Fortran order, truncated,
// garbled header, corrupt archive, CRC mismatch, failed write) throws SerializeError, whose message
// names the function, the file and the problem. Sizes in headers are checked against the bytes
// actually present before anything is allocated or read. A header whose shape no buffer could hold
// (more than 2^63 bytes, an extent of 0 counted as 1, so an empty (0, 2^61) too) throws ShapeError
// naming the function, the file and the shape, as everywhere a shape is made.
//
// Loads read regular files only: a FIFO, a device or a directory is refused (SerializeError)
// before a byte is read, so a load never blocks on a FIFO nor reads a device without end.
//
// Saves are atomic: the bytes go to a temporary file in the target's directory
// (`<target>.tmp-XXXXXX`, created exclusively), every write is checked, the file is flushed and
// synced, then renamed over the target. On any failure the temporary file is removed and an
// existing file at the path is left untouched. The target is what the path names: a symlink is
// written through to its target (as np.save does) and stays a symlink; an existing file keeps its
// permission bits; a path that exists but is not a regular file (a directory, a FIFO, a device,
// or a symlink to one) is refused with SerializeError and left as it is.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "tapegrad/errors.hpp"
#include "tapegrad/tensor.hpp"

namespace tg::nn {

// All four functions are instantiated for T = float and T = double (nn/src/serialize.cpp).

// A file that cannot be read or written in NumPy's formats. The message names the file.
class SerializeError : public tg::Error {
 public:
  using tg::Error::Error;
};

// Writes `t` (its data only: not its gradient or graph) as a .npy file, format version 1.0.
template <class T> void save_npy(const std::string& path, const Tensor<T>& t);

// Reads a .npy file of float32 or float64 data into a new leaf tensor (no gradient required).
template <class T> Tensor<T> load_npy(const std::string& path);

// Writes a .npz archive (uncompressed ZIP) with one `<name>.npy` member per array, in order.
// Names must be non-empty, unique, and contain no NUL byte. ZIP64 is not written: an archive
// that would need it (65535 or more members, or 4 GiB) throws SerializeError.
template <class T>
void save_npz(const std::string& path,
              const std::vector<std::pair<std::string, Tensor<T>>>& arrays);

// Reads every member of a .npz archive (stored or deflated, ZIP64 or not), in archive order.
// Every member must be a `.npy` file of float32 or float64 data; names come without ".npy".
template <class T> std::vector<std::pair<std::string, Tensor<T>>> load_npz(const std::string& path);

}  // namespace tg::nn
