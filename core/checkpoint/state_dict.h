// Reading a model's state dict from the files upstream training writes.
//
// Upstream `pretrain.py` writes `torch.save(model.state_dict())`: a zip archive
// holding `<root>/data.pkl` (a pickle of a collections.OrderedDict of tensors,
// each built by torch._utils._rebuild_tensor_v2 over a persistent-id storage)
// and `<root>/data/<key>` raw storages. The same state dict may also come as a
// `.safetensors` file. LibTorch 1.13's pickle loader rejects OrderedDict state
// dicts, hence this reader for exactly the pickle subset torch.save emits.
//
// Thread safety: all functions are reentrant; they share no state.
#ifndef RRM_CORE_CHECKPOINT_STATE_DICT_H_
#define RRM_CORE_CHECKPOINT_STATE_DICT_H_

#include <map>
#include <string>
#include <string_view>

#include <torch/torch.h>

#include "absl/status/statusor.h"

namespace rrm::checkpoint {

// Tensor name -> CPU tensor in the dtype it was stored in (float32, bfloat16,
// float16, float64, int64, int32, uint8, bool). As with torch.load, tensors
// from a torch.save archive are views of the file's storages: tensors that
// shared a storage (tied weights, slices) share memory here too, and a tensor
// saved non-contiguous (e.g. transposed) keeps its strides. Treat them as
// read-only and call .contiguous() where layout matters. Tensors from a
// safetensors file are contiguous and own their memory.
//
// Files are taken to be little-endian, as torch.save and safetensors write
// them on every common platform; an archive recording another byte order
// (torch >= 2.1 writes `<root>/byteorder`) is refused.
using StateDict = std::map<std::string, torch::Tensor>;

// Reads a torch.save zip archive from `path`; the folder inside the archive
// may have any name ("archive/", "step_7/", ...). Errors (all name `path` and
// the problem, e.g. "step_10: data.pkl: unknown pickle opcode 0x99 at byte 57"):
// NOT_FOUND if missing; INVALID_ARGUMENT for not-a-zip, truncated, compressed
// entries, CRC-32 mismatch, unknown pickle opcode or global, unsupported dtype,
// storage out of range, and values that are not tensors (a state dict holds
// only tensors, so anything else means this is not the file we expect; the
// error names the key).
absl::StatusOr<StateDict> ReadTorchZip(const std::string& path);

// Same, from bytes already in memory; `name` is used in error messages.
absl::StatusOr<StateDict> ReadTorchZipBytes(std::string_view bytes, const std::string& name);

// Reads a .safetensors file (8-byte little-endian header length, JSON header,
// raw data). Same error contract as ReadTorchZip; overlapping tensors and
// dtypes outside the list above are INVALID_ARGUMENT too.
absl::StatusOr<StateDict> ReadSafetensors(const std::string& path);
absl::StatusOr<StateDict> ReadSafetensorsBytes(std::string_view bytes, const std::string& name);

// Dispatches on content (zip magic "PK" vs safetensors header, whose JSON
// starts at byte 8), not on the file name: upstream checkpoints are named
// `step_N` with no extension.
absl::StatusOr<StateDict> ReadStateDict(const std::string& path);

// Drops the wrappers upstream adds around the model: a leading `_orig_mod.`
// (torch.compile) and `model.` (ACTLossHead), so
// `_orig_mod.model.inner.L_level.layers.0.mlp.down_proj.weight` becomes
// `inner.L_level.layers.0.mlp.down_proj.weight`. Keys without them pass
// unchanged. INVALID_ARGUMENT if two keys collide after stripping.
absl::StatusOr<StateDict> StripWrapperPrefixes(StateDict state_dict);

}  // namespace rrm::checkpoint

#endif  // RRM_CORE_CHECKPOINT_STATE_DICT_H_
