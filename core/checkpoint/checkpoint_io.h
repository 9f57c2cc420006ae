// Byte-level helpers shared by the torch.save and safetensors readers.
//
// Internal to core/checkpoint. Checkpoints are little-endian and so is every
// host this project builds for (checked at compile time in checkpoint_io.cc),
// so raw bytes become tensor elements by plain copy.
#ifndef RRM_CORE_CHECKPOINT_CHECKPOINT_IO_H_
#define RRM_CORE_CHECKPOINT_CHECKPOINT_IO_H_

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace rrm::checkpoint::internal {

// The whole file. NOT_FOUND if it does not exist, PERMISSION_DENIED if it
// cannot be read, INVALID_ARGUMENT for a directory; messages name `path`.
// The file is copied into memory rather than mapped so that a checkpoint
// truncated while being read gives an error instead of SIGBUS.
absl::StatusOr<std::string> ReadFileBytes(const std::string& path);

// `status` with "`context`: " prepended to its message; OK stays OK.
absl::Status WithContext(absl::string_view context, const absl::Status& status);

// "0x50 0x4b 0x03 0x04" for the first (up to) four bytes, or "none" if empty.
std::string FirstBytesForMessage(absl::string_view bytes);

// The number of elements of `shape`; INVALID_ARGUMENT for a negative
// dimension, overflow of int64, or more than 64 dimensions.
absl::StatusOr<int64_t> CheckedNumel(const std::vector<int64_t>& shape);

// A new contiguous tensor of `dtype` and `shape` holding a copy of `bytes`,
// which must be exactly numel * element size long. Bool bytes must be 0 or 1.
absl::StatusOr<torch::Tensor> TensorFromBytes(absl::string_view bytes, torch::ScalarType dtype,
                                              const std::vector<int64_t>& shape);

}  // namespace rrm::checkpoint::internal

#endif  // RRM_CORE_CHECKPOINT_CHECKPOINT_IO_H_
