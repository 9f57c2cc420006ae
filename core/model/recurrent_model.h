// HRM and TRM as a recurrent map on the joint latent state (SPEC §1–2).
//
// A RecurrentModel holds one checkpoint's weights on one device. Its segment
// map is one call of the official inner forward: x_t = Φ(x_{t-1}; e), with the
// input embedding e fixed. States are dual stacks (see layers.h): z_H and z_L
// are [1+k, B, S, D], primal at index 0, so the same Segment() call gives the
// plain trajectory (k = 0) and exact Jacobian-vector products (k > 0).
//
// Thread safety: a constant RecurrentModel may be used from several threads
// at once (it holds only immutable tensors). Not copyable; share by pointer.
#ifndef RRM_CORE_MODEL_RECURRENT_MODEL_H_
#define RRM_CORE_MODEL_RECURRENT_MODEL_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "core/checkpoint/state_dict.h"
#include "core/model/layers.h"
#include "core/model/model_config.h"

namespace rrm::model {

// The joint state x = (z_H, z_L), each a dual stack [1+k, B, S, D].
struct JointState {
  torch::Tensor z_H;
  torch::Tensor z_L;
};

// What the heads read from z_H (primal only), for a batch of B examples.
struct Readout {
  torch::Tensor logits;       // [B, L, V] float32, token positions only
  torch::Tensor q_halt;       // [B] float32
  torch::Tensor q_continue;   // [B] float32
};

// Called after every inner state update (an L or H step) with the state so
// far; may modify it (e.g. re-orthonormalise tangents, SPEC §3).
using UpdateHook = std::function<void(JointState& state)>;

class RecurrentModel {
 public:
  // Builds the model from a (prefix-stripped, see checkpoint::StripWrapperPrefixes)
  // state dict and a complete, validated config; weights are converted to the
  // config's forward dtype and moved to `device`. Errors: FAILED_PRECONDITION
  // naming a missing key, an unexpected key, or a shape (expected vs found).
  static absl::StatusOr<std::unique_ptr<RecurrentModel>> Create(
      const ModelConfig& config, const checkpoint::StateDict& state_dict, torch::Device device);

  RecurrentModel(const RecurrentModel&) = delete;
  RecurrentModel& operator=(const RecurrentModel&) = delete;

  const ModelConfig& config() const { return config_; }
  torch::Device device() const { return device_; }
  torch::ScalarType dtype() const { return dtype_; }

  // Checks a batch against the model: inputs int64 [B, L] with L = seq_len
  // (when the model fixes it), tokens in [0, vocab_size), identifiers int64 [B]
  // in [0, num_puzzle_identifiers). INVALID_ARGUMENT naming field, expected, found.
  absl::Status ValidateInputs(const torch::Tensor& inputs, const torch::Tensor& puzzle_identifiers) const;

  // e: [B, S, D] in the forward dtype (puzzle positions first, then tokens).
  torch::Tensor InputEmbeddings(const torch::Tensor& inputs, const torch::Tensor& puzzle_identifiers) const;

  // x_0: H_init and L_init broadcast to [1, B, S, D] (the reset carry).
  JointState InitialState(int64_t batch, int64_t positions) const;

  // One segment: x ← Φ(x; e), calling `hook` after each inner update.
  void Segment(JointState& state, const torch::Tensor& e, const UpdateHook& hook = nullptr) const;

  Readout ReadOut(const torch::Tensor& z_H) const;

  // ---- Training support (core/train); measurement never needs these. ----

  // Every weight with its state-dict name as Create() reads it (`inner.…`), in
  // upstream's state_dict() order. The tensors are the model's own (not
  // copies): in-place updates, e.g. requires_grad_() and an optimizer step,
  // change the model. Not while another thread runs the model.
  std::vector<std::pair<std::string, torch::Tensor>> NamedWeights() const;

  // One segment as upstream's *training* forward runs it: the same updates
  // and values as Segment(), but all except the last H cycle (TRM) or except
  // the last L and H update (HRM) run under torch::NoGradGuard, so autograd
  // sees only the last cycle (upstream's 1-step gradient approximation).
  void TrainingSegment(JointState& state, const torch::Tensor& e) const;

 private:
  struct Block {
    std::optional<AttentionWeights> attention;  // absent for TRM mlp_t
    std::optional<SwiGluWeights> mlp_t;         // over the sequence axis (TRM mlp_t)
    SwiGluWeights mlp;
  };
  using Level = std::vector<Block>;

  RecurrentModel(ModelConfig config, torch::Device device);

  // hidden ← blocks(hidden + injection)
  torch::Tensor RunLevel(const Level& level, torch::Tensor hidden, const torch::Tensor& injection,
                         const std::optional<RotaryTable>& rotary) const;
  torch::Tensor RunBlock(const Block& block, torch::Tensor hidden,
                         const std::optional<RotaryTable>& rotary) const;
  // `one_step_gradient`: see TrainingSegment().
  void HrmSegment(JointState& state, const torch::Tensor& e, const UpdateHook& hook,
                  const std::optional<RotaryTable>& rotary, bool one_step_gradient = false) const;
  void TrmSegment(JointState& state, const torch::Tensor& e, const UpdateHook& hook,
                  const std::optional<RotaryTable>& rotary, bool one_step_gradient = false) const;
  std::optional<RotaryTable> Rotary(int64_t positions) const;

  const ModelConfig config_;
  const torch::Device device_;
  torch::ScalarType dtype_;

  torch::Tensor embed_tokens_;  // [V, D]
  torch::Tensor embed_pos_;     // [S, D] (learned positions only)
  torch::Tensor puzzle_emb_;    // [N, puzzle_emb_ndim] (when puzzle_emb_ndim > 0)
  torch::Tensor lm_head_;       // [V, D]
  torch::Tensor q_head_weight_; // [2, D]
  torch::Tensor q_head_bias_;   // [2]
  torch::Tensor H_init_;        // [D]
  torch::Tensor L_init_;        // [D]
  Level H_level_;               // HRM only
  Level L_level_;
};

// Reads a checkpoint the way upstream writes it: the state dict at `checkpoint_path`
// (torch.save zip or .safetensors), the config from `config_path`, or when empty
// from `all_config.yaml` beside the checkpoint, then `overrides`, then shapes.
struct LoadedModel {
  std::unique_ptr<RecurrentModel> model;
  std::string config_path;  // the yaml actually used
};
absl::StatusOr<LoadedModel> LoadModel(const std::string& checkpoint_path, const std::string& config_path,
                                      const std::vector<std::string>& overrides, torch::Device device);

}  // namespace rrm::model

#endif  // RRM_CORE_MODEL_RECURRENT_MODEL_H_
