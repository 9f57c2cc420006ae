// Reading and writing NumPy `.npy` files (format versions 1.0, 2.0 and 3.0).
//
// Upstream datasets store their arrays with `np.save`; the measurement tool
// dumps states the same way so that Python can `np.load` them. Supported
// element types are the little-endian (or byte-order-free) numeric ones:
//   |u1 |i1 <i2 <u2 <i4 <u4 <i8 <u8 <f2 <f4 <f8 |b1
// in C order. Big-endian, complex, object, string and structured dtypes and
// Fortran-ordered arrays are rejected with INVALID_ARGUMENT.
//
// Thread safety: all functions are reentrant; they share no state.
#ifndef RRM_CORE_PUZZLE_NPY_H_
#define RRM_CORE_PUZZLE_NPY_H_

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace rrm::puzzle {

// What the header of a `.npy` file says.
struct NpyHeader {
  int major_version = 1;
  int minor_version = 0;
  std::string descr;  // NumPy dtype string, e.g. "<f4" or "|u1"
  bool fortran_order = false;
  std::vector<int64_t> shape;  // empty for a 0-d array
  int64_t data_offset = 0;     // bytes before the first element
};

// Reads `path` into a CPU tensor of the stored element type where LibTorch
// has one: |u1 uint8, |i1 int8, <i2 int16, <i4 int32, <i8 int64, <f2 float16,
// <f4 float32, <f8 float64, |b1 bool. Unsigned types LibTorch lacks are
// widened exactly: <u2 -> int32, <u4 -> int64, <u8 -> int64 (a value above
// 2^63-1 is an error). Errors name `path`: NOT_FOUND if it does not exist;
// INVALID_ARGUMENT for bad magic, unsupported version, header parse error,
// unsupported dtype, Fortran order, or a data size that disagrees with the
// header ("truncated data: expected N bytes ..., found M").
absl::StatusOr<torch::Tensor> ReadNpy(const std::string& path);

// Same, from the bytes of a file already in memory; `name` is used in errors.
absl::StatusOr<torch::Tensor> ParseNpy(std::string_view bytes, const std::string& name);

// Reads `path` and converts it to `dtype`, which must be int64, float32 or
// float64. Integer and bool data convert to any of them; floating-point data
// asked for as int64 is INVALID_ARGUMENT (it would truncate).
absl::StatusOr<torch::Tensor> ReadNpyAs(const std::string& path, torch::ScalarType dtype);

// Parses only the header of a `.npy` file held in `bytes` (which may be just
// a prefix of the file). Same error contract as ParseNpy, minus the data size.
absl::StatusOr<NpyHeader> ParseNpyHeader(std::string_view bytes, const std::string& name);

// The NumPy dtype string for a tensor element type ("<f4" for float32), or
// INVALID_ARGUMENT for types NumPy cannot hold (bfloat16, complex, ...).
absl::StatusOr<std::string> NpyDescrFor(torch::ScalarType dtype);

// Serialises `tensor` (any device, any strides; written in logical C order)
// as a version 1.0 `.npy` file (2.0 only if the header would not fit).
// Element types: float16, float32, float64, int8, int16, int32, int64, uint8,
// bool. Others are INVALID_ARGUMENT; convert first (e.g. bfloat16 -> float32).
absl::StatusOr<std::string> EncodeNpy(const torch::Tensor& tensor);

// Writes EncodeNpy(tensor) to `path` via a temporary file in the same folder
// renamed into place, so readers never see a partial file. Errors name `path`.
absl::Status WriteNpy(const std::string& path, const torch::Tensor& tensor);

}  // namespace rrm::puzzle

#endif  // RRM_CORE_PUZZLE_NPY_H_
