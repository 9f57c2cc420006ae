// Writing a state dict the way torch.save does, so that upstream's Python
// code (torch.load + load_state_dict) and ReadTorchZip both read it.
//
// The file is a zip archive of STORED entries: `<root>/data.pkl` (pickle
// protocol 2 of a collections.OrderedDict whose values are built by
// torch._utils._rebuild_tensor_v2 over persistent-id storages, with the
// `_metadata` attribute torch's Module.state_dict() attaches),
// `<root>/data/<i>` (one raw little-endian storage per tensor) and
// `<root>/version` ("3"). `<root>` is the file name without extension, as
// torch.save names it; every entry's data is 64-byte aligned, as torch does.
//
// Thread safety: reentrant; they share no state.
#ifndef RRM_CORE_CHECKPOINT_STATE_DICT_WRITER_H_
#define RRM_CORE_CHECKPOINT_STATE_DICT_WRITER_H_

#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace rrm::checkpoint {

// Tensors in the order they are written (Python's OrderedDict keeps it).
using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// The bytes of a torch.save archive with root folder `root`. Tensors may be on
// any device and have any strides; each is written contiguous, from the CPU,
// in its own storage. Element types: float32, bfloat16, float16, float64,
// int64, int32, uint8, bool (INVALID_ARGUMENT for others, naming the key).
// `_metadata` lists every module path that is a prefix of a key ("" for the
// root, then e.g. "_orig_mod", "_orig_mod.model", ...) with {"version": 1}.
// INVALID_ARGUMENT for duplicate or empty keys.
absl::StatusOr<std::string> EncodeTorchZip(const NamedTensors& tensors, const std::string& root);

// EncodeTorchZip with root = the file name of `path` without extension,
// written to a temporary file in the same folder and renamed into place, so a
// reader never sees a partial checkpoint. Errors name `path`.
absl::Status WriteTorchZip(const std::string& path, const NamedTensors& tensors);

}  // namespace rrm::checkpoint

#endif  // RRM_CORE_CHECKPOINT_STATE_DICT_WRITER_H_
