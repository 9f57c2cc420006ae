// The architecture of one HRM or TRM checkpoint, and where each value comes from.
//
// Values are read from upstream's `all_config.yaml` (the `arch:` block), the
// dimensions the yaml lacks are inferred from tensor shapes (or the dataset),
// and any value can be overridden by `name=value` strings using upstream's
// own key names (`H_cycles=2`, `forward_dtype=float32`, ...).
#ifndef RRM_CORE_MODEL_MODEL_CONFIG_H_
#define RRM_CORE_MODEL_MODEL_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/checkpoint/state_dict.h"

namespace rrm::model {

enum class Family { kHrm, kTrm };

struct ModelConfig {
  Family family = Family::kTrm;
  std::string arch_name;  // upstream `arch.name`, kept for records and errors

  int64_t H_cycles = 0;
  int64_t L_cycles = 0;
  int64_t H_layers = 0;  // HRM only; TRM ignores it like upstream
  int64_t L_layers = 0;
  int64_t hidden_size = 0;
  int64_t num_heads = 0;
  double expansion = 0;
  std::string pos_encodings = "rope";  // rope | learned | none
  bool mlp_t = false;                  // TRM only: SwiGLU over the sequence axis
  int64_t puzzle_emb_ndim = 0;
  int64_t puzzle_emb_len = 0;  // TRM only; absent from the yaml: 16 (upstream default); 0 = ceil(puzzle_emb_ndim / hidden)
  int64_t halt_max_steps = 16;
  double rms_norm_eps = 1e-5;
  double rope_theta = 10000.0;
  // Upstream default bfloat16; float32; float64 runs the exact map in double
  // precision (validation: JVPs against finite differences).
  std::string forward_dtype = "bfloat16";

  // Not in the yaml: from tensor shapes, the dataset, or the input (0 = unknown yet).
  int64_t seq_len = 0;  // token positions L (without the puzzle positions)
  int64_t vocab_size = 0;
  int64_t num_puzzle_identifiers = 0;

  // P: the puzzle-embedding positions that precede the tokens (SPEC §1).
  int64_t puzzle_positions() const;
  // S = P + L.
  int64_t state_positions() const { return puzzle_positions() + seq_len; }
  // Inner state updates per segment, z_L and z_H alike: H_cycles·(L_cycles+1) for both families (SPEC §1).
  int64_t updates_per_segment() const;
  int64_t head_dim() const { return hidden_size / num_heads; }
  // Upstream SwiGLU width: round(expansion·width·2/3) rounded up to a multiple of 256.
  int64_t SwiGluInner(int64_t width) const;
};

// Bytes of the largest activations one block holds at once for one example and
// one stack entry (the primal, or one tangent direction): the SwiGLU gate/up
// output and the attention scores (the token MLP for mlp_t). An item of B
// examples carrying k tangent directions needs about this · (1 + k) · B.
// Elements count 4 bytes (8 for float64): a bfloat16 forward holds half, but
// its tangents are float32 and a sizing estimate should err high.
// bench-forward prints it; rrmd sizes work items by it (--device_memory_budget).
double ActivationBytesPerRow(const ModelConfig& config);

// Reads the `arch:` block of an upstream `all_config.yaml` (or a yaml whose top
// level is the arch block itself). Errors name the file and the key.
absl::StatusOr<ModelConfig> ReadModelConfigYaml(const std::string& path);

// Fills seq_len, vocab_size, num_puzzle_identifiers and puzzle_emb_ndim from
// tensor shapes where they can be seen, and checks that what the yaml says
// agrees with them (hidden_size, heads, layer counts) — FAILED_PRECONDITION
// naming the key, the config's value and the checkpoint's.
absl::Status CompleteFromStateDict(const checkpoint::StateDict& state_dict, ModelConfig* config);

// Applies `key=value` overrides, e.g. {"H_cycles=2", "forward_dtype=float32"}.
absl::Status ApplyOverrides(const std::vector<std::string>& overrides, ModelConfig* config);

// Checks the values are usable (positive sizes, heads divide hidden, known
// pos_encodings and dtype, ...). INVALID_ARGUMENT naming the key.
absl::Status Validate(const ModelConfig& config);

std::string FamilyName(Family family);

}  // namespace rrm::model

#endif  // RRM_CORE_MODEL_MODEL_CONFIG_H_
